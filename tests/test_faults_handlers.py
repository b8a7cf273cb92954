"""The provider under injected faults: ECR and DynamoDB behind tests/faultproxy.py (throttling,
500/503 answers, dropped and reset connections) in front of the moto server.

Each scenario asserts what CloudFormation receives — exactly one answer per request: SUCCESS
with the true digest, or FAILED with the resource's own reason — and the invariants (no false
ready, no false timeout), and that Delete answers at once whatever ECR is doing. The waits
run on a fake clock (sweeps are called, not waited for); the faults and botocore's retries
happen in real time.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from botocore.config import Config

from ecr_image_waiter import names
from ecr_image_waiter.custom_resource.properties import Settings
from ecr_image_waiter.engine import EcrLookup
from tests.conftest import REGION
from tests.faultproxy import ERROR_503 as E503
from tests.faultproxy import (
    NEVER,
    READY,
    RESET,
    TIMEOUT,
    Cycle,
    Fault,
    FaultProxy,
    Judgement,
    Outcome,
    Plan,
    SeededRate,
    drop_all,
    held_digest,
    judge,
    record,
    scale,
    waiter_client,
)
from tests.faultproxy import PASS as OK
from tests.faultproxy import THROTTLE as T
from tests.images import digest_of, push, single_manifest
from tests.provider_support import (
    FakeClock,
    RecordingPut,
    ServerProvider,
    create_resources,
    push_event,
    request,
    service,
    sweep_event,
)


def dynamodb_on(url: str, *, total_attempts: int = 4) -> Any:
    config = Config(
        retries={"mode": "standard", "total_max_attempts": total_attempts},
        connect_timeout=1,
        read_timeout=5,
    )
    return boto3.client("dynamodb", region_name=REGION, endpoint_url=url, config=config)


class Provider:
    """The service with ECR behind ``ecr_proxy`` and DynamoDB behind ``table_proxy`` (or on
    the server), a fake clock and a recording PUT; ``table``/``rule`` unique per instance."""

    def __init__(
        self,
        server: str,
        ecr_proxy: FaultProxy,
        table_proxy: FaultProxy | None = None,
        *,
        suffix: str = "",
        read_timeout: float = 2.0,
    ) -> None:
        self.table, self.rule = f"waits{suffix}", f"sweep{suffix}"
        create_resources(table=self.table, rule=self.rule, endpoint=server)
        self.clock = FakeClock()
        self.put = RecordingPut()

        def lookup(settings: Settings) -> EcrLookup:
            client = waiter_client(ecr_proxy.url, total_attempts=3, read_timeout=read_timeout)
            return EcrLookup(client, wait_for_repository=settings.wait_for_repository)

        self.service = service(
            self.clock,
            self.put,
            lookup_factory=lookup,
            dynamodb=dynamodb_on(table_proxy.url if table_proxy else server),
            events=boto3.client("events", region_name=REGION, endpoint_url=server),
            table=self.table,
            rule=self.rule,
        )

    def deliver(self, req: dict[str, Any], *, tries: int = 3) -> None:
        """As Lambda delivers an asynchronous invocation: retried when it raises."""
        for attempt in range(tries):
            try:
                self.service.on_request(req)
                return
            except Exception:
                if attempt == tries - 1:
                    raise

    def until_answered(self, req: dict[str, Any], deadline: float) -> None:
        """Sweep once a (fake) minute until ``req`` is answered or its deadline has passed."""
        for _ in range(int(deadline // names.SWEEP_PERIOD_SECONDS) + 3):
            if self.put.answers(req):
                return
            self.clock.advance(names.SWEEP_PERIOD_SECONDS)
            self.event(self.service.on_sweep)

    @staticmethod
    def event(call: Callable[..., None], *args: Any) -> None:
        """An event delivery: one that raises is lost (the sweep rule has no retries), as
        in Lambda; the next sweep makes up for it."""
        try:
            call(*args)
        except Exception as error:
            logging.getLogger(__name__).info("event delivery failed: %s", error)


def outcome_from(answer: dict[str, Any]) -> Outcome:
    """SUCCESS is ready; FAILED is timeout or never, told apart by the resource's reason."""
    if answer["Status"] == "SUCCESS":
        return Outcome(READY, digest=answer["Data"][names.ATTR_IMAGE_DIGEST])
    reason = answer["Reason"]
    kind = TIMEOUT if reason.startswith("timed out") else NEVER
    return Outcome(kind, detail=reason)


def create_and_judge(
    ecr: Any,
    proxy: FaultProxy,
    provider: Provider,
    *,
    scenario: str,
    expected: str,
    repository: str = "app",
    tag: str = "v1",
    create_repository: bool = True,
    push_before: bool = True,
    push_after_first_sweep: bool = False,
    timeout_seconds: int = 300,
    read_timeout: float = 2.0,
) -> tuple[dict[str, Any], Judgement]:
    if create_repository:
        ecr.create_repository(repositoryName=repository)
    manifest = single_manifest(f"handler-{scenario}")
    pushed = push_before or push_after_first_sweep
    if push_before:
        push(ecr, repository, manifest, tag=tag)
    req = request(RepositoryName=repository, ImageTag=tag, TimeoutSeconds=str(timeout_seconds))
    provider.deliver(req)
    if push_after_first_sweep:
        provider.clock.advance(names.SWEEP_PERIOD_SECONDS)
        provider.event(provider.service.on_sweep)
        push(ecr, repository, manifest, tag=tag)
        provider.event(provider.service.on_push, push_event(repository, digest_of(manifest), tag))
    provider.until_answered(req, timeout_seconds)
    answer = provider.put.one(req)
    verdict = judge(
        scenario,
        expected,
        outcome_from(answer),
        proxy=proxy,
        true_digest=digest_of(manifest) if pushed else None,
        held=held_digest(ecr, repository, tag),
        read_timeout=read_timeout,
        surface="custom resource",
    )
    for _url, text in provider.put.calls:
        assert len(text.encode()) <= names.CLOUDFORMATION_RESPONSE_MAX_BYTES
    return answer, verdict


def test_create_rides_out_a_throttling_burst_and_returns_the_true_digest(
    server_ecr: Any, moto_server_url: str, proxies: Callable[[Plan], FaultProxy]
) -> None:
    proxy = proxies(Cycle([T, T, OK]))
    provider = Provider(moto_server_url, proxy)
    answer, verdict = create_and_judge(
        server_ecr, proxy, provider, scenario="cr-throttle", expected=READY
    )
    assert verdict.correct, verdict.explain()
    assert answer["Data"][names.ATTR_IMAGE_URI].endswith(f"/app@{verdict.outcome.digest}")
    assert verdict.faults["throttle"] >= 2


def test_a_push_seen_through_5xx_and_resets_is_answered_once(
    server_ecr: Any, moto_server_url: str, proxies: Callable[[Plan], FaultProxy]
) -> None:
    proxy = proxies(Cycle([E503, RESET, OK]))
    provider = Provider(moto_server_url, proxy, read_timeout=15)
    _answer, verdict = create_and_judge(
        server_ecr,
        proxy,
        provider,
        scenario="cr-5xx",
        expected=READY,
        push_before=False,
        push_after_first_sweep=True,
        read_timeout=15,
    )
    assert verdict.correct, verdict.explain()
    assert verdict.faults["503"] >= 1


def test_absent_image_under_faults_fails_on_the_resources_own_deadline(
    server_ecr: Any, moto_server_url: str, proxies: Callable[[Plan], FaultProxy]
) -> None:
    proxy = proxies(Cycle([T, OK, E503]))
    provider = Provider(moto_server_url, proxy)
    answer, verdict = create_and_judge(
        server_ecr,
        proxy,
        provider,
        scenario="cr-timeout",
        expected=TIMEOUT,
        push_before=False,
        timeout_seconds=120,
    )
    assert verdict.correct, verdict.explain()
    assert answer["Reason"].startswith("timed out after 120.0 s waiting for image app:v1")
    assert answer["PhysicalResourceId"] == names.CREATE_FAILED_PHYSICAL_ID


def test_missing_repository_under_faults_fails_at_once(
    server_ecr: Any, moto_server_url: str, proxies: Callable[[Plan], FaultProxy]
) -> None:
    proxy = proxies(Cycle([E503, T, OK]))
    provider = Provider(moto_server_url, proxy)
    answer, verdict = create_and_judge(
        server_ecr,
        proxy,
        provider,
        scenario="cr-never",
        expected=NEVER,
        create_repository=False,
        push_before=False,
    )
    assert verdict.correct, verdict.explain()
    assert "repository missing" in answer["Reason"]
    assert provider.clock.elapsed == 0  # answered by the request itself


def test_throttled_dynamodb_still_gives_one_answer_per_request(
    server_ecr: Any, moto_server_url: str, proxies: Callable[[Plan], FaultProxy]
) -> None:
    """Every table call is throttled once, then passes (botocore retries it)."""
    ecr_proxy = proxies(Cycle([OK]))
    table_proxy = proxies(Cycle([T, OK]))
    provider = Provider(moto_server_url, ecr_proxy, table_proxy)
    server_ecr.create_repository(repositoryName="app")
    requests = [request(RepositoryName="app", ImageTag="v1") for _ in range(2)]
    for req in requests:
        provider.deliver(req)
    assert provider.put.calls == []
    digest = push(server_ecr, "app", single_manifest("ddb"), "v1")
    event = push_event("app", digest, "v1")
    provider.service.on_push(event)
    provider.service.on_push(event)
    provider.clock.advance(names.SWEEP_PERIOD_SECONDS)
    provider.service.on_sweep()
    for req in requests:
        assert provider.put.one(req)["Data"][names.ATTR_IMAGE_DIGEST] == digest
    assert table_proxy.counts()["throttle"] >= 10


def test_the_entry_point_with_dynamodb_and_ecr_throttled_answers_once(
    server_ecr: Any,
    moto_server_url: str,
    proxies: Callable[[Plan], FaultProxy],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """handler() with its own clients (made from the environment) behind the proxies."""
    table_proxy = proxies(Cycle([T, OK]))
    ecr_proxy = proxies(Cycle([T, OK]))
    provider = ServerProvider(moto_server_url, monkeypatch)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", table_proxy.url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_ECR", ecr_proxy.url)
    server_ecr.create_repository(repositoryName="app")
    req = provider.request(RepositoryName="app", ImageTag="v1")
    provider(req)
    assert provider.answer(req) is None
    digest = push(server_ecr, "app", single_manifest("entry"), "v1")
    provider(push_event("app", digest, "v1"))
    provider(push_event("app", digest, "v1"))
    answer = provider.answer(req)
    assert answer is not None
    assert answer["Data"][names.ATTR_IMAGE_DIGEST] == digest
    assert table_proxy.counts()["throttle"] >= 3
    assert ecr_proxy.counts()["throttle"] >= 1
    provider(sweep_event())
    assert provider.rule_state() == "DISABLED"


@pytest.mark.parametrize("ecr_state", ["dropping everything", "endpoint closed"])
def test_delete_answers_at_once_whatever_ecr_is_doing(
    server_ecr: Any,
    moto_server_url: str,
    caplog: pytest.LogCaptureFixture,
    ecr_state: str,
) -> None:
    proxy = FaultProxy(moto_server_url, drop_all).start()
    if ecr_state == "endpoint closed":
        proxy.stop()
    caplog.set_level(logging.INFO)
    try:
        provider = Provider(moto_server_url, proxy)
        req = request("Delete", RepositoryName="app", ImageTag="v1", physical_id="default/app:v1")
        started = time.monotonic()
        provider.deliver(req)
        seconds = time.monotonic() - started
    finally:
        proxy.stop()
    answer = provider.put.one(req)
    record("delete", scenario=f"delete, {ecr_state}", status=answer["Status"], seconds=seconds)
    assert answer["Status"] == "SUCCESS"
    assert answer["PhysicalResourceId"] == "default/app:v1"
    assert proxy.snapshot() == []  # Delete asks nothing of ECR


SOAK_WEIGHTS = {
    Fault.THROTTLE: 0.3,
    Fault.ERROR_500: 0.1,
    Fault.ERROR_503: 0.1,
    Fault.DROP: 0.08,
    Fault.RESET: 0.08,
}
TABLE_WEIGHTS = {Fault.THROTTLE: 0.15, Fault.ERROR_500: 0.05}


def soak_case(ecr: Any, upstream: str, number: int) -> bool:
    """One seeded Create: an image there, pushed during the faults, absent, or no repository;
    ECR and the table both faulty."""
    rng = random.Random(10_000 + number)
    kind = rng.choice([READY, READY, TIMEOUT, NEVER])
    ecr_plan = SeededRate(seed=number, weights=SOAK_WEIGHTS, end=rng.uniform(0.5, 1.5))
    table_plan = SeededRate(seed=number + 1, weights=TABLE_WEIGHTS)
    with FaultProxy(upstream, ecr_plan) as proxy, FaultProxy(upstream, table_plan) as table:
        late = kind == READY and rng.random() < 0.5
        provider = Provider(upstream, proxy, table, suffix=f"-soak-{number}", read_timeout=1.0)
        _answer, verdict = create_and_judge(
            ecr,
            proxy,
            provider,
            scenario=f"cr-soak-{number}",
            expected=kind,
            repository=f"cr-soak-{number}",
            create_repository=kind != NEVER,
            push_before=kind == READY and not late,
            push_after_first_sweep=late,
            timeout_seconds=180,
            read_timeout=1.0,
        )
    return verdict.correct


@pytest.mark.slow
def test_custom_resource_fault_soak(server_ecr: Any, moto_server_url: str) -> None:
    cases = 20 * scale()
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda n: soak_case(server_ecr, moto_server_url, n), range(cases)))
    assert all(results), f"{results.count(False)} of {cases} ended wrongly"
