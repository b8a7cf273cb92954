"""The Provider-framework design at Q=5 s: a recorded configuration, not re-measured.

Its code left the repository with the event design; its figures are those of the last run
of the former benchmark (``provider_q5.json``: the Q=5 s rows of docs/benchmarks.json as
commit d6b92ca wrote them, the same seed and push window as this benchmark). Cost at other
wait lengths: a straight line through the two recorded measured waits (5 and 30 minutes):
one state transition and two invocations per 5 s attempt make the cost linear in the wait.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RECORD = Path(__file__).with_name("provider_q5.json")
LABEL = "Provider framework, Q=5 s (recorded)"


def record() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(RECORD.read_text())
    return loaded


def latency(rec: dict[str, Any]) -> dict[str, float]:
    """The recorded push -> ready percentiles (real seconds; measured at scale 0.1)."""
    figures: dict[str, float] = rec["row"]["latency"]
    return figures


def cost(rec: dict[str, Any], wait_seconds: float) -> float:
    """Dollars for a wait of ``wait_seconds``: the recorded image-already-there run at 0 s,
    else the line through the recorded 5- and 30-minute runs."""
    if wait_seconds <= 0:
        return float(rec["already_there"]["ours"]["dollars"])
    points = {run["wait_seconds"]: run["Q=5s"]["dollars"] for run in rec["cost_runs"]}
    (w1, c1), (w2, c2) = sorted(points.items())
    slope = (c2 - c1) / (w2 - w1)
    return float(max(c1 + (wait_seconds - w1) * slope, rec["already_there"]["ours"]["dollars"]))


def summary(rec: dict[str, Any]) -> dict[str, Any]:
    there = rec["already_there"]["ours"]
    return {
        "label": LABEL,
        "source": rec["what"],
        "latency": latency(rec),
        "already_there_invocations": there["lambda_invocations"],
        "already_there_transitions": there["state_transitions"],
        "already_there_dollars": there["dollars"],
        "measured_costs": {
            str(int(run["wait_seconds"])): run["Q=5s"]["dollars"] for run in rec["cost_runs"]
        },
        "concurrent_200": rec["concurrent"],
    }
