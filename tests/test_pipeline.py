"""Pipeline awareness: CodeBuild against moto where it can, botocore's Stubber elsewhere.

moto 5.2.5's CodeBuild reports every build SUCCEEDED as soon as BatchGetBuilds reads it, and
ignores idempotency tokens; failed, in-progress and stopped builds, and all of CodePipeline,
come from botocore's Stubber.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from ecr_image_waiter import names
from ecr_image_waiter.engine import (
    EcrLookup,
    NeverReason,
    Verdict,
    WaitPolicy,
    parse_reference,
    wait_until_ready,
)
from ecr_image_waiter.engine.pipeline import (
    CLOCK_SKEW_SECONDS,
    PipelineWatch,
    idempotency_token,
    pipeline_aware,
)
from ecr_image_waiter.errors import AccessDeniedError, InvalidInputError, PipelineFailedError
from ecr_image_waiter.local.support import FakeClock
from tests.codebuild import create_project
from tests.conftest import REGION
from tests.images import push, single_manifest

SINCE = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
PROJECT = "app-image"
PIPELINE = "app-pipeline"
REF = parse_reference("app:v1")


def at(minutes: float) -> datetime:
    """A time ``minutes`` after the wait began (negative: before)."""
    return SINCE + timedelta(minutes=minutes)


def build(
    number: int,
    status: str,
    started: datetime,
    ended: datetime | None = None,
    phases: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": f"{PROJECT}:build-{number}",
        "buildNumber": number,
        "buildStatus": status,
        "startTime": started,
        "projectName": PROJECT,
        "phases": phases or [],
    }
    if ended is not None:
        body["endTime"] = ended
    return body


FAILED_PHASES = [
    {"phaseType": "SUBMITTED", "phaseStatus": "SUCCEEDED"},
    {"phaseType": "PRE_BUILD", "phaseStatus": "SUCCEEDED"},
    {
        "phaseType": "BUILD",
        "phaseStatus": "FAILED",
        "contexts": [
            {
                "statusCode": "COMMAND_EXECUTION_ERROR",
                "message": "Error while executing command: docker build . Reason: exit status 1",
            }
        ],
    },
]


class CodeBuildStub:
    """A real botocore CodeBuild client with queued answers."""

    def __init__(self) -> None:
        self.client = boto3.client("codebuild", region_name=REGION)
        self.stubber = Stubber(self.client)
        self.stubber.activate()

    def builds(self, *builds: dict[str, Any]) -> None:
        ids = [b["id"] for b in builds]
        self.stubber.add_response(
            "list_builds_for_project",
            {"ids": ids} if ids else {},
            {"projectName": PROJECT, "sortOrder": "DESCENDING"},
        )
        if ids:
            self.stubber.add_response("batch_get_builds", {"builds": list(builds)}, {"ids": ids})


def execution(run: str, status: str, started: datetime, updated: datetime) -> dict[str, Any]:
    return {
        "pipelineExecutionId": run,
        "status": status,
        "startTime": started,
        "lastUpdateTime": updated,
    }


class CodePipelineStub:
    def __init__(self) -> None:
        self.client = boto3.client("codepipeline", region_name=REGION)
        self.stubber = Stubber(self.client)
        self.stubber.activate()

    def executions(self, *summaries: dict[str, Any]) -> None:
        self.stubber.add_response(
            "list_pipeline_executions",
            {"pipelineExecutionSummaries": list(summaries)},
            {"pipelineName": PIPELINE, "maxResults": 5},
        )

    def actions(self, run: str, details: list[dict[str, Any]]) -> None:
        self.stubber.add_response(
            "list_action_executions",
            {"actionExecutionDetails": details},
            {"pipelineName": PIPELINE, "filter": {"pipelineExecutionId": run}},
        )


# --- The acceptance case: a failed build ends the wait within one interval ----------------


def test_failed_build_ends_the_wait_within_one_interval(server_ecr: Any) -> None:
    server_ecr.create_repository(repositoryName="app")
    codebuild = CodeBuildStub()
    codebuild.builds(build(7, "IN_PROGRESS", at(0.5)))
    codebuild.builds(build(7, "FAILED", at(0.5), at(3), FAILED_PHASES))
    watch = PipelineWatch(PROJECT, codebuild_client=codebuild.client)
    lookup = EcrLookup()
    clock = FakeClock(0.0)
    check = pipeline_aware(lambda: lookup.look(REF), watch, SINCE)
    with pytest.raises(PipelineFailedError) as info:
        wait_until_ready(check, WaitPolicy(1800, 5), REF, clock=clock, sleep=clock.sleep)
    codebuild.stubber.assert_no_pending_responses()
    error = info.value
    assert error.attempts == 2
    assert clock.sleeps == [5]
    assert error.last_code == "BuildFailed"
    text = str(error)
    assert f"{PROJECT}:build-7" in text
    assert "ended FAILED in phase BUILD" in text
    assert "exit status 1" in text
    assert "run the build again" in text


def test_image_found_wins_over_a_failed_build(moto_ecr: Any) -> None:
    moto_ecr.create_repository(repositoryName="app")
    push(moto_ecr, "app", single_manifest("ok"), tag="v1")
    codebuild = CodeBuildStub()  # nothing queued: any call would raise
    watch = PipelineWatch(PROJECT, codebuild_client=codebuild.client)
    observation = pipeline_aware(lambda: EcrLookup().look(REF), watch, SINCE)()
    assert observation.verdict is Verdict.READY


# --- The rule: which run is "the current one" -----------------------------------------------


def check_builds(*builds: dict[str, Any]) -> Any:
    codebuild = CodeBuildStub()
    codebuild.builds(*builds)
    result = PipelineWatch(PROJECT, codebuild_client=codebuild.client).check(SINCE)
    codebuild.stubber.assert_no_pending_responses()
    return result


def test_failed_build_that_ended_before_the_wait_is_not_the_current_one() -> None:
    assert check_builds(build(3, "FAILED", at(-20), at(-10), FAILED_PHASES)) is None


def test_failed_build_that_ended_just_inside_the_clock_skew_counts() -> None:
    ended = SINCE - timedelta(seconds=CLOCK_SKEW_SECONDS - 5)
    result = check_builds(build(3, "FAILED", at(-20), ended, FAILED_PHASES))
    assert result is not None
    assert result.verdict is Verdict.NEVER


def test_failed_build_running_when_the_wait_began_counts() -> None:
    result = check_builds(build(4, "TIMED_OUT", at(-20), at(10)))
    assert result is not None
    assert result.kind is NeverReason.PIPELINE_FAILED
    assert f"{PROJECT}:build-4" in result.message
    assert "TIMED_OUT" in result.message
    assert result.extra == {"buildId": f"{PROJECT}:build-4"}


@pytest.mark.parametrize("status", ["FAILED", "FAULT", "STOPPED", "TIMED_OUT"])
def test_every_failed_build_status_is_never(status: str) -> None:
    result = check_builds(build(5, status, at(1), at(2)))
    assert result is not None
    assert f"ended {status}" in result.message


def test_newer_build_in_progress_keeps_the_wait_going() -> None:
    assert check_builds(build(9, "IN_PROGRESS", at(2)), build(8, "FAILED", at(1), at(2))) is None


def test_older_build_still_running_keeps_the_wait_going() -> None:
    assert check_builds(build(9, "FAILED", at(2), at(3)), build(8, "IN_PROGRESS", at(-5))) is None


def test_newest_build_succeeded_after_an_older_failure_is_no_opinion() -> None:
    assert (
        check_builds(build(9, "SUCCEEDED", at(2), at(4)), build(8, "FAILED", at(1), at(2))) is None
    )


def test_no_builds_at_all_is_no_opinion() -> None:
    assert check_builds() is None


# --- CodeBuild errors --------------------------------------------------------------------


def test_refused_build_read_names_the_action(moto_ecr: Any) -> None:
    moto_ecr.create_repository(repositoryName="app")
    codebuild = CodeBuildStub()
    codebuild.stubber.add_client_error(
        "list_builds_for_project", "AccessDeniedException", "not authorized", 400
    )
    watch = PipelineWatch(PROJECT, codebuild_client=codebuild.client)
    check = pipeline_aware(lambda: EcrLookup().look(REF), watch, SINCE)
    with pytest.raises(AccessDeniedError) as info:
        wait_until_ready(check, WaitPolicy(60, 5), REF, sleep=pytest.fail)
    assert info.value.action == "codebuild:ListBuildsForProject"
    assert PROJECT in str(info.value)


def test_missing_project_is_never() -> None:
    codebuild = CodeBuildStub()
    codebuild.stubber.add_client_error(
        "list_builds_for_project", "ResourceNotFoundException", "project not found", 400
    )
    result = PipelineWatch(PROJECT, codebuild_client=codebuild.client).check(SINCE)
    assert result is not None
    assert result.kind is NeverReason.INVALID_REQUEST
    assert PROJECT in result.message


def test_throttled_read_is_no_opinion_and_is_kept() -> None:
    codebuild = CodeBuildStub()
    codebuild.stubber.add_client_error(
        "list_builds_for_project", "ThrottlingException", "slow down", 400
    )
    watch = PipelineWatch(PROJECT, codebuild_client=codebuild.client)
    assert watch.check(SINCE) is None
    assert watch.last_problem is not None
    assert "ThrottlingException" in watch.last_problem


def test_unreachable_codebuild_is_no_opinion_and_is_kept() -> None:
    """A connection error that outlived botocore's retries is transient, as it is for ECR:
    the wait goes on, and the problem is kept for progress output."""
    from botocore.config import Config

    from tests.conftest import free_port

    client = boto3.client(
        "codebuild",
        region_name=REGION,
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=2),
    )
    watch = PipelineWatch(PROJECT, codebuild_client=client)
    assert watch.check(SINCE) is None
    assert watch.last_problem is not None
    assert "codebuild:ListBuildsForProject" in watch.last_problem
    assert "ConnectionError" in watch.last_problem


# --- CodeBuild against moto ------------------------------------------------------------------


@pytest.fixture
def moto_codebuild(aws_env: None) -> Any:
    from moto import mock_aws

    with mock_aws():
        client = boto3.client("codebuild", region_name=REGION)
        create_project(client, PROJECT)
        yield client


def test_trigger_then_check_against_moto(moto_codebuild: Any) -> None:
    watch = PipelineWatch(PROJECT)  # client made on first use, in moto
    build_id = watch.trigger("request-1", REF)
    assert build_id.startswith(f"{PROJECT}:")
    assert moto_codebuild.list_builds_for_project(projectName=PROJECT)["ids"] == [build_id]
    # moto reports the build SUCCEEDED: the watch has no opinion, ECR decides.
    assert watch.check(datetime.now(UTC)) is None


def test_trigger_starts_one_build_per_request(moto_codebuild: Any) -> None:
    tokens: list[str] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        tokens.append(params["idempotencyToken"])

    moto_codebuild.meta.events.register("provide-client-params.codebuild.StartBuild", record)
    # A retried on_event: a new watch, the same request id, no state yet.
    first = PipelineWatch(PROJECT, codebuild_client=moto_codebuild).trigger("req-1", REF)
    retried = PipelineWatch(PROJECT, codebuild_client=moto_codebuild)
    retried.trigger("req-1", REF)
    assert len(tokens) == 2
    assert tokens[0] == tokens[1]  # CodeBuild returns the first build for a repeated token
    # is_complete with the state on_event stored: nothing is started.
    assert retried.trigger("req-1", REF, started=first) == first
    assert len(tokens) == 2
    # A new request gets a new token.
    PipelineWatch(PROJECT, codebuild_client=moto_codebuild).trigger("req-2", REF)
    assert tokens[2] != tokens[0]


def test_refused_trigger_names_the_action() -> None:
    codebuild = CodeBuildStub()
    codebuild.stubber.add_client_error("start_build", "AccessDeniedException", "no", 400)
    with pytest.raises(AccessDeniedError) as info:
        PipelineWatch(PROJECT, codebuild_client=codebuild.client).trigger("req-1", REF)
    assert info.value.action == "codebuild:StartBuild"
    assert "app:v1" in str(info.value)


def test_failed_trigger_is_a_pipeline_failure() -> None:
    codebuild = CodeBuildStub()
    codebuild.stubber.add_client_error(
        "start_build", "AccountLimitExceededException", "too many builds", 400
    )
    with pytest.raises(PipelineFailedError) as info:
        PipelineWatch(PROJECT, codebuild_client=codebuild.client).trigger("req-1", REF)
    assert "AccountLimitExceededException" in str(info.value)
    assert PROJECT in str(info.value)


# --- CodePipeline (Stubber) --------------------------------------------------------------


def check_executions(*summaries: dict[str, Any], actions: Any = None) -> Any:
    stub = CodePipelineStub()
    stub.executions(*summaries)
    if actions is not None:
        actions(stub)
    result = PipelineWatch(pipeline_name=PIPELINE, codepipeline_client=stub.client).check(SINCE)
    stub.stubber.assert_no_pending_responses()
    return result


def test_failed_execution_names_the_stage_and_action() -> None:
    def actions(stub: CodePipelineStub) -> None:
        stub.actions(
            "exec-2",
            [
                {"stageName": "Source", "actionName": "Git", "status": "Succeeded"},
                {
                    "stageName": "Build",
                    "actionName": "DockerPush",
                    "status": "Failed",
                    "output": {
                        "executionResult": {
                            "errorDetails": {"code": "JobFailed", "message": "Build terminated"}
                        }
                    },
                },
            ],
        )

    result = check_executions(
        execution("exec-2", "Failed", at(1), at(6)),
        execution("exec-1", "Succeeded", at(-60), at(-50)),
        actions=actions,
    )
    assert result is not None
    assert result.code == "PipelineExecutionFailed"
    assert result.kind is NeverReason.PIPELINE_FAILED
    assert "exec-2" in result.message
    assert "stage Build, action DockerPush" in result.message
    assert "Build terminated" in result.message
    assert result.extra == {"executionId": "exec-2"}


def test_failed_stage_unreadable_is_said() -> None:
    def actions(stub: CodePipelineStub) -> None:
        stub.stubber.add_client_error("list_action_executions", "AccessDeniedException", "no", 400)

    result = check_executions(execution("exec-3", "Stopped", at(1), at(2)), actions=actions)
    assert result is not None
    assert "exec-3" in result.message
    assert "failed stage unknown" in result.message
    assert "codepipeline:ListActionExecutions" in result.message


@pytest.mark.parametrize("status", ["Superseded", "Cancelled", "Succeeded"])
def test_execution_taken_over_or_succeeded_is_no_opinion(status: str) -> None:
    assert check_executions(execution("exec-4", status, at(1), at(2))) is None


def test_execution_stopping_keeps_the_wait_going() -> None:
    assert check_executions(execution("exec-5", "Stopping", at(1), at(2))) is None


def test_old_failed_execution_is_not_the_current_one() -> None:
    assert check_executions(execution("exec-6", "Failed", at(-30), at(-20))) is None


def test_build_running_keeps_a_failed_pipeline_waiting() -> None:
    codebuild = CodeBuildStub()
    codebuild.builds(build(1, "IN_PROGRESS", at(1)))
    pipeline = CodePipelineStub()
    pipeline.executions(execution("exec-7", "Failed", at(1), at(2)))
    watch = PipelineWatch(
        PROJECT,
        PIPELINE,
        codebuild_client=codebuild.client,
        codepipeline_client=pipeline.client,
    )
    assert watch.check(SINCE) is None


def test_pipeline_trigger_uses_one_token_per_request() -> None:
    stub = CodePipelineStub()
    token = idempotency_token("req-1", "codepipeline", PIPELINE)
    for _ in range(2):
        stub.stubber.add_response(
            "start_pipeline_execution",
            {"pipelineExecutionId": "exec-9"},
            {"name": PIPELINE, "clientRequestToken": token},
        )
    first = PipelineWatch(pipeline_name=PIPELINE, codepipeline_client=stub.client)
    assert first.trigger("req-1", REF) == "exec-9"
    retried = PipelineWatch(pipeline_name=PIPELINE, codepipeline_client=stub.client)
    assert retried.trigger("req-1", REF) == "exec-9"
    assert retried.trigger("req-1", REF, started="exec-9") == "exec-9"  # no call
    stub.stubber.assert_no_pending_responses()
    assert len(token) <= 128
    assert token.replace("-", "").isalnum()


def test_pipeline_is_triggered_rather_than_the_build_when_both_are_named() -> None:
    stub = CodePipelineStub()
    stub.stubber.add_response(
        "start_pipeline_execution",
        {"pipelineExecutionId": "exec-10"},
        {"name": PIPELINE, "clientRequestToken": idempotency_token("r", "codepipeline", PIPELINE)},
    )
    codebuild = CodeBuildStub()  # nothing queued: a StartBuild would raise
    watch = PipelineWatch(
        PROJECT, PIPELINE, codebuild_client=codebuild.client, codepipeline_client=stub.client
    )
    assert watch.trigger("r", REF) == "exec-10"


# --- Input and shared names ------------------------------------------------------------------


def test_bad_input_names_the_value() -> None:
    with pytest.raises(InvalidInputError, match="CodeBuild project name 'bad name'"):
        PipelineWatch("bad name")
    with pytest.raises(InvalidInputError, match="pipeline name 'a/b'"):
        PipelineWatch(pipeline_name="a/b")
    with pytest.raises(InvalidInputError, match="needs a CodeBuild project name or a pipeline"):
        PipelineWatch()
    with pytest.raises(InvalidInputError, match="no time zone"):
        PipelineWatch(PROJECT).check(datetime(2030, 1, 1))
    with pytest.raises(InvalidInputError, match="request id"):
        PipelineWatch(PROJECT).trigger("", REF)


def test_iam_action_names_cover_every_call() -> None:
    actions = set(names.CODEBUILD_READ_ACTIONS) | set(names.CODEPIPELINE_READ_ACTIONS)
    assert actions == {
        "codebuild:ListBuildsForProject",
        "codebuild:BatchGetBuilds",
        "codepipeline:ListPipelineExecutions",
        "codepipeline:ListActionExecutions",
    }
    assert names.CODEBUILD_TRIGGER_ACTIONS == ("codebuild:StartBuild",)
    assert names.CODEPIPELINE_TRIGGER_ACTIONS == ("codepipeline:StartPipelineExecution",)
