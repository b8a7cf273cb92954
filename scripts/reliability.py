"""Run the fault and generated-input suites at scale and write docs/reliability.md.

``make reliability`` runs this. It runs the suites of ``make test`` (fault scenarios,
generated bad input, invariants) plus the slow soaks, with every size multiplied by
``--scale`` (default 5), collects the figures the tests themselves record (one JSON line per
scenario or batch of generated inputs, see tests/faultproxy.py) and writes a short table.

Exit status: 0 when the suites pass and the figures meet the bar (no wrong outcome, no false
ready, no false timeout, at least 5,000 generated inputs and 1,000 injected faults), else 1.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SUITES = [
    "tests/test_faults_engine.py",
    "tests/test_faults_handlers.py",
    "tests/test_faults_cli.py",
    "tests/test_fuzz_references.py",
    "tests/test_fuzz_cli.py",
    "tests/test_fuzz_properties.py",
    "tests/test_invariants_logs.py",
    "tests/test_hostile_content.py",
    "tests/test_hostile_reason.py",
    "tests/test_config_download.py",
    "tests/test_real_manifests.py",
]
# The event-driven provider end to end, deployed from cdk.out ("event-scenario" lines).
SUITES += ["tests/test_faults_events.py"]
MIN_INPUTS = 5_000
MIN_FAULTS = 1_000
FAULT_ORDER = ["throttle", "500", "503", "drop", "reset", "delay", "custom"]


def run_suites(scale: int, log: Path) -> tuple[int, float, str]:
    env = dict(os.environ)
    env["ECR_IMAGE_WAITER_RELIABILITY_LOG"] = str(log)
    env["ECR_IMAGE_WAITER_RELIABILITY_SCALE"] = str(scale)
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-m",
        "slow or not slow",
        "--timeout",
        "900",
        *SUITES,
    ]
    start = time.monotonic()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - start
    summary = next(
        (line for line in reversed(done.stdout.splitlines()) if " in " in line and "=" in line),
        done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "no pytest output",
    )
    if done.returncode != 0:
        sys.stdout.write(done.stdout[-6000:])
        sys.stderr.write(done.stderr[-3000:])
    return done.returncode, elapsed, summary.strip("= ")


def aggregate(log: Path) -> dict[str, Any]:
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    scenarios = [x for x in lines if x["kind"] == "scenario"]
    deletes = [x for x in lines if x["kind"] == "delete"]
    fuzz = [x for x in lines if x["kind"] == "fuzz"]
    log_checks = [x for x in lines if x["kind"] == "log-check"]
    measured = {x["name"]: x for x in lines if x["kind"] == "figure"}
    faults: Counter[str] = Counter()
    by_surface: Counter[str] = Counter()
    for scenario in scenarios:
        faults.update(scenario["faults"])
        by_surface[scenario["surface"]] += 1
    inputs: Counter[str] = Counter()
    for batch in fuzz:
        inputs[batch["suite"]] += batch["tried"]
    return {
        "scenarios": len(scenarios) + len(deletes),
        "scenarios_by_surface": dict(by_surface),
        "deletes": len(deletes),
        "faults": dict(faults),
        "faults_total": sum(faults.values()),
        "inputs": dict(inputs),
        "inputs_total": sum(inputs.values()),
        "correct": sum(s["correct"] for s in scenarios)
        + sum(d["status"] == "SUCCESS" for d in deletes)
        + sum(b["correct"] for b in fuzz),
        "wrong": sum(not s["correct"] for s in scenarios)
        + sum(d["status"] != "SUCCESS" for d in deletes)
        + sum(b["wrong"] for b in fuzz),
        "false_ready": sum(s["false_ready"] for s in scenarios),
        "false_timeout": sum(s["false_timeout"] for s in scenarios),
        "longest_delete": max((d["seconds"] for d in deletes), default=None),
        "log_checks": len(log_checks),
        "log_leaks": sum(c["leaked"] for c in log_checks),
        "requests": sum(s["requests"] for s in scenarios),
        "measured": measured,
        "events": aggregate_events([x for x in lines if x["kind"] == "event-scenario"]),
    }


def aggregate_events(scenarios: list[dict[str, Any]]) -> dict[str, Any]:
    """The figures of the event-driven soak (tests/test_faults_events.py)."""
    summed: dict[str, float] = {}
    faults: Counter[str] = Counter()
    for scenario in scenarios:
        faults.update(scenario["faults"])
        for key, value in scenario.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                summed[key] = summed.get(key, 0) + value
    by_service: Counter[str] = Counter()
    for kind, count in faults.items():
        by_service[kind.split(" ", 1)[0]] += count
    return {
        **summed,
        "scenarios": len(scenarios),
        "wrong_scenarios": sum(not s["correct"] for s in scenarios),
        "faults": dict(faults),
        "faults_by_service": dict(by_service),
        "latest_past_deadline": max((s["latest_past_deadline"] for s in scenarios), default=0),
    }


def event_rows(events: dict[str, Any]) -> list[tuple[str, str]]:
    """The table rows of the event-driven soak."""
    if not events["scenarios"]:
        return [("Event-driven soak (deployed from cdk.out)", "not run")]
    get = events.get
    faults = events["faults_by_service"]
    answerable = get("requests", 0) - get("expired", 0)
    return [
        (
            "Event-driven soak: scenarios / requests",
            f"{events['scenarios']:,} / {get('requests', 0):,} (resources {get('resources', 0):,})",
        ),
        (
            "Requests answered exactly once",
            f"{get('answered_once', 0):,} of {answerable:,}"
            + (
                f" (of them {get('same_answer_again', 0):,} PUT twice with the same body)"
                if get("same_answer_again", 0)
                else ""
            ),
        ),
        ("Double answers", f"{get('double_answers', 0):,}"),
        ("Unanswered within the ServiceTimeout", f"{get('unanswered', 0):,}"),
        (
            "Answered after the ServiceTimeout: first delivery failed, deadline from the retry",
            f"{get('late_after_retry', 0):,}",
        ),
        (
            "Timeouts sent by the first sweep past the deadline, late only on the scaled clock",
            f"{get('late_by_sweep_seconds', 0):,} (botocore's real pauses count 20 times)",
        ),
        ("False ready (event-driven)", f"{get('false_ready', 0):,}"),
        ("Wrong status, id or reason (event-driven)", f"{get('wrong', 0):,}"),
        (
            "Push events lost / duplicated / reordered",
            f"{get('events_lost', 0):,} / {get('events_duplicated', 0):,} / "
            f"{get('events_reordered', 0):,} (and {get('phantom_events', 0):,} events for an "
            "image not there yet)",
        ),
        (
            "Requests delivered again / Lambda retries",
            f"{get('redelivered', 0):,} / {get('lambda_retries', 0):,} "
            f"({get('function_errors', 0):,} function errors)",
        ),
        (
            "DynamoDB / ECR / EventBridge faults",
            f"{faults.get('dynamodb', 0):,} / {faults.get('ecr', 0):,} / "
            f"{faults.get('events', 0):,} ({get('bursts', 0):,} bursts past botocore's retries)",
        ),
        (
            "ResponseURL failures recovered",
            f"{get('url_failures_recovered', 0):,} requests ({get('url_failures', 0):,} PUTs "
            "answered 500)",
        ),
        ("Expired ResponseURLs dropped", f"{get('expired_dropped', 0):,} of {get('expired', 0):,}"),
        (
            "Sweeps fired (of them raced with a push)",
            f"{get('sweeps', 0):,} ({get('race_ticks', 0):,})",
        ),
        ("Latest answer past its deadline", f"{events['latest_past_deadline']:.0f} s (limit 90 s)"),
    ]


def events_ok(events: dict[str, Any]) -> bool:
    """The event-driven soak's bar: every request answered once and truly."""
    get = events.get
    return bool(
        events["wrong_scenarios"] == 0
        and get("double_answers", 0) == 0
        and get("unanswered", 0) == 0
        and get("false_ready", 0) == 0
        and get("wrong", 0) == 0
        and get("expired_dropped", 0) == get("expired", 0)
    )


def render(figures: dict[str, Any], *, scale: int, seconds: float, summary: str, ok: bool) -> str:
    faults = figures["faults"]
    fault_text = ", ".join(f"{kind} {faults[kind]:,}" for kind in FAULT_ORDER if faults.get(kind))
    surfaces = ", ".join(f"{k} {v:,}" for k, v in sorted(figures["scenarios_by_surface"].items()))
    inputs = ", ".join(f"{k} {v:,}" for k, v in sorted(figures["inputs"].items()))
    longest = figures["longest_delete"]
    rows = [
        ("Scenarios run", f"{figures['scenarios']:,} ({surfaces}, delete {figures['deletes']})"),
        ("Requests through the fault proxy", f"{figures['requests']:,}"),
        ("Faults injected", f"{figures['faults_total']:,} ({fault_text})"),
        ("Generated inputs tried", f"{figures['inputs_total']:,} ({inputs})"),
        ("Outcomes correct / wrong", f"{figures['correct']:,} / {figures['wrong']:,}"),
        ("False ready", f"{figures['false_ready']:,}"),
        ("False timeouts", f"{figures['false_timeout']:,}"),
        ("Longest Delete", "not run" if longest is None else f"{longest * 1000:.1f} ms"),
        (
            "Log checks with a leaked ResponseURL or credential",
            f"{figures['log_leaks']:,} of {figures['log_checks']:,}",
        ),
    ]
    measured = figures["measured"]
    if "index_28000_ms" in measured:
        rows.append(
            (
                "Index of 28,000 children: parse and choose, in process",
                f"{measured['index_28000_ms']['value']:,.0f} ms (target 500 ms)",
            )
        )
    if "trickle_wait_seconds" in measured:
        figure = measured["trickle_wait_seconds"]
        rows.append(
            (
                "`wait --timeout 2` against a config server trickling its headers",
                f"{figure['value']:.2f} s (download bound {figure['bound']:g} s)",
            )
        )
    rows += event_rows(figures["events"])
    table = "\n".join(f"| {name} | {value} |" for name, value in rows)
    verdict = "meets" if ok else "does NOT meet"
    return f"""# Reliability report

Generated by `make reliability` (`scripts/reliability.py --scale {scale}`); do not edit by
hand. The figures are counted by the tests themselves while they run.

| Figure | Value |
| --- | --- |
{table}

Run time: {seconds:.0f} s on this machine. pytest: {summary}.

This run {verdict} the bar: no wrong outcome, no false ready, no false timeout, at least
{MIN_INPUTS:,} generated inputs and at least {MIN_FAULTS:,} injected faults; and in the
event-driven soak no double answer and no request left unanswered.

## What was run

- **Fault scenarios** (`tests/test_faults_*.py`): the wait engine, the custom resource's
  event-driven function (its handler, in process) and the CLI (as a process) reach the
  local ECR through a proxy (`tests/faultproxy.py`) that answers with
  ThrottlingException (HTTP 400, AWS JSON 1.1 body), 500 InternalFailure, 503
  ServiceUnavailable, drops or resets the connection, or holds the answer back. botocore's
  standard retry mode handles what it can; what outlives it is "not yet" for the engine.
  Each scenario has an expected outcome (ready / timeout / never) fixed by construction:
  faults stop before the deadline whenever the outcome depends on ECR answering.
- **Event-driven soak** (`tests/test_faults_events.py`): the provider deployed from the
  example's `cdk.out` on the local AWS side (`ecr_image_waiter.local`: the function run from
  its asset by local Lambda workers with async retries, its DynamoDB table and EventBridge
  rules in moto, CloudFormation's requests with presigned S3 ResponseURLs, the sweep fired
  while its rule is enabled, on a Lambda clock 20 times faster). Seeded stacks of waiters go
  through Create, Update and Delete with images pushed before, during (as image indexes too),
  into a repository created later, racing a sweep delivered twice, or never; push events are
  lost, duplicated and reordered, requests delivered again, the function's DynamoDB, ECR and
  EventBridge calls throttled, failed and dropped (in bursts that outlive botocore's retries
  and end in Lambda's retries), ResponseURLs fail once before they take the answer and one
  per scenario has expired (403). Every request must be answered exactly once (S3 object
  versions of its ResponseURL), before its ServiceTimeout (deadline + 90 s), with the right
  status, physical id and reason, the digest being the sha256 of the manifest pushed for it
  and what ECR holds; the expired URL gets nothing, its refusal is logged without the URL.
- **Invariants**, on every scenario: *no false ready* — a digest returned is the true sha256
  of the pushed manifest, is what ECR holds for the reference (asked directly, not through
  the proxy) and is one ECR served; *no false timeout* — a wait never times out after ECR
  served it the image in time (including an image pushed during the last interval);
  Delete answers at once with ECR dropping every connection or its endpoint closed; no log
  line, progress line, error or response carries the ResponseURL, the secret key or the
  session token.
- **Generated inputs** (hypothesis, derandomized): image references, CLI command lines
  (`main(argv)` with injected streams, against the local ECR) and custom-resource properties
  (the validator, and full requests through the provider's service, whose response must stay
  within CloudFormation's 4,096 bytes). Each generated case knows by construction whether it
  is valid; invalid ones break one rule each and must end in the specific error (exit 2 with
  one `ecr-image-waiter: error:` line, `InvalidReferenceError`, `InvalidPropertyError`
  naming the property), never another exception and never a success.
- **Hostile content** (`tests/test_hostile_content.py`, `tests/test_hostile_reason.py`,
  `tests/test_config_download.py`, `tests/test_real_manifests.py`): terminal escapes, a
  forged line, C1 and bidi controls in every field a pusher or a server writes, through the
  CLI, the engine's errors and the FAILED reason (none may come out); generated manifests and
  indexes (hypothesis, derandomized) and odd JSON (deep nesting, wrong types, 28,000
  children) that must never make the engine raise nor give READY for anything but a valid
  digest of an image Lambda takes; config servers that trickle their headers, chunk sizes,
  body or redirects (the download ends at its one bound); manifests in the shapes of real
  public images, with Lambda's verdicts.

Reproduce: `make reliability` (or `.venv/bin/python scripts/reliability.py --scale N`).
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=5, help="size multiplier (default 5)")
    parser.add_argument(
        "--output", type=Path, default=ROOT / "docs" / "reliability.md", help="report path"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="reliability-") as tmp:
        log = Path(tmp) / "figures.jsonl"
        log.touch()
        status, seconds, summary = run_suites(args.scale, log)
        figures = aggregate(log)
    ok = (
        status == 0
        and figures["wrong"] == 0
        and figures["false_ready"] == 0
        and figures["false_timeout"] == 0
        and figures["log_leaks"] == 0
        and figures["inputs_total"] >= MIN_INPUTS
        and figures["faults_total"] >= MIN_FAULTS
        and events_ok(figures["events"])
    )
    report = render(figures, scale=args.scale, seconds=seconds, summary=summary, ok=ok)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report, encoding="utf-8")
    print(report)
    print(f"written to {args.output}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
