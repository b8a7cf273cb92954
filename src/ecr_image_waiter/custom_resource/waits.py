"""What the provider does with each thing that reaches it (docs/design.md has the why).

* A CloudFormation request: Delete answers at once (no ECR call) and drops the resource's
  pending waits. Create/Update validate, look once and answer if ready or never; otherwise
  the wait is stored, the sweep turned on, and the image looked for again (a push between
  the first look and the store is then not missed).
* An ECR push event: the pending waits of its repository look again.
* A CodeBuild or CodePipeline state change: the pending waits on that project or pipeline
  look again (the look asks the build, so a failed run ends them with its id and phase).
* The sweep: every pending wait that is due looks again, a passed deadline fails, an answer
  whose PUT failed is sent again; with nothing pending the sweep turns itself off.

A look decides with :func:`ecr_image_waiter.engine.decide.decide`; an answer is claimed in
the table before it is sent, so each request is answered once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from typing import Any

from ecr_image_waiter import names
from ecr_image_waiter.custom_resource import response
from ecr_image_waiter.custom_resource.logs import log_line
from ecr_image_waiter.custom_resource.properties import Settings, parse_properties, show
from ecr_image_waiter.custom_resource.response import Sent
from ecr_image_waiter.custom_resource.store import (
    ANSWERED,
    PENDING,
    Wait,
    WaitStore,
    partition_for_repository,
    partition_of,
    request_key,
)
from ecr_image_waiter.custom_resource.sweep import SweepSwitch
from ecr_image_waiter.engine.decide import Outcome, decide
from ecr_image_waiter.engine.image import Observation, ResolvedImage
from ecr_image_waiter.engine.lookup import EcrLookup
from ecr_image_waiter.engine.pipeline import PipelineWatch, pipeline_aware
from ecr_image_waiter.engine.wait import never_error, timeout_error
from ecr_image_waiter.errors import InvalidInputError

REQUEST_TYPES = ("Create", "Update", "Delete")
#: Looks made at once by one invocation (a sweep of many waits, a push to a busy repository).
WORKERS = 8
#: An answer not marked sent this long after it was claimed (or after its latest re-send was
#: taken) is sent again by the sweep (the invocation that claimed it may have died before or
#: during its PUT).
#: Longer than one PUT round (3 tries of at most 10 s each, and the pauses between them).
RESEND_AFTER_SECONDS = 45.0
#: A sweep looks at every wait that falls due before the next sweep (a period later), less
#: this margin: sweeps fire on their own minute marks, so waiting for the first sweep after
#: the due time could add almost a whole period; a look made less than this long ago is not
#: made again.
DUE_TOLERANCE_SECONDS = 5.0
#: How far ahead of its due time a sweep looks at a wait.
SWEEP_LOOKAHEAD_SECONDS = names.SWEEP_PERIOD_SECONDS - DUE_TOLERANCE_SECONDS

LookupFactory = Callable[[Settings], EcrLookup]
WatchFactory = Callable[[Settings], PipelineWatch | None]
Put = Callable[[str, str], tuple[Sent, str]]
Log = Callable[..., None]


class WaitService:
    """The provider's logic, with its table, sweep switch, ECR lookup, build watch, clock
    and response PUT injected."""

    def __init__(
        self,
        *,
        store: WaitStore,
        sweep: SweepSwitch,
        lookup_factory: LookupFactory,
        watch_factory: WatchFactory,
        clock: Callable[[], float] = time.time,
        put: Put = response.put,
    ) -> None:
        self.store = store
        self.sweep = sweep
        self.lookup_factory = lookup_factory
        self.watch_factory = watch_factory
        self.clock = clock
        self.put = put

    # --- CloudFormation requests -----------------------------------------------------------

    def on_request(self, request: Mapping[str, Any]) -> None:
        request_type = request.get("RequestType")
        log: Log = partial(
            log_line,
            source="cloudformation",
            requestType=_text(request_type),
            logicalResourceId=_text(request.get("LogicalResourceId")),
        )
        if request_type not in REQUEST_TYPES:
            log(
                verdict="ignored",
                error=f"RequestType {show(request_type)} is not one of " + ", ".join(REQUEST_TYPES),
            )
            return
        now = self.clock()
        if request_type == "Delete":
            dropped = self._drop_waits_of(request)
            physical = _text(request.get("PhysicalResourceId")) or names.CREATE_FAILED_PHYSICAL_ID
            log(event="request", physicalResourceId=physical, verdict="deleted", pending=dropped)
            self._answer_at_once(request, now, status="SUCCESS", physical_id=physical, log=log)
            return
        try:
            settings = parse_properties(request.get("ResourceProperties"))
        except InvalidInputError as error:
            reason = response.cap_message(str(error))
            log(event="request", verdict="invalid", error=reason)
            self._answer_at_once(
                request,
                now,
                status="FAILED",
                physical_id=_failed_id(request),
                reason=reason,
                log=log,
            )
            return

        wait = _new_wait(request, settings, now)
        observation = self._look(settings, wait)
        outcome = decide(observation, self.clock(), wait.deadline)
        self._log_look(
            log, wait=wait, settings=settings, observation=observation, outcome=outcome, attempts=1
        )
        if outcome in (Outcome.READY, Outcome.NEVER):
            status, physical, why, data = self._final(wait, settings, observation, outcome, 1)
            self._answer_at_once(
                request,
                now,
                status=status,
                physical_id=physical,
                reason=why,
                data=data,
                log=log,
            )
            return

        wait = _missed(wait, observation, self.clock())
        existing = self.store.add(wait)
        if existing is not None:
            if existing.status != PENDING:
                log(event="request", verdict="already answered")
                return
            wait = existing
        if settings.trigger_build_on_missing and wait.run is None:
            wait = self._start_build(wait, settings, observation, log)
            if wait.status != PENDING:
                return
        enabled = self.sweep.wait_added()
        log(
            event="registered",
            verdict="pending",
            remaining=wait.deadline - now,
            status="sweep enabled" if enabled else None,
            run=wait.run,
        )
        # Look again: a push that landed between the first look and the store is seen here.
        self._advance(wait, log)

    def _start_build(
        self, wait: Wait, settings: Settings, observation: Observation, log: Log
    ) -> Wait:
        watch = self.watch_factory(settings)
        if watch is None:  # the properties parser requires a name with the flag
            return wait
        run = watch.running()
        verdict = "following"
        if run is None:
            try:
                run = watch.trigger(
                    _text(wait.request.get("RequestId")) or wait.sk, settings.reference
                )
            except Exception as error:  # a start that fails ends the wait: nothing will push
                reason = response.cap_message(str(error))
                log(event="trigger", verdict="start failed", error=reason)
                self._answer(
                    wait,
                    status="FAILED",
                    physical_id=_failed_id(wait.request),
                    reason=reason,
                    log=log,
                )
                return _with(wait, status=ANSWERED)
            verdict = "triggered"
        log(event="trigger", verdict=verdict, code=observation.code, run=run)
        if not self.store.set_run(wait, run):
            stored = self.store.get(wait.pk, wait.sk)
            return stored if stored is not None else wait
        return _with(wait, run=run)

    def _drop_waits_of(self, request: Mapping[str, Any]) -> int:
        stack, logical = request.get("StackId"), request.get("LogicalResourceId")
        dropped = 0
        for wait in self.store.in_partition(partition_of(request)):
            same = (wait.request.get("StackId"), wait.request.get("LogicalResourceId"))
            if wait.status == PENDING and same == (stack, logical) and self.store.drop(wait):
                dropped += 1
        return dropped

    # --- events ------------------------------------------------------------------------------

    def on_push(self, event: Mapping[str, Any]) -> None:
        detail = event.get("detail")
        if not isinstance(detail, Mapping):
            log_line(source="ecr", verdict="ignored", error="the event has no detail")
            return
        repository = detail.get("repository-name")
        if (
            detail.get("action-type") != "PUSH"
            or detail.get("result") != "SUCCESS"
            or not isinstance(repository, str)
        ):
            log_line(source="ecr", repository=_text(repository), verdict="ignored")
            return
        waits = [
            wait
            for wait in self.store.in_partition(partition_for_repository(repository))
            if self._is_pending(wait)
        ]
        log_line(source="ecr", repository=_text(repository), verdict="woken", pending=len(waits))
        self._advance_all(waits, "ecr")

    def on_build(self, event: Mapping[str, Any]) -> None:
        detail = event.get("detail")
        source = event.get("source")
        if not isinstance(detail, Mapping):
            log_line(source=_text(source), verdict="ignored", error="the event has no detail")
            return
        if source == names.CODEBUILD_EVENT_SOURCE:
            name, field = detail.get("project-name"), "project"
        else:
            name, field = detail.get("pipeline"), "pipeline"
        waits = [
            wait
            for wait in self.store.everything()
            if self._is_pending(wait) and getattr(wait, field) == name
        ]
        log_line(source=_text(source), run=_text(name), verdict="woken", pending=len(waits))
        self._advance_all(waits, str(source))

    def on_sweep(self) -> None:
        now = self.clock()
        items = list(self.store.everything())
        due = [
            wait
            for wait in items
            if self._is_pending(wait)
            and (wait.next_look_at - SWEEP_LOOKAHEAD_SECONDS <= now or wait.deadline <= now)
        ]
        unsent = [
            wait
            for wait in items
            if self._unsent(wait) and (wait.answered_at or 0.0) + RESEND_AFTER_SECONDS <= now
        ]
        pending = sum(1 for wait in items if self._is_pending(wait))
        log_line(source="sweep", verdict="sweep", pending=pending, attempt=len(due))
        self._advance_all(due, "sweep")
        for wait in unsent:
            if self.store.take_resend(wait, self.clock()):
                self._send(
                    wait,
                    str(wait.body),
                    partial(log_line, source="sweep", logicalResourceId=wait.logical_id),
                )
        if not any(self._needs_sweep(wait) for wait in self.store.everything()):
            stays_off = self.sweep.idle(
                lambda: any(self._needs_sweep(wait) for wait in self.store.everything())
            )
            log_line(source="sweep", verdict="off" if stays_off else "on again")

    # --- one look of a stored wait -----------------------------------------------------------

    def _advance_all(self, waits: list[Wait], source: str) -> None:
        def one(wait: Wait) -> None:
            log: Log = partial(
                log_line,
                source=source,
                requestType=wait.request_type,
                logicalResourceId=wait.logical_id,
            )
            try:
                self._advance(wait, log)
            except Exception as error:  # one wait's trouble must not stop the others
                log(verdict="error", error=f"{type(error).__name__}: {error}"[:500])

        if len(waits) <= 1:
            for wait in waits:
                one(wait)
            return
        with ThreadPoolExecutor(max_workers=min(WORKERS, len(waits))) as pool:
            list(pool.map(one, waits))

    def _advance(self, wait: Wait, log: Log) -> None:
        try:
            settings = parse_properties(wait.request.get("ResourceProperties"))
        except InvalidInputError as error:  # stored only after it parsed: not expected
            self._answer(
                wait,
                status="FAILED",
                physical_id=_failed_id(wait.request),
                reason=response.cap_message(str(error)),
                log=log,
            )
            return
        observation = self._look(settings, wait)
        now = self.clock()
        attempts = wait.attempts + 1
        outcome = decide(observation, now, wait.deadline)
        self._log_look(
            log,
            wait=wait,
            settings=settings,
            observation=observation,
            outcome=outcome,
            attempts=attempts,
        )
        if outcome is Outcome.WAIT:
            # The next look is an interval from this one, whatever made it (the sweep, a push
            # event, the look right after storing the wait); the sweep makes it at the last
            # sweep before it falls due.
            next_look = min(now + wait.interval, wait.deadline)
            self.store.record_miss(
                wait, code=observation.code, message=observation.message, next_look_at=next_look
            )
            return
        status, physical, reason, data = self._final(wait, settings, observation, outcome, attempts)
        self._answer(wait, status=status, physical_id=physical, reason=reason, data=data, log=log)

    def _look(self, settings: Settings, wait: Wait) -> Observation:
        lookup = self.lookup_factory(settings)
        check = pipeline_aware(
            lambda: lookup.look(settings.reference),
            self.watch_factory(settings),
            datetime.fromtimestamp(wait.started_at, UTC),
        )
        return check()

    def _final(
        self,
        wait: Wait,
        settings: Settings,
        observation: Observation,
        outcome: Outcome,
        attempts: int,
    ) -> tuple[str, str, str | None, dict[str, str] | None]:
        """(status, physical id, reason, data) of the answer that ends a wait."""
        if outcome is Outcome.READY:
            assert observation.image is not None  # noqa: S101  (READY carries the image)
            return "SUCCESS", settings.physical_id, None, image_data(settings, observation.image)
        waited = self.clock() - wait.started_at
        make = never_error if outcome is Outcome.NEVER else timeout_error
        error = make(observation, settings.reference, attempts=attempts, waited_seconds=waited)
        return "FAILED", _failed_id(wait.request), response.cap_message(str(error)), None

    # --- answering ---------------------------------------------------------------------------

    def _answer_at_once(
        self,
        request: Mapping[str, Any],
        now: float,
        *,
        status: str,
        physical_id: str,
        log: Log,
        reason: str | None = None,
        data: Mapping[str, str] | None = None,
    ) -> None:
        """Answer a request that was never stored: stored as answered first, so a second
        delivery of the same request does not answer again."""
        text = response.body(
            request, status=status, physical_id=physical_id, reason=reason, data=data
        )
        wait = Wait(
            pk=partition_of(request),
            sk=request_key(request),
            status=ANSWERED,
            request=dict(request),
            started_at=now,
            deadline=now,
            interval=float(names.SWEEP_PERIOD_SECONDS),
            next_look_at=now,
            body=text,
            send_rounds=1,
            answered_at=now,
            expires_at=int(now) + names.ANSWERED_RETENTION_SECONDS,
        )
        existing = self.store.add(wait)
        if existing is not None:
            if existing.status == PENDING:
                # The same request, stored as pending by an earlier delivery that did not
                # finish (Lambda retries it): this delivery's look ends that wait.
                self._answer(
                    existing,
                    status=status,
                    physical_id=physical_id,
                    reason=reason,
                    data=data,
                    log=log,
                )
                return
            log(event="answer", verdict="already answered")
            return
        self._send(wait, text, log, status=status)

    def _answer(
        self,
        wait: Wait,
        *,
        status: str,
        physical_id: str,
        log: Log,
        reason: str | None = None,
        data: Mapping[str, str] | None = None,
    ) -> None:
        text = response.body(
            wait.request, status=status, physical_id=physical_id, reason=reason, data=data
        )
        if not self.store.claim(wait, text, self.clock()):
            log(event="answer", verdict="already answered")
            return
        self._send(wait, text, log, status=status)

    def _send(self, wait: Wait, text: str, log: Log, *, status: str | None = None) -> None:
        url = wait.request.get("ResponseURL")
        if not isinstance(url, str) or not url:
            sent, seen = Sent.REFUSED, "no ResponseURL in the request"
        else:
            sent, seen = self.put(url, text)
        self.store.sent(wait, refused=sent is Sent.REFUSED, delivered=sent is Sent.SENT)
        if sent is Sent.FAILED:
            self.sweep.wait_added()  # a later sweep sends it again: make sure one runs
        # The URL itself is never logged: only how the PUT ended.
        log(event="answer", status=status, verdict=sent.value, code=seen)

    # --- helpers -----------------------------------------------------------------------------

    def _is_pending(self, wait: Wait) -> bool:
        return wait.status == PENDING and wait.expires_at >= self.clock()

    def _unsent(self, wait: Wait) -> bool:
        """Answered, but no PUT of the answer got through yet, and rounds are left."""
        return (
            wait.status == ANSWERED
            and not wait.sent
            and not wait.refused
            and wait.body is not None
            and wait.send_rounds < names.MAX_SEND_ROUNDS
            and wait.expires_at >= self.clock()
        )

    def _needs_sweep(self, wait: Wait) -> bool:
        """The sweep must keep running for this item: a pending wait or an unsent answer."""
        return self._is_pending(wait) or self._unsent(wait)

    def _log_look(
        self,
        log: Log,
        *,
        wait: Wait,
        settings: Settings,
        observation: Observation,
        outcome: Outcome,
        attempts: int,
    ) -> None:
        now = self.clock()
        ref = settings.reference
        log(
            event="attempt",
            repository=ref.repository,
            reference=ref.reference,
            verdict=outcome.value,
            code=observation.code,
            message=observation.message if outcome is not Outcome.READY else None,
            imageUri=observation.image.image_uri if observation.image else None,
            architecture=_architecture_note(observation.image),
            elapsed=now - wait.started_at,
            remaining=wait.deadline - now,
            attempt=attempts,
            run=wait.run,
        )


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


def _new_wait(request: Mapping[str, Any], settings: Settings, now: float) -> Wait:
    interval = float(settings.interval_seconds or names.DEFAULT_INTERVAL_SECONDS)
    deadline = now + settings.timeout_seconds
    return Wait(
        pk=partition_of(request),
        sk=request_key(request),
        status=PENDING,
        request=dict(request),
        started_at=now,
        deadline=deadline,
        interval=interval,
        next_look_at=min(now + interval, deadline),
        project=settings.codebuild_project_name,
        pipeline=settings.pipeline_name,
        expires_at=int(deadline) + names.ANSWERED_RETENTION_SECONDS,
    )


def _missed(wait: Wait, observation: Observation, now: float) -> Wait:
    return _with(
        wait,
        attempts=1,
        last_code=observation.code,
        last_message=observation.message[:1000],
        next_look_at=min(now + wait.interval, wait.deadline),
    )


def _with(wait: Wait, **changes: Any) -> Wait:
    return replace(wait, **changes)


def _failed_id(request: Mapping[str, Any]) -> str:
    """The physical id of a FAILED answer: the marker on Create (the Delete that follows is
    then a no-op), the resource's current id on Update."""
    if request.get("RequestType") == "Create":
        return names.CREATE_FAILED_PHYSICAL_ID
    return _text(request.get("PhysicalResourceId")) or names.CREATE_FAILED_PHYSICAL_ID


def _architecture_note(image: ResolvedImage | None) -> str | None:
    """For the log: the image's architecture, or why it is unknown (see engine.manifest)."""
    if image is None:
        return None
    if image.architecture_unknown:
        return f"unknown: {image.architecture_unknown}"
    return image.architecture


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value[:300] if isinstance(value, str) else show(value, 300)
