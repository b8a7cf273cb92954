"""The two plots docs/benchmarks.md shows, drawn with matplotlib's Agg backend (no display).

* ``benchmarks-latency.png``: push -> SUCCESS per design, as cumulative distributions of the
  same seeded pushes (the Provider design: its recorded percentiles, as points).
* ``benchmarks-cost.png``: dollars per wait against the wait's length, per design.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

LATENCY_PNG = "benchmarks-latency.png"
COST_PNG = "benchmarks-cost.png"
COLOURS = {
    "original": "#7f7f7f",
    "provider": "#d62728",
    "event delivered": "#1f77b4",
    "event lost": "#ff7f0e",
}


def _ecdf(values: list[float]) -> tuple[list[float], list[float]]:
    ordered = sorted(values)
    n = len(ordered)
    return ordered, [(i + 1) / n for i in range(n)]


def latency(figures: dict[str, Any], out: Path) -> Path:
    samples = figures["latency_samples"]
    fig, ax = plt.subplots(figsize=(7.5, 4.2), dpi=100)
    for key, label in (
        ("original", "original design (model): sleeps 30 s between looks"),
        (
            "event delivered, with the cited delay",
            "event design, push events delivered (measured + cited 80 ms)",
        ),
        ("event delivered (our part)", "event design, our part only"),
        ("event lost", "event design, every event lost (sweep only)"),
    ):
        values = samples.get(key) or []
        if not values:
            continue
        xs, ys = _ecdf(values)
        colour = COLOURS[
            "event delivered" if key.startswith("event delivered") else key.split(",")[0]
        ]
        style = ":" if key.endswith("(our part)") else "-"
        ax.step(xs, ys, where="post", label=label, color=colour, linestyle=style)
    rec = figures["latency"]["provider"]
    ax.plot(
        [rec["p50"], rec["p90"], rec["p99"], rec["max"]],
        [0.5, 0.9, 0.99, 1.0],
        "o--",
        color=COLOURS["provider"],
        label="Provider framework, Q=5 s (recorded p50/p90/p99/max)",
    )
    ax.set_xscale("log")
    ax.set_xlabel("push -> SUCCESS response, seconds (log scale)")
    ax.set_ylabel("share of waits answered")
    ax.set_ylim(0, 1.02)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title("Push -> SUCCESS, same seeded pushes for every design", fontsize=10)
    fig.tight_layout()
    path = out / LATENCY_PNG
    fig.savefig(path)
    plt.close(fig)
    return path


def cost(
    figures: dict[str, Any], curves: dict[str, tuple[list[int], list[float]]], out: Path
) -> Path:
    fig, ax = plt.subplots(figsize=(7.5, 4.2), dpi=100)
    labels = {
        "original": "original design (model; killed at 15 min, no answer)",
        "provider": "Provider framework, Q=5 s (recorded runs, linear)",
        "event delivered": "event design, events delivered (model)",
        "event lost": "event design, every event lost (model)",
    }
    for key, (minutes, dollars) in curves.items():
        ax.plot(minutes, dollars, label=labels[key], color=COLOURS[key])
    for mode in ("delivered", "lost"):
        runs = figures["runs"][f"cost {mode}"]
        xs = [float(k) / 60 for k in runs]
        ys = [r["dollars"]["total"] for r in runs.values()]
        ax.plot(
            xs,
            ys,
            "x",
            color=COLOURS[f"event {mode}"],
            label=f"event design, {mode}: measured runs",
        )
    ax.axvline(15, color=COLOURS["original"], linestyle=":", linewidth=1)
    ax.set_yscale("log")
    ax.set_xlabel("wait length, minutes (image pushed this long after the Create)")
    ax.set_ylabel("dollars per wait (log scale)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title("Cost per wait against wait length (us-east-1 prices, 128 MB)", fontsize=10)
    fig.tight_layout()
    path = out / COST_PNG
    fig.savefig(path)
    plt.close(fig)
    return path
