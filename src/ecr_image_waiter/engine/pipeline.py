"""Pipeline awareness: stop waiting when the build that should push the image has failed.

Use::

    watch = PipelineWatch(codebuild_project="app-image")      # and/or pipeline_name=...
    check = pipeline_aware(lambda: lookup.look(ref), watch, since=wait_began)
    run_id = watch.trigger(request_id, ref, started=state.get("run"))  # once per request

The rule and the trigger's guards are in docs/rules.md ("Pipeline awareness"); starting a
run is in :mod:`.trigger`. The IAM actions are in :mod:`ecr_image_waiter.names`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ecr_image_waiter.engine.aws import failure_of, make_service_client, sdk_errors
from ecr_image_waiter.engine.classify import NeverReason, Verdict, classify
from ecr_image_waiter.engine.image import Observation
from ecr_image_waiter.engine.reference import ImageReference
from ecr_image_waiter.engine.safe import safe_text
from ecr_image_waiter.engine.trigger import idempotency_token, start_run
from ecr_image_waiter.errors import InvalidInputError

#: Tolerated difference between the waiter's clock and AWS's, in seconds.
CLOCK_SKEW_SECONDS = 30
#: How many of the newest builds / executions are read on each check.
RECENT_RUNS = 5
#: Longest excerpt of a build or action error kept in a message (CloudFormation caps the
#: whole response at 4096 bytes).
DETAIL_MAX_CHARS = 300
#: Longest build or execution id kept (a CodeBuild build id is ``<project>:<uuid>``).
ID_MAX_CHARS = 300

CODEBUILD_FAILED = frozenset({"FAILED", "FAULT", "TIMED_OUT", "STOPPED"})
CODEBUILD_RUNNING = frozenset({"IN_PROGRESS"})
CODEPIPELINE_FAILED = frozenset({"Failed", "Stopped"})
CODEPIPELINE_RUNNING = frozenset({"InProgress", "Stopping"})

# Name rules: CodeBuild CreateProject ``name``; CodePipeline PipelineDeclaration ``name``.
_PROJECT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-_]{1,254}")
_PIPELINE_RE = re.compile(r"[A-Za-z0-9.@\-_]{1,100}")

REMEDY_BUILD = (
    "fix the failure shown in the build log, run the build again so it pushes the image, "
    "then retry the deployment"
)
REMEDY_PIPELINE = (
    "fix the failed stage, release a change through the pipeline so it pushes the image, "
    "then retry the deployment"
)


@dataclass(frozen=True)
class Run:
    """One CodeBuild build or CodePipeline execution, as the rule sees it."""

    source: str
    id: str
    status: str
    started: datetime | None
    ended: datetime | None
    running: bool
    failed: bool
    #: The build or execution summary as AWS returned it.
    detail: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


class PipelineWatch:
    """Watches the CodeBuild project and/or pipeline that should push the image."""

    def __init__(
        self,
        codebuild_project: str | None = None,
        pipeline_name: str | None = None,
        *,
        codebuild_client: Any = None,
        codepipeline_client: Any = None,
        region: str | None = None,
    ) -> None:
        if codebuild_project is None and pipeline_name is None:
            raise InvalidInputError(
                "a pipeline watch needs a CodeBuild project name or a pipeline name"
            )
        if codebuild_project is not None and not _PROJECT_RE.fullmatch(codebuild_project):
            raise InvalidInputError(
                f"CodeBuild project name {codebuild_project!r} is not valid: 2 to 255 letters, "
                "digits, '-' and '_', starting with a letter or digit"
            )
        if pipeline_name is not None and not _PIPELINE_RE.fullmatch(pipeline_name):
            raise InvalidInputError(
                f"pipeline name {pipeline_name!r} is not valid: 1 to 100 letters, digits, "
                "'.', '@', '-' and '_'"
            )
        self.codebuild_project = codebuild_project
        self.pipeline_name = pipeline_name
        self.region = region
        self._codebuild = codebuild_client
        self._codepipeline = codepipeline_client
        #: The last read that failed transiently, named when a failed stage cannot be read.
        self.last_problem: str | None = None

    def codebuild(self) -> Any:
        if self._codebuild is None:
            self._codebuild = make_service_client("codebuild", self.region)
        return self._codebuild

    def codepipeline(self) -> Any:
        if self._codepipeline is None:
            self._codepipeline = make_service_client("codepipeline", self.region)
        return self._codepipeline

    def check(self, since: datetime) -> Observation | None:
        """NEVER if the run that could still produce the image has failed, else None.

        ``since`` is when the wait began, timezone-aware. See the module docstring.
        """
        if since.tzinfo is None:
            raise InvalidInputError(
                f"since {since.isoformat()} has no time zone: give an aware datetime "
                "(datetime.now(timezone.utc))"
            )
        threshold = since - timedelta(seconds=CLOCK_SKEW_SECONDS)
        self.last_problem = None
        failures: list[Run] = []
        for source in self._sources():
            runs = source()
            if isinstance(runs, Observation):
                return runs
            if runs is None:
                continue
            current = [run for run in runs if _could_produce(run, threshold)]
            if any(run.running for run in current):
                return None
            if current:
                newest = max(current, key=_start_key)
                if newest.failed:
                    failures.append(newest)
        if not failures:
            return None
        run = failures[0]
        if run.source == "CodeBuild build":
            return self._build_failed(run)
        return self._execution_failed(run)

    def _sources(self) -> list[Callable[[], list[Run] | Observation | None]]:
        sources: list[Callable[[], list[Run] | Observation | None]] = []
        if self.codebuild_project is not None:
            sources.append(self._builds)
        if self.pipeline_name is not None:
            sources.append(self._executions)
        return sources

    def _builds(self) -> list[Run] | Observation | None:
        project = str(self.codebuild_project)
        call = self._call(
            lambda: self.codebuild().list_builds_for_project(
                projectName=project, sortOrder="DESCENDING"
            ),
            "codebuild:ListBuildsForProject",
            f"CodeBuild project {project}",
        )
        if not isinstance(call, dict):
            return call
        ids = list(call.get("ids") or [])[:RECENT_RUNS]
        if not ids:
            return []
        got = self._call(
            lambda: self.codebuild().batch_get_builds(ids=ids),
            "codebuild:BatchGetBuilds",
            f"CodeBuild project {project}",
        )
        if not isinstance(got, dict):
            return got
        runs = []
        for build in got.get("builds") or []:
            if not isinstance(build, dict):
                continue
            status = safe_text(build.get("buildStatus") or "", 40)
            runs.append(
                Run(
                    "CodeBuild build",
                    safe_text(build.get("id"), ID_MAX_CHARS),
                    status,
                    build.get("startTime"),
                    build.get("endTime"),
                    status in CODEBUILD_RUNNING,
                    status in CODEBUILD_FAILED,
                    build,
                )
            )
        return runs

    def _executions(self) -> list[Run] | Observation | None:
        name = str(self.pipeline_name)
        call = self._call(
            lambda: self.codepipeline().list_pipeline_executions(
                pipelineName=name, maxResults=RECENT_RUNS
            ),
            "codepipeline:ListPipelineExecutions",
            f"pipeline {name}",
        )
        if not isinstance(call, dict):
            return call
        runs = []
        for summary in call.get("pipelineExecutionSummaries") or []:
            if not isinstance(summary, dict):
                continue
            status = safe_text(summary.get("status") or "", 40)
            running = status in CODEPIPELINE_RUNNING
            run_id = safe_text(summary.get("pipelineExecutionId"), ID_MAX_CHARS)
            runs.append(
                Run(
                    "CodePipeline execution",
                    run_id,
                    status,
                    summary.get("startTime"),
                    None if running else summary.get("lastUpdateTime"),
                    running,
                    status in CODEPIPELINE_FAILED,
                    summary,
                )
            )
        return runs

    def _build_failed(self, run: Run) -> Observation:
        where = ""
        phases = run.detail.get("phases")
        for phase in phases if isinstance(phases, list) else []:
            if not isinstance(phase, dict):
                continue
            if str(phase.get("phaseStatus") or "") in CODEBUILD_FAILED:
                where = f" in phase {safe_text(phase.get('phaseType'), 60)}"
                contexts = phase.get("contexts")
                texts = [
                    _clip(str(c.get("message") or c.get("statusCode") or ""))
                    for c in (contexts if isinstance(contexts, list) else [])[:RECENT_RUNS]
                    if isinstance(c, dict)
                ]
                detail = "; ".join(text for text in texts if text)
                if detail:
                    where += f" ({_clip(detail)})"
                break
        message = (
            f"CodeBuild build {run.id} of project {self.codebuild_project} ended "
            f"{run.status}{where}{_started(run)}, and no newer build is running"
        )
        return _never("BuildFailed", message, REMEDY_BUILD, {"buildId": run.id})

    def _execution_failed(self, run: Run) -> Observation:
        name = str(self.pipeline_name)
        summary = run.detail
        where = ""
        got = self._call(
            lambda: self.codepipeline().list_action_executions(
                pipelineName=name, filter={"pipelineExecutionId": run.id}
            ),
            "codepipeline:ListActionExecutions",
            f"pipeline {name}",
        )
        if isinstance(got, dict):
            details = got.get("actionExecutionDetails")
            for action in details if isinstance(details, list) else []:
                if isinstance(action, dict) and action.get("status") == "Failed":
                    where = (
                        f" in stage {safe_text(action.get('stageName'), 100)}, "
                        f"action {safe_text(action.get('actionName'), 100)}"
                    )
                    result = _object(_object(action.get("output")).get("executionResult"))
                    detail = _object(result.get("errorDetails")).get("message") or result.get(
                        "externalExecutionSummary"
                    )
                    if detail:
                        where += f" ({_clip(str(detail))})"
                    break
        else:
            reason = got.summary if isinstance(got, Observation) else self.last_problem
            where = f" (failed stage unknown: {reason})"
        if not where and summary.get("statusSummary"):
            where = f" ({_clip(str(summary['statusSummary']))})"
        message = (
            f"CodePipeline execution {run.id} of pipeline {name} ended {run.status}{where}"
            f"{_started(run)}, and no newer execution is running"
        )
        return _never("PipelineExecutionFailed", message, REMEDY_PIPELINE, {"executionId": run.id})

    def _call(
        self, call: Callable[[], Any], action: str, what: str
    ) -> dict[str, Any] | Observation | None:
        """The response, or a NEVER observation, or None (transient: no opinion this time)."""
        try:
            response: dict[str, Any] = call()
        except sdk_errors() as error:
            # Unreachable, reset or too slow after botocore's retries is ConnectionError:
            # transient, as for ECR (engine.lookup), so a network blip never ends the wait.
            failure = failure_of(error)
            code, text, status = failure.code, _clip(failure.message), failure.status
        else:
            return response
        rule = classify(code, status=status)
        if rule.verdict is not Verdict.NEVER:
            self.last_problem = f"{action} on {what}: {code}: {text}"
            return None
        return Observation(
            Verdict.NEVER,
            code,
            f"{action} on {what}: {text}",
            kind=rule.kind,
            remedy=rule.remedy,
            action=action if rule.kind is NeverReason.ACCESS_DENIED else None,
        )

    def running(self) -> str | None:
        """The id of the newest build or execution in progress, else None.

        A caller about to :meth:`trigger` follows a run already going instead of starting
        another (a retried request finds its first attempt's run after the token's window).
        A read that fails gives None (:meth:`check` reports such failures).
        """
        for source in self._sources():
            runs = source()
            if isinstance(runs, list):
                going = [run for run in runs if run.running]
                if going:
                    return max(going, key=_start_key).id
        return None

    def trigger(self, request_id: str, ref: ImageReference, *, started: str | None = None) -> str:
        """Start the pipeline (if named) or a build of the project; return its id
        (:func:`.trigger.start_run`: ``started`` is returned as is, a refused or failed start
        raises :class:`AccessDeniedError` or :class:`PipelineFailedError`)."""
        return start_run(self, request_id, ref, started=started)


def pipeline_aware(
    check: Callable[[], Observation], watch: PipelineWatch | None, since: datetime
) -> Callable[[], Observation]:
    """``check`` (an ECR look), asking ``watch`` whenever ECR says "not yet"."""

    def combined() -> Observation:
        observation = check()
        if watch is None or observation.verdict is not Verdict.NOT_YET:
            return observation
        verdict = watch.check(since)
        return observation if verdict is None else verdict

    return combined


def _could_produce(run: Run, threshold: datetime) -> bool:
    if run.running:
        return True
    started, ended = _aware(run.started), _aware(run.ended)
    if started is not None and started >= threshold:
        return True
    return ended is not None and ended >= threshold


def _start_key(run: Run) -> datetime:
    return _aware(run.started) or datetime.min.replace(tzinfo=UTC)


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _started(run: Run) -> str:
    started = _aware(run.started)
    return f" (started {started.isoformat(timespec='seconds')})" if started else ""


def _clip(text: str) -> str:
    """Build or action text, on one line, safe (engine.safe) and at most DETAIL_MAX_CHARS."""
    return safe_text(" ".join(text[: DETAIL_MAX_CHARS * 4].split()), DETAIL_MAX_CHARS)


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _never(code: str, message: str, remedy: str, extra: dict[str, str]) -> Observation:
    rule = classify(code)
    return Observation(rule.verdict, code, message, kind=rule.kind, remedy=remedy, extra=extra)


__all__ = [
    "CLOCK_SKEW_SECONDS",
    "PipelineWatch",
    "Run",
    "idempotency_token",
    "pipeline_aware",
]
