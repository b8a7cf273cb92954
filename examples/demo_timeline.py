"""The demo's timeline: timestamped lines, and the provider's JSON log lines told in words."""

from __future__ import annotations

import re
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

_LOCK = threading.Lock()


class Timeline:
    """Print ``[+  3.1s] who                what``, real seconds since the timeline began."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def say(self, who: str, what: str) -> None:
        line = f"[+{self.elapsed():5.1f}s] {who:<18} {what}"
        with _LOCK:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()


def label_of(logical_id: str) -> str:
    """``TextGenerationImageWaiter2CEB739C`` -> ``TextGeneration``,
    ``EcrImageWaiterProviderEcrPushDA374151`` -> ``EcrPush``."""
    match = re.fullmatch(
        r"(?:EcrImageWaiterProvider)?(?P<name>.+?)(?:ImageWaiter)?[0-9A-F]{8}", logical_id
    )
    return match["name"] if match else logical_id


def describe(fields: dict[str, Any]) -> str | None:
    """One log line of the provider, in words; None for lines not worth a timeline entry."""
    event, verdict, source = fields.get("event"), fields.get("verdict"), fields.get("source")
    if event == "attempt":
        how = {"cloudformation": "request", "ecr": "push event", "sweep": "sweep"}.get(
            str(source), str(source)
        )
        if verdict == "ready":
            return f"{how}: looked, found it -> {fields.get('imageUri')}"
        if verdict in ("wait", "not yet"):
            return f"{how}: looked, not there yet ({fields.get('code')})"
        return f"{how}: looked, {verdict}: {fields.get('message') or fields.get('code')}"
    if event == "registered":
        status = fields.get("status")
        return "pending, stored in the wait table" + (f"; {status}" if status else "")
    if event == "answer" and verdict == "already answered":
        return "found it too, but another invocation had answered (the table decides)"
    if event == "answer":
        status = fields.get("status")
        return f"answered {status or ''} to the ResponseURL ({verdict}, {fields.get('code')})"
    if event == "request" and verdict == "deleted":
        return f"Delete of {fields.get('physicalResourceId')}: nothing to do in ECR"
    if event == "request":
        return f"request {fields.get('requestType')}: {verdict}"
    if source == "ecr" and verdict == "woken":
        return f"push event for {fields.get('repository')}: {fields.get('pending')} wait(s) to look"
    if source == "sweep" and verdict == "sweep":
        if not fields.get("attempt"):
            return None  # a sweep with nothing due: nothing to tell
        return f"sweep: {fields.get('pending')} pending, {fields.get('attempt')} due for a look"
    if source == "sweep" and verdict in ("off", "on again"):
        return "sweep: nothing pending, turned the sweep rule off" if verdict == "off" else None
    if verdict == "woken":
        return f"{source} event: {fields.get('pending')} wait(s) to look"
    if "text" in fields:
        return str(fields["text"])
    return ", ".join(f"{key}={value}" for key, value in fields.items() if key != "logger")


def log_sink(timeline: Timeline, on_answer: Callable[[str, str, str], None]) -> Any:
    """The local function's ``on_log``: provider log lines onto the timeline."""

    def sink(fields: dict[str, Any], invocation: Any) -> None:
        logger = str(fields.get("logger") or "")
        if logger and not logger.startswith("ecr_image_waiter"):
            return
        text = describe(fields)
        logical = fields.get("logicalResourceId")
        if fields.get("event") == "answer" and fields.get("verdict") == "sent":
            on_answer(str(logical), str(fields.get("status")), str(fields.get("source")))
        if text is not None:
            who = label_of(logical) if isinstance(logical, str) else "provider"
            timeline.say(f"  {who}", text)

    return sink
