"""EventBridge on the moto server: the template's rules, their deliveries, the sweep's clock.

Each pattern rule is created in moto with an SQS queue as its target (moto delivers to an SQS
target only the ``put_events`` entries the pattern matches); a pump moves every matched event
to the function as an asynchronous invoke, with the envelope EventBridge sends. ``plan`` (a
function of the event) returns the real-second delays of its deliveries: ``[0.0]`` once at
once, ``[]`` lost, ``[0.0, 0.2]`` duplicated; delays reorder (:func:`lose`, :func:`duplicate`,
:func:`delay`). Scheduled rules are fired by
:meth:`LocalEventBridge.tick` (or a ticker thread every period / time scale), only while the
rule is ENABLED in moto: the function turns its sweep on and off through moto's API.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ecr_image_waiter.local.function import LocalFunction

Plan = Callable[[Mapping[str, Any]], Sequence[float]]


def deliver_once(event: Mapping[str, Any]) -> Sequence[float]:
    return (0.0,)


def lose(match: Callable[[Mapping[str, Any]], bool], times: int = 1) -> Plan:
    """A plan that loses the first ``times`` events ``match`` accepts, delivers the rest."""
    left = [times]

    def plan(event: Mapping[str, Any]) -> Sequence[float]:
        if left[0] > 0 and match(event):
            left[0] -= 1
            return ()
        return (0.0,)

    return plan


def duplicate(
    match: Callable[[Mapping[str, Any]], bool], copies: int = 2, gap: float = 0.0
) -> Plan:
    """A plan that delivers each event ``match`` accepts ``copies`` times, ``gap`` apart."""

    def plan(event: Mapping[str, Any]) -> Sequence[float]:
        return tuple(i * gap for i in range(copies)) if match(event) else (0.0,)

    return plan


def delay(match: Callable[[Mapping[str, Any]], bool], seconds: float) -> Plan:
    """A plan that holds each event ``match`` accepts for ``seconds`` (real) before delivery;
    events delivered meanwhile overtake it (a reorder)."""

    def plan(event: Mapping[str, Any]) -> Sequence[float]:
        return (seconds,) if match(event) else (0.0,)

    return plan


@dataclass
class Rule:
    logical_id: str
    name: str
    arn: str
    pattern: dict[str, Any] | None = None
    schedule: str | None = None
    queue_url: str | None = None
    #: Events delivered to the function (after the plan), and events the plan lost.
    delivered: list[dict[str, Any]] = field(default_factory=list)
    lost: list[dict[str, Any]] = field(default_factory=list)


def period_seconds(schedule: str) -> float:
    """``rate(1 minute)`` / ``rate(5 minutes)`` / ``rate(1 hour)`` in seconds."""
    inside = schedule.strip().removeprefix("rate(").removesuffix(")").split()
    units = {"minute": 60.0, "minutes": 60.0, "hour": 3600.0, "hours": 3600.0, "day": 86400.0}
    units["days"] = 86400.0
    if len(inside) != 2 or inside[1] not in units:
        raise ValueError(f"not a rate expression the local side knows: {schedule!r}")
    return float(inside[0]) * units[inside[1]]


class LocalEventBridge:
    """The default bus of moto's EventBridge, delivering to one local function."""

    def __init__(
        self,
        events: Any,
        sqs: Any,
        function: LocalFunction,
        *,
        account: str,
        region: str,
        time_scale: float = 1.0,
        plan: Plan = deliver_once,
    ) -> None:
        self.events = events
        self.sqs = sqs
        self.function = function
        self.account = account
        self.region = region
        self.time_scale = time_scale
        self.plan = plan
        self.rules: list[Rule] = []
        self.ticks = 0
        self.fired = 0
        #: Deliveries the plan is still holding back (see :meth:`in_flight`).
        self._held = 0
        #: Errors of the background pump and ticker (the loops go on).
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    # --- deploy ------------------------------------------------------------------------------

    def create_rule(
        self,
        logical_id: str,
        name: str,
        *,
        pattern: Mapping[str, Any] | None = None,
        schedule: str | None = None,
        state: str = "ENABLED",
        description: str = "",
    ) -> Rule:
        args: dict[str, Any] = {"Name": name, "State": state, "Description": description}
        if pattern is not None:
            args["EventPattern"] = json.dumps(pattern)
        if schedule is not None:
            args["ScheduleExpression"] = schedule
        arn = self.events.put_rule(**args)["RuleArn"]
        rule = Rule(logical_id, name, arn, dict(pattern) if pattern else None, schedule)
        if pattern is not None:
            queue = f"{name[:60]}-q"
            rule.queue_url = self.sqs.create_queue(QueueName=queue)["QueueUrl"]
            queue_arn = self.sqs.get_queue_attributes(
                QueueUrl=rule.queue_url, AttributeNames=["QueueArn"]
            )["Attributes"]["QueueArn"]
            self.events.put_targets(Rule=name, Targets=[{"Id": "Target0", "Arn": queue_arn}])
        self.rules.append(rule)
        return rule

    def state(self, rule: Rule) -> str:
        return str(self.events.describe_rule(Name=rule.name)["State"])

    # --- events ------------------------------------------------------------------------------

    def publish(self, event: Mapping[str, Any]) -> str:
        """Put one event (an envelope as AWS services emit it) on the default bus."""
        entry: dict[str, Any] = {
            "Source": str(event["source"]),
            "DetailType": str(event["detail-type"]),
            "Detail": json.dumps(event.get("detail", {})),
            "Resources": list(event.get("resources", [])),
        }
        answer = self.events.put_events(Entries=[entry])
        if answer.get("FailedEntryCount"):
            raise RuntimeError(f"put_events refused the event: {answer['Entries']}")
        return str(answer["Entries"][0]["EventId"])

    def pump(self) -> int:
        """Move what the rules' queues hold to the function, by the plan; how many moved."""
        moved = 0
        for rule in self.rules:
            if rule.queue_url is None:
                continue
            messages = self.sqs.receive_message(
                QueueUrl=rule.queue_url, MaxNumberOfMessages=10
            ).get("Messages", [])
            for message in messages:
                self.sqs.delete_message(
                    QueueUrl=rule.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
                self._deliver(rule, self._envelope(json.loads(message["Body"])))
                moved += 1
        return moved

    def _envelope(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """EventBridge's envelope, in its order; moto's SQS copy leaves out the account."""
        keys = ("version", "id", "detail-type", "source", "account", "time", "region")
        envelope = {key: body.get(key) for key in keys}
        envelope["version"] = envelope["version"] or "0"
        envelope["account"] = envelope["account"] or self.account
        envelope["region"] = envelope["region"] or self.region
        envelope["resources"] = list(body.get("resources", []))
        envelope["detail"] = body.get("detail", {})
        return envelope

    def _deliver(self, rule: Rule, event: dict[str, Any]) -> None:
        delays = list(self.plan(event))
        if not delays:
            with self._lock:
                rule.lost.append(event)
            return
        for wait in delays:
            if wait <= 0:
                self._invoke(rule, event)
                continue
            with self._lock:
                self._held += 1
            timer = threading.Timer(wait, self._invoke, args=(rule, event, True))
            timer.daemon = True
            timer.start()

    def _invoke(self, rule: Rule, event: dict[str, Any], held: bool = False) -> None:
        with self._lock:
            rule.delivered.append(event)
        self.function.invoke_async(event)
        if held:
            with self._lock:
                self._held -= 1

    def in_flight(self) -> int:
        """Deliveries held back by the plan (delayed or duplicated copies not yet sent)."""
        with self._lock:
            return self._held

    # --- the schedule -----------------------------------------------------------------------

    def tick(self) -> int:
        """One period of every scheduled rule: fire those ENABLED in moto; how many fired."""
        self.ticks += 1
        fired = 0
        for rule in self.rules:
            if rule.schedule is None or self.state(rule) != "ENABLED":
                continue
            event = {
                "version": "0",
                "id": str(uuid.uuid4()),
                "detail-type": "Scheduled Event",
                "source": "aws.events",
                "account": self.account,
                "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "region": self.region,
                "resources": [rule.arn],
                "detail": {},
            }
            self._invoke(rule, event)
            fired += 1
        self.fired += fired
        return fired

    def start(self, *, pump_every: float = 0.05, ticker: bool = True) -> None:
        """Background threads: the pump, and (with ``ticker``) the scheduled rules' clock,
        one tick per period divided by the time scale."""
        self._threads.append(self._loop(pump_every, self.pump, "eventbridge-pump"))
        periods = [period_seconds(r.schedule) for r in self.rules if r.schedule]
        if ticker and periods:
            self._threads.append(self._loop(min(periods) / self.time_scale, self.tick, "sweep"))

    def _loop(self, every: float, step: Callable[[], int], name: str) -> threading.Thread:
        def run() -> None:
            while not self._stop.wait(every):
                try:
                    step()
                except Exception as error:  # kept, and the loop goes on (as EventBridge does)
                    if self._stop.is_set():
                        return
                    self.errors.append(f"{name}: {type(error).__name__}: {error}"[:500])
                    time.sleep(every)

        thread = threading.Thread(target=run, daemon=True, name=name)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()
