"""What one event-design run's function did and was billed for, from the local side's records.

Invocations, billed time and AWS calls come from ``LocalFunction.invocations`` (each with its
source, billed ms and calls). DynamoDB request units are estimated, since the local side
counts calls but not their sizes: from the items read back from the table at the end (a
scan) and the call counts. An enabled or disabled sweep rule goes with one write of the
sweep's flag item; every other write is billed at the size of the largest wait item (the
answered one, its body included: an upper bound for the writes made before the answer);
1 unit per KB. A Scan reads the whole final table, a Query or GetItem the largest wait
item; 1 unit per 4 KB (strongly consistent, not halved); every call at least 1 unit.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import prices

#: The local side's invocation sources, as the report names them.
KINDS = {"cloudformation": "request", "ecr": "push", "sweep": "sweep"}
WRITES = ("dynamodb.PutItem", "dynamodb.UpdateItem", "dynamodb.DeleteItem")
ENABLE, DISABLE = "eventbridge.EnableRule", "eventbridge.DisableRule"
#: What an answer adds to a wait item (its claim writes them).
_ANSWER = ("body", "answeredAt")


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
    #: Invocations that raised (Lambda's async retries run them again), and their errors.
    errors: int = 0
    error_kinds: Counter[str] = field(default_factory=Counter)

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
            "error_kinds": dict(self.error_kinds),
            "dollars": self.dollars(),
        }


def tally(invocations: Iterable[Any], items: Sequence[Mapping[str, Any]], events: int) -> Counts:
    """Counts of ``invocations`` (``local.Invocation``), with request units estimated from
    ``items`` (the table's items at the end, low-level format)."""
    counts = Counts(events=events)
    for invocation in invocations:
        counts.invocations[KINDS.get(invocation.source, invocation.source)] += 1
        counts.billed_seconds += invocation.billed_ms / 1000
        counts.calls.update(invocation.calls)
        if not invocation.ok:
            counts.errors += 1
            counts.error_kinds[str(invocation.error)[:160]] += 1
    sizes = [item_bytes(item) for item in items]
    waits = [item for item in items if "request" in item]
    answered = [item_bytes(item) for item in waits if "body" in item]
    before = [item_bytes({k: v for k, v in item.items() if k not in _ANSWER}) for item in waits]
    flag = max([item_bytes(item) for item in items if "request" not in item] or [1])
    writes = sum(counts.calls[name] for name in WRITES)
    flag_writes = min(writes, counts.calls[ENABLE] + counts.calls[DISABLE])
    full_writes = min(writes - flag_writes, 2 * len(answered))
    counts.write_units = (
        flag_writes * _units(flag, 1024)
        + full_writes * _units(max(answered, default=1), 1024)
        + (writes - flag_writes - full_writes) * _units(max(before, default=1), 1024)
    )
    largest = max(answered + before, default=1)
    scans = counts.calls["dynamodb.Scan"]
    point = counts.calls["dynamodb.Query"] + counts.calls["dynamodb.GetItem"]
    counts.read_units = scans * _units(sum(sizes), 4096) + point * _units(largest, 4096)
    return counts


def _units(size: int, per: int) -> int:
    return max(1, math.ceil(size / per))


def item_bytes(item: Any) -> int:
    """DynamoDB's size of an item in the low-level format: names plus values."""
    if not isinstance(item, Mapping):
        return 0
    return sum(len(str(name).encode()) + _value_bytes(value) for name, value in item.items())


def _value_bytes(value: Any) -> int:
    if not isinstance(value, Mapping) or not value:
        return 1
    kind, inner = next(iter(value.items()))
    if kind in ("S", "B"):
        return len(str(inner).encode())
    if kind == "N":
        return len(str(inner).lstrip("-").replace(".", "")) // 2 + 2
    return 1
