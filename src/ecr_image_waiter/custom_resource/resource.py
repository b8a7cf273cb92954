"""The custom resource's logic behind the CDK Provider framework: on_event and is_complete.

The Provider framework calls ``on_event`` once per CloudFormation request, then
``is_complete`` at once and every query interval until it returns ``IsComplete: true`` or
raises. Each ``is_complete`` call receives the same input: the request merged with what
``on_event`` returned. So ``on_event`` returns the resource's clock under
:data:`~ecr_image_waiter.names.STATE_KEY` (when it started, when its deadline falls), and
every ``is_complete`` call works from that.

One ``is_complete`` call looks at ECR at most a few times and returns; nothing sleeps while
waiting, except:

* when the deadline falls before the next framework call, the call sleeps until the
  deadline (less than one query interval) and looks a last time, so the resource fails on
  its own deadline with a useful reason, before the framework's bare "Operation timed out";
* when a poll budget is set (environment variable
  :data:`~ecr_image_waiter.names.ENV_POLL_BUDGET_SECONDS`, default
  :data:`~ecr_image_waiter.names.DEFAULT_POLL_BUDGET_SECONDS`), the call keeps looking within
  that many seconds.

Pipeline awareness (``CodeBuildProjectName`` / ``PipelineName``): while ECR says "not yet",
each look also asks a :class:`~ecr_image_waiter.engine.pipeline.PipelineWatch` whether the
newest run that could still push the image has failed since the wait began (the state's
``startedAt``); if so the call raises at once with the build or execution id and the failed
phase or stage, so the wait ends within one query interval of the failure.

``TriggerBuildOnMissing "true"``: ``on_event`` looks at ECR once and, when the image is not
there, starts the pipeline (if named) or a build of the project, unless a run of it is
already in progress, which it follows instead. The start carries an idempotency token derived
from the RequestId, and the run id goes into the state, so no ``is_complete`` call starts
anything: a retried ``on_event`` for the same request finds the run in progress (or gets it
back from the token) rather than starting a second one. ``is_complete`` stays the one that
decides: ``on_event``'s look only chooses whether to start a run, and a found image is
confirmed by the first ``is_complete`` call, at once.

Time is wall-clock epoch seconds: the calls run in different Lambda invocations.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from ecr_image_waiter import names
from ecr_image_waiter.custom_resource.logs import enable as enable_logs
from ecr_image_waiter.custom_resource.logs import log_line
from ecr_image_waiter.custom_resource.properties import Settings, parse_properties, show
from ecr_image_waiter.engine.classify import Verdict
from ecr_image_waiter.engine.image import Observation, ResolvedImage
from ecr_image_waiter.engine.lookup import EcrLookup, Inspector, make_client, make_service_client
from ecr_image_waiter.engine.manifest import LambdaImageInspector
from ecr_image_waiter.engine.pipeline import PipelineWatch, pipeline_aware
from ecr_image_waiter.engine.wait import never_error, timeout_error
from ecr_image_waiter.errors import InvalidInputError

if TYPE_CHECKING:
    from mypy_boto3_ecr import ECRClient

REQUEST_TYPES = ("Create", "Update", "Delete")
#: Error messages (and so the FAILED reason) are cut to this many UTF-8 bytes, which keeps
#: the whole response under CloudFormation's 4096-byte limit.
MAX_MESSAGE_BYTES = 1000
#: Seconds between looks when polling inside one call without an IntervalSeconds.
POLL_STEP_SECONDS = 1.0
#: Seconds kept free before the Lambda function's own timeout when sleeping to the deadline.
LAMBDA_TIME_MARGIN_SECONDS = 2.0

LookupFactory = Callable[[Settings], EcrLookup]
#: Makes the watch of the build that pushes the image; None when no build is named.
WatchFactory = Callable[[Settings], PipelineWatch | None]
#: :func:`log_line` with the request's type and logical id bound (see :func:`_request_log`).
RequestLog = Callable[..., None]


@dataclass(frozen=True)
class ResourceState:
    """What on_event hands to every is_complete call."""

    #: When the wait began (epoch seconds); pipeline runs that ended before it are old.
    started_at: float
    deadline: float
    #: The build or execution that on_event started (or found running) for this request.
    run: str | None = None

    @property
    def since(self) -> datetime:
        """:attr:`started_at` as an aware datetime, for :meth:`PipelineWatch.check`."""
        return datetime.fromtimestamp(self.started_at, UTC)

    def to_dict(self) -> dict[str, float | str]:
        state: dict[str, float | str] = {"startedAt": self.started_at, "deadline": self.deadline}
        if self.run is not None:
            state["run"] = self.run
        return state

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> ResourceState:
        raw = event.get(names.STATE_KEY)
        if not isinstance(raw, Mapping):
            raise InvalidInputError(
                f"is_complete received no {names.STATE_KEY}: it must run behind the CDK "
                "Provider framework, after this package's on_event"
            )
        values = []
        for key in ("startedAt", "deadline"):
            value = raw.get(key)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InvalidInputError(
                    f"{names.STATE_KEY}.{key} is {show(value)}: expected epoch seconds, as "
                    "this package's on_event returns"
                )
            if not math.isfinite(value):
                raise InvalidInputError(f"{names.STATE_KEY}.{key} is not finite: {value!r}")
            values.append(float(value))
        run = raw.get("run")
        if run is not None and not (isinstance(run, str) and run):
            raise InvalidInputError(
                f"{names.STATE_KEY}.run is {show(run)}: expected a build or execution id, as "
                "this package's on_event returns"
            )
        return cls(started_at=values[0], deadline=values[1], run=run)


# --- ECR clients: one per container, made on first use -------------------------------------

_CLIENTS: dict[tuple[str | None, ...], ECRClient] = {}


def _client_key() -> tuple[str | None, ...]:
    # In Lambda these never change, so this is one client per container; in tests and local
    # runs a changed endpoint or region gets its own client.
    env = os.environ
    return (
        env.get("AWS_REGION"),
        env.get("AWS_DEFAULT_REGION"),
        env.get("AWS_ENDPOINT_URL_ECR"),
        env.get("AWS_ENDPOINT_URL"),
    )


def shared_client() -> ECRClient | None:
    """The container's ECR client, made on first use.

    None when it cannot be made (no region, say): the lookup then makes one itself and
    reports the failure as an observation with its remedy.
    """
    from botocore.exceptions import BotoCoreError

    key = _client_key()
    client = _CLIENTS.get(key)
    if client is None:
        try:
            client = make_client()
        except BotoCoreError:
            return None
        _CLIENTS[key] = client
    return client


def inspector_for(settings: Settings) -> Inspector:
    """The checks on a found image: an index resolved to the child for the architecture,
    and (LambdaCompatible) a media type Lambda can run."""
    return LambdaImageInspector(
        architecture=settings.architecture, lambda_compatible=settings.lambda_compatible
    )


def default_lookup(settings: Settings) -> EcrLookup:
    return EcrLookup(
        shared_client(),
        wait_for_repository=settings.wait_for_repository,
        inspector=inspector_for(settings),
    )


_SERVICE_CLIENTS: dict[tuple[str | None, ...], Any] = {}


def _service_client(service: str) -> Any:
    """The container's client for ``service`` (made on first use), or None if it cannot be
    made yet (the watch then makes its own and reports the failure)."""
    from botocore.exceptions import BotoCoreError

    env = os.environ
    suffix = service.upper()
    key = (service, *_client_key(), env.get(f"AWS_ENDPOINT_URL_{suffix}"))
    client = _SERVICE_CLIENTS.get(key)
    if client is None:
        try:
            client = make_service_client(service)
        except BotoCoreError:
            return None
        _SERVICE_CLIENTS[key] = client
    return client


def default_watch(settings: Settings) -> PipelineWatch | None:
    """The watch of the named CodeBuild project and/or pipeline, or None."""
    project, pipeline = settings.codebuild_project_name, settings.pipeline_name
    if project is None and pipeline is None:
        return None
    return PipelineWatch(
        project,
        pipeline,
        codebuild_client=_service_client("codebuild") if project is not None else None,
        codepipeline_client=_service_client("codepipeline") if pipeline is not None else None,
    )


# --- Environment ---------------------------------------------------------------------------


def _env_seconds(name: str, default: float, *, minimum: float, maximum: float) -> float:
    text = os.environ.get(name)
    if text is None or text == "":
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and minimum <= value <= maximum):
        raise InvalidInputError(
            f"environment variable {name} is {show(text)}: expected a number of seconds from "
            f"{minimum:g} to {maximum:g}"
        )
    return value


def query_interval_from_env() -> float:
    """The Provider framework's query interval, as the construct tells the function."""
    return _env_seconds(
        names.ENV_QUERY_INTERVAL_SECONDS,
        float(names.DEFAULT_QUERY_INTERVAL_SECONDS),
        minimum=1,
        maximum=float(names.CLOUDFORMATION_MAX_SECONDS),
    )


def poll_budget_from_env() -> float:
    return _env_seconds(
        names.ENV_POLL_BUDGET_SECONDS,
        float(names.DEFAULT_POLL_BUDGET_SECONDS),
        minimum=0,
        maximum=float(names.MAX_POLL_BUDGET_SECONDS),
    )


# --- The handlers ----------------------------------------------------------------------------


class ImageWaiterResource:
    """on_event and is_complete, with their clock, sleep, ECR lookup and pipeline watch
    injectable (``lookup_factory`` / ``watch_factory`` take the validated settings)."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        lookup_factory: LookupFactory = default_lookup,
        watch_factory: WatchFactory = default_watch,
        query_interval: float | None = None,
        poll_budget: float | None = None,
    ) -> None:
        self.clock = clock
        self.sleep = sleep
        self.lookup_factory = lookup_factory
        self.watch_factory = watch_factory
        #: None: read from the environment on each call.
        self.query_interval = query_interval
        self.poll_budget = poll_budget

    # on_event ------------------------------------------------------------------------------

    def on_event(self, event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
        """Validate and start the clock (Create, Update); Delete answers at once.

        With TriggerBuildOnMissing, also look once and start the build if the image is not
        there (see the module docstring)."""
        enable_logs()
        request_type = _request_type(event)
        log = _request_log(request_type, event)
        if request_type == "Delete":
            # No validation that could fail: a resource whose Create failed validation must
            # still delete. The framework requires the physical id unchanged on Delete.
            physical_id = event.get("PhysicalResourceId")
            log(event="on_event", physicalResourceId=_text(physical_id), verdict="deleted")
            return {"PhysicalResourceId": physical_id} if physical_id else {}
        try:
            settings = parse_properties(event.get("ResourceProperties"))
        except InvalidInputError as error:
            _cap(error)
            log(event="on_event", verdict="invalid", error=str(error))
            raise
        now = self.clock()
        run = None
        if settings.trigger_build_on_missing:
            run = self._start_if_missing(event, settings, log)
        state = ResourceState(started_at=now, deadline=now + settings.timeout_seconds, run=run)
        log(
            event="on_event",
            physicalResourceId=settings.physical_id,
            repository=settings.reference.repository,
            reference=settings.reference.reference,
            verdict="started",
            remaining=float(settings.timeout_seconds),
            run=run,
        )
        return {"PhysicalResourceId": settings.physical_id, names.STATE_KEY: state.to_dict()}

    def _start_if_missing(
        self, event: Mapping[str, Any], settings: Settings, log: RequestLog
    ) -> str | None:
        """One look; if the image is not there, the id of the run started (or found running).

        A found image, or a never-case, starts nothing: the first is_complete call reports
        it. A run that cannot be started raises (the wait could never end).
        """
        watch = self.watch_factory(settings)
        if watch is None:  # the properties parser requires a name with the flag
            return None
        ref = settings.reference
        observation = self.lookup_factory(settings).look(ref)
        if observation.verdict is not Verdict.NOT_YET:
            return None
        run = watch.running()
        verdict = "following"
        if run is None:
            try:
                run = watch.trigger(_text(event.get("RequestId")) or "", ref)
            except Exception as error:
                _cap(error)
                log(
                    event="on_event",
                    repository=ref.repository,
                    reference=ref.reference,
                    verdict="start failed",
                    error=str(error),
                )
                raise
            verdict = "triggered"
        log(
            event="on_event",
            repository=ref.repository,
            reference=ref.reference,
            verdict=verdict,
            code=observation.code,
            run=run,
        )
        return run

    # is_complete ---------------------------------------------------------------------------

    def is_complete(self, event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
        """Look at ECR (when due): ready, not yet, or raise (never-case, deadline)."""
        enable_logs()
        request_type = _request_type(event)
        log = _request_log(request_type, event)
        if request_type == "Delete":
            log(event="is_complete", verdict="deleted")
            return {"IsComplete": True}
        try:
            return self._is_complete(event, context, log)
        except InvalidInputError as error:
            _cap(error)
            log(event="is_complete", verdict="invalid", error=str(error))
            raise

    def _is_complete(
        self, event: Mapping[str, Any], context: Any, log: RequestLog
    ) -> dict[str, Any]:
        settings = parse_properties(event.get("ResourceProperties"))
        state = ResourceState.from_event(event)
        query = (
            self.query_interval if self.query_interval is not None else query_interval_from_env()
        )
        budget = self.poll_budget if self.poll_budget is not None else poll_budget_from_env()
        ref = settings.reference
        call_start = self.clock()
        check: Callable[[], Observation] | None = None
        looks = 0

        def look() -> Observation:
            nonlocal check, looks
            if check is None:
                lookup = self.lookup_factory(settings)
                check = pipeline_aware(
                    lambda: lookup.look(ref), self.watch_factory(settings), state.since
                )
            looks += 1
            observation = check()
            now = self.clock()
            log(
                event="attempt",
                repository=ref.repository,
                reference=ref.reference,
                verdict=observation.verdict.value,
                code=observation.code,
                message=observation.message if observation.verdict is not Verdict.READY else None,
                imageUri=observation.image.image_uri if observation.image else None,
                architecture=_architecture_note(observation.image),
                elapsed=now - state.started_at,
                remaining=state.deadline - now,
                run=state.run,
            )
            return observation

        def decided(observation: Observation) -> dict[str, Any] | None:
            """The answer for READY, the raise for NEVER, None for NOT_YET."""
            if observation.verdict is Verdict.READY:
                assert observation.image is not None  # noqa: S101  (READY carries the image)
                return {"IsComplete": True, "Data": image_data(settings, observation.image)}
            if observation.verdict is Verdict.NEVER:
                waited = self.clock() - state.started_at
                raise _capped(
                    never_error(
                        observation,
                        ref,
                        attempts=self._checks(settings, state, query, call_start, looks),
                        waited_seconds=waited,
                    )
                )
            return None

        def timed_out(observation: Observation) -> Exception:
            waited = self.clock() - state.started_at
            return _capped(
                timeout_error(
                    observation,
                    ref,
                    attempts=self._checks(settings, state, query, call_start, looks),
                    waited_seconds=waited,
                )
            )

        now = call_start
        last: Observation | None = None
        if _due(settings, state, now, query):
            last = look()
            answer = decided(last)
            if answer is not None:
                return answer
            # Poll within the budget, never past the deadline.
            step = float(settings.interval_seconds or POLL_STEP_SECONDS)
            while budget > 0:
                now = self.clock()
                if now - call_start + step > budget or now + step >= state.deadline:
                    break
                self.sleep(step)
                last = look()
                answer = decided(last)
                if answer is not None:
                    return answer

        now = self.clock()
        if now >= state.deadline:
            if last is None:
                last = look()
                answer = decided(last)
                if answer is not None:
                    return answer
            raise timed_out(last)
        if state.deadline - now < query:
            # The next framework call would come after the deadline: look at the deadline.
            pause = min(state.deadline - now, _time_left(context) - LAMBDA_TIME_MARGIN_SECONDS)
            if pause > 0:
                self.sleep(pause)
            last = look()
            answer = decided(last)
            if answer is not None:
                return answer
            if self.clock() >= state.deadline:
                raise timed_out(last)
        if last is None:
            log(
                event="attempt",
                repository=ref.repository,
                reference=ref.reference,
                verdict="not due",
                elapsed=now - state.started_at,
                remaining=state.deadline - now,
            )
        return {"IsComplete": False}

    @staticmethod
    def _checks(
        settings: Settings, state: ResourceState, query: float, call_start: float, looks: int
    ) -> int:
        """How many looks the resource has made: earlier calls' (from the schedule: one per
        due framework call) plus this call's."""
        every = max(float(settings.interval_seconds or 0), query)
        return round(max(0.0, call_start - state.started_at) / every) + looks


def _architecture_note(image: ResolvedImage | None) -> str | None:
    """For the log: the image's architecture, or why it is unknown (see engine.manifest)."""
    if image is None:
        return None
    if image.architecture_unknown:
        return f"unknown: {image.architecture_unknown}"
    return image.architecture


def image_data(settings: Settings, image: ResolvedImage) -> dict[str, str]:
    """The response Data (the resource's Fn::GetAtt attributes); every value a string."""
    return {
        names.ATTR_IMAGE_DIGEST: image.digest,
        names.ATTR_IMAGE_DIGEST_HEX: image.digest_hex,
        names.ATTR_IMAGE_URI: image.image_uri,
        names.ATTR_IMAGE_TAG: settings.reference.tag or "",
        names.ATTR_REPOSITORY_URI: image.repository_uri,
        names.ATTR_MEDIA_TYPE: image.media_type or "",
        names.ATTR_PUSHED_AT: image.pushed_at.isoformat() if image.pushed_at else "",
        names.ATTR_INDEX_DIGEST: image.index_digest or "",
        names.ATTR_ARCHITECTURE: image.architecture or "",
    }


def _due(settings: Settings, state: ResourceState, now: float, query: float) -> bool:
    """Whether one of the resource's look times (start + k x interval) passed since the
    previous framework call, one query interval ago. Without an interval: always."""
    interval = settings.interval_seconds
    if interval is None or interval <= query:
        return True
    since = now - state.started_at
    if since < 0:
        return True
    latest = state.started_at + (since // interval) * interval
    return latest > now - query


def _time_left(context: Any) -> float:
    """Seconds before the Lambda function's own timeout (unbounded without a context)."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        return math.inf
    return float(remaining()) / 1000.0


def _request_type(event: Any) -> str:
    if not isinstance(event, Mapping):
        raise InvalidInputError(
            f"the event is {type(event).__name__}, not a CloudFormation request object"
        )
    request_type = event.get("RequestType")
    if request_type not in REQUEST_TYPES:
        raise InvalidInputError(
            f"RequestType {show(request_type)} is not one of {', '.join(REQUEST_TYPES)}"
        )
    return str(request_type)


def _request_log(request_type: str, event: Mapping[str, Any]) -> RequestLog:
    """:func:`log_line` with the fields every line about this request carries."""
    return partial(
        log_line, requestType=request_type, logicalResourceId=_text(event.get("LogicalResourceId"))
    )


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value[:300] if isinstance(value, str) else show(value, 300)


def cap_message(message: str, limit: int = MAX_MESSAGE_BYTES) -> str:
    """``message`` cut to ``limit`` UTF-8 bytes (on a character boundary), marked if cut."""
    data = message.encode("utf-8")
    if len(data) <= limit:
        return message
    return data[: limit - 3].decode("utf-8", errors="ignore") + "..."


def _cap(error: BaseException) -> None:
    text = str(error)
    short = cap_message(text)
    if short != text:
        error.args = (short,)


def _capped(error: Exception) -> Exception:
    _cap(error)
    return error
