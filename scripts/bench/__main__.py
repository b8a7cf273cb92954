"""``make bench``: every design side by side on the same seeded pushes; writes docs/.

``python -m scripts.bench [--quick] [--out DIR] [--seed N]``. Scale (synth), the original's
look at the local ECR, then the event design's runs (image already there, standing, push ->
SUCCESS with events delivered and lost, cost per wait, 200 waits under throttling), then
benchmarks.json, the two plots and benchmarks.md. ``--quick``: a small run for the tests.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from . import (
    acceptance,
    costs,
    event_design,
    original,
    plots,
    prices,
    provider_design,
    report,
    runs,
    scale,
)
from .support import MotoPool, fake_aws_environment, percentiles, push, say

ROOT = Path(__file__).resolve().parent.parent.parent
SEED = 20260101


def _environment() -> None:
    os.environ.update(fake_aws_environment())
    for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_ECR", "AWS_SESSION_TOKEN"):
        os.environ.pop(key, None)


def _original_look(endpoint: str) -> float:
    import boto3

    ecr = boto3.Session(region_name="us-east-1").client("ecr", endpoint_url=endpoint)
    ecr.create_repository(repositoryName="bench/original")
    push(ecr, "bench/original", "v1")
    return original.look_seconds(ecr, "bench/original")


def _latency(figures: dict[str, Any]) -> None:
    """Push -> SUCCESS per design, from the runs, the model and the record."""
    look = figures["original_look_seconds"]
    got = figures["runs"]
    ours = [r["latency"] for r in got["latency delivered"] if r["status"] == "SUCCESS"]
    lost = [r["latency"] for r in got["latency lost"] if r["status"] == "SUCCESS"]
    model = [original.latency(p, look) for p in figures["pushes"]]
    samples = {
        "original": [v for v in model if v is not None],
        "event delivered (our part)": ours,
        "event delivered, with the cited delay": [v + prices.EVENT_DELAY_SECONDS for v in ours],
        "event lost": lost,
    }
    figures["latency_samples"] = samples
    figures["latency"] = {key: percentiles(values) for key, values in samples.items()}
    figures["latency"]["provider"] = provider_design.latency(provider_design.record())
    bad = [
        r
        for kind in ("latency delivered", "latency lost")
        for r in got[kind]
        if r["status"] != "SUCCESS" or not r["digest_ok"]
    ]
    figures["latency_failures"] = len(bad)
    for key, p in figures["latency"].items():
        say(f"  {key:<40} p50 {p.get('p50')} s, p90 {p.get('p90')} s, p99 {p.get('p99')} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a small run (for the tests)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="output folder")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument(
        "--render",
        action="store_true",
        help="measure nothing: check the acceptance and write benchmarks.md again from the "
        "figures in benchmarks.json",
    )
    args = parser.parse_args(argv)
    if args.render:
        path = args.out / "benchmarks.json"
        saved = json.loads(path.read_text())
        saved["acceptance"] = acceptance.check(saved)
        path.write_text(json.dumps(saved, indent=1, default=str) + "\n")
        (args.out / "benchmarks.md").write_text(report.render(saved))
        return 0
    quick: bool = args.quick
    _environment()
    began = time.monotonic()
    samples, window = (6, 150.0) if quick else (100, 150.0)
    cost_waits = [60.0, 120.0] if quick else [60.0, 300.0, 900.0, 1800.0, runs.LONGEST_WAIT]
    figures: dict[str, Any] = {
        "quick": quick,
        "seed": args.seed,
        "scale": runs.SCALE,
        "samples": samples,
        "window_seconds": window,
        "timeout_seconds": runs.TIMEOUT,
        "longest_wait": runs.LONGEST_WAIT,
        "prices": prices.table(),
        "price_sources": prices.SOURCES,
        "event_delay_source": prices.EVENT_DELAY_SOURCE,
        "provider": provider_design.summary(provider_design.record()),
    }
    say("Scale: synth")
    figures["synth"] = scale.synth([1] if quick else [1, 50, 200])
    workers = 4 if quick else 6
    throttled = 4 if quick else 200
    # Every stack the event design's runs deploy, synthesized once (one cdk.out).
    event_design.prepare([(1, runs.TIMEOUT), (throttled, scale.THROTTLED_TIMEOUT)])
    servers = MotoPool(workers)
    try:
        say(f"Local AWS: {workers} moto servers, one run on each at a time")
        with servers.take() as url:
            figures["original_look_seconds"] = _original_look(url)
        figures["pushes"] = runs.pushes(args.seed, samples, window)
        say("Image already there")
        figures["already_there"] = runs.already_there(servers, 3 if quick else 10)
        say("Standing: a provider with nothing pending")
        figures["standing"] = runs.standing(servers, 3 if quick else 10)
        say(f"Push -> SUCCESS and cost per wait: {samples} pushes in [0, {window:.0f}] s")
        figures["runs"] = runs.measure_all(
            servers, figures["pushes"], cost_waits, workers, args.seed
        )
        say("Scale: pending waits ended by pushes under throttling")
        figures["throttled"] = scale.throttled_waits(
            servers,
            waits=throttled,
            throttle=0.4,
            seed=args.seed,
            scale=0.02 if quick else 0.05,
        )
    finally:
        servers.stop()
    _latency(figures)
    figures["costs"] = costs.table(figures)
    figures["standing_month"] = costs.standing_month(figures["standing"])
    figures["acceptance"] = acceptance.check(figures)
    minutes = list(range(0, 60))
    curves = {
        design: (minutes, costs.curve(figures, design, minutes))
        for design in ("original", "provider", "event delivered", "event lost")
    }
    figures["run_seconds"] = round(time.monotonic() - began, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    plots.latency(figures, args.out)
    plots.cost(figures, curves, args.out)
    (args.out / "benchmarks.json").write_text(json.dumps(figures, indent=1, default=str) + "\n")
    (args.out / "benchmarks.md").write_text(report.render(figures))
    for name, verdict in figures["acceptance"].items():
        result = {True: "met", False: "NOT MET", None: "not measured"}[verdict["met"]]
        say(f"  {result:>12}  {name}: {verdict['figure']}")
    say(f"Wrote {args.out}/benchmarks.md, .json and two PNGs in {figures['run_seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
