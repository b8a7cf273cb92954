"""WaitPolicy: a small immutable value, validated on construction."""

from __future__ import annotations

import dataclasses
import math

import pytest

from ecr_image_waiter.engine import WaitPolicy
from ecr_image_waiter.errors import InvalidInputError


def test_defaults_and_immutability() -> None:
    policy = WaitPolicy(timeout=60, interval=5)
    assert (policy.backoff, policy.max_interval) == (1.0, None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.timeout = 10  # type: ignore[misc]


def test_zero_timeout_is_one_check() -> None:
    assert WaitPolicy(timeout=0, interval=1).timeout == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"timeout": -1, "interval": 1}, "timeout must be 0 or more seconds, not -1"),
        ({"timeout": 10, "interval": 0}, "interval must be more than 0 seconds, not 0"),
        ({"timeout": 10, "interval": -2.5}, "interval must be more than 0 seconds, not -2.5"),
        ({"timeout": math.inf, "interval": 1}, "timeout must be finite, not inf"),
        ({"timeout": 10, "interval": math.nan}, "interval must be finite, not nan"),
        ({"timeout": "10", "interval": 1}, "timeout must be a number of seconds, not '10'"),
        ({"timeout": True, "interval": 1}, "timeout must be a number of seconds, not True"),
        ({"timeout": 10, "interval": None}, "interval must be a number of seconds, not None"),
        ({"timeout": 10, "interval": 1, "backoff": 0.5}, "backoff must be 1 or more, not 0.5"),
        (
            {"timeout": 10, "interval": 5, "max_interval": 2},
            "max_interval (2 s) must be at least interval (5 s)",
        ),
    ],
)
def test_invalid_policies_name_the_value_and_the_rule(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidInputError) as info:
        WaitPolicy(**kwargs)  # type: ignore[arg-type]
    assert str(info.value) == message


def test_from_retries_is_the_original_designs_form() -> None:
    policy = WaitPolicy.from_retries(60, 30)
    assert (policy.timeout, policy.interval) == (1800.0, 30.0)
    assert WaitPolicy.from_retries(0, 5).timeout == 0
    assert WaitPolicy.from_retries(28, 30).timeout == 840


@pytest.mark.parametrize(
    ("retries", "delay", "message"),
    [
        (-1, 30, "max retries must be a whole number >= 0, not -1"),
        (2.5, 30, "max retries must be a whole number >= 0, not 2.5"),
        (True, 30, "max retries must be a whole number >= 0, not True"),
        (60, 0, "retry delay must be more than 0 seconds, not 0"),
        (60, -3, "retry delay must be more than 0 seconds, not -3"),
    ],
)
def test_from_retries_refuses_bad_values(retries: object, delay: float, message: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        WaitPolicy.from_retries(retries, delay)  # type: ignore[arg-type]
    assert str(info.value) == message


def test_delay_without_backoff_is_constant() -> None:
    policy = WaitPolicy(timeout=100, interval=7)
    assert [policy.delay_after(n) for n in range(1, 6)] == [7, 7, 7, 7, 7]


def test_backoff_grows_and_is_capped() -> None:
    policy = WaitPolicy(timeout=600, interval=2, backoff=2, max_interval=10)
    assert [policy.delay_after(n) for n in range(1, 7)] == [2, 4, 8, 10, 10, 10]


def test_backoff_without_cap_keeps_growing() -> None:
    policy = WaitPolicy(timeout=600, interval=1, backoff=3)
    assert [policy.delay_after(n) for n in range(1, 5)] == [1, 3, 9, 27]
