"""Lambda-ready images and pipeline-aware waiting, end to end through every front end.

* An index with amd64, arm64 and attestation children (pushed untagged under their true
  sha256 digests) resolves to the child for the architecture: the CLI as a real process
  against the moto server, ``main()`` in process, and the custom-resource handlers run by the
  local Provider framework.
* An index without the wanted platform, and a media type Lambda does not take, end at once
  (CLI exit 3, resource FAILED) naming what was found and the remedy.
* A failed CodeBuild build ends the wait within one interval with the build id in the reason
  (moto's CodeBuild reports every build SUCCEEDED, so failed and running builds come from
  botocore's Stubber on a real client), and TriggerBuildOnMissing starts exactly one build
  per CloudFormation request, even when on_event is invoked again for the same request.
"""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from ecr_image_waiter import names
from ecr_image_waiter.cli.main import ExitStatus, main
from ecr_image_waiter.custom_resource.properties import Settings
from ecr_image_waiter.custom_resource.resource import ImageWaiterResource
from ecr_image_waiter.engine.pipeline import PipelineWatch, idempotency_token
from ecr_image_waiter.local.framework import ProviderResult, run_custom_resource
from tests.codebuild import create_project
from tests.conftest import ACCOUNT, REGION
from tests.images import push, single_manifest
from tests.manifests import DOCKER_V1_SIGNED, image_index, push_index, push_raw, schema1

REGISTRY = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
EVENTS = Path(__file__).parent / "events"
START = 1_800_000_000.0
PROJECT = "app-image"
PLATFORMS = [("arm64", "linux/arm64"), ("x86_64", "linux/amd64")]


class FakeClock:
    """Seconds that move only when something sleeps; runs actions due by then."""

    def __init__(self, start: float = START) -> None:
        self.start = start
        self.now = start
        self.sleeps: list[float] = []
        self.actions: list[tuple[float, Any]] = []

    def __call__(self) -> float:
        return self.now

    def at(self, offset: float, action: Any) -> None:
        self.actions.append((self.start + offset, action))
        self.actions.sort(key=lambda item: item[0])

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds
        while self.actions and self.actions[0][0] <= self.now:
            self.actions.pop(0)[1]()


def event(**props: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / "create.json").read_text())
    data["ResourceProperties"] = {names.PROP_SERVICE_TOKEN: data["ServiceToken"], **props}
    return data


def run_resource(
    request: dict[str, Any], clock: FakeClock, resource: ImageWaiterResource | None = None
) -> ProviderResult:
    resource = resource or ImageWaiterResource(
        clock=clock, sleep=clock.sleep, query_interval=5, poll_budget=0
    )
    return run_custom_resource(
        request,
        on_event=resource.on_event,
        is_complete=resource.is_complete,
        query_interval=5,
        total_timeout=600,
        clock=clock,
        sleep=clock.sleep,
    )


def cli(*argv: str, **kwargs: Any) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(list(argv), stdout=out, stderr=err, env=os.environ, **kwargs)
    return int(status), out.getvalue(), err.getvalue()


def cli_process(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ecr_image_waiter", *argv],
        check=False,
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=60,
    )


# --- An index resolves to the child for the architecture --------------------------------------


@pytest.mark.parametrize(("architecture", "platform"), PLATFORMS)
def test_cli_process_resolves_the_index_over_http(
    server_ecr: Any, architecture: str, platform: str
) -> None:
    server_ecr.create_repository(repositoryName="app")
    index = image_index()
    assert any(name.startswith("attestation") for name in index.children)
    index_digest = push_index(server_ecr, "app", index, "v1")
    done = cli_process("wait", "app:v1", "--architecture", architecture, "--lambda", "--json")
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    child = index.child_digest(platform)
    assert record["digest"] == child
    assert record["imageUri"] == f"{REGISTRY}/app@{child}"
    assert record["indexDigest"] == index_digest
    assert record["architecture"] == architecture


@pytest.mark.parametrize(("architecture", "platform"), PLATFORMS)
@pytest.mark.parametrize("lambda_flag", [True, False])
def test_cli_in_process_resolves_the_index(
    moto_ecr: Any, architecture: str, platform: str, lambda_flag: bool
) -> None:
    moto_ecr.create_repository(repositoryName="app")
    index = image_index()
    push_index(moto_ecr, "app", index, "v1")
    argv = ["check", "app:v1", "--architecture", architecture]
    status, out, err = cli(*argv, *(["--lambda"] if lambda_flag else []))
    assert status == ExitStatus.OK, err
    assert out == f"{REGISTRY}/app@{index.child_digest(platform)}\n"


def test_cli_architecture_defaults_to_x86_64(moto_ecr: Any) -> None:
    moto_ecr.create_repository(repositoryName="app")
    index = image_index()
    push_index(moto_ecr, "app", index, "v1")
    status, out, err = cli("check", "app:v1")
    assert status == ExitStatus.OK, err
    assert out == f"{REGISTRY}/app@{index.child_digest('linux/amd64')}\n"


@pytest.mark.parametrize(("architecture", "platform"), PLATFORMS)
def test_resource_resolves_the_index(moto_ecr: Any, architecture: str, platform: str) -> None:
    moto_ecr.create_repository(repositoryName="app")
    index = image_index()
    index_digest = push_index(moto_ecr, "app", index, "v1")
    clock = FakeClock()
    result = run_resource(
        event(RepositoryName="app", ImageTag="v1", Architecture=architecture), clock
    )
    assert result["Status"] == "SUCCESS", result["Reason"]
    data = result["Data"] or {}
    child = index.child_digest(platform)
    assert data[names.ATTR_IMAGE_DIGEST] == child
    assert data[names.ATTR_IMAGE_URI] == f"{REGISTRY}/app@{child}"
    assert data[names.ATTR_INDEX_DIGEST] == index_digest
    assert data[names.ATTR_ARCHITECTURE] == architecture
    assert result["is_complete_calls"] == 1


# --- Never-cases end at once, naming what was found and the remedy --------------------------


def test_only_arm64_asked_for_x86_64_ends_at_once(moto_ecr: Any) -> None:
    moto_ecr.create_repository(repositoryName="app")
    index = image_index(("linux/arm64",))
    push_index(moto_ecr, "app", index, "v1")

    status, out, err = cli("wait", "app:v1", "--architecture", "x86_64", "--quiet")
    assert status == ExitStatus.NEVER
    assert out == ""
    assert err.count("\n") == 1
    for text in ("no linux/amd64 image", "platforms in the index: linux/arm64/v8"):
        assert text in err
    assert "give the waiter and the function architecture arm64" in err

    clock = FakeClock()
    result = run_resource(event(RepositoryName="app", ImageTag="v1"), clock)
    assert result["Status"] == "FAILED"
    assert "platforms in the index: linux/arm64/v8" in result["Reason"]
    assert "architecture arm64" in result["Reason"]
    assert result["is_complete_calls"] == 1
    assert clock.now == START  # no waiting at all


def test_unsupported_media_type_ends_at_once(moto_ecr: Any) -> None:
    moto_ecr.create_repository(repositoryName="app")
    push_raw(moto_ecr, "app", schema1(), DOCKER_V1_SIGNED, "old")

    status, out, err = cli("wait", "app:old", "--lambda", "--quiet")
    assert status == ExitStatus.NEVER
    assert out == ""
    assert f"media type {DOCKER_V1_SIGNED}" in err
    # The remedy fits a schema 1 image: rebuild it, not buildx's attestation switch.
    assert "rebuild the image with a current Docker or buildx" in err
    assert "--provenance=false" not in err

    clock = FakeClock()
    result = run_resource(event(RepositoryName="app", ImageTag="old"), clock)
    assert result["Status"] == "FAILED"
    assert f"media type {DOCKER_V1_SIGNED}" in result["Reason"]
    assert "rebuild the image with a current Docker or buildx" in result["Reason"]
    assert result["is_complete_calls"] == 1
    assert clock.now == START


# --- A failed build ends the wait within one interval ----------------------------------------


FAILED_PHASES = [
    {"phaseType": "PRE_BUILD", "phaseStatus": "SUCCEEDED"},
    {
        "phaseType": "BUILD",
        "phaseStatus": "FAILED",
        "contexts": [{"statusCode": "COMMAND_EXECUTION_ERROR", "message": "exit status 1"}],
    },
]


def build(status: str, started: datetime, ended: datetime | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": f"{PROJECT}:b7",
        "buildStatus": status,
        "startTime": started,
        "projectName": PROJECT,
        "phases": FAILED_PHASES if status == "FAILED" else [],
    }
    if ended is not None:
        body["endTime"] = ended
    return body


class CodeBuild:
    """A real CodeBuild client answering from a queue (botocore's Stubber), counting starts."""

    def __init__(self) -> None:
        self.client = boto3.client("codebuild", region_name=REGION)
        self.stubber = Stubber(self.client)
        self.stubber.activate()
        self.start_tokens: list[str] = []
        self.client.meta.events.register(
            "provide-client-params.codebuild.StartBuild",
            lambda params, **_: self.start_tokens.append(params["idempotencyToken"]),
        )

    def builds(self, *builds: dict[str, Any]) -> None:
        ids = [b["id"] for b in builds]
        self.stubber.add_response(
            "list_builds_for_project",
            {"ids": ids} if ids else {},
            {"projectName": PROJECT, "sortOrder": "DESCENDING"},
        )
        if ids:
            self.stubber.add_response("batch_get_builds", {"builds": list(builds)}, {"ids": ids})

    def watch(self, settings: Settings) -> PipelineWatch | None:
        return PipelineWatch(settings.codebuild_project_name, codebuild_client=self.client)


def test_failed_build_fails_the_resource_within_one_interval(moto_ecr: Any) -> None:
    moto_ecr.create_repository(repositoryName="app")
    began = datetime.fromtimestamp(START, UTC)
    codebuild = CodeBuild()
    codebuild.builds(build("IN_PROGRESS", began + timedelta(seconds=1)))
    # The build fails 3 s into the wait; the next is_complete call (at 5 s) sees it.
    codebuild.builds(build("FAILED", began + timedelta(seconds=1), began + timedelta(seconds=3)))
    clock = FakeClock()
    resource = ImageWaiterResource(
        clock=clock,
        sleep=clock.sleep,
        query_interval=5,
        poll_budget=0,
        watch_factory=codebuild.watch,
    )
    request = event(RepositoryName="app", ImageTag="v1", CodeBuildProjectName=PROJECT)
    result = run_resource(request, clock, resource)
    codebuild.stubber.assert_no_pending_responses()
    assert result["Status"] == "FAILED"
    reason = result["Reason"]
    assert f"CodeBuild build {PROJECT}:b7 of project {PROJECT} ended FAILED" in reason
    assert "in phase BUILD (exit status 1)" in reason
    assert "run the build again" in reason
    assert result["is_complete_calls"] == 2
    assert result["elapsed_seconds"] - 3 <= 5  # within one query interval of the failure
    assert codebuild.start_tokens == []  # nobody asked to start a build


def test_failed_build_exits_3_from_the_cli_within_one_interval(moto_ecr: Any) -> None:
    moto_ecr.create_repository(repositoryName="app")
    now = datetime.now(UTC)
    codebuild = CodeBuild()
    codebuild.builds(build("IN_PROGRESS", now))
    codebuild.builds(build("FAILED", now, now + timedelta(seconds=3)))
    clock = FakeClock(0)
    argv = ["wait", "app:v1", "--codebuild-project", PROJECT, "--interval", "5", "--quiet"]
    status, out, err = cli(
        *argv,
        clock=clock,
        sleep=clock.sleep,
        watch_factory=lambda ref: PipelineWatch(PROJECT, codebuild_client=codebuild.client),
    )
    codebuild.stubber.assert_no_pending_responses()
    assert status == ExitStatus.NEVER
    assert out == ""
    assert f"CodeBuild build {PROJECT}:b7" in err
    assert "ended FAILED in phase BUILD" in err
    assert clock.sleeps == [5]


def test_cli_refuses_a_bad_project_name_before_any_call(moto_ecr: Any) -> None:
    status, out, err = cli("check", "app:v1", "--codebuild-project", "bad name!")
    assert status == ExitStatus.USAGE
    assert "CodeBuild project name 'bad name!' is not valid" in err
    assert out == ""


# --- TriggerBuildOnMissing: one build per request ----------------------------------------------


@pytest.fixture
def codebuild_project(moto_ecr: Any) -> Any:
    client = boto3.client("codebuild", region_name=REGION)
    create_project(client, PROJECT)
    return client


def test_trigger_starts_one_build_and_the_wait_ends_when_it_pushes(
    moto_ecr: Any, codebuild_project: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ecr_image_waiter.custom_resource")
    starts: list[str] = []
    codebuild_project.meta.events.register(
        "provide-client-params.codebuild.StartBuild",
        lambda params, **_: starts.append(params["idempotencyToken"]),
    )
    moto_ecr.create_repository(repositoryName="app")
    clock = FakeClock()
    pushed: list[str] = []
    clock.at(23, lambda: pushed.append(push(moto_ecr, "app", single_manifest(), "v1")))
    resource = ImageWaiterResource(
        clock=clock,
        sleep=clock.sleep,
        query_interval=5,
        poll_budget=0,
        watch_factory=lambda s: PipelineWatch(PROJECT, codebuild_client=codebuild_project),
    )
    request = event(
        RepositoryName="app",
        ImageTag="v1",
        CodeBuildProjectName=PROJECT,
        TriggerBuildOnMissing="true",
    )
    result = run_resource(request, clock, resource)
    assert result["Status"] == "SUCCESS", result["Reason"]
    assert (result["Data"] or {})[names.ATTR_IMAGE_DIGEST] == pushed[0]
    assert starts == [idempotency_token(request["RequestId"], "codebuild", PROJECT)]
    (build_id,) = codebuild_project.list_builds_for_project(projectName=PROJECT)["ids"]
    assert result["is_complete_calls"] == 6  # 0, 5, ..., 25 s
    lines = [json.loads(r.getMessage()) for r in caplog.records]
    assert [line["run"] for line in lines if line.get("verdict") == "triggered"] == [build_id]
    looks = [line for line in lines if line["event"] == "attempt"]
    assert len(looks) == 6
    assert {line["run"] for line in looks} == {build_id}


def test_image_already_there_starts_nothing(moto_ecr: Any, codebuild_project: Any) -> None:
    moto_ecr.create_repository(repositoryName="app")
    push(moto_ecr, "app", single_manifest(), "v1")
    clock = FakeClock()
    resource = ImageWaiterResource(
        clock=clock,
        sleep=clock.sleep,
        query_interval=5,
        watch_factory=lambda s: PipelineWatch(PROJECT, codebuild_client=codebuild_project),
    )
    request = event(
        RepositoryName="app",
        ImageTag="v1",
        CodeBuildProjectName=PROJECT,
        TriggerBuildOnMissing="true",
    )
    result = run_resource(request, clock, resource)
    assert result["Status"] == "SUCCESS", result["Reason"]
    assert codebuild_project.list_builds_for_project(projectName=PROJECT).get("ids", []) == []


def test_retried_on_event_for_the_same_request_starts_no_second_build(moto_ecr: Any) -> None:
    moto_ecr.create_repository(repositoryName="app")
    began = datetime.fromtimestamp(START, UTC)
    started = build("IN_PROGRESS", began)
    codebuild = CodeBuild()
    # First on_event: no build yet, so it starts one.
    codebuild.builds()
    codebuild.stubber.add_response(
        "start_build",
        {"build": started},
        {
            "projectName": PROJECT,
            "idempotencyToken": idempotency_token(event()["RequestId"], "codebuild", PROJECT),
        },
    )
    # The retried on_event (same RequestId, no state): the build is running, follow it.
    codebuild.builds(started)
    # is_complete with the state: the image is still missing, the build still running.
    codebuild.builds(started)
    clock = FakeClock()
    resource = ImageWaiterResource(
        clock=clock, sleep=clock.sleep, query_interval=5, watch_factory=codebuild.watch
    )
    request = event(
        RepositoryName="app",
        ImageTag="v1",
        CodeBuildProjectName=PROJECT,
        TriggerBuildOnMissing="true",
    )
    first = resource.on_event(request)
    retried = resource.on_event(request)
    assert first[names.STATE_KEY]["run"] == started["id"]
    assert retried[names.STATE_KEY]["run"] == started["id"]
    answer = resource.is_complete({**request, **retried})
    assert answer == {"IsComplete": False}
    codebuild.stubber.assert_no_pending_responses()
    assert len(codebuild.start_tokens) == 1  # one StartBuild for the request


def test_refused_start_fails_the_request_naming_the_action(moto_ecr: Any) -> None:
    moto_ecr.create_repository(repositoryName="app")
    codebuild = CodeBuild()
    codebuild.builds()
    codebuild.stubber.add_client_error(
        "start_build", "AccessDeniedException", "not authorized to perform StartBuild", 400
    )
    clock = FakeClock()
    resource = ImageWaiterResource(
        clock=clock, sleep=clock.sleep, query_interval=5, watch_factory=codebuild.watch
    )
    request = event(
        RepositoryName="app",
        ImageTag="v1",
        CodeBuildProjectName=PROJECT,
        TriggerBuildOnMissing="true",
    )
    result = run_resource(request, clock, resource)
    assert result["Status"] == "FAILED"
    assert "access denied to codebuild:StartBuild" in result["Reason"]
    assert "grant codebuild:StartBuild" in result["Reason"]
    assert result["is_complete_calls"] == 0


def test_pipeline_started_once_then_its_failure_ends_the_wait(moto_ecr: Any) -> None:
    moto_ecr.create_repository(repositoryName="app")
    pipeline = "app-pipeline"
    began = datetime.fromtimestamp(START, UTC)
    client = boto3.client("codepipeline", region_name=REGION)
    stubber = Stubber(client)
    stubber.activate()
    listed = {"pipelineName": pipeline, "maxResults": 5}

    def executions(status: str, updated: float) -> dict[str, Any]:
        summary = {
            "pipelineExecutionId": "exec-1",
            "status": status,
            "startTime": began,
            "lastUpdateTime": began + timedelta(seconds=updated),
        }
        return {"pipelineExecutionSummaries": [summary]}

    request = event(
        RepositoryName="app", ImageTag="v1", PipelineName=pipeline, TriggerBuildOnMissing="true"
    )
    token = idempotency_token(request["RequestId"], "codepipeline", pipeline)
    stubber.add_response("list_pipeline_executions", {}, listed)  # nothing running
    stubber.add_response(
        "start_pipeline_execution",
        {"pipelineExecutionId": "exec-1"},
        {"name": pipeline, "clientRequestToken": token},
    )
    stubber.add_response("list_pipeline_executions", executions("InProgress", 0), listed)
    stubber.add_response("list_pipeline_executions", executions("Failed", 4), listed)
    stubber.add_response(
        "list_action_executions",
        {
            "actionExecutionDetails": [
                {
                    "stageName": "Build",
                    "actionName": "DockerPush",
                    "status": "Failed",
                    "output": {"executionResult": {"externalExecutionSummary": "push denied"}},
                }
            ]
        },
        {"pipelineName": pipeline, "filter": {"pipelineExecutionId": "exec-1"}},
    )
    clock = FakeClock()
    resource = ImageWaiterResource(
        clock=clock,
        sleep=clock.sleep,
        query_interval=5,
        poll_budget=0,
        watch_factory=lambda s: PipelineWatch(None, s.pipeline_name, codepipeline_client=client),
    )
    result = run_resource(request, clock, resource)
    stubber.assert_no_pending_responses()
    assert result["Status"] == "FAILED"
    reason = result["Reason"]
    assert f"CodePipeline execution exec-1 of pipeline {pipeline} ended Failed" in reason
    assert "in stage Build, action DockerPush (push denied)" in reason
    assert result["is_complete_calls"] == 2
    assert result["elapsed_seconds"] == 5
