"""The wait policy: a small immutable value, validated on construction."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ecr_image_waiter.errors import InvalidInputError


@dataclass(frozen=True)
class WaitPolicy:
    """How long to wait and how often to look.

    The first look happens at once. After each miss the loop sleeps ``interval`` seconds, but
    never past the deadline: the last look happens at the deadline, ``timeout`` seconds after
    the first one.
    """

    timeout: float
    interval: float

    def __post_init__(self) -> None:
        for name in ("timeout", "interval"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InvalidInputError(f"{name} must be a number of seconds, not {value!r}")
            if not math.isfinite(value):
                raise InvalidInputError(f"{name} must be finite, not {value!r}")
        if self.timeout < 0:
            raise InvalidInputError(f"timeout must be 0 or more seconds, not {self.timeout}")
        if self.interval <= 0:
            raise InvalidInputError(f"interval must be more than 0 seconds, not {self.interval}")
