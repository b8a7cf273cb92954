"""WaitPolicy: a small immutable value, validated on construction."""

from __future__ import annotations

import dataclasses
import math

import pytest

from ecr_image_waiter.engine import WaitPolicy
from ecr_image_waiter.errors import InvalidInputError


def test_immutability() -> None:
    policy = WaitPolicy(timeout=60, interval=5)
    assert (policy.timeout, policy.interval) == (60, 5)
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
    ],
)
def test_invalid_policies_name_the_value_and_the_rule(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidInputError) as info:
        WaitPolicy(**kwargs)  # type: ignore[arg-type]
    assert str(info.value) == message
