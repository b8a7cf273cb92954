"""``make integ``: the standalone provider and the examples against a real AWS account.

Opt-in: it refuses (exit 2, one line saying why) unless ``ECR_IMAGE_WAITER_INTEG=1`` is set
and the AWS SDK finds credentials and a region. The account must be CDK-bootstrapped
(``cdk bootstrap``) in that region; the ``cdk`` CLI comes from npm (``npx`` runs the pinned
``aws-cdk`` below), Docker is not needed. Everything is named after one run id
(``eiw-integ-<hex>``), so runs do not collide with each other or with a provider already
deployed in the account. What it does:

1. synthesizes the standalone provider (reads on ``eiw-integ-<hex>/*`` repositories, follows
   the run's CodeBuild project) and deploys it with ``cdk deploy --app``;
2. deploys the TypeScript example's CI/CD stack (its two empty repositories), starts the API
   stack's deploy, pushes a minimal image to both repositories through the ECR API while the
   waiters wait, and checks that each function is created with the pushed digest;
3. deploys the CloudFormation example for a repository that does not exist, and for an image
   whose build fails: both must fail with their reason, within ``FAIL_FAST_SECONDS``;
4. destroys every stack, repository and log group it made (also after a failure or Ctrl-C):
   stacks newest first, then the repositories, then the log groups (the provider retains
   its own when its stack is deleted), each deletion tolerating what is already gone.

The pieces that need no account (the image push, the teardown, the provider synth) are
tested against moto in ``tests/test_integ.py``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import secrets
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
TYPESCRIPT = REPO_ROOT / "examples" / "typescript"
CLOUDFORMATION = REPO_ROOT / "examples" / "cloudformation" / "template.yaml"

#: The variable that must be 1 for anything to run.
OPT_IN = "ECR_IMAGE_WAITER_INTEG"
#: The cdk CLI (npm package aws-cdk), pinned.
CDK_CLI = "aws-cdk@2.1148.1"
#: A missing repository must end the wait within this many seconds of the waiter's start...
FAIL_FAST_SECONDS = 60
#: ...and a failed build within this many (CodeBuild takes a minute or two to provision,
#: run and fail the build it was asked for just before).
FAILED_BUILD_SECONDS = 300
#: How long the API stack's deploy waits before the images are pushed.
PUSH_AFTER_SECONDS = 30

MANIFEST_MEDIA_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG_MEDIA_TYPE = "application/vnd.docker.container.image.v1+json"
LAYER_MEDIA_TYPE = "application/vnd.docker.image.rootfs.diff.tar.gzip"


class Refused(Exception):
    """The run may not start; the message says what to set."""


def refusal(env: Mapping[str, str], credentials: Callable[[], Any]) -> str | None:
    """Why the run may not start (None: it may). ``credentials`` returns a boto3 session's
    credentials (None when there are none)."""
    if env.get(OPT_IN) != "1":
        return (
            f"make integ deploys to a real AWS account and is opt-in: set {OPT_IN}=1 (and AWS "
            "credentials for a CDK-bootstrapped account and region) to run it"
        )
    if credentials() is None:
        return (
            f"{OPT_IN}=1 but the AWS SDK finds no credentials: set AWS_PROFILE or the "
            "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY variables"
        )
    return None


# --- a minimal image, pushed through the ECR API ----------------------------------------------


@dataclass(frozen=True)
class Image:
    """A single-platform Docker image: one layer, its config, the manifest naming both."""

    layer: bytes
    config: bytes
    manifest: bytes

    @property
    def digest(self) -> str:
        return sha256(self.manifest)


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def minimal_image(architecture: str = "amd64", note: str = "ecr-image-waiter integ") -> Image:
    """An image holding one small file; deterministic for one ``note``."""
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        data = (note + "\n").encode()
        info = tarfile.TarInfo("integ.txt")
        info.size, info.mtime, info.mode = len(data), 0, 0o644
        tar.addfile(info, io.BytesIO(data))
    diff = tar_bytes.getvalue()
    layer = gzip.compress(diff, mtime=0)
    config = json.dumps(
        {
            "architecture": architecture,
            "os": "linux",
            "config": {"Entrypoint": ["/integ"]},
            "rootfs": {"type": "layers", "diff_ids": [sha256(diff)]},
        },
        separators=(",", ":"),
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "config": {
                "mediaType": CONFIG_MEDIA_TYPE,
                "size": len(config),
                "digest": sha256(config),
            },
            "layers": [
                {"mediaType": LAYER_MEDIA_TYPE, "size": len(layer), "digest": sha256(layer)}
            ],
        },
        separators=(",", ":"),
    ).encode()
    return Image(layer=layer, config=config, manifest=manifest)


def upload_blob(ecr: Any, repository: str, data: bytes) -> str:
    """Upload one blob (InitiateLayerUpload, UploadLayerPart in parts, CompleteLayerUpload)
    unless the repository already has it; return its digest."""
    digest = sha256(data)
    found = ecr.batch_check_layer_availability(repositoryName=repository, layerDigests=[digest])
    if any(layer.get("layerAvailability") == "AVAILABLE" for layer in found.get("layers", [])):
        return digest
    upload = ecr.initiate_layer_upload(repositoryName=repository)
    part_size = max(int(upload.get("partSize") or len(data)), 1)
    for first in range(0, len(data), part_size):
        part = data[first : first + part_size]
        ecr.upload_layer_part(
            repositoryName=repository,
            uploadId=upload["uploadId"],
            partFirstByte=first,
            partLastByte=first + len(part) - 1,
            layerPartBlob=part,
        )
    done = ecr.complete_layer_upload(
        repositoryName=repository, uploadId=upload["uploadId"], layerDigests=[digest]
    )
    if done["layerDigest"] != digest:
        raise RuntimeError(f"ECR stored blob {done['layerDigest']}, expected {digest}")
    return digest


def push_image(ecr: Any, repository: str, tag: str, image: Image) -> str:
    """Push ``image`` as ``repository:tag``; return the manifest digest ECR recorded. Pushing
    the same image again is a no-op."""
    upload_blob(ecr, repository, image.layer)
    upload_blob(ecr, repository, image.config)
    try:
        put = ecr.put_image(
            repositoryName=repository,
            imageManifest=image.manifest.decode(),
            imageManifestMediaType=MANIFEST_MEDIA_TYPE,
            imageTag=tag,
            imageDigest=image.digest,
        )
    except ecr.exceptions.ImageAlreadyExistsException:
        return image.digest  # this very manifest already carries the tag
    digest = str(put["image"]["imageId"]["imageDigest"])
    if digest != image.digest:
        raise RuntimeError(f"ECR recorded digest {digest}, expected {image.digest}")
    return digest


# --- what the run made, and its teardown -------------------------------------------------------


@dataclass
class Made:
    """Stacks, repositories and log groups made by one run, in creation order. Log groups
    that a stack retains on deletion (the provider keeps its logs) are added by teardown."""

    stacks: list[str] = field(default_factory=list)
    repositories: list[str] = field(default_factory=list)
    log_groups: list[str] = field(default_factory=list)

    def stack(self, name: str) -> str:
        if name not in self.stacks:
            self.stacks.append(name)
        return name

    def repository(self, name: str) -> str:
        if name not in self.repositories:
            self.repositories.append(name)
        return name

    def log_group(self, name: str) -> str:
        if name not in self.log_groups:
            self.log_groups.append(name)
        return name


def teardown(
    made: Made, cloudformation: Any, ecr: Any, logs: Any, log: Callable[[str], None]
) -> list[str]:
    """Delete every stack (newest first, waiting for each), then every repository (with its
    images), then the log groups: those made, and those the stacks held (a stack may retain
    them). Anything already gone is fine, so it can run twice; returns the errors."""
    errors: list[str] = []
    for name in reversed(made.stacks):
        try:
            if not _stack_exists(cloudformation, name):
                continue
            for resource in cloudformation.describe_stack_resources(StackName=name)[
                "StackResources"
            ]:
                if resource["ResourceType"] == "AWS::Logs::LogGroup":
                    made.log_group(resource["PhysicalResourceId"])
            log(f"deleting stack {name}")
            cloudformation.delete_stack(StackName=name)
            cloudformation.get_waiter("stack_delete_complete").wait(
                StackName=name, WaiterConfig={"Delay": 5, "MaxAttempts": 180}
            )
        except Exception as error:  # keep going: the other resources still must go
            errors.append(f"stack {name}: {error}")
    for name in made.repositories:
        try:
            log(f"deleting repository {name}")
            ecr.delete_repository(repositoryName=name, force=True)
        except ecr.exceptions.RepositoryNotFoundException:
            pass
        except Exception as error:
            errors.append(f"repository {name}: {error}")
    for name in made.log_groups:
        try:
            logs.delete_log_group(logGroupName=name)
            log(f"deleted log group {name}")
        except logs.exceptions.ResourceNotFoundException:
            pass
        except Exception as error:
            errors.append(f"log group {name}: {error}")
    return errors


def _stack_exists(cloudformation: Any, name: str) -> bool:
    try:
        stacks = cloudformation.describe_stacks(StackName=name)["Stacks"]
    except cloudformation.exceptions.ClientError as error:
        if "does not exist" in str(error):
            return False
        raise
    return any(s["StackStatus"] != "DELETE_COMPLETE" for s in stacks)


# --- the run ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Names:
    """Every name one run uses, from its id."""

    run_id: str

    @property
    def stack_prefix(self) -> str:
        return "EiwInteg" + self.run_id

    @property
    def repository_prefix(self) -> str:
        return f"eiw-integ-{self.run_id}/"

    @property
    def export_name(self) -> str:
        return f"{self.stack_prefix}-ServiceToken"

    @property
    def provider_stack(self) -> str:
        return f"{self.stack_prefix}-Provider"

    @property
    def build_project(self) -> str:
        return f"eiw-integ-{self.run_id}-failing"

    def cdk_context(self) -> list[str]:
        return [
            "-c",
            f"prefix={self.stack_prefix}",
            "-c",
            f"repositoryNamePrefix={self.repository_prefix}",
            "-c",
            f"serviceTokenExport={self.export_name}",
        ]


def provider_options(names: Names) -> dict[str, Any]:
    """What the run's provider may read and follow."""
    return {
        "stack_name": names.provider_stack,
        "repository_prefixes": [names.repository_prefix],
        "export_name": names.export_name,
        "codebuild_projects": [names.build_project],
    }


def cdk(args: Sequence[str], *, cwd: Path = REPO_ROOT) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["npx", "--yes", CDK_CLI, *args, "--require-approval", "never", "--progress", "events"],
        cwd=cwd,
        text=True,
    )


def check(process: subprocess.Popen[str], what: str) -> None:
    if process.wait() != 0:
        raise RuntimeError(f"{what} failed (exit {process.returncode})")


def run(names: Names, made: Made, session: Any, log: Callable[[str], None]) -> None:
    from ecr_image_waiter.construct.standalone import synth_provider

    cloudformation = session.client("cloudformation")
    ecr = session.client("ecr")
    lambda_ = session.client("lambda")
    codebuild = session.client("codebuild")

    with tempfile.TemporaryDirectory(prefix="eiw-integ-") as tmp:
        out = Path(tmp) / "provider.out"
        synth_provider(out, **provider_options(names))
        log(f"deploying the provider {names.provider_stack}")
        made.stack(names.provider_stack)
        check(cdk(["deploy", "--app", str(out), names.provider_stack]), "provider deploy")

    # 2. The TypeScript example: the functions get the digest pushed while their waiters wait.
    cicd, api = f"{names.stack_prefix}-CICD", f"{names.stack_prefix}-Api"
    made.stack(cicd)
    check(cdk(["deploy", *names.cdk_context(), cicd], cwd=TYPESCRIPT), "CI/CD stack deploy")
    repositories = [
        made.repository(names.repository_prefix + n)
        for n in ("text-generation", "practice-material")
    ]
    made.stack(api)
    deploy = cdk(["deploy", *names.cdk_context(), "--exclusively", api], cwd=TYPESCRIPT)
    time.sleep(PUSH_AFTER_SECONDS)
    digests = {}
    for repository in repositories:
        digests[repository] = push_image(ecr, repository, "latest", minimal_image(note=repository))
        log(f"pushed {repository}@{digests[repository]}")
    check(deploy, "API stack deploy")
    for resource in cloudformation.describe_stack_resources(StackName=api)["StackResources"]:
        if resource["ResourceType"] != "AWS::Lambda::Function":
            continue
        code = lambda_.get_function(FunctionName=resource["PhysicalResourceId"])["Code"]
        uri = code.get("ResolvedImageUri") or code["ImageUri"]
        repository, _, digest = uri.split("/", 1)[1].partition("@")
        if digests.get(repository) != digest:
            raise RuntimeError(f"function {resource['LogicalResourceId']} runs {uri}")
        log(f"function {resource['LogicalResourceId']} runs the pushed {digest}")

    # 3. Failures, each within FAIL_FAST_SECONDS and with its reason.
    template = CLOUDFORMATION.read_text().replace("EcrImageWaiterServiceToken", names.export_name)
    expect_failure(
        cloudformation,
        made.stack(f"{names.stack_prefix}-MissingRepository"),
        template=template,
        parameters={"RepositoryName": names.repository_prefix + "does-not-exist"},
        reason=names.repository_prefix + "does-not-exist",
        within=FAIL_FAST_SECONDS,
        log=log,
    )
    build_stack = made.stack(f"{names.stack_prefix}-FailingBuild")
    create_failing_build(cloudformation, build_stack, names.build_project)
    made.log_group(f"/aws/codebuild/{names.build_project}")  # written by the build itself
    repository = made.repository(names.repository_prefix + "never-pushed")
    ecr.create_repository(repositoryName=repository)
    codebuild.start_build(projectName=names.build_project)
    expect_failure(
        cloudformation,
        made.stack(f"{names.stack_prefix}-BuildFailed"),
        template=template,
        parameters={"RepositoryName": repository, "CodeBuildProjectName": names.build_project},
        reason=names.build_project,
        within=FAILED_BUILD_SECONDS,
        log=log,
    )


FAILING_BUILD_TEMPLATE = {
    "Parameters": {"ProjectName": {"Type": "String"}},
    "Resources": {
        "Role": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "codebuild.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                },
                "Policies": [
                    {
                        "PolicyName": "logs",
                        "PolicyDocument": {
                            "Version": "2012-10-17",
                            "Statement": [
                                {
                                    "Effect": "Allow",
                                    "Action": [
                                        "logs:CreateLogGroup",
                                        "logs:CreateLogStream",
                                        "logs:PutLogEvents",
                                    ],
                                    "Resource": {
                                        "Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:"
                                        "${AWS::AccountId}:log-group:/aws/codebuild/"
                                        "${ProjectName}*"
                                    },
                                }
                            ],
                        },
                    }
                ],
            },
        },
        "Project": {
            "Type": "AWS::CodeBuild::Project",
            "Properties": {
                "Name": {"Ref": "ProjectName"},
                "ServiceRole": {"Fn::GetAtt": ["Role", "Arn"]},
                "Artifacts": {"Type": "NO_ARTIFACTS"},
                "Environment": {
                    "Type": "LINUX_CONTAINER",
                    "ComputeType": "BUILD_GENERAL1_SMALL",
                    "Image": "aws/codebuild/standard:7.0",
                },
                "Source": {
                    "Type": "NO_SOURCE",
                    "BuildSpec": "version: 0.2\nphases:\n  build:\n    commands:\n"
                    "      - echo 'this build fails on purpose'; exit 1\n",
                },
            },
        },
    },
}


def create_failing_build(cloudformation: Any, stack: str, project: str) -> None:
    cloudformation.create_stack(
        StackName=stack,
        TemplateBody=json.dumps(FAILING_BUILD_TEMPLATE),
        Parameters=[{"ParameterKey": "ProjectName", "ParameterValue": project}],
        Capabilities=["CAPABILITY_IAM"],
    )
    cloudformation.get_waiter("stack_create_complete").wait(StackName=stack)


def expect_failure(
    cloudformation: Any,
    stack: str,
    *,
    template: str,
    parameters: Mapping[str, str],
    reason: str,
    within: int,
    log: Callable[[str], None],
) -> None:
    """Create ``stack``; its waiter must fail within ``within`` seconds of its start, with a
    reason naming ``reason`` (the waiter's own deadline is 30 minutes)."""
    cloudformation.create_stack(
        StackName=stack,
        TemplateBody=template,
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_IAM"],
    )
    start = time.monotonic()
    while time.monotonic() - start < within + 120:
        events = cloudformation.describe_stack_events(StackName=stack)["StackEvents"]
        failed = [
            e
            for e in events
            if e["LogicalResourceId"] == "Waiter" and e["ResourceStatus"] == "CREATE_FAILED"
        ]
        if failed:
            started = min(
                e["Timestamp"]
                for e in events
                if e["LogicalResourceId"] == "Waiter"
                and e["ResourceStatus"] == "CREATE_IN_PROGRESS"
            )
            seconds = (failed[0]["Timestamp"] - started).total_seconds()
            message = failed[0].get("ResourceStatusReason", "")
            if reason not in message or seconds > within:
                raise RuntimeError(f"{stack}: waiter failed after {seconds:.0f} s: {message}")
            log(f"{stack}: failed after {seconds:.0f} s, as expected: {message}")
            return
        time.sleep(5)
    raise RuntimeError(f"{stack}: the waiter did not fail within {within} s")


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    import boto3

    env = os.environ if env is None else env
    session = boto3.Session()
    why = refusal(env, session.get_credentials)
    if why is None and not session.region_name:
        why = "no AWS region: set AWS_REGION or a region in the AWS profile"
    if why is not None:
        sys.stderr.write(f"integ: {why}\n")
        return 2
    names = Names(secrets.token_hex(3))
    made = Made()

    def log(line: str) -> None:
        sys.stderr.write(f"integ: {line}\n")
        sys.stderr.flush()

    log(f"run {names.run_id} in {session.region_name}")
    try:
        run(names, made, session, log)
    except BaseException as error:
        log(f"FAILED: {type(error).__name__}: {error}")
        status = 1
    else:
        log("all checks passed")
        status = 0
    finally:
        errors = teardown(
            made,
            session.client("cloudformation"),
            session.client("ecr"),
            session.client("logs"),
            log,
        )
        for line in errors:
            log(f"teardown: {line}")
        if errors:
            log("some resources were not deleted: remove them by hand (names above)")
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
