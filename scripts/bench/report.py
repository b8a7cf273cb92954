"""docs/benchmarks.md, rendered from the figures of one run (benchmarks.json holds them all).

Every number in the document comes from ``figures``; the text around them states how each
was obtained. Sections: acceptance, push -> SUCCESS, cost per wait, image already there,
standing cost, scale, method and limits.
"""

from __future__ import annotations

from typing import Any

from . import plots, prices
from .costs import WAITS

DESIGNS = [
    ("original", "original design (model)"),
    ("provider", "Provider framework, Q=5 s (recorded)"),
    ("event delivered", "event design, events delivered"),
    ("event lost", "event design, every event lost"),
]


def _usd(value: float | None) -> str:
    if value is None:
        return "—"
    if 0 < abs(value) < 1e-7:
        return f"${value:.1e}"
    return f"${value:.7f}"


def _minutes(seconds: float) -> str:
    if seconds == 0:
        return "0 s (image already there)"
    return f"{seconds / 60:g} min" if seconds % 60 == 0 else f"{seconds / 60:.1f} min"


def render(f: dict[str, Any]) -> str:
    out: list[str] = []
    add = out.append
    add("# Benchmarks: the event design against the original and the Provider framework\n")
    add(
        "Written by `make bench` (`python -m scripts.bench`, the package `scripts/bench/`); "
        "every figure is in `benchmarks.json`. "
        + ("**A --quick run: small samples, figures indicative only.** " if f["quick"] else "")
        + f"Run time {f['run_seconds']} s on this machine (2 cores, shared). Seed "
        f"{f['seed']}: {f['samples']} pushes at seeded moments in the first "
        f"{f['window_seconds']:g} s of a wait, the same for every design.\n"
    )
    _acceptance(f, add)
    _latency(f, add)
    _costs(f, add)
    _already_there(f, add)
    _standing(f, add)
    _scale(f, add)
    _method(f, add)
    return "\n".join(out) + "\n"


def _acceptance(f: dict[str, Any], add: Any) -> None:
    add("## Acceptance\n")
    add("| criterion | result | figure |")
    add("|---|---|---|")
    for name, verdict in f["acceptance"].items():
        result = {True: "met", False: "**not met**", None: "not measured (--quick)"}
        add(f"| {name} | {result[verdict['met']]} | {verdict['figure']} |")
    add(
        f"\nThe longest deadline accepted is {f['timeout_seconds']} s "
        f"({f['timeout_seconds'] / 60:g} min: the sweep reports a timeout up to 60 s after the "
        "deadline and CloudFormation waits 3600 s), so **a 59-minute wait cannot be "
        "configured**: its cost is the per-minute model's, and the longest wait that can "
        f"succeed ({f['longest_wait']:g} s, pushed 10 s before that deadline) is measured.\n"
    )


def _latency(f: dict[str, Any], add: Any) -> None:
    lat = f["latency"]
    add("## Push -> SUCCESS response\n")
    add(f"![push -> SUCCESS per design]({plots.LATENCY_PNG})\n")
    add("| design | n | p50 s | p90 s | p99 s | max s |")
    add("|---|---|---|---|---|---|")
    rows = [
        ("original", "original design (model): a look every 30 s"),
        ("provider", "Provider framework, Q=5 s (recorded)"),
        ("event delivered (our part)", "event design, events delivered: our part (measured)"),
        (
            "event delivered, with the cited delay",
            f"event design, events delivered: ours + {prices.EVENT_DELAY_SECONDS * 1000:g} ms "
            "cited",
        ),
        ("event lost", "event design, every event lost (sweep only, measured)"),
    ]
    for key, label in rows:
        p = lat[key]
        add(
            f"| {label} | {p.get('n')} | {p.get('p50')} | {p.get('p90')} | {p.get('p99')} | "
            f"{p.get('max')} |"
        )
    failures = f["latency_failures"]
    add(
        f"\n{failures} of the event design's latency runs did not end in SUCCESS with the "
        "pushed digest.\n"
    )
    add(
        "- **Events delivered, our part**: from the push (moto's PutImage returned) to the "
        "answer's PUT on the ResponseURL (a presigned S3 URL on the moto server), in real "
        "time: the local EventBridge's delivery (PutEvents, the rule's queue, a pump that "
        "polls every 50 ms), the function's query of the repository's waits, the look at ECR "
        "(three calls), the conditional claim, the PUT and the record that it was sent. The "
        "PUT's time is that of the handler's log line written right after it (and after the "
        "record that it was sent, one DynamoDB call more). Measured on this machine; real "
        "AWS calls take longer than loopback moto, and the local delivery is counted beside "
        "the cited delay, so this errs on the long side.\n"
        "- **EventBridge's delivery delay** (ECR push -> rule -> function) cannot be measured "
        f"here. The figure added is {prices.EVENT_DELAY_SOURCE}; a p90 used as a p99, so "
        "treat the total as indicative.\n"
        f"- **Every event lost**: only the sweep ends the wait. Time is scaled by {f['scale']} "
        f"(the sweep's 60 s period takes {60 * f['scale']:g} s of wall clock); the time "
        "until the answering sweep is handed to the function is divided by the scale, that "
        "sweep's own time (queue, run, PUT) is measured, and the figure is in real seconds. "
        "The function's own time is not scaled, so each ~0.1 s invocation moves the scaled "
        "clock by 0.1 s / scale. Each run has its own provider (deployed from `cdk.out` into "
        "a reset moto server) and the sweep's minute marks fall at a seeded random phase "
        "after the Create, as a rate rule's do.\n"
        "- **Original design**: its model (`scripts/bench/original.py`) on the same pushes: "
        f"looks {f['original_look_seconds'] * 1000:.1f} ms long (median DescribeImages at the "
        "local ECR) every 30 s, plus 50 ms for the answer.\n"
        "- **Provider framework, Q=5 s**: not re-measured (its code is gone). Its figures are "
        "the last measured run of the former benchmark, kept in "
        "`scripts/bench/provider_q5.json` (the Q=5 s rows of `docs/benchmarks.json` as commit "
        "d6b92ca wrote them; same seed and push window, scale 0.1); only its percentiles "
        "were recorded, so the plot shows them as points.\n"
    )
    _lost_tail(f, add)


def _lost_tail(f: dict[str, Any], add: Any) -> None:
    """The slowest runs with every event lost, and what bounds them."""
    lost = sorted(f["runs"]["latency lost"], key=lambda r: -(r["latency"] or 0.0))[:5]
    add(
        "**With every event lost** (the provider's code, `custom_resource/waits.py`, "
        "`on_sweep`): a sweep looks at every pending wait whose next look falls before the "
        "next sweep less 5 s (`next_look_at - SWEEP_LOOKAHEAD_SECONDS <= now`), and each "
        "look sets the next one a period later. So the first sweep after the push finds the "
        "image, unless the wait's last look came less than 5 s before that sweep; then the "
        "next sweep does: at most one period and 5 s after the push, plus that sweep's own "
        "run. Here the function's time is real while its clock is scaled: a 0.1 s look "
        f"moves the clock {0.1 / f['scale']:g} s, and more when the parallel runs compete "
        "for the CPU, which widens that 5 s window. The slowest runs:\n"
    )
    add("| push at s | sweep phase s | sweeps | latency s | wall s |")
    add("|---|---|---|---|---|")
    for r in lost:
        add(
            f"| {r['push_at']:.2f} | {r.get('sweep_phase', '?')} | {r['sweeps']} | "
            f"{r['latency']} | {r['wall_seconds']} |"
        )
    add("")


def _costs(f: dict[str, Any], add: Any) -> None:
    c = f["costs"]["designs"]
    add("## Cost per wait\n")
    add(f"![cost against wait length per design]({plots.COST_PNG})\n")
    add(
        "| wait | original | Provider, Q=5 s | events delivered: model (measured) | "
        "every event lost: model (measured) |"
    )
    add("|---|---|---|---|---|")
    for w in WAITS:
        key = str(int(w))
        o = c["original"][key]
        served = "" if o["served"] else " — **no answer** (killed at 15 min)"
        cells = []
        for mode in ("event delivered", "event lost"):
            row = c[mode]["rows"][key]
            measured = f" ({_usd(row['measured'])})" if row["measured"] is not None else ""
            cells.append(_usd(row["model"]) + measured)
        label = _minutes(w) + (" (model only)" if w == 3540 else "")
        add(
            f"| {label} | {_usd(o['dollars'])}{served} | {_usd(c['provider'][key])} | "
            + " | ".join(cells)
            + " |"
        )
    longest = f["runs"]["cost delivered"].get(str(int(f["longest_wait"])))
    if longest:
        add(
            f"| longest accepted wait, {f['longest_wait']:g} s (measured) | — | — | "
            f"{_usd(longest['dollars']['total'])} | — |"
        )
    add("")
    for mode in ("event delivered", "event lost"):
        fit = c[mode]["fit"]
        add(
            f"- **{mode}**: fixed part {_usd(fit['fixed'])}, {_usd(fit['per_sweep'])} per sweep "
            f"(from the measured {fit['from_waits'][0]:g} s and {fit['from_waits'][1]:g} s "
            f"waits); the model is within {c[mode]['model_error_max']:.1%} of every measured "
            "wait."
        )
    _breakdown(f, add)
    add(
        "\nHow each figure is made:\n\n"
        "- Event design: the run's counts times the prices. Lambda: each invocation (the "
        "Create, the push event, each sweep) at $0.20 per million plus its measured duration "
        "rounded up to 1 ms at 128 MB arm64 ($0.0000016667 per second). DynamoDB: request "
        "units estimated from the item sizes (a write 1 unit per KB, failed conditional "
        "writes included; a strongly consistent read 1 unit per 4 KB, at least 1). "
        "EventBridge: the push event and the sweep's scheduled events are AWS service events "
        "on the default bus, free, and so are rules; no EventBridge Scheduler schedule is "
        "made. ECR calls have no charge. **The sweep is shared** by every pending wait of a "
        "provider (one invocation a minute whatever their number); here a single wait bears "
        "it all, the worst case. With k waits pending at once each pays 1/k of it.\n"
        "- Original: one 128 MB x86_64 invocation ($0.0000020833 per second) from the Create "
        "to its answer, sleeps included; past 15 minutes Lambda stops it and it never "
        "answers, so 30 and 59 minutes are the cost of a run that fails the deploy an hour "
        "later.\n"
        "- Provider framework, Q=5 s: the recorded image-already-there run at 0 s, else the "
        "straight line through its recorded 5- and 30-minute runs (one state transition and "
        "two invocations every 5 s make it linear).\n"
    )
    add("Prices (us-east-1, on demand, first tier, free tiers not counted):\n")
    for name, url in prices.SOURCES.items():
        add(f"- {name}: <{url}>")
    add(
        "\nThe DynamoDB figures ($0.625 per million writes, $0.125 per million reads, after "
        "the November 2024 price cut) are third-party quotes of that page.\n"
    )


def _breakdown(f: dict[str, Any], add: Any) -> None:
    """What the measured waits were billed for, item by item."""
    add("\nWhat the event design's measured waits were billed for (counts, then dollars):\n")
    add(
        "| wait | invocations | billed s | DynamoDB writes / reads (units) | events | "
        "schedules | Lambda | DynamoDB | total |"
    )
    add("|---|---|---|---|---|---|---|---|---|")
    for mode in ("delivered", "lost"):
        for key, run in sorted(f["runs"][f"cost {mode}"].items(), key=lambda kv: float(kv[0])):
            d = run["dollars"]
            invocations = ", ".join(f"{n} {k}" for k, n in sorted(run["invocations"].items()))
            add(
                f"| {_minutes(float(key))}, events {mode} | {invocations} | "
                f"{run['billed_seconds']} | {run['dynamodb_write_units']:g} / "
                f"{run['dynamodb_read_units']:g} | {run['events']} | {run['schedules']} | "
                f"{_usd(d['lambda_requests'] + d['lambda_duration'])} | "
                f"{_usd(d['dynamodb_writes'] + d['dynamodb_reads'])} | {_usd(d['total'])} |"
            )


def _already_there(f: dict[str, Any], add: Any) -> None:
    a = f["already_there"]
    prov = f["provider"]
    add("## Image already there\n")
    add("| design | invocations | other | cost |")
    add("|---|---|---|---|")
    o = f["costs"]["designs"]["original"]["0"]
    add(f"| original (model) | 1 | 1 DescribeImages | {_usd(o['dollars'])} |")
    add(
        f"| Provider framework, Q=5 s (recorded) | {prov['already_there_invocations']} | "
        f"{prov['already_there_transitions']} state transition | "
        f"{_usd(prov['already_there_dollars'])} |"
    )
    calls = ", ".join(f"{n} {k}" for k, n in a["calls"].items())
    each = " or ".join(str(n) for n in a["invocations_each"])
    add(f"| event design | {each} | {calls} | {_usd(a['dollars']['total'])} |")
    add(
        f"\n{a['runs']} Creates of an image already in ECR, the sweep rule off as a provider "
        "deployed earlier leaves it: the Create is answered by its own invocation; no wait "
        "is stored and the sweep is not turned on.\n"
    )


def _standing(f: dict[str, Any], add: Any) -> None:
    s, m = f["standing"], f["standing_month"]
    add("## Standing cost with no deploys\n")
    add(
        f"A provider just deployed (its sweep rule enabled, as the deploy leaves it), nothing "
        f"pending, run for {s['minutes']} scaled minutes: {sum(s['invocations'].values())} "
        f"invocation in all, {s['invocations_after_first_sweep']} after the first sweep "
        f"(which finds nothing pending and disables the rule); the rule is "
        f"{'enabled' if s['rule_enabled_at_end'] else 'disabled'} at the end. A month at "
        f"that rate: {m['invocations_per_month']:g} invocations, {_usd(m['lambda_dollars'])}. "
        f"The table then holds {m['table_bytes']} bytes (the sweep's flag): storage and "
        f"point-in-time recovery, both billed per GB-month of table size, "
        f"{_usd(m['storage_and_pitr_dollars'])} a month. Total **{_usd(m['total'])} a "
        "month**. On-demand tables have no hourly charge. Answered waits stay for 24 h (then "
        "expire by TTL) at a few KB each. Not counted: the log group's stored bytes.\n"
    )


def _scale(f: dict[str, Any], add: Any) -> None:
    add("## Scale\n")
    add(
        "One stack of N waiters on N repositories imported by name. Limits: CloudFormation "
        "(<https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits"
        ".html>) 500 resources, 1 MB template from S3; EventBridge (EventBridge quotas page, "
        "<https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-quota.html>) event "
        "pattern 2,048 characters, 300 rules per bus; IAM (<https://docs.aws.amazon.com/IAM/"
        "latest/UserGuide/reference_iam-quotas.html>) a role's inline policies 10,240 "
        "characters, a managed policy 6,144, 10 managed policies per role.\n"
    )
    add(
        "| waiters | template bytes | resources | rules (push) | longest push pattern | "
        "role inline chars | managed policies (largest) | all within limits |"
    )
    add("|---|---|---|---|---|---|---|---|")
    for s in f["synth"]:
        ok = all(check["met"] for check in s["checks"].values())
        add(
            f"| {s['waiters']} | {s['template_bytes']} | {s['resources']} | {s['rules']} "
            f"({s['push_rules']}) | {s['longest_push_pattern_chars']} | "
            f"{s['largest_role_inline_aggregate_chars']} | {s['managed_policies']} "
            f"({s['largest_managed_policy_chars']}) | {'yes' if ok else '**no**'} |"
        )
    t = f["throttled"]
    add(
        f"\n{t['waits']} waits pending in one provider, ended by {t['waits']} pushes at seeded "
        f"moments 10-70 s after their Creates, with {t['throttled_share']:.0%} of the ECR and "
        f"DynamoDB calls answered ThrottlingException (a proxy before the moto server; "
        f"time scale {t['scale']}): **{t['succeeded']}/{t['waits']} SUCCESS, {t['true_digest']} "
        f"with the pushed digest**, {t['not_answered']} unanswered; answered by "
        + ", ".join(f"{k} {v}" for k, v in t["answered_by"].items())
        + " (a push event whose look stays throttled through botocore's retries — five "
        "tries a call, fewer once a container has used up botocore's retry quota — leaves "
        f"the wait to a later sweep); {t['throttled_calls']} calls throttled (retried by "
        f"botocore's standard mode), {t['function_errors_retried']} invocations failed and "
        f"were run again as Lambda's async retries would; {t['wall_seconds']} s of wall clock. "
        f"botocore's backoff runs in real time, so latencies here are not comparable with the "
        f"table above (p99 {t['latency'].get('p99')} s). The {t['waits']} Creates arrive at "
        f"once and queue for the function's {t.get('concurrency', '?')} execution "
        "environments here (Lambda would run more side by side), so many a Create runs after "
        "its push and answers with its own look.\n"
    )


def _method(f: dict[str, Any], add: Any) -> None:
    add("## Method and limits\n")
    add(
        "- The event design runs through one adapter, `scripts/bench/event_design.py` "
        "(`measure(plan, endpoint)`): a stack of real `EcrImageWaiter` constructs "
        "(`scripts/bench/app.py`, synthesized once per shape) is deployed per run with "
        "`ecr_image_waiter.local` into a reset moto server: its table, its rules (the sweep "
        "enabled, as a deploy leaves it) and its function, whose handler runs from the asset "
        "directory in `cdk.out` in worker processes with the function's environment and a "
        "clock scaled by 1/scale. CloudFormation's Creates carry presigned S3 ResponseURLs; "
        "pushes go to moto's ECR and their events through the local EventBridge (delivered, "
        "or all lost); the sweep rule ticks every period while enabled; a failed invocation "
        "runs again 60 and 120 scaled seconds later. Invocations, billed milliseconds and AWS "
        "calls are the local Lambda's records. A single-wait run has one execution "
        "environment (its invocations rarely overlap; Lambda would reuse a warm one), the "
        f"200-wait run {f['throttled'].get('concurrency', '?')}. The first invocation of an "
        "environment makes the function's AWS clients, inside its billed time, as on Lambda.\n"
        "- DynamoDB request units are estimated (the local side counts calls, not sizes) "
        "from the items scanned from the table at the end and the call counts: each "
        "EnableRule/DisableRule goes with one write of the sweep's flag item, each answered "
        "wait takes two writes at its full size (the claim and the sent mark), every other "
        "write is billed at the largest wait item without its answer (1 unit per KB); a Scan "
        "reads the whole final table, a Query or GetItem the largest item (1 unit per 4 KB, "
        "strongly consistent); at least 1 unit a call. This errs on the high side.\n"
        "- moto 5.2.5 does not implement ECR's GetDownloadUrlForLayer; the benchmark's moto "
        "server (`scripts/bench/moto_main.py`) answers it as ECR does for a blob it does not "
        "hold, so the architecture check reports the architecture unknown at once.\n"
        "- Not counted on any side: CloudWatch Logs, Lambda INIT of cold starts, free tiers.\n"
        "- Durations are this machine's: loopback moto answers in milliseconds, real AWS in "
        "tens of milliseconds, so real invocations bill somewhat longer than here.\n"
    )
