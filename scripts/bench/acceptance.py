"""Issue 12's acceptance criteria, each checked against the figures of this run.

Nothing here is a result: every verdict is computed from a figure the run measured (or the
model derived from them), and the figure is kept beside it.
"""

from __future__ import annotations

from typing import Any

from . import costs


def check(figures: dict[str, Any]) -> dict[str, dict[str, Any]]:
    lat = figures["latency"]
    original_p99 = lat["original"]["p99"]
    delivered = lat["event delivered, with the cited delay"]["p99"]
    lost = lat["event lost"]["p99"]
    minutes = list(range(1, 16))
    ours = costs.curve(figures, "event delivered", minutes)
    theirs = costs.curve(figures, "original", minutes)
    ratios = [a / b for a, b in zip(ours, theirs, strict=True)]
    worst = max(range(len(ratios)), key=lambda i: ratios[i])
    at_59 = costs.curve(figures, "event delivered", [59])[0]
    longest = figures["runs"]["cost delivered"].get(str(int(figures["longest_wait"])))
    longest_cost = longest["dollars"]["total"] if longest else None
    standing = figures["standing"]
    there = figures["already_there"]
    return {
        "p99 push -> SUCCESS <= 2 s including the cited event delay": {
            "figure": f"{delivered} s (ours {lat['event delivered (our part)']['p99']} s + "
            "80 ms cited)",
            "met": delivered <= 2.0,
        },
        "... and <= 0.07x the original's p99": {
            "figure": f"x{delivered / original_p99:.4f} ({delivered} s / {original_p99} s)",
            "met": delivered <= 0.07 * original_p99,
        },
        "p99 push -> SUCCESS <= 65 s with every event lost": {
            "figure": f"{lost} s",
            "met": lost <= 65,
        },
        "cost per wait <= 0.1x the original's, every wait of 1-15 min": {
            "figure": f"worst x{ratios[worst]:.4f} at {minutes[worst]} min",
            "met": max(ratios) <= 0.1,
        },
        "cost of a 59-minute wait <= $0.001 (per-minute model)": {
            "figure": f"${at_59:.7f}",
            "met": at_59 <= 0.001,
        },
        "cost of the longest accepted wait <= $0.001 (measured)": {
            "figure": f"${longest_cost:.7f}" if longest_cost is not None else "not measured",
            "met": None if longest_cost is None else longest_cost <= 0.001,
        },
        "no standing cost with nothing pending": {
            "figure": f"{standing['invocations_after_first_sweep']} invocations after the "
            f"first idle sweep in {standing['minutes']} min, rule "
            f"{'enabled' if standing['rule_enabled_at_end'] else 'disabled'}, "
            f"${figures['standing_month']['total']:.1e} a month",
            "met": standing["invocations_after_first_sweep"] == 0
            and not standing["rule_enabled_at_end"],
        },
        "image already there: one provider invocation": {
            "figure": " or ".join(str(n) for n in there["invocations_each"])
            + f" invocation(s) in each of {there['runs']} runs",
            "met": there["invocations_each"] == [1] and there["all_succeeded"],
        },
    }
