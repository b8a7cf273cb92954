"""Cost per wait for every design, the event design's per-minute model, and the acceptance.

Event design model: a wait costs a fixed part (the Create's invocation, the answer, the
table writes) plus one sweep invocation per minute it is pending. Both come from the counted
runs: the cost per sweep is the difference between the longest and the shortest measured
wait divided by the difference in sweeps counted, the fixed part what is left of the
shortest. The sweep serves every pending wait at once; here a single wait bears it all
(the worst case). The model is checked against every measured wait.
"""

from __future__ import annotations

import math
from typing import Any

from ecr_image_waiter import names

from . import original, prices, provider_design

#: Wait lengths of the cost table, seconds (59 minutes: model only, see LONGEST_WAIT).
WAITS = [0.0, 60.0, 300.0, 900.0, 1800.0, 3540.0]


def sweeps(wait_seconds: float) -> int:
    """Sweep invocations a wait pending ``wait_seconds`` sees: one a minute while pending,
    and the one after the answer that turns the rule off."""
    return math.floor(wait_seconds / names.SWEEP_PERIOD_SECONDS) + 1


def fit(runs: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Fixed part and cost per sweep from the counted runs (``wait seconds -> figures``)."""
    ordered = sorted((float(k), v) for k, v in runs.items())
    (w1, short), (w2, long_) = ordered[0], ordered[-1]
    d1, d2 = short["dollars"]["total"], long_["dollars"]["total"]
    per_sweep = (d2 - d1) / max(1, long_["sweeps"] - short["sweeps"])
    return {
        "per_sweep": per_sweep,
        "fixed": d1 - per_sweep * short["sweeps"],
        "from_waits": [w1, w2],
    }


def model(fitted: dict[str, float], wait_seconds: float, already_there: float) -> float:
    if wait_seconds <= 0:
        return already_there
    return fitted["fixed"] + fitted["per_sweep"] * sweeps(wait_seconds)


def table(figures: dict[str, Any]) -> dict[str, Any]:
    """Every design's cost at WAITS (and the event design's measured runs beside its model)."""
    look = figures["original_look_seconds"]
    rec = provider_design.record()
    there = figures["already_there"]["dollars"]["total"]
    out: dict[str, Any] = {"waits": WAITS, "designs": {}}
    out["designs"]["original"] = {str(int(w)): original.cost(w, look) for w in WAITS}
    out["designs"]["provider"] = {str(int(w)): provider_design.cost(rec, w) for w in WAITS}
    for mode in ("delivered", "lost"):
        runs = figures["runs"][f"cost {mode}"]
        fitted = fit(runs)
        rows: dict[str, Any] = {}
        for w in WAITS:
            measured = runs.get(str(int(w)))
            rows[str(int(w))] = {
                "model": model(fitted, w, there),
                "measured": measured["dollars"]["total"] if measured else None,
                "sweeps_counted": measured["sweeps"] if measured else None,
                "sweeps_model": sweeps(w) if w > 0 else 0,
            }
        for key, measured in runs.items():
            if key not in rows:
                w = float(key)
                rows[key] = {
                    "model": model(fitted, w, there),
                    "measured": measured["dollars"]["total"],
                    "sweeps_counted": measured["sweeps"],
                    "sweeps_model": sweeps(w),
                }
        errors = [
            abs(r["model"] - r["measured"]) / r["measured"]
            for k, r in rows.items()
            if r["measured"] and float(k) > 0
        ]
        out["designs"][f"event {mode}"] = {
            "fit": fitted,
            "rows": rows,
            "model_error_max": max(errors, default=0.0),
        }
    return out


def curve(figures: dict[str, Any], design: str, minutes: list[int]) -> list[float]:
    """Cost against wait length in whole minutes, for the plot and the 1-15 minute check."""
    look = figures["original_look_seconds"]
    there = figures["already_there"]["dollars"]["total"]
    if design == "original":
        return [original.cost(m * 60.0, look)["dollars"] for m in minutes]
    if design == "provider":
        rec = provider_design.record()
        return [provider_design.cost(rec, m * 60.0) for m in minutes]
    fitted = figures["costs"]["designs"][design]["fit"]
    return [model(fitted, m * 60.0, there) for m in minutes]


def standing_month(standing: dict[str, Any]) -> dict[str, Any]:
    """Dollars per 30-day month with no deploys, from the standing run's counts."""
    per_minute_invocations = standing["invocations_after_first_sweep"] / standing["minutes"]
    month_minutes = 30 * 24 * 60
    invocations = per_minute_invocations * month_minutes
    gb = standing["table_bytes_left"] / 1024**3
    storage = gb * (prices.DYNAMODB_STORAGE_GB_MONTH + prices.DYNAMODB_PITR_GB_MONTH)
    seconds_each = standing["billed_seconds"] / max(1, sum(standing["invocations"].values()))
    lambda_ = invocations * (prices.LAMBDA_REQUEST + seconds_each * prices.per_second("arm64"))
    return {
        "invocations_per_month": invocations,
        "table_bytes": standing["table_bytes_left"],
        "storage_and_pitr_dollars": storage,
        "lambda_dollars": lambda_,
        "total": storage + lambda_,
    }
