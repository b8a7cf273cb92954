"""Durations on the command line: ``90``, ``90s``, ``15m``, ``1h``, ``1m30s``, ``1.5m``.

A bare number is seconds. Units are ``s``, ``m`` and ``h``; parts may be combined, largest
first (``1h30m``), each unit at most once, and at most :data:`MAX_SECONDS` (one year: a
bound far beyond any wait, which keeps the deadline and the pauses within what the clock and
``threading`` accept). Every rejected value gets a message that names the value, the rule and
an example of a valid one.
"""

from __future__ import annotations

import math
import re

from ecr_image_waiter.errors import InvalidInputError

UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0}
_NUMBER = r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
_DURATION_RE = re.compile(
    rf"(?:(?P<h>{_NUMBER})h)?(?:(?P<m>{_NUMBER})m)?(?:(?P<s>{_NUMBER})s?)?", re.IGNORECASE
)
_EXAMPLES = "such as 90, 90s, 15m, 1h or 1m30s"
#: The longest duration accepted: 8760h (365 days).
MAX_SECONDS = 365 * 24 * 3600.0


def parse_duration(text: str, *, name: str = "duration", allow_zero: bool = False) -> float:
    """Seconds in ``text``; raise :class:`InvalidInputError` naming ``name`` if it is bad.

    ``allow_zero`` admits ``0``; negative, infinite and non-numeric values are always refused.
    """
    value = text.strip()
    match = _DURATION_RE.fullmatch(value)
    if value == "" or match is None or not any(match.groupdict().values()):
        if value.startswith("-"):
            least = "0 or more" if allow_zero else "a duration above 0"
            raise InvalidInputError(f"{name} {_short(text)} is negative: give {least}, {_EXAMPLES}")
        raise InvalidInputError(
            f"{name} {_short(text)} is not a duration: give seconds or a number with a unit "
            f"s, m or h, {_EXAMPLES}"
        )
    seconds = 0.0
    for unit, amount in match.groupdict().items():
        if amount is not None:
            seconds += float(amount) * UNIT_SECONDS[unit.lower()]
    if not math.isfinite(seconds) or seconds > MAX_SECONDS:
        raise InvalidInputError(
            f"{name} {_short(text)} is too large: give at most {MAX_SECONDS / 3600:.0f}h (365 days)"
        )
    if seconds == 0 and not allow_zero:
        raise InvalidInputError(
            f"{name} {_short(text)} is zero: give a duration above 0, {_EXAMPLES}"
        )
    return seconds


def _short(text: str, limit: int = 80) -> str:
    shown = repr(text)
    return shown if len(shown) <= limit else shown[: limit - 4] + "...'"


def format_duration(seconds: float) -> str:
    """A short human form: ``42.0s``, ``15m``, ``1h30m``."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [
        f"{hours}h" if hours else "",
        f"{minutes}m" if minutes else "",
        f"{secs}s" if secs else "",
    ]
    return "".join(parts) or "0s"
