"""The wait loop on a fake clock: first look at once, never past the deadline, last look at it."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecr_image_waiter.engine import (
    Attempt,
    Cancelled,
    NeverReason,
    Observation,
    ResolvedImage,
    Verdict,
    WaitPolicy,
    parse_reference,
    wait_until_ready,
)
from ecr_image_waiter.errors import (
    AccessDeniedError,
    ImageNeverReadyError,
    PipelineFailedError,
    RepositoryNotFoundError,
    UnusableImageError,
    WaitTimeoutError,
)
from ecr_image_waiter.local.support import FakeClock

REF = parse_reference("app:v1", region="us-east-1")
DIGEST = "sha256:" + "ab" * 32
IMAGE = ResolvedImage("app", "v1", DIGEST, "123456789012", "us-east-1")
READY = Observation(Verdict.READY, "ImageFound", "found", image=IMAGE)
MISSING = Observation(Verdict.NOT_YET, "ImageNotFoundException", "not there")


class Clock(FakeClock):
    """The shared fake clock from 50 s, recording when each look happened."""

    def __init__(self) -> None:
        super().__init__(50.0)
        self.looks: list[float] = []

    def checker(
        self, answers: Sequence[Observation], cost: float = 0.0
    ) -> Callable[[], Observation]:
        """Answers in turn (the last one repeats); each look takes ``cost`` seconds."""

        def check() -> Observation:
            self.looks.append(self.now - 50.0)
            index = min(len(self.looks) - 1, len(answers) - 1)
            self.now += cost
            return answers[index]

        return check


def test_first_look_is_at_once_and_ready_returns() -> None:
    clock = Clock()
    result = wait_until_ready(
        clock.checker([READY]), WaitPolicy(60, 5), REF, clock=clock.clock, sleep=clock.sleep
    )
    assert result.image == IMAGE
    assert (result.attempts, result.waited_seconds) == (1, 0.0)
    assert clock.looks == [0.0]
    assert clock.sleeps == []


def test_ready_after_misses_reports_every_attempt() -> None:
    clock = Clock()
    seen: list[Attempt] = []
    result = wait_until_ready(
        clock.checker([MISSING, MISSING, READY]),
        WaitPolicy(60, 5),
        REF,
        clock=clock.clock,
        sleep=clock.sleep,
        on_attempt=seen.append,
    )
    assert result.attempts == 3
    assert result.waited_seconds == 10.0
    assert clock.looks == [0.0, 5.0, 10.0]
    assert [(a.number, a.elapsed, a.next_check_in) for a in seen] == [
        (1, 0.0, 5.0),
        (2, 5.0, 5.0),
        (3, 10.0, None),
    ]
    assert seen[-1].observation is READY


def test_timeout_never_sleeps_past_the_deadline_and_looks_at_it() -> None:
    clock = Clock()
    with pytest.raises(WaitTimeoutError) as info:
        wait_until_ready(
            clock.checker([MISSING]), WaitPolicy(12, 5), REF, clock=clock.clock, sleep=clock.sleep
        )
    assert clock.sleeps == [5, 5, 2]
    assert clock.looks == [0, 5, 10, 12]
    error = info.value
    assert (error.attempts, error.waited_seconds) == (4, 12.0)
    assert (error.repository, error.reference) == ("app", "v1")
    assert error.last_code == "ImageNotFoundException"
    assert str(error) == (
        "timed out after 12.0 s waiting for image app:v1 (us-east-1) (4 checks); "
        "last seen: ImageNotFoundException: not there"
    )


def test_slow_looks_count_against_the_deadline() -> None:
    clock = Clock()
    with pytest.raises(WaitTimeoutError) as info:
        wait_until_ready(
            clock.checker([MISSING], cost=3),
            WaitPolicy(10, 4),
            REF,
            clock=clock.clock,
            sleep=clock.sleep,
        )
    # A look takes 3 s: looks at 0 and 7 (3 + a 4 s pause); at 10 the deadline has come.
    assert clock.looks == [0, 7]
    assert clock.sleeps == [4]
    assert info.value.waited_seconds == 10


def test_zero_timeout_is_exactly_one_look() -> None:
    clock = Clock()
    with pytest.raises(WaitTimeoutError) as info:
        wait_until_ready(
            clock.checker([MISSING]), WaitPolicy(0, 5), REF, clock=clock.clock, sleep=clock.sleep
        )
    assert info.value.attempts == 1
    assert clock.sleeps == []


def test_pauses_are_the_interval_and_the_last_is_cut_at_the_deadline() -> None:
    clock = Clock()
    policy = WaitPolicy(timeout=40, interval=7)
    with pytest.raises(WaitTimeoutError):
        wait_until_ready(
            clock.checker([MISSING]), policy, REF, clock=clock.clock, sleep=clock.sleep
        )
    assert clock.sleeps == [7, 7, 7, 7, 7, 5]
    assert clock.looks == [0, 7, 14, 21, 28, 35, 40]


@pytest.mark.parametrize(
    ("code", "kind", "error_class"),
    [
        ("RepositoryNotFoundException", NeverReason.REPOSITORY_MISSING, RepositoryNotFoundError),
        ("AccessDeniedException", NeverReason.ACCESS_DENIED, AccessDeniedError),
        ("NoMatchingPlatform", NeverReason.UNUSABLE_IMAGE, UnusableImageError),
        ("BuildFailed", NeverReason.PIPELINE_FAILED, PipelineFailedError),
        ("InvalidParameterException", NeverReason.INVALID_REQUEST, ImageNeverReadyError),
        ("Mystery", NeverReason.UNKNOWN, ImageNeverReadyError),
    ],
)
def test_never_ends_at_once_with_its_error_class(
    code: str, kind: NeverReason, error_class: type[ImageNeverReadyError]
) -> None:
    clock = Clock()
    never = Observation(
        Verdict.NEVER,
        code,
        "no",
        kind=kind,
        remedy="do the thing",
        action="ecr:DescribeImages" if kind is NeverReason.ACCESS_DENIED else None,
    )
    with pytest.raises(ImageNeverReadyError) as info:
        wait_until_ready(
            clock.checker([MISSING, never]),
            WaitPolicy(600, 10),
            REF,
            clock=clock.clock,
            sleep=clock.sleep,
        )
    assert type(info.value) is error_class
    assert info.value.attempts == 2
    assert info.value.last_code == code
    assert clock.sleeps == [10]
    assert "do the thing" in str(info.value)
    if kind is NeverReason.ACCESS_DENIED:
        assert isinstance(info.value, AccessDeniedError)
        assert info.value.action == "ecr:DescribeImages"
        assert "access denied to ecr:DescribeImages" in str(info.value)


def test_cancelled_sleep_stops_the_wait() -> None:
    clock = Clock()

    def sleep(seconds: float) -> None:
        raise Cancelled

    with pytest.raises(Cancelled):
        wait_until_ready(
            clock.checker([MISSING]), WaitPolicy(60, 5), REF, clock=clock.clock, sleep=sleep
        )
    assert len(clock.looks) == 1


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    interval=st.floats(min_value=0.01, max_value=600, allow_nan=False),
    # The timeout as a number of intervals (up to 50 looks keeps each example quick).
    intervals=st.floats(min_value=0, max_value=50, allow_nan=False),
)
def test_property_deadline_is_honoured(interval: float, intervals: float) -> None:
    timeout = interval * intervals
    clock = Clock()
    policy = WaitPolicy(timeout=timeout, interval=interval)
    with pytest.raises(WaitTimeoutError) as info:
        wait_until_ready(
            clock.checker([MISSING]), policy, REF, clock=clock.clock, sleep=clock.sleep
        )
    assert clock.looks[0] == 0
    assert all(0 < s <= policy.interval for s in clock.sleeps)
    # The last look is at the deadline (to rounding), never after it.
    assert math.isclose(clock.looks[-1], timeout, rel_tol=1e-9, abs_tol=1e-9)
    assert info.value.attempts == len(clock.looks) == len(clock.sleeps) + 1
    # Every pause but the last is the policy's delay; only the last one is cut short.
    assert clock.sleeps[:-1] == [policy.interval] * (len(clock.sleeps) - 1)
