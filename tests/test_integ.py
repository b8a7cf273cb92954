"""``make integ``'s parts that need no AWS account, against moto: the opt-in refusal, the image
push through the ECR layer-upload API, the teardown, and the provider it synthesizes."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator
from contextlib import redirect_stderr
from pathlib import Path
from typing import Any

import boto3
import pytest

from ecr_image_waiter.engine import EcrLookup, parse_reference
from ecr_image_waiter.engine.classify import Verdict
from tests.conftest import REGION

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "scripts"))
try:
    import integ
finally:
    sys.path.remove(str(REPO_ROOT / "scripts"))


@pytest.fixture
def aws(aws_env: None) -> Iterator[dict[str, Any]]:
    from moto import mock_aws

    with mock_aws():
        yield {
            "ecr": boto3.client("ecr", region_name=REGION),
            "cloudformation": boto3.client("cloudformation", region_name=REGION),
            "logs": boto3.client("logs", region_name=REGION),
        }


# --- opt-in ------------------------------------------------------------------------------------


def test_refuses_without_the_opt_in_variable_even_with_credentials() -> None:
    why = integ.refusal({}, object)
    assert why is not None
    assert "ECR_IMAGE_WAITER_INTEG=1" in why


def test_refuses_without_credentials() -> None:
    why = integ.refusal({"ECR_IMAGE_WAITER_INTEG": "1"}, lambda: None)
    assert why is not None
    assert "no credentials" in why


def test_main_exits_2_with_one_line_and_touches_nothing() -> None:
    err = io.StringIO()
    with redirect_stderr(err):
        status = integ.main([], env={})
    assert status == 2
    assert err.getvalue().count("\n") == 1
    assert err.getvalue().startswith("integ: make integ deploys to a real AWS account")


def test_make_integ_refuses_without_the_opt_in() -> None:
    import subprocess

    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "integ.py")],
        env={"PATH": "/usr/bin:/bin", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "ECR_IMAGE_WAITER_INTEG=1" in result.stderr


# --- the image push ------------------------------------------------------------------------


def test_minimal_image_is_a_consistent_docker_v2_image() -> None:
    image = integ.minimal_image()
    manifest = json.loads(image.manifest)
    assert manifest["mediaType"] == integ.MANIFEST_MEDIA_TYPE
    assert manifest["config"]["digest"] == integ.sha256(image.config)
    assert manifest["layers"][0]["digest"] == integ.sha256(image.layer)
    assert json.loads(image.config)["architecture"] == "amd64"
    assert integ.minimal_image().digest == image.digest  # deterministic
    assert integ.minimal_image(note="other").digest != image.digest


def test_push_uploads_blobs_in_parts_and_the_waiter_finds_the_digest(
    aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    ecr = aws["ecr"]
    ecr.create_repository(repositoryName="eiw-integ-abc/text-generation")
    parts: list[tuple[int, int]] = []
    real_initiate = ecr.initiate_layer_upload

    def small_parts(**kwargs: Any) -> Any:
        answer = real_initiate(**kwargs)
        answer["partSize"] = 50  # several UploadLayerPart calls per blob
        return answer

    def count(params: Any, **_: Any) -> None:
        parts.append((params["partFirstByte"], params["partLastByte"]))

    monkeypatch.setattr(ecr, "initiate_layer_upload", small_parts)
    ecr.meta.events.register("provide-client-params.ecr.UploadLayerPart", count)
    image = integ.minimal_image()
    digest = integ.push_image(ecr, "eiw-integ-abc/text-generation", "latest", image)
    assert digest == image.digest
    assert len(parts) > 2
    assert parts[0][0] == 0
    layers = ecr.batch_check_layer_availability(
        repositoryName="eiw-integ-abc/text-generation",
        layerDigests=[integ.sha256(image.layer), integ.sha256(image.config)],
    )["layers"]
    assert {layer["layerAvailability"] for layer in layers} == {"AVAILABLE"}

    ref = parse_reference("eiw-integ-abc/text-generation:latest", region=REGION)
    observation = EcrLookup(ecr).look(ref)
    assert observation.verdict is Verdict.READY
    assert observation.image is not None
    assert observation.image.digest == digest

    # Pushing again skips the blobs the repository has.
    parts.clear()
    assert integ.push_image(ecr, "eiw-integ-abc/text-generation", "latest", image) == digest
    assert parts == []


# --- the teardown --------------------------------------------------------------------------


def test_teardown_deletes_what_the_run_made_newest_stack_first_and_runs_twice(
    aws: dict[str, Any],
) -> None:
    ecr, cloudformation, logs = aws["ecr"], aws["cloudformation"], aws["logs"]
    made = integ.Made()
    template = json.dumps(
        {
            "Resources": {
                "Topic": {"Type": "AWS::SNS::Topic", "Properties": {}},
                # The provider retains its log groups when its stack is deleted.
                "Logs": {
                    "Type": "AWS::Logs::LogGroup",
                    "DeletionPolicy": "Retain",
                    "Properties": {"LogGroupName": "/integ/provider"},
                },
            }
        }
    )
    for name in ("EiwIntegabc-Provider", "EiwIntegabc-Api"):
        body = template.replace("provider", name.lower())
        cloudformation.create_stack(StackName=made.stack(name), TemplateBody=body)
    logs.create_log_group(logGroupName=made.log_group("/aws/codebuild/eiw-integ-abc-failing"))
    logs.create_log_group(logGroupName="/someone/elses")
    ecr.create_repository(repositoryName=made.repository("eiw-integ-abc/text-generation"))
    integ.push_image(ecr, "eiw-integ-abc/text-generation", "latest", integ.minimal_image())
    made.repository("eiw-integ-abc/never-created")
    ecr.create_repository(repositoryName="someone-elses")
    deleted: list[str] = []

    errors = integ.teardown(made, cloudformation, ecr, logs, deleted.append)

    assert errors == []
    assert deleted == [
        "deleting stack EiwIntegabc-Api",
        "deleting stack EiwIntegabc-Provider",
        "deleting repository eiw-integ-abc/text-generation",
        "deleting repository eiw-integ-abc/never-created",
        "deleted log group /aws/codebuild/eiw-integ-abc-failing",
        # Retained by their stacks, found in them before they were deleted.
        "deleted log group /integ/eiwintegabc-api",
        "deleted log group /integ/eiwintegabc-provider",
    ]
    left = cloudformation.list_stacks()["StackSummaries"]
    assert all(s["StackStatus"] == "DELETE_COMPLETE" for s in left)
    names = [r["repositoryName"] for r in ecr.describe_repositories()["repositories"]]
    assert names == ["someone-elses"]
    groups = [g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]]
    assert groups == ["/someone/elses"]
    # Idempotent: a second teardown finds nothing to delete and reports no error.
    again: list[str] = []
    assert integ.teardown(made, cloudformation, ecr, logs, again.append) == []
    assert all(line.startswith("deleting repository") for line in again)


def test_teardown_reports_an_error_and_still_deletes_the_rest(aws: dict[str, Any]) -> None:
    ecr, cloudformation = aws["ecr"], aws["cloudformation"]

    class Broken:
        exceptions = cloudformation.exceptions

        def describe_stacks(self, **_: Any) -> Any:
            raise RuntimeError("throttled")

    made = integ.Made(stacks=["EiwIntegabc-Api"], repositories=["eiw-integ-abc/a1"])
    ecr.create_repository(repositoryName="eiw-integ-abc/a1")
    errors = integ.teardown(made, Broken(), ecr, aws["logs"], lambda _line: None)
    assert errors == ["stack EiwIntegabc-Api: throttled"]
    assert ecr.describe_repositories()["repositories"] == []


# --- the provider it deploys -------------------------------------------------------------------


@pytest.mark.synth
def test_the_runs_provider_reads_only_its_prefix_and_exports_its_own_name(
    tmp_path: Path,
) -> None:
    from ecr_image_waiter.construct.standalone import synth_provider

    names = integ.Names("abc123")
    result = synth_provider(tmp_path / "out", **integ.provider_options(names))
    template = json.loads(result.template.read_text())
    assert result.stack_name == "EiwIntegabc123-Provider"
    output = template["Outputs"]["ServiceToken"]
    assert output["Export"] == {"Name": "EiwIntegabc123-ServiceToken"}
    text = json.dumps(template)
    assert ":repository/eiw-integ-abc123/*" in text
    assert ":project/eiw-integ-abc123-failing" in text
    # The TypeScript app gets the same names through cdk context.
    context = names.cdk_context()
    assert "serviceTokenExport=EiwIntegabc123-ServiceToken" in context
    assert "repositoryNamePrefix=eiw-integ-abc123/" in context


def test_the_cloudformation_example_is_retargeted_at_the_runs_export() -> None:
    text = integ.CLOUDFORMATION.read_text()
    assert text.count("EcrImageWaiterServiceToken") == 1
