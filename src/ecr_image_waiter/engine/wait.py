"""The wait loop: a function of (check, policy, clock, sleep), with no I/O of its own."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from ecr_image_waiter.engine.classify import NeverReason
from ecr_image_waiter.engine.decide import Outcome, decide
from ecr_image_waiter.engine.image import Observation, ResolvedImage
from ecr_image_waiter.engine.policy import WaitPolicy
from ecr_image_waiter.engine.reference import ImageReference
from ecr_image_waiter.errors import (
    AccessDeniedError,
    ImageNeverReadyError,
    PipelineFailedError,
    RepositoryNotFoundError,
    UnusableImageError,
    WaitTimeoutError,
)


@dataclass(frozen=True)
class Attempt:
    """Reported after each look, for progress output."""

    number: int
    elapsed: float
    observation: Observation
    #: Seconds until the next look, or None when this was the last one.
    next_check_in: float | None


@dataclass(frozen=True)
class WaitResult:
    image: ResolvedImage
    attempts: int
    waited_seconds: float


class Cancelled(Exception):
    """Raised by a check or sleep to stop a wait early (another wait failed)."""


def wait_until_ready(
    check: Callable[[], Observation],
    policy: WaitPolicy,
    ref: ImageReference,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    on_attempt: Callable[[Attempt], None] | None = None,
) -> WaitResult:
    """Look at once, then after each miss, until ready, never, or the deadline.

    The loop never sleeps past the deadline; the last look happens at the deadline.
    Raises :class:`ImageNeverReadyError` (a subclass per cause) or :class:`WaitTimeoutError`.
    """
    start = clock()
    deadline = start + policy.timeout
    attempt = 0
    while True:
        attempt += 1
        observation = check()
        now = clock()
        elapsed = now - start
        outcome = decide(observation, now, deadline)
        if outcome is not Outcome.WAIT:
            _report(on_attempt, attempt, elapsed, observation, None)
        if outcome is Outcome.READY:
            assert observation.image is not None  # noqa: S101  (READY always carries it)
            return WaitResult(observation.image, attempt, elapsed)
        if outcome is Outcome.NEVER:
            raise never_error(observation, ref, attempts=attempt, waited_seconds=elapsed)
        if outcome is Outcome.TIMED_OUT:
            raise timeout_error(observation, ref, attempts=attempt, waited_seconds=elapsed)
        pause = min(policy.interval, deadline - now)
        _report(on_attempt, attempt, elapsed, observation, pause)
        sleep(pause)


def _report(
    on_attempt: Callable[[Attempt], None] | None,
    number: int,
    elapsed: float,
    observation: Observation,
    next_check_in: float | None,
) -> None:
    if on_attempt is not None:
        on_attempt(Attempt(number, elapsed, observation, next_check_in))


_NEVER_CLASSES: dict[NeverReason | None, type[ImageNeverReadyError]] = {
    NeverReason.REPOSITORY_MISSING: RepositoryNotFoundError,
    NeverReason.UNUSABLE_IMAGE: UnusableImageError,
    NeverReason.PIPELINE_FAILED: PipelineFailedError,
}


def never_error(
    observation: Observation, ref: ImageReference, *, attempts: int, waited_seconds: float
) -> ImageNeverReadyError:
    """The error for a never-case: what ECR said, what it means and what to do."""
    where = _where(ref)
    remedy = f"; {observation.remedy}" if observation.remedy else ""
    common = {
        "repository": ref.repository,
        "reference": ref.reference,
        "attempts": attempts,
        "waited_seconds": waited_seconds,
        "last_code": observation.code,
        "last_message": observation.message,
    }
    if observation.kind is NeverReason.ACCESS_DENIED:
        action = observation.action or "the ECR read actions"
        return AccessDeniedError(
            f"access denied to {action} for image {where}: {observation.summary}{remedy}",
            action=action,
            **common,
        )
    cls = _NEVER_CLASSES.get(observation.kind, ImageNeverReadyError)
    what = observation.kind.value if observation.kind is not None else "cannot be used"
    return cls(f"image {where}: {what}: {observation.summary}{remedy}", **common)  # type: ignore[arg-type]


def timeout_error(
    observation: Observation, ref: ImageReference, *, attempts: int, waited_seconds: float
) -> WaitTimeoutError:
    """The error for a deadline: what was waited for, for how long, and what was last seen."""
    return WaitTimeoutError(
        f"timed out after {waited_seconds:.1f} s waiting for image {_where(ref)} "
        f"({attempts} checks); last seen: {observation.summary}",
        repository=ref.repository,
        reference=ref.reference,
        attempts=attempts,
        waited_seconds=waited_seconds,
        last_code=observation.code,
        last_message=observation.message,
    )


def _where(ref: ImageReference) -> str:
    where = str(ref)
    if ref.registry_id is not None:
        where += f" in registry {ref.registry_id}"
    if ref.region is not None:
        where += f" ({ref.region})"
    return where
