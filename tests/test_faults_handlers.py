"""The custom-resource handlers, run as the Provider framework runs them, through the proxy.

Real time, a short query interval. Each scenario asserts what CloudFormation would receive
(SUCCESS with the true digest, or FAILED with the resource's own reason before the
framework's bare "Operation timed out"), the invariants (no false ready, no false timeout),
and that Delete completes at once whatever ECR is doing.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from ecr_image_waiter import names
from ecr_image_waiter.custom_resource.properties import Settings
from ecr_image_waiter.custom_resource.resource import ImageWaiterResource
from ecr_image_waiter.engine import EcrLookup
from ecr_image_waiter.local.framework import (
    TIMEOUT_REASON,
    ProviderResult,
    make_request,
    run_custom_resource,
)
from tests.faultproxy import ERROR_503 as E503
from tests.faultproxy import (
    NEVER,
    READY,
    RESET,
    TIMEOUT,
    Cycle,
    Fault,
    FaultProxy,
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

QUERY_INTERVAL = 0.5
TOTAL_TIMEOUT = 30.0
#: A Delete must answer at once; this bound is generous for a loaded 2-core machine.
DELETE_BOUND_SECONDS = 5.0


def resource_on(proxy: FaultProxy, *, read_timeout: float = 2.0) -> ImageWaiterResource:
    def lookup(settings: Settings) -> EcrLookup:
        client = waiter_client(proxy.url, total_attempts=3, read_timeout=read_timeout)
        return EcrLookup(client, wait_for_repository=settings.wait_for_repository)

    return ImageWaiterResource(lookup_factory=lookup, query_interval=QUERY_INTERVAL)


def provide(resource: ImageWaiterResource, request: dict[str, Any]) -> ProviderResult:
    return run_custom_resource(
        request,
        on_event=resource.on_event,
        is_complete=resource.is_complete,
        query_interval=QUERY_INTERVAL,
        total_timeout=TOTAL_TIMEOUT,
    )


def outcome_from(result: ProviderResult, elapsed: float) -> Outcome:
    """SUCCESS is ready; FAILED is timeout or never, told apart by the resource's reason."""
    if result["Status"] == "SUCCESS":
        data = result["Data"] or {}
        return Outcome(READY, digest=data.get(names.ATTR_IMAGE_DIGEST), elapsed=elapsed)
    reason = result["Reason"]
    kind = TIMEOUT if reason.startswith("Error: timed out") else NEVER
    if reason == TIMEOUT_REASON:
        kind = "framework timeout"
    return Outcome(kind, elapsed=elapsed, detail=reason.splitlines()[0])


def create_and_judge(
    ecr: Any,
    proxy: FaultProxy,
    resource: ImageWaiterResource,
    *,
    scenario: str,
    expected: str,
    repository: str = "app",
    tag: str = "v1",
    create_repository: bool = True,
    push_at: float | None = 0.0,
    timeout_seconds: int = 20,
    read_timeout: float = 2.0,
) -> tuple[ProviderResult, Any]:
    if create_repository:
        ecr.create_repository(repositoryName=repository)
    manifest = single_manifest(f"handler-{scenario}")
    timer = None
    if push_at == 0.0:
        push(ecr, repository, manifest, tag=tag)
    elif push_at is not None:
        timer = threading.Timer(push_at, push, (ecr, repository, manifest), {"tag": tag})
        timer.start()
    props = {
        names.PROP_REPOSITORY_NAME: repository,
        names.PROP_IMAGE_TAG: tag,
        names.PROP_TIMEOUT_SECONDS: str(timeout_seconds),
    }
    start = time.monotonic()
    result = provide(resource, make_request("Create", props))
    outcome = outcome_from(result, time.monotonic() - start)
    if timer is not None:
        timer.join()
    verdict = judge(
        scenario,
        expected,
        outcome,
        proxy=proxy,
        true_digest=digest_of(manifest) if push_at is not None else None,
        held=held_digest(ecr, repository, tag),
        read_timeout=read_timeout,
        surface="custom resource",
    )
    assert result["response_within_limit"], result["response_bytes"]
    return result, verdict


def test_create_rides_out_a_throttling_burst_and_returns_the_true_digest(
    server_ecr: Any, proxies: Callable[[Plan], FaultProxy]
) -> None:
    proxy = proxies(Cycle([T, T, OK], end=3.0))
    result, verdict = create_and_judge(
        server_ecr, proxy, resource_on(proxy), scenario="cr-throttle", expected=READY, push_at=1.5
    )
    assert verdict.correct, verdict.explain()
    data = result["Data"] or {}
    assert data[names.ATTR_IMAGE_URI].endswith(f"/app@{verdict.outcome.digest}")
    assert verdict.faults["throttle"] >= 2


def test_create_through_5xx_and_resets_with_the_default_client(
    server_ecr: Any, proxies: Callable[[Plan], FaultProxy], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The handler's own client (made from AWS_ENDPOINT_URL_ECR), as in Lambda."""
    proxy = proxies(Cycle([E503, RESET, OK], end=2.5))
    monkeypatch.setenv("AWS_ENDPOINT_URL_ECR", proxy.url)
    resource = ImageWaiterResource(query_interval=QUERY_INTERVAL)
    _result, verdict = create_and_judge(
        server_ecr, proxy, resource, scenario="cr-5xx", expected=READY, push_at=1.0, read_timeout=15
    )
    assert verdict.correct, verdict.explain()
    assert verdict.faults["503"] >= 1


def test_absent_image_under_faults_fails_on_the_resources_own_deadline(
    server_ecr: Any, proxies: Callable[[Plan], FaultProxy]
) -> None:
    proxy = proxies(Cycle([T, OK, E503]))
    result, verdict = create_and_judge(
        server_ecr,
        proxy,
        resource_on(proxy),
        scenario="cr-timeout",
        expected=TIMEOUT,
        push_at=None,
        timeout_seconds=3,
    )
    assert verdict.correct, verdict.explain()
    first = result["Reason"].splitlines()[0]
    assert "app:v1" in first
    assert result["Reason"] != TIMEOUT_REASON


def test_missing_repository_under_faults_fails_at_once(
    server_ecr: Any, proxies: Callable[[Plan], FaultProxy]
) -> None:
    proxy = proxies(Cycle([E503, T, OK]))
    result, verdict = create_and_judge(
        server_ecr,
        proxy,
        resource_on(proxy),
        scenario="cr-never",
        expected=NEVER,
        create_repository=False,
        push_at=None,
    )
    assert verdict.correct, verdict.explain()
    assert "repository missing" in result["Reason"]
    assert verdict.outcome.elapsed < 15.0  # not the 20 s deadline


def delete_request() -> dict[str, Any]:
    props = {names.PROP_REPOSITORY_NAME: "app", names.PROP_IMAGE_TAG: "v1"}
    return make_request("Delete", props, physical_id="default/app:v1")


@pytest.mark.parametrize("ecr_state", ["dropping everything", "endpoint closed"])
def test_delete_completes_at_once_whatever_ecr_is_doing(
    server_ecr: Any,
    moto_server_url: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    ecr_state: str,
) -> None:
    proxy = FaultProxy(moto_server_url, drop_all).start()
    if ecr_state == "endpoint closed":
        proxy.stop()
    monkeypatch.setenv("AWS_ENDPOINT_URL_ECR", proxy.url)
    caplog.set_level(logging.INFO)
    try:
        start = time.monotonic()
        result = provide(ImageWaiterResource(query_interval=QUERY_INTERVAL), delete_request())
        elapsed = time.monotonic() - start
    finally:
        proxy.stop()
    record(
        "delete",
        scenario=f"delete, {ecr_state}",
        seconds=round(elapsed, 4),
        status=result["Status"],
    )
    assert result["Status"] == "SUCCESS"
    assert result["PhysicalResourceId"] == "default/app:v1"
    assert elapsed < DELETE_BOUND_SECONDS
    assert proxy.snapshot() == []  # Delete asks nothing of ECR


SOAK_WEIGHTS = {
    Fault.THROTTLE: 0.3,
    Fault.ERROR_500: 0.1,
    Fault.ERROR_503: 0.1,
    Fault.DROP: 0.08,
    Fault.RESET: 0.08,
}


def soak_case(ecr: Any, upstream: str, number: int) -> bool:
    """One seeded Create: an image there, pushed during the faults, absent, or no repository."""
    rng = random.Random(10_000 + number)
    kind = rng.choice([READY, READY, TIMEOUT, NEVER])
    plan = SeededRate(seed=number, weights=SOAK_WEIGHTS, end=rng.uniform(0.5, 1.5))
    with FaultProxy(upstream, plan) as proxy:
        _result, verdict = create_and_judge(
            ecr,
            proxy,
            resource_on(proxy, read_timeout=1.0),
            scenario=f"cr-soak-{number}",
            expected=kind,
            repository=f"cr-soak-{number}",
            create_repository=kind != NEVER,
            push_at=None if kind != READY else rng.choice([0.0, rng.uniform(0.1, 1.0)]),
            timeout_seconds=3,
            read_timeout=1.0,
        )
    return verdict.correct


@pytest.mark.slow
def test_custom_resource_fault_soak(server_ecr: Any, moto_server_url: str) -> None:
    cases = 20 * scale()
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda n: soak_case(server_ecr, moto_server_url, n), range(cases)))
    assert all(results), f"{results.count(False)} of {cases} ended wrongly"
