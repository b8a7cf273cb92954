"""`make bench` at a tiny scale: the report, the JSON and both plots written, figures sane.

One run of ``python -m scripts.bench --quick`` (real synths, moto servers, the provider
deployed from ``cdk.out`` by the local AWS side, a handful of waits of every design) in a
subprocess, so the benchmark cannot rot between full runs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("bench")
    subprocess.run(
        [sys.executable, "-m", "scripts.bench", "--quick", "--out", str(out)],
        check=True,
        cwd=ROOT,
        timeout=280,
        capture_output=True,
    )
    return out, json.loads((out / "benchmarks.json").read_text())


@pytest.mark.synth
def test_quick_bench_writes_the_report_the_json_and_both_plots(
    quick_run: tuple[Path, dict[str, Any]],
) -> None:
    out, figures = quick_run
    text = (out / "benchmarks.md").read_text()
    for section in (
        "## Acceptance",
        "## Push -> SUCCESS response",
        "## Cost per wait",
        "## Image already there",
        "## Standing cost with no deploys",
        "## Scale",
        "## Method and limits",
    ):
        assert section in text
    for png in ("benchmarks-latency.png", "benchmarks-cost.png"):
        data = (out / png).read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
        assert 0 < len(data) < 200_000
        assert f"]({png})" in text
    assert "https://aws.amazon.com/lambda/pricing/" in text
    assert "third-party" in text

    # Every acceptance criterion has a verdict computed from a figure.
    assert len(figures["acceptance"]) == 8
    for verdict in figures["acceptance"].values():
        assert verdict["met"] in (True, False, None)
        assert verdict["figure"] not in (None, "")


@pytest.mark.synth
def test_quick_bench_figures_are_sane(quick_run: tuple[Path, dict[str, Any]]) -> None:
    _, figures = quick_run
    lat = figures["latency"]
    # The original looks every 30 s: no push waits longer than one delay plus a look.
    assert 0 <= lat["original"]["p50"] <= lat["original"]["p99"] <= 31
    assert lat["provider"]["p99"] == pytest.approx(5.138)
    assert figures["latency_failures"] == 0
    ours = lat["event delivered (our part)"]
    assert ours["n"] == figures["samples"] > 0
    cited = lat["event delivered, with the cited delay"]
    assert cited["p50"] == pytest.approx(ours["p50"] + 0.08, abs=2e-3)  # both rounded to 1 ms
    # With every event lost only the sweep answers: at least a fraction of a period, and
    # within the deadline.
    assert 0 < lat["event lost"]["p50"] <= lat["event lost"]["p99"] < figures["timeout_seconds"]

    there = figures["already_there"]
    assert there["all_succeeded"]
    assert there["invocations"] == {"request": 1}
    assert there["dollars"]["total"] > 0

    standing = figures["standing"]
    assert standing["rule_enabled_at_end"] is False
    assert standing["invocations"] == {"sweep": 1}

    for mode in ("cost delivered", "cost lost"):
        for run in figures["runs"][mode].values():
            assert run["status"] == "SUCCESS"
            assert run["digest_ok"]
            assert run["dollars"]["total"] > 0
    assert figures["runs"]["cost delivered"]["60"]["events"] == 1
    assert figures["runs"]["cost lost"]["60"]["events"] == 0
    # Lost means lost: no push event reached the function, the sweep (or the Create's own
    # look, for a push before it) answered.
    for run in figures["runs"]["latency lost"]:
        assert run["events"] == 0
        assert "push" not in run["invocations"]
        assert run["answered_by"] in ("sweep", "request")
    for run in figures["runs"]["latency delivered"]:
        assert run["events"] == 1
        assert run["invocations"]["push"] >= 1

    synth = figures["synth"][0]
    assert synth["waiters"] == 1
    assert synth["push_rules"] == 1
    assert all(check["met"] for check in synth["checks"].values())

    throttled = figures["throttled"]
    assert throttled["succeeded"] == throttled["true_digest"] == throttled["waits"]
    assert throttled["throttled_calls"] > 0
