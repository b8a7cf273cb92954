"""The wait engine through a fault-injecting proxy in front of the local ECR, in real time.

Each scenario asserts its outcome (ready with the true digest, timeout, or never) and the
invariants: no false ready, no false timeout. Faults stop well before the deadline whenever
the expected outcome depends on ECR answering, so every expected outcome is certain.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from ecr_image_waiter.engine import (
    Attempt,
    EcrLookup,
    WaitPolicy,
    parse_reference,
    wait_until_ready,
)
from tests.faultproxy import (
    DROP,
    NEVER,
    READY,
    RESET,
    TIMEOUT,
    Cycle,
    Decision,
    Fault,
    FaultProxy,
    Judgement,
    Plan,
    SeededRate,
    held_digest,
    judge,
    outcome_of,
    pass_all,
    scale,
    waiter_client,
)
from tests.faultproxy import ERROR_500 as E500
from tests.faultproxy import ERROR_503 as E503
from tests.faultproxy import PASS as OK
from tests.faultproxy import THROTTLE as T
from tests.images import digest_of, push, single_manifest


def run_engine(
    ecr: Any,
    proxy: FaultProxy,
    *,
    scenario: str,
    expected: str,
    repository: str = "app",
    tag: str = "v1",
    create_repository: bool = True,
    push_at: float | None = 0.0,
    timeout: float = 20.0,
    interval: float = 0.2,
    total_attempts: int = 3,
    read_timeout: float = 2.0,
    lookup: EcrLookup | None = None,
    on_attempt: Callable[[Attempt], None] | None = None,
    manifest: str | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Judgement:
    """Wait for ``repository:tag`` through ``proxy``; push the image ``push_at`` s in.

    ``manifest`` is the image that will be there (pushed here at ``push_at``, or by the
    caller when ``push_at`` is None); without one and with ``push_at`` None, no image comes.
    """
    if create_repository:
        ecr.create_repository(repositoryName=repository)
    coming = manifest is not None or push_at is not None
    manifest = manifest or single_manifest(f"{scenario}-{repository}-{tag}")
    timer: threading.Timer | None = None
    if push_at == 0.0:
        push(ecr, repository, manifest, tag=tag)
    elif push_at is not None:
        timer = threading.Timer(push_at, push, (ecr, repository, manifest), {"tag": tag})
        timer.start()
    looker = lookup or EcrLookup(
        waiter_client(proxy.url, total_attempts=total_attempts, read_timeout=read_timeout)
    )
    ref = parse_reference(f"{repository}:{tag}")

    def wait() -> str:
        result = wait_until_ready(
            lambda: looker.look(ref),
            WaitPolicy(timeout, interval),
            ref,
            clock=clock,
            sleep=sleep,
            on_attempt=on_attempt,
        )
        return result.image.digest

    outcome = outcome_of(wait)
    if timer is not None:
        timer.join()
    return judge(
        scenario,
        expected,
        outcome,
        proxy=proxy,
        true_digest=digest_of(manifest) if coming else None,
        held=held_digest(ecr, repository, tag),
        read_timeout=read_timeout,
    )


def burst_share(proxy: FaultProxy, until: float) -> float:
    """The share of requests answered with a fault in the first ``until`` seconds."""
    early = [e for e in proxy.snapshot() if e.elapsed < until]
    assert early, "no request reached the proxy during the burst"
    return sum(e.fault is not Fault.PASS for e in early) / len(early)


def test_throttling_burst_with_image_pushed_midway_ends_ready(
    server_ecr: Any, proxies: Callable[[Plan], FaultProxy]
) -> None:
    proxy = proxies(Cycle([T, T, OK], end=3.0))
    verdict = run_engine(server_ecr, proxy, scenario="throttle-burst", expected=READY, push_at=1.5)
    assert verdict.correct, verdict.explain()
    assert burst_share(proxy, 3.0) >= 0.5
    assert verdict.faults["throttle"] >= 2


def test_seeded_throttling_at_high_rate_ends_ready(
    server_ecr: Any, proxies: Callable[[Plan], FaultProxy]
) -> None:
    proxy = proxies(SeededRate(seed=7, weights={Fault.THROTTLE: 0.8}, end=3.0))
    verdict = run_engine(server_ecr, proxy, scenario="throttle-rate", expected=READY, push_at=1.0)
    assert verdict.correct, verdict.explain()
    assert burst_share(proxy, 3.0) >= 0.5


def test_5xx_storm_ends_ready(server_ecr: Any, proxies: Callable[[Plan], FaultProxy]) -> None:
    proxy = proxies(Cycle([E500, E503, E500, OK], end=3.0))
    verdict = run_engine(server_ecr, proxy, scenario="5xx-storm", expected=READY, push_at=1.0)
    assert verdict.correct, verdict.explain()
    assert verdict.faults["500"] >= 2
    assert verdict.faults["503"] >= 1


def test_connection_resets_and_drops_end_ready(
    server_ecr: Any, proxies: Callable[[Plan], FaultProxy]
) -> None:
    proxy = proxies(Cycle([RESET, DROP, OK], end=3.0))
    verdict = run_engine(server_ecr, proxy, scenario="resets", expected=READY, push_at=1.0)
    assert verdict.correct, verdict.explain()
    assert verdict.faults["reset"] >= 2
    assert verdict.faults["drop"] >= 2


def test_answers_slower_than_the_interval_end_ready(
    server_ecr: Any, proxies: Callable[[Plan], FaultProxy]
) -> None:
    """Every answer takes 0.5 s, longer than the 0.2 s interval but within the read timeout."""
    proxy = proxies(Cycle([Decision(Fault.DELAY, 0.5)]))
    verdict = run_engine(
        server_ecr, proxy, scenario="slow-answers", expected=READY, push_at=1.2, read_timeout=2.0
    )
    assert verdict.correct, verdict.explain()
    assert verdict.faults["delay"] >= 2


def test_answers_slower_than_the_read_timeout_are_not_yet(
    server_ecr: Any, proxies: Callable[[Plan], FaultProxy]
) -> None:
    """Answers held past the client's read timeout count as "not yet", never as an answer."""
    proxy = proxies(Cycle([Decision(Fault.DELAY, 1.0)], end=2.5))
    verdict = run_engine(
        server_ecr,
        proxy,
        scenario="slower-than-read-timeout",
        expected=READY,
        push_at=0.0,
        read_timeout=0.4,
        total_attempts=2,
    )
    assert verdict.correct, verdict.explain()
    late = [e for e in proxy.snapshot() if e.fault is Fault.DELAY]
    assert len(late) >= 2
    assert verdict.outcome.elapsed >= 2.0  # the image was there from the start, but unseen


def test_all_fault_kinds_at_random_with_image_pushed_midway(
    server_ecr: Any, proxies: Callable[[Plan], FaultProxy]
) -> None:
    weights = {
        Fault.THROTTLE: 0.25,
        Fault.ERROR_500: 0.1,
        Fault.ERROR_503: 0.1,
        Fault.DROP: 0.1,
        Fault.RESET: 0.1,
        Fault.DELAY: 0.05,
    }
    proxy = proxies(SeededRate(seed=11, weights=weights, end=4.0, delay=0.6))
    verdict = run_engine(
        server_ecr, proxy, scenario="mixed-burst", expected=READY, push_at=2.0, read_timeout=0.4
    )
    assert verdict.correct, verdict.explain()
    assert burst_share(proxy, 4.0) >= 0.5


def test_missing_repository_under_throttling_is_never(
    server_ecr: Any, proxies: Callable[[Plan], FaultProxy]
) -> None:
    proxy = proxies(Cycle([T, T, OK]))
    verdict = run_engine(
        server_ecr,
        proxy,
        scenario="never-under-throttling",
        expected=NEVER,
        create_repository=False,
        push_at=None,
    )
    assert verdict.correct, verdict.explain()
    assert verdict.outcome.error is not None
    assert getattr(verdict.outcome.error, "last_code", None) == "RepositoryNotFoundException"


def test_absent_image_under_faults_times_out_at_the_deadline(
    server_ecr: Any, proxies: Callable[[Plan], FaultProxy]
) -> None:
    proxy = proxies(Cycle([T, E503, OK, RESET]))
    verdict = run_engine(
        server_ecr,
        proxy,
        scenario="timeout-under-faults",
        expected=TIMEOUT,
        push_at=None,
        timeout=2.0,
    )
    assert verdict.correct, verdict.explain()
    assert verdict.outcome.elapsed >= 2.0
    assert verdict.outcome.elapsed < 30.0  # bounded: botocore's retries add seconds, not minutes


def test_image_appearing_during_the_last_interval_is_found(
    server_ecr: Any, proxies: Callable[[Plan], FaultProxy]
) -> None:
    """The image arrives after the last miss, before the final look at the deadline.

    The wait's clock moves by its pauses only (each pause also sleeps for real, so the
    proxy's fault schedule plays out): looks at 0, 1, 2 and 3 s on it whatever each look
    costs on a busy machine, so the pause from 2 to 3 s is always the last one. On the wall
    clock, a slow look could end past the deadline and leave no last pause to push in.
    """
    proxy = proxies(Cycle([T, OK], end=1.0))
    server_ecr.create_repository(repositoryName="late")
    manifest = single_manifest("last-interval")
    timeout, interval = 3.0, 1.0
    pushed: list[float] = []
    paused = [0.0]

    def pause(seconds: float) -> None:
        time.sleep(seconds)
        paused[0] += seconds

    def on_attempt(attempt: Attempt) -> None:
        # The last pause is the one that ends at the deadline: push at its start.
        last = attempt.next_check_in is not None and (
            attempt.elapsed + attempt.next_check_in >= timeout - 1e-6
        )
        if last and not pushed:
            push(server_ecr, "late", manifest, tag="v1")
            pushed.append(attempt.elapsed)

    verdict = run_engine(
        server_ecr,
        proxy,
        scenario="last-interval",
        expected=READY,
        repository="late",
        create_repository=False,
        push_at=None,
        timeout=timeout,
        interval=interval,
        on_attempt=on_attempt,
        manifest=manifest,
        clock=lambda: paused[0],
        sleep=pause,
    )
    assert pushed, "the wait never reached its last interval"
    assert verdict.correct, verdict.explain()
    assert verdict.outcome.digest == digest_of(manifest)
    assert pushed == [timeout - interval]  # it really was the last interval


def test_default_client_from_the_environment_rides_out_throttling(
    server_ecr: Any, proxies: Callable[[Plan], FaultProxy], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine's own client (make_client) reaches the proxy through AWS_ENDPOINT_URL_ECR."""
    proxy = proxies(Cycle([T, T, OK], end=2.0))
    monkeypatch.setenv("AWS_ENDPOINT_URL_ECR", proxy.url)
    verdict = run_engine(
        server_ecr,
        proxy,
        scenario="default-client",
        expected=READY,
        push_at=0.5,
        lookup=EcrLookup(),
        read_timeout=15.0,
    )
    assert verdict.correct, verdict.explain()
    assert verdict.faults["throttle"] >= 2


# --- the long run, for `make reliability` ---------------------------------------------------

SOAK_WEIGHTS = {
    Fault.THROTTLE: 0.3,
    Fault.ERROR_500: 0.1,
    Fault.ERROR_503: 0.1,
    Fault.DROP: 0.08,
    Fault.RESET: 0.08,
    Fault.DELAY: 0.04,
}


def soak_case(ecr: Any, upstream: str, number: int) -> Judgement:
    """One seeded scenario: a random outcome to aim for, faults until shortly before the end."""
    rng = random.Random(number)
    kind = rng.choice([READY, READY, READY, TIMEOUT, NEVER])
    timeout = rng.uniform(2.0, 4.0)
    fault_end = timeout * rng.uniform(0.3, 0.7)
    plan = SeededRate(seed=number, weights=SOAK_WEIGHTS, end=fault_end, delay=0.5)
    with FaultProxy(upstream, plan) as proxy:
        return run_engine(
            ecr,
            proxy,
            scenario=f"soak-{number}",
            expected=kind,
            repository=f"soak-{number}",
            create_repository=kind != NEVER,
            push_at=None if kind != READY else rng.choice([0.0, rng.uniform(0.1, fault_end)]),
            timeout=timeout,
            interval=0.05,
            total_attempts=rng.choice([1, 1, 2]),
            read_timeout=0.3,
        )


@pytest.mark.slow
def test_fault_soak(server_ecr: Any, moto_server_url: str) -> None:
    cases = 120 * scale()
    with ThreadPoolExecutor(max_workers=8) as pool:
        verdicts = list(pool.map(lambda n: soak_case(server_ecr, moto_server_url, n), range(cases)))
    wrong = [v.explain() for v in verdicts if not v.correct]
    assert not wrong, "\n".join(wrong[:10])
    assert sum(sum(v.faults.values()) for v in verdicts) >= 5 * cases


def test_proxy_passes_everything_through_untouched(
    server_ecr: Any, proxies: Callable[[Plan], FaultProxy]
) -> None:
    """The control case: with no faults, the proxy is invisible."""
    proxy = proxies(pass_all)
    verdict = run_engine(server_ecr, proxy, scenario="control", expected=READY)
    assert verdict.correct, verdict.explain()
    assert verdict.faults == {}
