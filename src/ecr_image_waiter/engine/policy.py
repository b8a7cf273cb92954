"""The wait policy: a small immutable value, validated on construction."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ecr_image_waiter.errors import InvalidInputError


@dataclass(frozen=True)
class WaitPolicy:
    """How long to wait and how often to look.

    The first check happens at once. After each miss the loop sleeps ``interval`` seconds
    (times ``backoff`` after every further miss, capped at ``max_interval``), but never past
    the deadline: the last check happens at the deadline, ``timeout`` seconds after the
    first one.
    """

    timeout: float
    interval: float
    backoff: float = 1.0
    max_interval: float | None = None

    def __post_init__(self) -> None:
        for name in ("timeout", "interval", "backoff"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InvalidInputError(f"{name} must be a number of seconds, not {value!r}")
            if not math.isfinite(value):
                raise InvalidInputError(f"{name} must be finite, not {value!r}")
        if self.timeout < 0:
            raise InvalidInputError(f"timeout must be 0 or more seconds, not {self.timeout}")
        if self.interval <= 0:
            raise InvalidInputError(f"interval must be more than 0 seconds, not {self.interval}")
        if self.backoff < 1:
            raise InvalidInputError(f"backoff must be 1 or more, not {self.backoff}")
        if self.max_interval is not None and self.max_interval < self.interval:
            raise InvalidInputError(
                f"max_interval ({self.max_interval} s) must be at least interval "
                f"({self.interval} s)"
            )

    @classmethod
    def from_retries(cls, max_retries: int, retry_delay: float) -> WaitPolicy:
        """The original design's form: give up ``max_retries`` x ``retry_delay`` after start."""
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise InvalidInputError(f"max retries must be a whole number >= 0, not {max_retries!r}")
        if retry_delay <= 0:
            raise InvalidInputError(f"retry delay must be more than 0 seconds, not {retry_delay}")
        return cls(timeout=float(max_retries * retry_delay), interval=float(retry_delay))

    def delay_after(self, attempt: int) -> float:
        """The sleep after miss number ``attempt`` (1-based), before the deadline cap."""
        delay = self.interval * self.backoff ** max(0, attempt - 1)
        if self.max_interval is not None:
            delay = min(delay, self.max_interval)
        return delay
