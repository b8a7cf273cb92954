"""Durations on the command line: the accepted forms and the refused ones."""

from __future__ import annotations

import pytest

from ecr_image_waiter.cli.durations import format_duration, parse_duration
from ecr_image_waiter.errors import InvalidInputError


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 90.0),
        ("90s", 90.0),
        ("15m", 900.0),
        ("1h", 3600.0),
        ("1m30s", 90.0),
        ("1h30m", 5400.0),
        ("2h0m5s", 7205.0),
        ("1.5m", 90.0),
        ("0.5", 0.5),
        (".5s", 0.5),
        ("10S", 10.0),
        ("1H", 3600.0),
        (" 30s ", 30.0),
        ("8760h", 365 * 24 * 3600.0),
    ],
)
def test_accepted_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "is not a duration"),
        ("soon", "is not a duration"),
        ("10x", "is not a duration"),
        ("s", "is not a duration"),
        ("1d", "is not a duration"),
        ("30s1m", "is not a duration"),  # largest unit first
        ("1m1m", "is not a duration"),
        ("inf", "is not a duration"),
        ("nan", "is not a duration"),
        ("1e3", "is not a duration"),
        ("-5", "is negative"),
        ("-1m", "is negative"),
        ("0", "is zero"),
        ("0s", "is zero"),
        ("0h0m", "is zero"),
        ("9" * 400, "is too large"),
        ("8760h1s", "is too large"),
        ("99999999999999999999h", "is too large"),
    ],
)
def test_refused_durations_name_the_value_and_the_rule(text: str, fragment: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        parse_duration(text, name="interval")
    message = str(info.value)
    assert message.startswith(f"interval {text!r}"[:60])
    assert fragment in message
    if fragment != "is too large":
        assert "such as 90, 90s, 15m, 1h" in message
    else:
        assert "give at most 8760h" in message
    assert len(message) < 200  # a huge value is quoted shortened: the message stays one line


def test_zero_is_allowed_only_when_asked() -> None:
    assert parse_duration("0", name="timeout", allow_zero=True) == 0.0
    with pytest.raises(InvalidInputError, match="timeout '-1' is negative: give 0 or more"):
        parse_duration("-1", name="timeout", allow_zero=True)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0.0s"), (4.25, "4.2s"), (59.9, "59.9s"), (60, "1m"), (90, "1m30s"), (5400, "1h30m")],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
