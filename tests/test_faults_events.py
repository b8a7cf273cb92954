"""Fault soak of the event-driven provider, end to end, as deployed from the example's cdk.out.

Each scenario deploys the synthesized provider (its function run from the asset directory,
its table, push/build/sweep rules) into a freshly reset moto server with
:class:`ecr_image_waiter.local.LocalCloud`, and plays a stack of waiters through their
lives as CloudFormation would: Create, then maybe an Update to a new tag, then maybe Delete
(a failed Create is rolled back with a Delete of the marker id); each request is sent when
the one before it on the same resource is answered. The stack holds the example's two
waiters plus copies of them under new logical ids (same provider, same repositories: one
template resource per life).

Everything is drawn from the scenario's seed: which image each request waits for and when it
is pushed (before the request, at a moment during the wait, as an image index, into a
repository created only later with ``WaitForRepository``, timed with a sweep so that the push
event and the sweep race, or never), push events claiming a tag before the image is there,
and the faults:

* EventBridge's deliveries of push events lost, duplicated (two or three copies) or held back
  so that later ones overtake them (the delivery ``plan``);
* the same request delivered again: at once, while its wait is pending, after its answer;
  and Lambda's async retries of invocations that failed;
* the function's DynamoDB, ECR and EventBridge calls throttled, answered 500/503, dropped,
  reset or delayed by a :class:`tests.faultproxy.FaultProxy` on ``function_endpoint``, with
  bursts long enough to outlive botocore's retries (a handler error, then Lambda's retry);
* the ResponseURL answering 500 before it takes the answer, and one URL per scenario
  expired (403) (:class:`tests.responseurl.ResponseUrlProxy` in front of S3);
* the sweep delivered twice, at the moment of a push.

The outcome of every request is known by construction: SUCCESS with the digest of the image
pushed for it (pushed before its deadline), FAILED with a timeout (never pushed), FAILED at
once (its repository does not exist), SUCCESS for a Delete. Checked for every request: one
answer stored (S3 object versions of its ResponseURL key; none for the expired URL, whose
refusal is logged without the URL), no false ready (the digest answered is the sha256 of
the manifest pushed for it and what ECR holds for the tag, asked directly), no request left
unanswered past its ServiceTimeout (deadline + 90 s, as the construct sets it) on the
Lambda's scaled clock, and the right status, physical id and reason. One exception is
counted apart, not hidden: a request whose first delivery failed before its wait was stored
(DynamoDB failing past botocore's retries) is stored by Lambda's retry a minute later, which
counts the deadline from its own time (a request carries no time of its own), so its
timeout answer may come up to the retry delays past the ServiceTimeout. And a timeout sent
by the first sweep at or after the deadline (as designed) that still arrives past deadline +
90 s is counted as late by the sweep's real seconds (see below), not unanswered; a sweep
past the deadline that leaves the wait pending fails the scenario. No log line holds a
presigned URL. Figures go to the reliability log as ``event-scenario`` lines.

The Lambda's clock runs ``SCALE`` times faster (the sweep's minute is ``PERIOD`` real
seconds); botocore's retry pauses and the response PUT's pauses are real seconds, so a
fault costs ``SCALE`` times more Lambda time here than it would in AWS. Fault rates are kept
to what fits the 90 s margin at this scale, the bursts that outlive botocore's retries come in
the first second, before any deadline is near (a sweep failing at a deadline makes the next
sweep, a period later, report the timeout: past the 90 s, here as in AWS), and a ResponseURL
fails once per faulted request:
a round of three tries that all fail lasts up to 2.25 s of real pauses, 45 s on this clock,
longer than the 30 s after which a sweep sends an unsent answer again, so overlapping rounds
here would be an artefact of the scale (in AWS a round ends within 33 s and sweeps are 60 s
apart). Re-sends by the sweep are covered in process, with a fake clock, by the handler
suites.
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

from ecr_image_waiter import names
from ecr_image_waiter.local import CloudAssembly, LocalCloud, Request
from ecr_image_waiter.local.cicd import deploy_repositories_and_builds
from ecr_image_waiter.local.ecr import image_manifest
from ecr_image_waiter.local.events import ecr_push
from ecr_image_waiter.local.support import reset_moto
from tests.faultproxy import (
    DROP,
    ERROR_500,
    ERROR_503,
    PASS,
    RESET,
    THROTTLE,
    Decision,
    Fault,
    FaultProxy,
    record,
    scale,
)
from tests.responseurl import ResponseUrlProxy

ROOT = Path(__file__).resolve().parents[1]
SCALE = 20.0
PERIOD = names.SWEEP_PERIOD_SECONDS / SCALE
#: The construct's ServiceTimeout is the deadline plus this (names.DEADLINE_HEADROOM_SECONDS).
HEADROOM = names.DEADLINE_HEADROOM_SECONDS
#: Lambda's async retry delays (LocalCloud's default), in scaled seconds.
RETRY_DELAYS = (60.0, 120.0)
BUCKET = "local-cloudformation-responses"

pytestmark = [pytest.mark.synth, pytest.mark.timeout(600)]

DYNAMODB_OPERATIONS = frozenset({"GetItem", "PutItem", "UpdateItem", "Query", "Scan"})
ECR_OPERATIONS = frozenset({"DescribeImages", "BatchGetImage", "GetDownloadUrlForLayer"})
EVENTS_OPERATIONS = frozenset({"EnableRule", "DisableRule"})


def service_of(operation: str) -> str:
    if operation in DYNAMODB_OPERATIONS:
        return "dynamodb"
    if operation in ECR_OPERATIONS:
        return "ecr"
    if operation in EVENTS_OPERATIONS:
        return "events"
    return "other"


# --- the deploy ------------------------------------------------------------------------------


def add_waiters(assembly: CloudAssembly, stack: str, count: int) -> list[str]:
    """``count`` waiter resources in ``stack``: the template's own, then copies of them
    under new logical ids (same properties, same provider)."""
    resources = assembly.templates[stack]["Resources"]
    bases = sorted(assembly.resources(stack, names.RESOURCE_TYPE))
    logical_ids = list(bases[:count])
    for number in range(len(bases), count):
        base = bases[number % len(bases)]
        logical = f"Copy{number:02d}{base}"
        resources[logical] = copy.deepcopy(resources[base])
        logical_ids.append(logical)
    return logical_ids


# --- the faults ------------------------------------------------------------------------------


class Deliveries:
    """The EventBridge delivery plan: each push event lost, duplicated, held back (so that
    later events overtake it) or delivered once, drawn from a seeded generator."""

    def __init__(self, rng: random.Random, *, lose: float, duplicate: float, delay: float) -> None:
        self.rng = rng
        self.rates = (lose, duplicate, delay)
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()

    def __call__(self, event: Mapping[str, Any]) -> Sequence[float]:
        if event.get("source") != names.ECR_EVENT_SOURCE:
            return (0.0,)
        lose, duplicate, delay = self.rates
        with self.lock:
            draw = self.rng.random()
            if draw < lose:
                self.counts["lost"] += 1
                return ()
            draw -= lose
            if draw < duplicate:
                self.counts["duplicated"] += 1
                copies = self.rng.choice((2, 3))
                return tuple(sorted(self.rng.uniform(0.0, 0.4) for _ in range(copies)))
            draw -= duplicate
            if draw < delay:
                self.counts["reordered"] += 1
                return (self.rng.uniform(0.1, 1.5),)
            return (0.0,)


class FaultMix:
    """The fault proxy's plan: per service a seeded rate of each fault, plus bursts (the
    next ``n`` calls to a service all fail, long enough to outlive botocore's retries)."""

    def __init__(self, rng: random.Random, rates: Mapping[str, Mapping[Decision, float]]):
        self.rng = rng
        self.rates = rates
        self.bursts: dict[str, tuple[int, Decision]] = {}
        self.lock = threading.Lock()

    def burst(self, service: str, calls: int, decision: Decision) -> None:
        with self.lock:
            self.bursts[service] = (calls, decision)

    def __call__(self, _number: int, _elapsed: float, operation: str) -> Decision:
        service = service_of(operation)
        with self.lock:
            left, decision = self.bursts.get(service, (0, PASS))
            if left > 0:
                self.bursts[service] = (left - 1, decision)
                return decision
            draw = self.rng.random()
            for choice, rate in self.rates.get(service, {}).items():
                if draw < rate:
                    return choice
                draw -= rate
        return PASS


DELAY = Decision(Fault.DELAY, 0.3)
PROXY_RATES: dict[str, dict[Decision, float]] = {
    "dynamodb": {THROTTLE: 0.05, ERROR_500: 0.02, ERROR_503: 0.02, DROP: 0.01, DELAY: 0.02},
    "ecr": {THROTTLE: 0.06, ERROR_500: 0.03, ERROR_503: 0.03, RESET: 0.02, DELAY: 0.02},
    "events": {THROTTLE: 0.1, ERROR_503: 0.05},
}


# --- a scenario ------------------------------------------------------------------------------

READY, TIMEOUT, NEVER, DELETED = "ready", "timeout", "never", "deleted"
#: How a request's image comes (see the module docstring); weights for a Create or Update.
PUSHES = {
    "before": 3,
    "event": 5,
    "race": 2,
    "index": 2,
    "later-repository": 1,
    "never": 2,
    "missing": 1,
}


@dataclass
class Step:
    """One request of a resource's life, and what became of it."""

    request_type: str
    push: str
    repository: str
    tag: str
    timeout: int
    #: Scaled seconds after the request: when the image is pushed, when the request is
    #: delivered again; and after the answer, when it is delivered once more.
    push_at: float = 0.0
    again: list[float] = field(default_factory=list)
    again_after_answer: float | None = None
    url_failures: int = 0
    expired: bool = False
    phantom: bool = False
    physical_in: str | None = None
    # --- filled in while it runs
    request: Request | None = None
    sent_at: float = 0.0
    pushed: bool = False
    digest: str | None = None
    index_digest: str | None = None
    answer: dict[str, Any] | None = None
    answered_at: float | None = None
    done: bool = False
    unanswered: bool = False

    @property
    def expected(self) -> str:
        if self.request_type == "Delete":
            return DELETED
        return {"never": TIMEOUT, "missing": NEVER}.get(self.push, READY)

    @property
    def key(self) -> str:
        assert self.request is not None
        return f"{BUCKET}/{self.request.key}"

    @property
    def bound(self) -> float:
        """The ServiceTimeout, in real seconds."""
        return (self.timeout + HEADROOM) / SCALE


@dataclass
class Life:
    logical_id: str
    steps: list[Step]
    at: int = 0
    next_send: float = 0.0

    @property
    def step(self) -> Step | None:
        return self.steps[self.at] if self.at < len(self.steps) else None


def plan_lives(
    rng: random.Random,
    logical_ids: list[str],
    repos: dict[str, str],
    timeouts: tuple[int, int],
) -> list[Life]:
    kinds, weights = list(PUSHES), list(PUSHES.values())
    # The first Creates take every kind of push once, in a seeded order; the rest draw.
    first = rng.sample(kinds, len(kinds))
    lives = []
    for number, logical in enumerate(logical_ids):
        repository = repos[logical]

        def step(kind: str, label: str, *, number: int = number, repo: str = repository) -> Step:
            push = rng.choices(kinds, weights)[0]
            if kind == "Create" and number < len(first):
                push = first[number]
            timeout = rng.randint(*timeouts)
            made = Step(kind, push, repo, f"r{number}-{label}", timeout)
            if push == "missing":
                made.repository = f"missing-{number}-{label}"
            if push == "later-repository":
                made.repository = f"later-{number}-{label}"
            made.push_at = rng.uniform(3.0, timeout - 25.0)
            made.again = (
                [rng.choice((0.0, rng.uniform(0.0, timeout)))] if rng.random() < 0.4 else []
            )
            if rng.random() < 0.3:
                made.again_after_answer = rng.uniform(1.0, 60.0)
            made.phantom = push in ("event", "race") and rng.random() < 0.3
            if rng.random() < 0.3:
                made.url_failures = 1
            return made

        create = step("Create", "c")
        steps = [create]
        if create.expected == READY:
            if rng.random() < 0.5:
                steps.append(step("Update", "u"))
            if rng.random() < 0.5:
                steps.append(Step("Delete", "none", repository, "", rng.randint(*timeouts)))
        else:
            steps.append(Step("Delete", "none", repository, "", rng.randint(*timeouts)))
        for extra in steps[1:]:
            if extra.request_type == "Delete" and rng.random() < 0.3:
                extra.url_failures = 1
            if extra.request_type == "Delete" and rng.random() < 0.3:
                extra.again = [0.0]
        lives.append(Life(logical, steps, next_send=rng.uniform(0.0, 1.0)))
    # One expired ResponseURL per scenario, on a Create that would be answered.
    candidates = [life for life in lives if life.steps[0].expected in (READY, NEVER)]
    if candidates:
        chosen = rng.choice(candidates)
        chosen.steps[0].expired = True
        chosen.steps[0].url_failures = 0
        del chosen.steps[1:]
    return lives


@dataclass
class Figures:
    counts: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    #: What the function did for each answer PUT twice (kept in the reliability log).
    notes: list[str] = field(default_factory=list)
    late_by: float = 0.0


class Scenario:
    """One seeded scenario against a deployed provider."""

    def __init__(
        self,
        seed: int,
        cdk_out: Path,
        endpoint: str,
        *,
        resources: int,
        timeouts: tuple[int, int],
    ) -> None:
        self.seed = seed
        self.timeouts = timeouts
        self.rng = random.Random(seed)
        self.endpoint = endpoint
        self.cdk_out = cdk_out
        self.resources = resources
        self.figures = Figures()
        self.ecr = boto3.client(
            "ecr",
            region_name="us-east-1",
            endpoint_url=endpoint,
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        self.manifests: dict[str, str] = {}

    # --- running -----------------------------------------------------------------------

    def run(self) -> Figures:
        reset_moto(self.endpoint)
        deliveries = Deliveries(random.Random(self.seed + 1), lose=0.15, duplicate=0.15, delay=0.15)
        mix = FaultMix(random.Random(self.seed + 2), PROXY_RATES)
        started = time.monotonic()
        with FaultProxy(self.endpoint, mix) as proxy, ResponseUrlProxy(self.endpoint) as urls:
            cloud = LocalCloud(
                self.endpoint,
                time_scale=SCALE,
                # Lambda runs each invocation in its own environment: enough workers that
                # one sleeping in botocore's backoff does not hold up the sweep.
                concurrency=8,
                plan=deliveries,
                function_endpoint=proxy.url,
            )
            try:
                lives = self._deploy(cloud, urls)
                self._drive(cloud, lives, mix, urls)
                self._check(cloud, lives, urls)
            finally:
                cloud.close()
            self._count(
                cloud,
                lives=lives,
                deliveries=deliveries,
                proxy=proxy,
                urls=urls,
                seconds=time.monotonic() - started,
            )
        return self.figures

    def _deploy(self, cloud: LocalCloud, urls: ResponseUrlProxy) -> list[Life]:
        assembly = CloudAssembly(self.cdk_out)
        api = assembly.stack_named("-Api")
        logical_ids = add_waiters(assembly, api, self.resources)
        cicd = assembly.stack_named("-Cicd")
        deploy_repositories_and_builds(
            assembly, cicd, cloud.client("ecr"), cloud.client("codebuild")
        )
        cloud.deploy(assembly, api)
        cfn = cloud.cloudformation
        assert cfn is not None
        # The ResponseURLs (and the reads of the answers) go through the failing proxy.
        cfn.s3 = boto3.client(
            "s3",
            region_name="us-east-1",
            endpoint_url=urls.url,
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        repos = {
            logical: cfn.properties(logical)[names.PROP_REPOSITORY_NAME] for logical in logical_ids
        }
        cloud.start(ticker=True)
        return plan_lives(self.rng, logical_ids, repos, self.timeouts)

    def _drive(
        self, cloud: LocalCloud, lives: list[Life], mix: FaultMix, urls: ResponseUrlProxy
    ) -> None:
        cfn = cloud.cloudformation
        function = cloud.function
        assert cfn is not None
        assert function is not None
        begin = time.monotonic()
        for life in lives:
            life.next_send += begin
        # Bursts come early, while no deadline is near: a call failing past botocore's
        # retries spends seconds of real pauses, minutes on this clock (see the docstring).
        bursts = sorted(begin + self.rng.uniform(0.2, 1.2) for _ in range(2))
        services = ["dynamodb", "dynamodb", "events"]
        redeliveries: list[tuple[float, Step]] = []
        while True:
            now = time.monotonic()
            if bursts and now >= bursts[0]:
                bursts.pop(0)
                service = self.rng.choice(services)
                decision = THROTTLE if service == "events" else ERROR_503
                mix.burst(service, 12, decision)
                self.figures.counts[f"bursts {service}"] += 1
            for when, step in list(redeliveries):
                if now >= when:
                    redeliveries.remove((when, step))
                    assert step.request is not None
                    function.invoke_async(step.request.event)
                    self.figures.counts["redelivered"] += 1
            active = False
            for life in lives:
                step = life.step
                if step is None:
                    continue
                active = True
                if step.request is None:
                    if now >= life.next_send:
                        self._send(cloud, life, step, urls)
                    continue
                self._act(cloud, step, now)
                if self._settled(cloud, step, urls, now):
                    if step.answer is not None and step.again_after_answer is not None:
                        redeliveries.append((now + step.again_after_answer / SCALE, step))
                    if step.expired or step.unanswered:
                        life.at = len(life.steps)  # CloudFormation gave up on the stack
                    else:
                        life.at += 1
                        if life.step is not None:
                            life.step.physical_in = self._physical_after(step)
                        life.next_send = now + self.rng.uniform(0.0, 20.0) / SCALE
            if not active and not redeliveries:
                break
            time.sleep(0.01)
        # Late copies, retries and sweeps must not answer anything again.
        assert cloud.settle(timeout=60)
        time.sleep(2.5 * PERIOD)
        assert cloud.settle(timeout=60)

    def _send(self, cloud: LocalCloud, life: Life, step: Step, urls: ResponseUrlProxy) -> None:
        cfn = cloud.cloudformation
        assert cfn is not None
        if step.push == "before":
            self._push(cloud, step)
        overrides = {names.PROP_TIMEOUT_SECONDS: str(step.timeout)}
        if step.request_type != "Delete":
            overrides[names.PROP_IMAGE_TAG] = step.tag
            overrides[names.PROP_REPOSITORY_NAME] = step.repository
        if step.push == "later-repository":
            overrides[names.PROP_WAIT_FOR_REPOSITORY] = "true"
        if step.request_type == "Create":
            physical = None
        else:
            physical = step.physical_in or names.CREATE_FAILED_PHYSICAL_ID
        # The URL's faults are set before the request leaves (its answer may come at once):
        # by the resource's part of the key, the only request of the resource in flight.
        prefix = f"{BUCKET}/{cfn.stack}/{life.logical_id}/"
        if step.expired:
            urls.expire(prefix)
        elif step.url_failures:
            urls.fail(prefix, step.url_failures)
        step.sent_at = time.monotonic()
        request = cfn.request(
            life.logical_id,
            step.request_type,  # type: ignore[arg-type]
            overrides=overrides,
            physical_id=physical,
        )
        step.request = request
        self.figures.counts["requests"] += 1
        self.figures.counts[f"requests {step.request_type}"] += 1

    def _act(self, cloud: LocalCloud, step: Step, now: float) -> None:
        assert step.request is not None
        function = cloud.function
        assert function is not None
        elapsed = (now - step.sent_at) * SCALE
        for delay in list(step.again):
            if elapsed >= delay:
                step.again.remove(delay)
                function.invoke_async(step.request.event)
                self.figures.counts["redelivered"] += 1
        if step.pushed or step.push in ("before", "never", "missing", "none"):
            return
        if step.phantom and elapsed >= step.push_at / 2:
            # An event that claims the tag before the image is there: the look decides.
            step.phantom = False
            fake = "sha256:" + hashlib.sha256(f"phantom-{step.tag}".encode()).hexdigest()
            cloud.publish(ecr_push(step.repository, fake, step.tag))
            self.figures.counts["phantom events"] += 1
        if elapsed >= step.push_at:
            self._push(cloud, step)
            if step.push == "race":
                # The push event and the sweep race; the sweep is delivered twice.
                self.figures.counts["race ticks"] += cloud.tick() + cloud.tick()

    def _push(self, cloud: LocalCloud, step: Step) -> None:
        step.pushed = True
        if step.push == "index":
            step.index_digest, children = cloud.push_index(step.repository, step.tag)
            step.digest = children["amd64"]
            return
        if step.push == "later-repository":
            cloud.client("ecr").create_repository(repositoryName=step.repository)
        manifest = image_manifest(f"{step.repository}:{step.tag}:{self.seed}")
        step.digest = cloud.push_image(step.repository, step.tag, manifest=manifest)
        self.manifests[step.digest] = manifest

    def _settled(self, cloud: LocalCloud, step: Step, urls: ResponseUrlProxy, now: float) -> bool:
        """Whether CloudFormation is done with the request: answered, refused, or given up."""
        cfn = cloud.cloudformation
        assert cfn is not None
        assert step.request is not None
        if step.expired:
            if urls.puts_to(step.key) or now - step.sent_at > step.bound:
                step.done = True
            return step.done
        delivered = urls.delivered_at(step.key)
        if delivered is not None:
            step.answered_at = delivered
            step.answer = cfn.response(step.request)
            step.done = True
            return True
        # Past the ServiceTimeout the request is watched a little longer, so that a late
        # answer can be told apart (see _lateness); one that never comes is unanswered.
        patience = step.bound + self._retry_allowance(cloud, step) + 2 * PERIOD
        if now - step.sent_at > patience:
            step.unanswered = True
            step.done = True
            return True
        return False

    def _lateness(self, function: Any, life: Life, step: Step) -> str | None:
        """Why an answer came past the ServiceTimeout, when the cause is one counted apart:

        * ``late after a Lambda retry``: the request's first delivery failed (see
          :meth:`_retry_allowance`);
        * ``late by the sweep's real seconds``: a timeout sent by the first sweep that
          started at or after the deadline, as designed; it came past deadline + 90 s only
          because that sweep's botocore pauses (real seconds) count ``SCALE`` times here.

        None otherwise (a sweep past the deadline left the wait pending: unanswered)."""
        assert step.request is not None
        mine = [
            i for i in function.invocations if i.event.get("RequestId") == step.request.request_id
        ]
        if any(i.attempt > 1 for i in mine):
            assert step.answered_at is not None
            within = step.answered_at - step.sent_at <= step.bound + sum(RETRY_DELAYS) / SCALE
            return "late after a Lambda retry" if within else None
        if step.expected != TIMEOUT or not mine:
            return None
        # The wait's deadline, on time.monotonic(), give or take a scaled second.
        deadline = mine[0].started + (step.timeout + 1) / SCALE
        sweeps = [i for i in function.invocations if i.source == "sweep" and i.started]
        answering = [
            i.started
            for i in sweeps
            if i.started >= step.sent_at
            and any(
                fields.get("event") == "answer"
                and fields.get("logicalResourceId") == life.logical_id
                and fields.get("verdict") == "sent"
                for _, fields in i.logs
            )
        ]
        first_past = min((i.started for i in sweeps if i.started >= deadline), default=None)
        if not answering or first_past is None or min(answering) > first_past:
            return None
        return "late by the sweep's real seconds"

    @staticmethod
    def _retry_allowance(cloud: LocalCloud, step: Step) -> float:
        """Real seconds a request's answer may come past its ServiceTimeout: Lambda's retry
        delays, when its first delivery failed. A delivery that fails before storing the
        wait leaves the retry to count the deadline from its own time (the request carries
        none), so a timeout answer comes up to the retry delays late: reported apart (see
        ``late after a Lambda retry``), not hidden."""
        function = cloud.function
        assert function is not None
        assert step.request is not None
        retried = any(
            i.attempt > 1 and i.event.get("RequestId") == step.request.request_id
            for i in list(function.invocations)
        )
        return sum(cloud.retry_delays) / SCALE if retried else 0.0

    @staticmethod
    def _physical_after(step: Step) -> str:
        """The resource's physical id after ``step`` (what the next request carries)."""
        if step.answer is not None and step.answer.get("Status") == "SUCCESS":
            return str(step.answer["PhysicalResourceId"])
        if step.request_type == "Create":
            return names.CREATE_FAILED_PHYSICAL_ID
        return step.physical_in or names.CREATE_FAILED_PHYSICAL_ID

    # --- judging -----------------------------------------------------------------------

    def _check(self, cloud: LocalCloud, lives: list[Life], urls: ResponseUrlProxy) -> None:
        cfn = cloud.cloudformation
        function = cloud.function
        assert cfn is not None
        assert function is not None
        logs = [fields for i in function.invocations for _, fields in i.logs]
        for life in lives:
            for step in life.steps:
                if step.request is None:
                    continue
                where = f"seed {self.seed} {life.logical_id} {step.request_type} ({step.push})"
                stored = cfn.answers(step.request)
                counts = self.figures.counts
                if step.expired:
                    refused = [
                        f
                        for f in logs
                        if f.get("event") == "answer"
                        and f.get("verdict") == "refused"
                        and f.get("code") == "HTTP 403"
                        and f.get("logicalResourceId") == life.logical_id
                    ]
                    tries = urls.puts_to(step.key)
                    # Tried once; again only if recording the refusal failed (the sweep then
                    # sends the unsent answer again and is refused again).
                    if stored == 0 and refused and all(t.status == 403 for t in tries):
                        counts["expired dropped"] += 1
                        counts["expired URL tried again"] += len(tries) - 1
                    else:
                        self._fail(f"{where}: expired URL: {stored} stored, PUTs {tries}")
                    continue
                if step.unanswered or step.answer is None:
                    counts["unanswered"] += 1
                    self._fail(
                        f"{where}: no answer within {step.bound * SCALE:.0f} s; "
                        + trail(function, life, step.sent_at)
                    )
                    continue
                if stored == 1:
                    counts["answered once"] += 1
                elif stored > 1 and len(set(stored_bodies(cfn, step.request))) == 1:
                    # The same answer PUT again: the PUT got through, then recording it
                    # failed beyond DynamoDB's retries, and the sweep sent it again.
                    counts["answered once"] += 1
                    counts["same answer sent again"] += 1
                    self.figures.notes.append(f"{where}: {trail(function, life, step.sent_at)}")
                else:
                    counts["double answers"] += stored > 1
                    self._fail(
                        f"{where}: {stored} answers stored; " + trail(function, life, step.sent_at)
                    )
                if step.url_failures and stored >= 1:
                    counts["url failures recovered"] += 1
                assert step.answered_at is not None
                if step.answered_at - step.sent_at > step.bound:
                    cause = self._lateness(function, life, step)
                    if cause is None:
                        counts["unanswered"] += 1
                        self._fail(
                            f"{where}: answered {step.answered_at - step.sent_at:.1f} s after "
                            f"it was sent, past its ServiceTimeout; "
                            + trail(function, life, step.sent_at)
                        )
                    else:
                        counts[cause] += 1
                        late = (step.answered_at - step.sent_at) * SCALE - step.timeout
                        self.figures.notes.append(f"{where}: {cause}, {late:.0f} s past deadline")
                late = (step.answered_at - step.sent_at) * SCALE - step.timeout
                self.figures.late_by = max(self.figures.late_by, late)
                self._judge(where, step, step.answer)

    def _judge(self, where: str, step: Step, answer: dict[str, Any]) -> None:
        status = answer.get("Status")
        physical = answer.get("PhysicalResourceId")
        reason = str(answer.get("Reason", ""))
        data = answer.get("Data") or {}
        expected = step.expected
        if status == "SUCCESS" and expected not in (READY, DELETED):
            self.figures.counts["false ready"] += 1
            self._fail(f"{where}: SUCCESS, expected {expected}: {answer}")
            return
        if expected == DELETED:
            ok = status == "SUCCESS" and physical == step.physical_in
        elif expected == READY:
            ok = status == "SUCCESS" and self._true_digest(where, step, data)
            ok = ok and physical == f"default/{step.repository}:{step.tag}"
        else:
            failed_id = (
                names.CREATE_FAILED_PHYSICAL_ID
                if step.request_type == "Create"
                else step.physical_in
            )
            ok = status == "FAILED" and physical == failed_id
            if expected == TIMEOUT:
                ok = ok and "timed out after" in reason
            else:
                ok = ok and step.repository in reason
        if not ok:
            self.figures.counts["wrong"] += 1
            self._fail(f"{where}: expected {expected}, got {answer}")

    def _true_digest(self, where: str, step: Step, data: Mapping[str, Any]) -> bool:
        """No false ready: the digest is the one pushed, its manifest's sha256, and what ECR
        holds for the tag (asked directly)."""
        digest = data.get(names.ATTR_IMAGE_DIGEST)
        held = self.ecr.describe_images(
            repositoryName=step.repository, imageIds=[{"imageTag": step.tag}]
        )["imageDetails"][0]["imageDigest"]
        if step.index_digest is not None:
            true = digest == step.digest and data.get(names.ATTR_INDEX_DIGEST) == held
            true = true and held == step.index_digest
        else:
            manifest = self.manifests.get(str(digest), "")
            sha = "sha256:" + hashlib.sha256(manifest.encode()).hexdigest()
            true = digest == step.digest == sha == held
        if not true:
            self.figures.counts["false ready"] += 1
            self._fail(f"{where}: digest {digest} is not the image pushed ({step.digest})")
        return true

    def _fail(self, message: str) -> None:
        self.figures.failures.append(message)

    def _count(
        self,
        cloud: LocalCloud,
        *,
        lives: list[Life],
        deliveries: Deliveries,
        proxy: FaultProxy,
        urls: ResponseUrlProxy,
        seconds: float,
    ) -> None:
        function, bus = cloud.function, cloud.eventbridge
        assert function is not None
        assert bus is not None
        faults: Counter[str] = Counter()
        for event in proxy.snapshot():
            if event.fault is not Fault.PASS:
                faults[f"{service_of(event.operation)} {event.fault.value}"] += 1
        leaks = [
            fields
            for invocation in function.invocations
            for _, fields in invocation.logs
            if any(
                mark in json.dumps(fields)
                for mark in ("X-Amz-Signature", "X-Amz-Credential", urls.url)
            )
        ]
        if leaks:
            self._fail(f"seed {self.seed}: log lines with a presigned URL: {leaks[:2]}")
        if bus.errors:
            self._fail(f"seed {self.seed}: the local EventBridge failed: {bus.errors[:3]}")
        counts = self.figures.counts
        requests = [s for life in lives for s in life.steps if s.request is not None]
        record(
            "event-scenario",
            scenario=f"events-{self.seed}",
            resources=len(lives),
            requests=len(requests),
            answered_once=counts["answered once"],
            double_answers=counts["double answers"],
            same_answer_again=counts["same answer sent again"],
            unanswered=counts["unanswered"],
            late_after_retry=counts["late after a Lambda retry"],
            late_by_sweep_seconds=counts["late by the sweep's real seconds"],
            false_ready=counts["false ready"],
            wrong=counts["wrong"],
            expired=sum(1 for s in requests if s.expired),
            expired_dropped=counts["expired dropped"],
            expired_tried_again=counts["expired URL tried again"],
            outcomes=dict(Counter(s.expected for s in requests)),
            pushes=dict(Counter(s.push for s in requests if s.request_type != "Delete")),
            events_lost=deliveries.counts["lost"],
            events_duplicated=deliveries.counts["duplicated"],
            events_reordered=deliveries.counts["reordered"],
            phantom_events=counts["phantom events"],
            redelivered=counts["redelivered"],
            lambda_retries=sum(1 for i in function.invocations if i.attempt > 1),
            function_errors=sum(1 for i in function.finished() if not i.ok),
            faults=dict(faults),
            bursts=sum(v for k, v in counts.items() if k.startswith("bursts")),
            url_failures=urls.counts()["failed"],
            url_failures_recovered=counts["url failures recovered"],
            sweeps=bus.fired,
            race_ticks=counts["race ticks"],
            invocations=len(function.invocations),
            longest_queued=round(
                max(
                    (i.started - i.queued for i in function.finished() if i.attempt == 1),
                    default=0.0,
                )
                * SCALE,
                1,
            ),
            latest_past_deadline=round(self.figures.late_by, 1),
            correct=not self.figures.failures,
            notes=self.figures.notes,
            seconds=round(seconds, 1),
        )


def stored_bodies(cfn: Any, request: Request) -> list[bytes]:
    """Every answer PUT to the request's ResponseURL (the bucket's versions of its key)."""
    listed = cfn.s3.list_object_versions(Bucket=cfn.bucket, Prefix=request.key)
    return [
        cfn.s3.get_object(Bucket=cfn.bucket, Key=request.key, VersionId=v["VersionId"])[
            "Body"
        ].read()
        for v in listed.get("Versions", [])
        if v["Key"] == request.key
    ]


def trail(function: Any, life: Life, since: float = 0.0) -> str:
    """What the function did for one resource (and what the sweeps did) from ``since``
    (time.monotonic()), for a failure message."""
    lines = []
    for invocation in function.invocations:
        if invocation.queued < since:
            continue
        for _, fields in invocation.logs:
            ours = fields.get("logicalResourceId") == life.logical_id
            if ours or (fields.get("source") == "sweep" and "logicalResourceId" not in fields):
                keys = ("event", "verdict", "code", "error", "pending", "attempt")
                what = {k: fields.get(k) for k in keys}
                lines.append(
                    f"#{invocation.number}.{invocation.attempt} {invocation.source}: "
                    + " ".join(f"{k}={v}" for k, v in what.items() if v is not None)
                )
    return "\n  ".join(["", *lines])


def run_scenario(
    seed: int, cdk_out: Path, endpoint: str, *, resources: int, timeouts: tuple[int, int]
) -> Figures:
    figures = Scenario(seed, cdk_out, endpoint, resources=resources, timeouts=timeouts).run()
    assert not figures.failures, "\n".join(figures.failures)
    return figures


# --- the suites ------------------------------------------------------------------------------


# One seed in make test; test_soak (make reliability) runs 4 x scale more, larger ones.
@pytest.mark.parametrize("seed", [1])
def test_every_request_is_answered_once_and_truly(
    cdk_out: Path, moto_server_url: str, seed: int
) -> None:
    figures = run_scenario(seed, cdk_out, moto_server_url, resources=7, timeouts=(60, 75))
    assert figures.counts["requests"] >= 7


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(100, 100 + 4 * scale()))
def test_soak(cdk_out: Path, moto_server_url: str, seed: int) -> None:
    run_scenario(seed, cdk_out, moto_server_url, resources=10, timeouts=(90, 180))
