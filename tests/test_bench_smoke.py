"""`make bench` at a tiny scale: both files written, figures sane, the original model right.

One quick run of ``scripts/bench.py --quick`` (a real synth, a moto server, a handful of
waits) in a subprocess, so the benchmark cannot rot between full runs.
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
        [sys.executable, str(ROOT / "scripts" / "bench.py"), "--quick", "--out", str(out)],
        check=True,
        cwd=ROOT,
        timeout=240,
        capture_output=True,
    )
    return out, json.loads((out / "benchmarks.json").read_text())


@pytest.mark.synth
def test_quick_bench_writes_both_files_with_sane_figures(
    quick_run: tuple[Path, dict[str, Any]],
) -> None:
    out, figures = quick_run
    text = (out / "benchmarks.md").read_text()
    assert "## Detection latency" in text
    assert "## The defaults, and why" in text
    assert "https://aws.amazon.com/step-functions/pricing/" in text

    original = figures["original_latency"]
    # The original looks every 30 s: no push waits longer than one delay plus a look.
    assert 0 <= original["p50"] <= original["p99"] <= 33
    for row in figures["rows"]:
        latency = row["latency"]
        assert latency["n"] == figures["samples_per_config"] > 0
        assert 0 <= latency["p50"] <= latency["p90"] <= latency["p99"]
        # One query interval (or in-call interval) plus generous room for a loaded machine.
        assert latency["p99"] <= row["query"] + 6
        assert row["cost_5min"] > 0
    assert figures["chosen"]["config"] in {row["config"] for row in figures["rows"]}

    there = figures["already_there"]
    assert there["original"]["lambda_invocations"] == 1
    assert there["original"]["ecr_calls_by_operation"] == {"DescribeImages": 1}
    assert there["ours"]["lambda_invocations"] == 4
    assert there["ours"]["state_transitions"] == 1
    # One transition and four requests at the cited prices, at least.
    assert there["ours"]["dollars"] >= 0.025 / 1000 + 4 * 0.2 / 1e6

    synth = figures["synth"][0]
    assert synth["waiters"] == 1
    assert synth["custom_resources"] == 1
    assert 0 < synth["template_bytes"] < 1_000_000

    concurrent = figures["concurrent"]
    assert concurrent["completed"] == concurrent["true_digest"] == concurrent["waiters"]
    assert concurrent["throttled"] > 0

    code = figures["lambda_code"]
    assert code["boto3_imported_by_handler_import"] is False
    assert code["asset_files"] > 0
    assert code["handler_import_ms_median"] > 0
