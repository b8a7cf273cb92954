"""The provider's core: one wait's look, decision and answer, shared by the requests
(:mod:`.requests`) and the events and sweep (:mod:`.events`). docs/design.md has the why.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from ecr_image_waiter import names
from ecr_image_waiter.custom_resource import response
from ecr_image_waiter.custom_resource.properties import Settings, parse_properties, show
from ecr_image_waiter.custom_resource.response import Sent
from ecr_image_waiter.custom_resource.store import (
    ANSWERED,
    PENDING,
    Wait,
    WaitStore,
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
#: during its PUT); longer than one PUT round (3 tries of at most 10 s, and the pauses).
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


class WaitCore:
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
    if image.architecture_unknown_reason:
        return f"unknown: {image.architecture_unknown_reason}"
    return image.architecture


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value[:300] if isinstance(value, str) else show(value, 300)
