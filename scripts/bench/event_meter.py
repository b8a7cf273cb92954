"""Counting what the event design's function does: AWS calls, request units, invocations.

One botocore ``before-call``/``after-call`` hook on boto3's default session (where the
function's clients are made) counts every call and gives it to the :class:`Counts` of the
run whose table, repository or rule the call names. DynamoDB request units are estimated
from item sizes as DynamoDB bills them on demand: a write 1 unit per KB of the item (a
failed conditional write too), a strongly consistent read 1 unit per 4 KB read, at least 1.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from . import prices

_LOCK = threading.Lock()
_OWNERS: dict[str, Counts] = {}
_INSTALLED: list[bool] = []


@dataclass
class Counts:
    """What one run's function did and was billed for."""

    invocations: Counter[str] = field(default_factory=Counter)
    billed_seconds: float = 0.0
    calls: Counter[str] = field(default_factory=Counter)
    read_units: float = 0.0
    write_units: float = 0.0
    #: Push events delivered to the function (AWS service events on the default bus).
    events: int = 0
    #: EventBridge Scheduler schedules created (the event design makes none).
    schedules: int = 0
    #: Invocations that raised (Lambda's async retries run them again).
    errors: int = 0
    _sizes: dict[tuple[str, str], int] = field(default_factory=dict, repr=False)

    def add_invocation(self, kind: str, seconds: float) -> None:
        with _LOCK:
            self.invocations[kind] += 1
            self.billed_seconds += prices.lambda_seconds(seconds)

    @property
    def invocation_count(self) -> int:
        return sum(self.invocations.values())

    def dollars(self) -> dict[str, float]:
        """The bill by item, and its total."""
        bill = {
            "lambda_requests": self.invocation_count * prices.LAMBDA_REQUEST,
            "lambda_duration": self.billed_seconds * prices.per_second("arm64"),
            "dynamodb_writes": self.write_units * prices.DYNAMODB_WRITE_UNIT,
            "dynamodb_reads": self.read_units * prices.DYNAMODB_READ_UNIT,
            "events": self.events * prices.EVENTBRIDGE_SERVICE_EVENT,
            "schedules": self.schedules * prices.SCHEDULER_INVOCATION,
        }
        bill["total"] = sum(bill.values())
        return bill

    def to_dict(self) -> dict[str, Any]:
        return {
            "invocations": dict(self.invocations),
            "billed_seconds": round(self.billed_seconds, 3),
            "calls": dict(sorted(self.calls.items())),
            "dynamodb_read_units": self.read_units,
            "dynamodb_write_units": self.write_units,
            "events": self.events,
            "schedules": self.schedules,
            "errors": self.errors,
            "dollars": self.dollars(),
        }


def item_bytes(item: Any) -> int:
    """DynamoDB's size of an item in the low-level format: names plus values."""
    if not isinstance(item, dict):
        return 0
    return sum(len(name.encode()) + _value_bytes(value) for name, value in item.items())


def _value_bytes(value: Any) -> int:
    if not isinstance(value, dict) or not value:
        return 1
    kind, inner = next(iter(value.items()))
    if kind in ("S", "B"):
        return len(str(inner).encode())
    if kind == "N":
        return len(str(inner).lstrip("-").replace(".", "")) // 2 + 2
    return 1


def own(name: str, counts: Counts) -> None:
    """Give the calls naming ``name`` (a table, repository or rule) to ``counts``."""
    with _LOCK:
        _OWNERS[name] = counts


def _owner(params: Any) -> Counts | None:
    if not isinstance(params, dict):
        return None
    for key in ("TableName", "repositoryName", "Name"):
        name = params.get(key)
        if isinstance(name, str) and name in _OWNERS:
            return _OWNERS[name]
    return None


def _before(model: Any, context: Any, **_: Any) -> None:
    params = context.get("bench_params")
    counts = _owner(params)
    if counts is None:
        return
    service = model.service_model.service_name
    with _LOCK:
        counts.calls[f"{service}.{model.name}"] += 1
        if service != "dynamodb":
            return
        table = str(params.get("TableName"))
        if model.name == "PutItem":
            size = item_bytes(params.get("Item"))
            key = (table, str(params["Item"].get("sk")))
            counts._sizes[key] = size
            counts.write_units += max(1, math.ceil(size / 1024))
        elif model.name == "UpdateItem":
            key = (table, str(params.get("Key", {}).get("sk")))
            size = counts._sizes.get(key, 100)
            values = params.get("ExpressionAttributeValues", {})
            size += sum(_value_bytes(v) for k, v in values.items() if k == ":body")
            counts._sizes[key] = size
            counts.write_units += max(1, math.ceil(size / 1024))


def _after(model: Any, parsed: Any, context: Any, **_: Any) -> None:
    if model.service_model.service_name != "dynamodb":
        return
    if model.name not in ("GetItem", "Query", "Scan"):
        return
    counts = _owner(context.get("bench_params"))
    if counts is None or not isinstance(parsed, dict):
        return
    items = parsed.get("Items") or ([parsed["Item"]] if parsed.get("Item") else [])
    size = sum(item_bytes(item) for item in items)
    with _LOCK:
        counts.read_units += max(1, math.ceil(size / 4096))


def _keep_params(params: Any, context: Any, **_: Any) -> None:
    context["bench_params"] = params


def install() -> None:
    """Register the hooks on boto3's default session, once, before any client is made."""
    import boto3

    if _INSTALLED:
        return
    boto3.setup_default_session()
    session = boto3.DEFAULT_SESSION
    assert session is not None
    session.events.register("before-call", _before)
    session.events.register("before-parameter-build", _keep_params)
    session.events.register("after-call", _after)
    _INSTALLED.append(True)
