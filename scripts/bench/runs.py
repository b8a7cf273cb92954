"""The event design's runs: push -> SUCCESS, cost per wait, standing cost, image already there.

Every run is one :class:`.event_design.Plan` (one provider deployed from ``cdk.out`` into a
moto server of its own, reset) so its counts belong to one wait; plans run side by side, one
per server of a :class:`.support.MotoPool`. The pushes are the seeded moments every design
is measured on (:func:`pushes`).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from ecr_image_waiter import names

from . import event_design
from .event_design import Measured, Plan
from .support import MotoPool, say

#: Wall seconds per virtual second for the event design's runs: the sweep's 60 s take 1.2 s.
#: The function's own time is not scaled (an invocation of ~0.1 s counts ~5 virtual seconds
#: towards its deadlines and next looks), so the scale cannot be much smaller.
SCALE = 0.02
#: Every wait of the runs accepts the longest deadline, so a 30- or 58.5-minute wait can end.
TIMEOUT = names.MAX_TIMEOUT_SECONDS
#: The longest wait that can still succeed: pushed 10 s before the longest deadline.
LONGEST_WAIT = float(names.MAX_TIMEOUT_SECONDS - 10)


def pushes(seed: int, samples: int, window: float) -> list[float]:
    """The seeded push moments (seconds after the Create), the same for every design."""
    rng = random.Random(seed)
    return [rng.uniform(0.0, window) for _ in range(samples)]


def run(servers: MotoPool, plan: Plan) -> Measured:
    """One plan on a server of the pool, which it has to itself meanwhile."""
    with servers.take() as endpoint:
        return event_design.measure(plan, endpoint)


def _pool(jobs: list[Callable[[], Any]], workers: int) -> list[Any]:
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(job) for job in jobs]
        return [future.result() for future in futures]


def summary(measured: Measured) -> dict[str, Any]:
    """One run's figures for benchmarks.json."""
    wait = measured.waits[0] if measured.waits else None
    return {
        "status": wait.status if wait else None,
        "digest_ok": wait.digest_ok if wait else None,
        "latency": wait.latency if wait else None,
        "answered_by": wait.answered_by if wait else None,
        "sweeps": measured.counts.invocations.get("sweep", 0),
        "rule_enabled_at_end": measured.rule_enabled_at_end,
        "wall_seconds": measured.wall_seconds,
        **measured.counts.to_dict(),
    }


def measure_all(
    servers: MotoPool, push_moments: list[float], cost_waits: list[float], workers: int, seed: int
) -> dict[str, Any]:
    """Latency runs (events delivered, events lost) on ``push_moments`` and cost runs at
    ``cost_waits`` (the long ones first, so they do not stretch the tail)."""
    jobs: list[Callable[[], Any]] = []
    keys: list[tuple[str, float, Plan]] = []
    phases = random.Random(seed + 1)
    for wait in sorted(cost_waits, reverse=True):
        phase = phases.uniform(1.0, 60.0)
        for events in (True, False):
            if not events and wait > TIMEOUT - 3 * names.SWEEP_PERIOD_SECONDS:
                continue  # the sweep's next look may come after the deadline
            plan = Plan((wait,), events, SCALE, TIMEOUT, seed=seed, sweep_phase=phase)
            jobs.append(partial(run, servers, plan))
            keys.append(("cost delivered" if events else "cost lost", wait, plan))
    for moment in push_moments:
        phase = phases.uniform(1.0, 60.0)
        for events in (True, False):
            plan = Plan((moment,), events, SCALE, TIMEOUT, sweep_phase=phase)
            jobs.append(partial(run, servers, plan))
            keys.append(("latency delivered" if events else "latency lost", moment, plan))
    say(f"  {len(jobs)} runs, {workers} at a time, scale {SCALE}")
    results = _pool(jobs, workers)
    out: dict[str, Any] = {
        "latency delivered": [],
        "latency lost": [],
        "cost delivered": {},
        "cost lost": {},
    }
    for (kind, at, plan), measured in zip(keys, results, strict=True):
        figures = summary(measured)
        figures["push_at"] = at
        figures["sweep_phase"] = round(plan.sweep_phase, 3)
        if kind.startswith("latency"):
            out[kind].append(figures)
        else:
            out[kind][str(int(at))] = figures
    return out


def already_there(servers: MotoPool, runs: int) -> dict[str, Any]:
    """Create when the image is already in ECR (every deploy after the first)."""
    plan = Plan((None,), scale=SCALE, timeout_seconds=TIMEOUT)
    measured = _pool([partial(run, servers, plan) for _ in range(runs)], len(servers.servers))
    last = summary(measured[-1])
    last["runs"] = runs
    last["all_succeeded"] = all(m.waits[0].status == "SUCCESS" for m in measured)
    last["invocations_each"] = sorted({m.counts.invocation_count for m in measured})
    say(
        f"  image already there: {last['invocations']} invocations, ECR "
        f"{ {k: v for k, v in last['calls'].items() if k.startswith('ecr.')} }, "
        f"${last['dollars']['total']:.8f}"
    )
    return last


def standing(servers: MotoPool, minutes: int) -> dict[str, Any]:
    """A provider just deployed (its rule enabled), no wait, for ``minutes`` minutes."""
    plan = Plan(
        (), scale=SCALE, timeout_seconds=TIMEOUT, run_for=minutes * 60.0, rule_enabled_at_start=True
    )
    measured = run(servers, plan)
    figures = summary(measured)
    figures["minutes"] = minutes
    figures["invocations_after_first_sweep"] = measured.counts.invocation_count - 1
    figures["table_bytes_left"] = measured.table_bytes
    say(
        f"  standing: {measured.counts.invocation_count} invocation(s) in {minutes} min with "
        f"nothing pending; rule enabled at the end: {measured.rule_enabled_at_end}"
    )
    return figures
