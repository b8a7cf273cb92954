"""The event design measured: the one adapter between the benchmark and an AWS side.

Interface: ``measure(plan, endpoint) -> Measured``. A :class:`Plan` says when each wait's
image is pushed (virtual seconds after its Create; None: already there), whether push
events are delivered, the time scale and the share of ECR/DynamoDB calls throttled. Today
this module plays the AWS side against the moto server at ``endpoint``: a table, a disabled
sweep rule, repositories, presigned S3 ResponseURLs; it invokes the provider's logic (a
``WaitService`` composed as ``handler.service()`` composes it, with a scaled clock) for each
Create, each push event and each sweep tick while the rule is enabled, each invocation in
its own thread, re-run twice on an error (Lambda's async retries), and counts it all with
:mod:`.event_meter`. Pointing the benchmark at ``ecr_image_waiter.local`` means replacing
:func:`measure`'s body; the plan and the figures stay.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ecr_image_waiter import names
from ecr_image_waiter.custom_resource import response
from ecr_image_waiter.custom_resource.handler import default_watch
from ecr_image_waiter.custom_resource.properties import Settings
from ecr_image_waiter.custom_resource.response import Sent
from ecr_image_waiter.custom_resource.store import WaitStore
from ecr_image_waiter.custom_resource.sweep import SweepSwitch
from ecr_image_waiter.custom_resource.waits import WaitService
from ecr_image_waiter.engine.lookup import (
    EcrLookup,
)
from ecr_image_waiter.engine.manifest import LambdaImageInspector

from . import event_aws, event_meter, support
from .event_meter import Counts

#: Lambda's async invocation: on a function error, two more attempts 1 and 2 minutes later.
ASYNC_RETRY_DELAYS = (60.0, 120.0)
_NAMES = itertools.count()


@dataclass(frozen=True)
class Plan:
    """One run of the provider: its waits, and how the AWS side behaves."""

    push_at: tuple[float | None, ...]
    events: bool = True
    #: Wall seconds per virtual second (0.01: the sweep's 60 s period takes 0.6 s).
    scale: float = 0.01
    timeout_seconds: int = 1800
    throttle: float = 0.0
    seed: int = 0
    #: Run at least this many virtual seconds (a plan with no wait: the standing cost).
    run_for: float = 0.0
    #: The sweep rule as a deploy leaves it (enabled; its first sweep turns it off), or as
    #: a provider deployed earlier has it (disabled).
    rule_enabled_at_start: bool = False
    #: Virtual seconds from the start to the sweep's first tick (then one every period):
    #: a rate rule fires on its own minute marks, unrelated to when the Create came.
    sweep_phase: float = float(names.SWEEP_PERIOD_SECONDS)


@dataclass
class WaitResult:
    push_at: float | None
    status: str | None
    digest_ok: bool
    #: Real seconds from the push to the answer's PUT landing: the time before the answering
    #: invocation started divided by the scale, its own time as measured.
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


@dataclass
class _Run:
    plan: Plan
    counts: Counts = field(default_factory=Counts)
    started: float = field(default_factory=time.monotonic)
    epoch: float = field(default_factory=time.time)
    #: (kind, repository or None, start, end or None) of every invocation.
    invocations: list[list[Any]] = field(default_factory=list)
    puts: dict[str, tuple[float, str, Sent]] = field(default_factory=dict)
    pushed: dict[int, tuple[float, str]] = field(default_factory=dict)
    threads: list[threading.Thread] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def clock(self) -> float:
        return self.epoch + (time.monotonic() - self.started) / self.plan.scale


def _route(service: WaitService, event: Mapping[str, Any]) -> None:
    """What ``handler.handler`` does with the three kinds of event a run sends."""
    if "RequestType" in event:
        service.on_request(event)
    elif event.get("source") == names.ECR_EVENT_SOURCE:
        service.on_push(event)
    else:
        service.on_sweep()


def measure(plan: Plan, endpoint: str) -> Measured:
    """Run ``plan`` against the moto server at ``endpoint``; see the module docstring."""
    event_meter.install()
    run = _Run(plan)
    run_id = f"b{next(_NAMES)}{uuid.uuid4().hex[:6]}"
    table, rule, bucket = f"waits-{run_id}", f"sweep-{run_id}", f"cfn-{run_id}"
    repositories = [f"bench/{run_id}/{i}" for i in range(len(plan.push_at))]
    for name in [table, rule, *repositories]:
        event_meter.own(name, run.counts)
    aws = event_aws.harness(endpoint)
    key = [{"AttributeName": k, "KeyType": t} for k, t in (("pk", "HASH"), ("sk", "RANGE"))]
    aws["dynamodb"].create_table(
        TableName=table,
        KeySchema=key,
        AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k in ("pk", "sk")],
        BillingMode="PAY_PER_REQUEST",
    )
    state = "ENABLED" if plan.rule_enabled_at_start else "DISABLED"
    aws["events"].put_rule(Name=rule, ScheduleExpression="rate(1 minute)", State=state)
    aws["s3"].create_bucket(Bucket=bucket)
    proxy = support.ThrottlingProxy(
        endpoint, plan.throttle, plan.seed, ("AmazonEC2Container", "DynamoDB")
    )
    with proxy:
        throttled_url = proxy.url if plan.throttle > 0 else endpoint
        containers = event_aws.Containers(endpoint, throttled_url, throttled_url)

        def service(clients: dict[str, Any]) -> WaitService:
            return _service(run, clients, table, rule)

        function: _Function = (containers, service)

        urls: list[str] = []
        for index, repository in enumerate(repositories):
            aws["ecr"].create_repository(repositoryName=repository)
            urls.append(
                aws["s3"].generate_presigned_url(
                    "put_object", Params={"Bucket": bucket, "Key": str(index)}, ExpiresIn=7200
                )
            )
            if plan.push_at[index] is None:
                run.pushed[index] = (time.monotonic(), support.push(aws["ecr"], repository, "v1"))
        run.started = time.monotonic()
        for index, repository in enumerate(repositories):
            request = event_aws.request(
                run_id, index, repository, urls[index], plan.timeout_seconds
            )
            _invoke(run, function, "request", None, request)
            at = plan.push_at[index]
            if at is not None:
                _later(run, at, lambda i=index, r=repository: _push(run, function, aws, i, r))
        rule_on = _sweep_until_done(run, function, aws["events"], rule, urls)
        for thread in list(run.threads):
            thread.join(timeout=30)
    waits = _results(run, urls, repositories, aws["s3"], bucket)
    left = aws["dynamodb"].scan(TableName=table).get("Items", [])
    return Measured(
        table_bytes=sum(event_meter.item_bytes(item) for item in left),
        waits=waits,
        counts=run.counts,
        wall_seconds=round(time.monotonic() - run.started, 3),
        rule_enabled_at_end=rule_on,
        throttled=sum(proxy.throttled.values()),
    )


#: The function: where its containers come from, and its logic given one container's clients.
_Function = tuple[event_aws.Containers, Callable[[dict[str, Any]], WaitService]]


def _service(run: _Run, clients: dict[str, Any], table: str, rule: str) -> WaitService:
    """The provider's logic as ``handler.service()`` composes it, on one container's
    clients, with the run's scaled clock and a PUT that notes when it landed."""
    store = WaitStore(table, clients["dynamodb"])

    def lookup(settings: Settings) -> EcrLookup:
        return EcrLookup(
            clients["ecr"],
            wait_for_repository=settings.wait_for_repository,
            inspector=LambdaImageInspector(
                architecture=settings.architecture, lambda_compatible=settings.lambda_compatible
            ),
        )

    def put(url: str, text: str) -> tuple[Sent, str]:
        sent, seen = response.put(url, text)
        with run.lock:
            run.puts.setdefault(url, (time.monotonic(), text, sent))
        return sent, seen

    return WaitService(
        store=store,
        sweep=SweepSwitch(rule, clients["events"], store),
        lookup_factory=lookup,
        watch_factory=default_watch,
        clock=run.clock,
        put=put,
    )


def _thread(run: _Run, target: Any) -> None:
    thread = threading.Thread(target=target, daemon=True)
    with run.lock:
        run.threads.append(thread)
    thread.start()


def _later(run: _Run, at_virtual: float, action: Any) -> None:
    def wait_then() -> None:
        delay = run.started + at_virtual * run.plan.scale - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        action()

    _thread(run, wait_then)


def _invoke(
    run: _Run,
    service: _Function,
    kind: str,
    repository: str | None,
    event: Mapping[str, Any],
    *,
    attempt: int = 0,
) -> None:
    """One asynchronous invocation, in its own thread, timed and counted."""

    def go() -> None:
        containers, make = service
        # A new container's clients are made before the clock starts: its INIT, which the
        # bill and the latency leave out, as a warm container would.
        clients = containers.take()
        record: list[Any] = [kind, repository, time.monotonic(), None]
        with run.lock:
            run.invocations.append(record)
        try:
            _route(make(clients), event)
        except Exception:
            run.counts.errors += 1
            if attempt < len(ASYNC_RETRY_DELAYS):
                delay = ASYNC_RETRY_DELAYS[attempt]
                _later(
                    run,
                    (time.monotonic() - run.started) / run.plan.scale + delay,
                    lambda: _invoke(run, service, kind, repository, event, attempt=attempt + 1),
                )
        finally:
            record[3] = time.monotonic()
            containers.give(clients)
            run.counts.add_invocation(kind, record[3] - record[2])

    _thread(run, go)


def _push(run: _Run, service: _Function, aws: dict[str, Any], index: int, repo: str) -> None:
    digest = support.push(aws["ecr"], repo, "v1")
    run.pushed[index] = (time.monotonic(), digest)
    if run.plan.events:
        with run.lock:
            run.counts.events += 1
        _invoke(run, service, "push", repo, event_aws.push_event(repo, digest))


def _sweep_until_done(
    run: _Run, service: _Function, events: Any, rule: str, urls: list[str]
) -> bool:
    """Tick the sweep rule every period (scaled) while it is enabled, until every wait is
    answered, nothing runs and the rule is off (or past every deadline and run_for)."""
    limit = max(run.plan.timeout_seconds + 3 * names.SWEEP_PERIOD_SECONDS, run.plan.run_for)
    for tick in itertools.count(0):
        elapsed = run.plan.sweep_phase + tick * names.SWEEP_PERIOD_SECONDS
        delay = run.started + elapsed * run.plan.scale - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        enabled = bool(events.describe_rule(Name=rule)["State"] == "ENABLED")
        with run.lock:
            answered = all(url in run.puts for url in urls)
            busy = any(record[3] is None for record in run.invocations)
        if answered and not busy and not enabled and elapsed >= run.plan.run_for:
            return False
        if elapsed > limit:
            return enabled
        if enabled:
            _invoke(run, service, "sweep", None, event_aws.SWEEP_EVENT)
    return True


def _results(
    run: _Run, urls: list[str], repositories: list[str], s3: Any, bucket: str
) -> list[WaitResult]:
    results = []
    for index, url in enumerate(urls):
        landed = run.puts.get(url)
        pushed = run.pushed.get(index)
        if landed is None or pushed is None:
            results.append(WaitResult(run.plan.push_at[index], None, False, None, None))
            continue
        body = json.loads(s3.get_object(Bucket=bucket, Key=str(index))["Body"].read())
        ok = body.get("Status") == "SUCCESS"
        digest_ok = ok and body.get("Data", {}).get(names.ATTR_IMAGE_DIGEST) == pushed[1]
        kind, started = _answering(run, landed[0], repositories[index])
        push_time = pushed[0]
        if run.plan.push_at[index] is None:
            push_time = run.started
        latency = max(0.0, started - push_time) / run.plan.scale + (
            landed[0] - max(started, push_time)
        )
        results.append(
            WaitResult(
                run.plan.push_at[index], body.get("Status"), digest_ok, round(latency, 4), kind
            )
        )
    return results


def _answering(run: _Run, put_at: float, repository: str) -> tuple[str, float]:
    """The invocation that sent a PUT landing at ``put_at``: this repository's push event if
    one was running, else the latest sweep or request running then."""
    running = [r for r in run.invocations if r[2] <= put_at and (r[3] is None or r[3] >= put_at)]
    for kind in ("push", "sweep", "request"):
        found = [r for r in running if r[0] == kind and (kind != "push" or r[1] == repository)]
        if found:
            latest = max(found, key=lambda r: r[2])
            return kind, float(latest[2])
    return "unknown", put_at
