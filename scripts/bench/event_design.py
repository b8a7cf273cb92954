"""The event design measured: the one adapter between the benchmark and an AWS side.

``measure(plan, endpoint) -> Measured``. A :class:`Plan` says when each wait's image is
pushed (virtual seconds after its Create; None: already there), whether push events are
delivered, the time scale and the share of ECR/DynamoDB calls throttled. A run deploys a
stack of :mod:`.app` (synthesized once per shape, with the real construct) into the moto
server at ``endpoint``, which it has to itself, with ``ecr_image_waiter.local``: the table,
the rules and the function as in ``cdk.out``, the handler run from its asset in worker
processes on the scaled clock. Creates go through ``LocalCloud.cloudformation``, pushes
through moto's ECR with their events delivered or lost, the sweep ticks on its schedule;
answers come from S3, counts from the function's invocations (:mod:`.counts`).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from ecr_image_waiter import names
from ecr_image_waiter.local import CloudAssembly, Invocation, LocalCloud, deliver_once, lose
from ecr_image_waiter.local import ecr as local_ecr

from . import support
from .counts import KINDS, Counts, item_bytes, tally
from .support import ACCOUNT, REGION

ROOT = Path(__file__).resolve().parent.parent.parent
#: The services whose calls the throttling proxy may refuse (X-Amz-Target prefixes).
THROTTLED = ("AmazonEC2Container", "DynamoDB")
TAG = "latest"
_SYNTH_LOCK = threading.Lock()
_ASSEMBLIES: dict[tuple[int, int], tuple[Path, str]] = {}
_KEEP: list[tempfile.TemporaryDirectory[str]] = []


@dataclass(frozen=True)
class Plan:
    """One run of the provider: its waits, and how the AWS side behaves."""

    push_at: tuple[float | None, ...]
    events: bool = True
    #: Wall seconds per virtual second (0.02: the sweep's 60 s period takes 1.2 s).
    scale: float = 0.02
    #: The waiters' timeout, as synthesized (one stack per number of waits and timeout).
    timeout_seconds: int = 1800
    throttle: float = 0.0
    seed: int = 0
    #: Run at least this many virtual seconds (a plan with no wait: the standing cost).
    run_for: float = 0.0
    #: The sweep rule as a deploy leaves it (enabled; its first sweep turns it off), or as
    #: a provider deployed earlier has it (its first idle sweep run before the Creates,
    #: and left out of the counts).
    rule_enabled_at_start: bool = False
    #: Virtual seconds from the Creates to the sweep's first tick (then one every period):
    #: a rate rule fires on its own minute marks, unrelated to when the Create came.
    sweep_phase: float = float(names.SWEEP_PERIOD_SECONDS)
    #: The function's execution environments (worker processes).
    concurrency: int = 1


@dataclass
class WaitResult:
    push_at: float | None
    status: str | None
    digest_ok: bool
    #: Seconds from the push to the answer's PUT (see :func:`_latency`).
    latency: float | None
    answered_by: str | None


@dataclass
class Measured:
    waits: list[WaitResult]
    counts: Counts
    wall_seconds: float
    rule_enabled_at_end: bool
    throttled: int = 0
    #: Bytes of the items left in the table at the end (what its storage is billed on).
    table_bytes: int = 0


def prepare(shapes: list[tuple[int, int]]) -> None:
    """Synthesize, in one ``cdk.out`` and one subprocess (the CDK's node starts once), a
    stack per (waiters, timeout) shape not synthesized yet; kept for the process."""
    with _SYNTH_LOCK:
        missing = sorted({shape for shape in shapes if shape not in _ASSEMBLIES})
        if not missing:
            return
        keep = tempfile.TemporaryDirectory(prefix="bench-cdk-")
        _KEEP.append(keep)
        outdir = Path(keep.name) / "cdk.out"
        stacks = {shape: f"Bench{shape[0]}x{shape[1]}" for shape in missing}
        env = dict(os.environ)
        env.setdefault("JSII_NODE", str(ROOT / ".venv" / "node"))
        env.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
        env.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
        specs = [f"{name}:{waiters}:{timeout}" for (waiters, timeout), name in stacks.items()]
        command = [sys.executable, "-m", "scripts.bench.app", str(outdir), *specs]
        subprocess.run(command, check=True, env=env, cwd=ROOT)
        _ASSEMBLIES.update({shape: (outdir, name) for shape, name in stacks.items()})


def assembly(waiters: int, timeout: int) -> tuple[Path, str]:
    """``cdk.out`` with a stack of ``waiters`` waiters of ``timeout`` seconds, and the
    stack's name (synthesized now unless :func:`prepare` did)."""
    prepare([(waiters, timeout)])
    return _ASSEMBLIES[(waiters, timeout)]


def _is_push(event: Mapping[str, Any]) -> bool:
    return event.get("source") == names.ECR_EVENT_SOURCE


def measure(plan: Plan, endpoint: str) -> Measured:
    """Run ``plan`` against the moto server at ``endpoint`` (freshly reset, this run's only);
    see the module docstring."""
    outdir, stack = assembly(max(1, len(plan.push_at)), plan.timeout_seconds)
    with contextlib.ExitStack() as stack_of_things:
        proxy = None
        if plan.throttle > 0:
            proxy = support.ThrottlingProxy(endpoint, plan.throttle, plan.seed, THROTTLED)
            stack_of_things.enter_context(proxy)
        cloud = LocalCloud(
            endpoint,
            account=ACCOUNT,
            region=REGION,
            time_scale=1.0 / plan.scale,
            concurrency=plan.concurrency,
            plan=deliver_once if plan.events else lose(_is_push, times=sys.maxsize),
            function_endpoint=proxy.url if proxy is not None else None,
        )
        stack_of_things.callback(cloud.close)
        run = _Run(plan, cloud, CloudAssembly(outdir, account=ACCOUNT, region=REGION), stack)
        measured = run.go()
        measured.throttled = sum(proxy.throttled.values()) if proxy is not None else 0
        return measured


class _Run:
    def __init__(self, plan: Plan, cloud: LocalCloud, built: CloudAssembly, stack: str) -> None:
        self.plan, self.cloud = plan, cloud
        self.provider = cloud.deploy(built, stack)
        cfn, bus, function = cloud.cloudformation, cloud.eventbridge, cloud.function
        if cfn is None or bus is None or function is None:
            raise RuntimeError(f"{stack} was not deployed")
        self.cfn, self.bus, self.function = cfn, bus, function
        (self.sweep_rule,) = [rule for rule in self.bus.rules if rule.schedule]
        self.waiters = self.cfn.waiters()[: len(plan.push_at)]
        self.repository = {
            lid: str(self.cfn.properties(lid)[names.PROP_REPOSITORY_NAME]) for lid in self.waiters
        }
        #: logical id -> (time.monotonic() the image was in ECR, its digest)
        self.pushed: dict[str, tuple[float, str]] = {}

    def go(self) -> Measured:
        plan, cloud, period = self.plan, self.cloud, float(names.SWEEP_PERIOD_SECONDS)
        ecr = cloud.client("ecr")
        for repository in sorted(set(self.repository.values())):
            ecr.create_repository(repositoryName=repository)
        if not plan.rule_enabled_at_start:
            cloud.tick()  # the deploy's first sweep: nothing pending, it turns the rule off
            cloud.settle()
        skip = len(self.function.invocations)
        early = {
            lid: local_ecr.push_image(ecr, None, self.repository[lid], TAG)
            for lid, at in zip(self.waiters, plan.push_at, strict=True)
            if at is None
        }
        cloud.start(ticker=True)  # the first tick one period from now
        time.sleep(max(0.0, (period - plan.sweep_phase) * plan.scale))
        began = time.monotonic()
        requests = {lid: self.cfn.request(lid, "Create") for lid in self.waiters}
        for lid, digest in early.items():
            self.pushed[lid] = (requests[lid].sent_at, digest)
        pusher = threading.Thread(target=self._push_all, args=(began,), daemon=True)
        pusher.start()
        limit = max(plan.timeout_seconds + 3 * period, plan.run_for)
        self._until_answered(began + limit * plan.scale)
        answers: dict[str, dict[str, Any] | None] = {}
        for lid, request in requests.items():
            try:
                answers[lid] = self.cfn.wait_response(request, timeout=0.5)
            except TimeoutError:
                answers[lid] = None
        pusher.join(timeout=limit * plan.scale)
        # However long the answers took, leave the sweep three periods to turn itself off.
        since = (time.monotonic() - began) / plan.scale
        rule_on = self._until_idle(began, max(limit, since + 3 * period))
        cloud.close()
        invocations = self.function.invocations[skip:]
        items = self._scan()
        events = sum(len(rule.delivered) for rule in self.bus.rules if rule.pattern)
        return Measured(
            waits=[self._result(lid, answers[lid], invocations) for lid in self.waiters],
            counts=tally(invocations, items, events),
            wall_seconds=round(time.monotonic() - began, 3),
            rule_enabled_at_end=rule_on,
            table_bytes=sum(item_bytes(item) for item in items),
        )

    def _push_all(self, began: float) -> None:
        ecr = self.cloud.client("ecr")
        moments = [(at, lid) for lid, at in zip(self.waiters, self.plan.push_at, strict=True)]
        for at, lid in sorted((at, lid) for at, lid in moments if at is not None):
            time.sleep(max(0.0, began + at * self.plan.scale - time.monotonic()))
            stamp: list[float] = []
            publish = partial(self._publish, stamp=stamp)
            digest = local_ecr.push_image(ecr, publish, self.repository[lid], TAG)
            self.pushed[lid] = (stamp[0], digest)

    def _publish(self, event: Mapping[str, Any], *, stamp: list[float]) -> str:
        stamp.append(time.monotonic())  # put_image returned: the image is in ECR
        return self.cloud.publish(event)

    def _until_answered(self, end: float) -> None:
        """Until the function has logged a sent answer for every waiter (or ``end``): the
        answers are then read from S3 once, not polled there (the polling loaded the CPU
        that the scaled clock is measured on)."""
        left = set(self.waiters)
        while left and time.monotonic() < end:
            for invocation in list(self.function.invocations):
                left -= {
                    str(fields.get("logicalResourceId"))
                    for _, fields in list(invocation.logs)
                    if fields.get("event") == "answer" and fields.get("verdict") == "sent"
                }
            time.sleep(0.05)

    def _until_idle(self, began: float, limit: float) -> bool:
        """Run until ``run_for`` has passed, the function is idle and the sweep rule is off
        (or past ``limit`` virtual seconds); whether the rule is still on."""
        while True:
            elapsed = (time.monotonic() - began) / self.plan.scale
            settled = self.cloud.settle(timeout=5.0)
            enabled = self.bus.state(self.sweep_rule) == "ENABLED"
            if settled and not enabled and elapsed >= self.plan.run_for:
                return False
            if elapsed > limit:
                return enabled
            time.sleep(names.SWEEP_PERIOD_SECONDS * self.plan.scale / 4)

    def _scan(self) -> list[dict[str, Any]]:
        dynamodb, items = self.cloud.client("dynamodb"), []
        kwargs: dict[str, Any] = {"TableName": self.provider.table_name}
        while True:
            page = dynamodb.scan(**kwargs)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _result(
        self, lid: str, answer: dict[str, Any] | None, invocations: list[Invocation]
    ) -> WaitResult:
        at = self.plan.push_at[self.waiters.index(lid)]
        pushed, landed = self.pushed.get(lid), _answer_line(invocations, lid)
        if answer is None or pushed is None or landed is None:
            status = answer.get("Status") if answer else None
            return WaitResult(at, status, False, None, _why_none(invocations, lid))
        ok = answer.get("Status") == "SUCCESS"
        digest_ok = ok and answer.get("Data", {}).get(names.ATTR_IMAGE_DIGEST) == pushed[1]
        put_at, invocation = landed
        latency = _latency(
            pushed[0],
            put_at,
            invocation,
            repository=self.repository[lid],
            scale=self.plan.scale,
            invocations=invocations,
        )
        kind = KINDS.get(invocation.source, invocation.source)
        return WaitResult(at, answer.get("Status"), digest_ok, round(latency, 4), kind)


def _why_none(invocations: list[Invocation], lid: str) -> str:
    """What became of a request with no answer: its Create's attempts and their errors."""
    creates = [
        i
        for i in invocations
        if i.source == "cloudformation" and i.event.get("LogicalResourceId") == lid
    ]
    failed = sum(1 for i in creates if not i.ok)
    return f"no answer (Create: {len(creates)} attempts, {failed} failed)"


def _answer_line(invocations: list[Invocation], lid: str) -> tuple[float, Invocation] | None:
    """When the answer of ``lid`` was PUT: the handler's log line right after the PUT (and
    its record that it was sent), as it reached us; and the invocation that wrote it."""
    for invocation in invocations:
        for at, fields in invocation.logs:
            answer = fields.get("event") == "answer" and fields.get("verdict") == "sent"
            if answer and fields.get("logicalResourceId") == lid:
                return at, invocation
    return None


def _latency(
    pushed: float,
    put_at: float,
    answering: Invocation,
    *,
    repository: str,
    scale: float,
    invocations: list[Invocation],
) -> float:
    """Seconds from the push to the PUT: real time, except where the wait had nothing in
    flight that could end it (no push event of its repository in transit, queued or
    running: waiting for a sweep, or for Lambda's retry of a failed invocation), which is
    time on the scaled clock and counts divided by ``scale``. A push event's delivery
    through the local EventBridge (put_events, the rule's queue, a 50 ms pump) is real."""
    events = [i for i in invocations if i.source == "ecr" and _repository(i) == repository]
    busy = [(i.queued, i.ended or put_at) for i in events]
    if events:
        busy.append((pushed, min(i.queued for i in events)))  # the event in transit
    idle = _uncovered(pushed, answering.queued, busy)
    return (put_at - pushed) + idle * (1.0 / scale - 1.0)


def _uncovered(start: float, end: float, intervals: list[tuple[float, float]]) -> float:
    """How much of [start, end] none of ``intervals`` covers."""
    idle, cursor = 0.0, start
    for low, high in sorted(intervals):
        if low >= end:
            break
        idle += max(0.0, low - cursor)
        cursor = max(cursor, high)
    return idle + max(0.0, end - cursor)


def _repository(invocation: Invocation) -> str:
    return str(invocation.event.get("detail", {}).get("repository-name"))
