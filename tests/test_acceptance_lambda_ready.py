"""Lambda-ready images and pipeline-aware waiting, end to end through every front end.

* An index with amd64, arm64 and attestation children (pushed untagged under their true
  sha256 digests) resolves to the child for the architecture: the CLI as a real process
  against the moto server, ``main()`` in process, and the custom resource's service.
* An index without the wanted platform, and a media type Lambda does not take, end at once
  (CLI exit 3, resource FAILED) naming what was found and the remedy.
* A single-platform image's architecture is read from its config through the real entry
  point on the moto server: an amd64 image for an arm64 function fails at once naming
  both, an unreadable config succeeds with the architecture unknown and the reason logged,
  and the config's presigned download URL shows up nowhere.
* A failed CodeBuild build ends the wait with the build id and phase in the reason: the CLI
  within one interval, the custom resource at once on the build's state-change event
  (moto's CodeBuild reports every build SUCCEEDED, so failed and running builds come from
  botocore's Stubber on a real client); TriggerBuildOnMissing starts exactly one build per
  CloudFormation request, even when the same request is delivered again or retried after
  the invocation died just after starting the build.
"""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from ecr_image_waiter import names
from ecr_image_waiter.cli.main import ExitStatus, main
from ecr_image_waiter.custom_resource.properties import Settings
from ecr_image_waiter.engine.pipeline import PipelineWatch, idempotency_token
from tests.blobs import CREDENTIAL, SIGNATURE, config_manifest, image_config, sha256_of
from tests.codebuild import create_project
from tests.conftest import ACCOUNT, REGION
from tests.images import DOCKER_V2, push, single_manifest
from tests.manifests import DOCKER_V1_SIGNED, image_index, push_index, push_raw, schema1
from tests.provider_support import (
    START,
    FakeClock,
    InProcess,
    ServerProvider,
    build_event,
    in_process,
    json_lines,
    pipeline_event,
    push_event,
    request,
)

REGISTRY = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
PROJECT = "app-image"
PLATFORMS = [("arm64", "linux/arm64"), ("x86_64", "linux/amd64")]


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
    cr = in_process(moto_ecr)
    req = request(RepositoryName="app", ImageTag="v1", Architecture=architecture)
    cr.handle(req)
    answer = cr.put.one(req)
    assert answer["Status"] == "SUCCESS", answer.get("Reason")
    data = answer["Data"]
    child = index.child_digest(platform)
    assert data[names.ATTR_IMAGE_DIGEST] == child
    assert data[names.ATTR_IMAGE_URI] == f"{REGISTRY}/app@{child}"
    assert data[names.ATTR_INDEX_DIGEST] == index_digest
    assert data[names.ATTR_ARCHITECTURE] == architecture


def fails_at_once(cr: InProcess, req: dict[str, Any]) -> str:
    """The request's one answer is FAILED, sent by the request itself: no wait, no sweep."""
    cr.handle(req)
    answer = cr.put.one(req)
    assert answer["Status"] == "FAILED"
    assert answer["PhysicalResourceId"] == names.CREATE_FAILED_PHYSICAL_ID
    assert cr.clock.now == START
    assert [w.status for w in cr.service.store.everything()] == ["answered"]
    return str(answer["Reason"])


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

    reason = fails_at_once(in_process(moto_ecr), request(RepositoryName="app", ImageTag="v1"))
    assert "platforms in the index: linux/arm64/v8" in reason
    assert "architecture arm64" in reason


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

    reason = fails_at_once(in_process(moto_ecr), request(RepositoryName="app", ImageTag="old"))
    assert f"media type {DOCKER_V1_SIGNED}" in reason
    # The remedy fits a schema 1 image: rebuild it, not buildx's attestation switch.
    assert "rebuild the image with a current Docker or buildx" in reason
    assert "--provenance=false" not in reason


# --- A single-platform image's architecture, from its config -----------------------------


@pytest.fixture
def config_repo(
    server_ecr: Any,
    moto_server_url: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> ServerProvider:
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="ecr_image_waiter")
    server_ecr.create_repository(repositoryName="app/fn")
    return ServerProvider(moto_server_url, monkeypatch)


def offer_config(
    ecr: Any, blob_server: Any, urls: Any, config: bytes, served: bytes | None = None
) -> None:
    """Push a manifest naming ``config``; the config download serves ``served`` (or it)."""
    blob_server.offer(urls, "app/fn", sha256_of(config), config if served is None else served, 200)
    push(ecr, "app/fn", config_manifest(config, DOCKER_V2), tag="v1")


def assert_no_download_url(*texts: object) -> None:
    for text in texts:
        assert SIGNATURE not in str(text)
        assert CREDENTIAL not in str(text)


def test_handler_fails_at_once_for_an_amd64_image_on_arm64(
    config_repo: ServerProvider,
    server_ecr: Any,
    blob_server: Any,
    ecr_blob_urls: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    offer_config(server_ecr, blob_server, ecr_blob_urls, image_config("amd64"))
    arm = config_repo.request(RepositoryName="app/fn", ImageTag="v1", Architecture="arm64")
    config_repo(arm)
    answer = config_repo.answer(arm)
    assert answer is not None
    assert answer["Status"] == "FAILED"
    for text in ("linux/amd64", "Lambda architecture x86_64", "architecture arm64"):
        assert text in answer["Reason"]
    assert config_repo.rule_state() == "DISABLED"  # never: nothing was left to wait for

    x86 = config_repo.request(RepositoryName="app/fn", ImageTag="v1", Architecture="x86_64")
    config_repo(x86)
    ok = config_repo.answer(x86)
    assert ok is not None
    assert ok["Status"] == "SUCCESS", ok.get("Reason")
    assert ok["Data"][names.ATTR_ARCHITECTURE] == "x86_64"
    assert_no_download_url(json.dumps([answer, ok]), caplog.text)


def test_handler_logs_why_the_architecture_is_unknown(
    config_repo: ServerProvider,
    server_ecr: Any,
    blob_server: Any,
    ecr_blob_urls: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    arm64 = image_config("arm64", variant="v8")
    offer_config(server_ecr, blob_server, ecr_blob_urls, arm64, served=image_config("amd64"))
    req = config_repo.request(RepositoryName="app/fn", ImageTag="v1", Architecture="arm64")
    config_repo(req)
    answer = config_repo.answer(req)
    assert answer is not None
    assert answer["Status"] == "SUCCESS", answer.get("Reason")
    assert answer["Data"][names.ATTR_ARCHITECTURE] == ""
    ready = [line for line in json_lines(caplog.records) if line.get("verdict") == "ready"]
    assert ready, caplog.text
    assert ready[-1]["architecture"].startswith("unknown: the downloaded config does not hash")
    assert_no_download_url(json.dumps(answer), caplog.text)


# --- A failed build ends the wait ----------------------------------------


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
        if settings.codebuild_project_name is None:
            return None
        return PipelineWatch(settings.codebuild_project_name, codebuild_client=self.client)


def test_a_failed_build_event_ends_the_matching_waits_at_once(moto_ecr: Any) -> None:
    moto_ecr.create_repository(repositoryName="app")
    began = datetime.fromtimestamp(START, UTC)
    codebuild = CodeBuild()
    # The request's look and the look after storing the wait: the build is running.
    codebuild.builds(build("IN_PROGRESS", began + timedelta(seconds=1)))
    codebuild.builds(build("IN_PROGRESS", began + timedelta(seconds=1)))
    cr = in_process(moto_ecr, watch_factory=codebuild.watch)
    req = request(RepositoryName="app", ImageTag="v1", CodeBuildProjectName=PROJECT)
    unrelated = request(RepositoryName="app", ImageTag="v1", logical_id="NoBuildNamed")
    cr.handle(req)
    cr.handle(unrelated)
    assert cr.put.calls == []

    # The build fails 3 s into the wait; its state-change event wakes the waits on it.
    cr.clock.advance(3)
    codebuild.builds(build("FAILED", began + timedelta(seconds=1), began + timedelta(seconds=3)))
    cr.handle(build_event(PROJECT, "FAILED"))
    codebuild.stubber.assert_no_pending_responses()
    answer = cr.put.one(req)
    assert answer["Status"] == "FAILED"
    assert answer["PhysicalResourceId"] == names.CREATE_FAILED_PHYSICAL_ID
    reason = answer["Reason"]
    assert f"CodeBuild build {PROJECT}:b7 of project {PROJECT} ended FAILED" in reason
    assert "in phase BUILD (exit status 1)" in reason
    assert "run the build again" in reason
    assert cr.clock.elapsed == 3  # at once: no sweep came in between
    assert codebuild.start_tokens == []  # nobody asked to start a build
    assert cr.put.answers(unrelated) == []  # a wait on no build is not woken


def test_a_build_event_for_another_project_wakes_nothing(moto_ecr: Any) -> None:
    moto_ecr.create_repository(repositoryName="app")
    codebuild = CodeBuild()
    codebuild.builds()
    codebuild.builds()
    cr = in_process(moto_ecr, watch_factory=codebuild.watch)
    req = request(RepositoryName="app", ImageTag="v1", CodeBuildProjectName=PROJECT)
    cr.handle(req)
    cr.handle(build_event("other-project", "FAILED"))
    codebuild.stubber.assert_no_pending_responses()  # no look was made
    assert cr.put.calls == []


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
    cr = in_process(
        moto_ecr,
        watch_factory=lambda s: PipelineWatch(PROJECT, codebuild_client=codebuild_project),
    )
    req = trigger_request()
    cr.handle(req)
    assert cr.put.calls == []
    (build_id,) = codebuild_project.list_builds_for_project(projectName=PROJECT)["ids"]
    cr.sweep()
    cr.clock.advance(23)
    digest = push(moto_ecr, "app", single_manifest(), "v1")
    cr.handle(push_event("app", digest, "v1"))
    answer = cr.put.one(req)
    assert answer["Status"] == "SUCCESS", answer.get("Reason")
    assert answer["Data"][names.ATTR_IMAGE_DIGEST] == digest
    assert starts == [idempotency_token(req["RequestId"], "codebuild", PROJECT)]
    lines = json_lines(caplog.records)
    assert [line["run"] for line in lines if line.get("verdict") == "triggered"] == [build_id]
    looks = [line for line in lines if line.get("event") == "attempt"]
    # The request's look (before the build), the look after storing, the sweep's, the push's.
    assert len(looks) == 4
    assert "run" not in looks[0]
    assert {line["run"] for line in looks[1:]} == {build_id}


def trigger_request(**props: str) -> dict[str, Any]:
    return request(
        RepositoryName="app",
        ImageTag="v1",
        TriggerBuildOnMissing="true",
        **(props or {"CodeBuildProjectName": PROJECT}),
    )


def test_image_already_there_starts_nothing(moto_ecr: Any, codebuild_project: Any) -> None:
    moto_ecr.create_repository(repositoryName="app")
    push(moto_ecr, "app", single_manifest(), "v1")
    cr = in_process(
        moto_ecr,
        watch_factory=lambda s: PipelineWatch(PROJECT, codebuild_client=codebuild_project),
    )
    req = trigger_request()
    cr.handle(req)
    assert cr.put.one(req)["Status"] == "SUCCESS"
    assert codebuild_project.list_builds_for_project(projectName=PROJECT).get("ids", []) == []


class DiesBeforeRecordingTheRun:
    """A DynamoDB client whose first write of a started build's id dies with the invocation
    (the build is started, the table does not know it)."""

    def __init__(self) -> None:
        self.real = boto3.client("dynamodb", region_name=REGION)
        self.died = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def update_item(self, **kwargs: Any) -> Any:
        if kwargs.get("UpdateExpression") == "SET #run = :run" and not self.died:
            self.died = True
            raise RuntimeError("the invocation died after StartBuild")
        return self.real.update_item(**kwargs)


@pytest.mark.parametrize("how", ["delivered again", "retried after dying mid-way"])
def test_the_same_request_again_starts_no_second_build(moto_ecr: Any, how: str) -> None:
    moto_ecr.create_repository(repositoryName="app")
    began = datetime.fromtimestamp(START, UTC)
    started = build("IN_PROGRESS", began)
    codebuild = CodeBuild()
    req = trigger_request()
    # First delivery: no build yet (its look, then the check before starting), so it starts one.
    codebuild.builds()
    codebuild.builds()
    codebuild.stubber.add_response(
        "start_build",
        {"build": started},
        {
            "projectName": PROJECT,
            "idempotencyToken": idempotency_token(req["RequestId"], "codebuild", PROJECT),
        },
    )
    for _ in range(3):  # every later look (or the retry's check) sees the build running
        codebuild.builds(started)
    if how == "delivered again":
        cr = in_process(moto_ecr, watch_factory=codebuild.watch)
        cr.handle(req)
    else:
        cr = in_process(
            moto_ecr, watch_factory=codebuild.watch, dynamodb=DiesBeforeRecordingTheRun()
        )
        with pytest.raises(RuntimeError, match="died"):
            cr.handle(req)
    cr.handle(req)
    codebuild.stubber.assert_no_pending_responses()
    assert len(codebuild.start_tokens) == 1  # one StartBuild for the request
    (wait,) = cr.service.store.everything()
    assert (wait.status, wait.run) == ("pending", started["id"])
    assert cr.put.calls == []


def test_refused_start_fails_the_request_naming_the_action(moto_ecr: Any) -> None:
    moto_ecr.create_repository(repositoryName="app")
    codebuild = CodeBuild()
    codebuild.builds()
    codebuild.builds()
    codebuild.stubber.add_client_error(
        "start_build", "AccessDeniedException", "not authorized to perform StartBuild", 400
    )
    cr = in_process(moto_ecr, watch_factory=codebuild.watch)
    req = trigger_request()
    cr.handle(req)
    codebuild.stubber.assert_no_pending_responses()
    answer = cr.put.one(req)
    assert answer["Status"] == "FAILED"
    assert answer["PhysicalResourceId"] == names.CREATE_FAILED_PHYSICAL_ID
    assert "access denied to codebuild:StartBuild" in answer["Reason"]
    assert "grant codebuild:StartBuild" in answer["Reason"]


def test_pipeline_started_once_then_its_failure_event_ends_the_wait(moto_ecr: Any) -> None:
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

    req = trigger_request(PipelineName=pipeline)
    token = idempotency_token(req["RequestId"], "codepipeline", pipeline)
    stubber.add_response("list_pipeline_executions", {}, listed)  # the look: nothing running
    stubber.add_response("list_pipeline_executions", {}, listed)  # before starting: nothing
    stubber.add_response(
        "start_pipeline_execution",
        {"pipelineExecutionId": "exec-1"},
        {"name": pipeline, "clientRequestToken": token},
    )
    stubber.add_response("list_pipeline_executions", executions("InProgress", 0), listed)
    cr = in_process(
        moto_ecr,
        watch_factory=lambda s: PipelineWatch(None, s.pipeline_name, codepipeline_client=client),
    )
    cr.handle(req)
    assert cr.put.calls == []

    cr.clock.advance(4)
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
    cr.handle(pipeline_event(pipeline, "FAILED"))
    stubber.assert_no_pending_responses()
    answer = cr.put.one(req)
    assert answer["Status"] == "FAILED"
    reason = answer["Reason"]
    assert f"CodePipeline execution exec-1 of pipeline {pipeline} ended Failed" in reason
    assert "in stage Build, action DockerPush (push denied)" in reason
    assert cr.clock.elapsed == 4
