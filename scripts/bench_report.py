"""Render docs/benchmarks.md from the figures ``scripts/bench.py`` collected."""

from __future__ import annotations

from typing import Any


def _usd(value: float) -> str:
    return f"${value:.6f}"


def _rate(value: float) -> str:
    """A small price written out in full (no exponent)."""
    return "$" + f"{value:.10f}".rstrip("0")


def _yes(flag: bool) -> str:
    return "met" if flag else "**not met**"


def render(f: dict[str, Any]) -> str:
    rows = f["rows"]
    chosen = f["chosen"]
    orig = f["original_latency"]
    scale = f["scale"]
    units = f["units"]
    prices = f["prices"]
    out: list[str] = []
    add = out.append
    add("# Benchmarks: ecr-image-waiter against the original design\n")
    add(
        "Written by `make bench` (`scripts/bench.py`); the raw figures are in "
        "`benchmarks.json`. "
        + (
            "**This is a --quick run: small samples, figures indicative only.** "
            if f["quick"]
            else ""
        )
        + f"Run time: {f['run_seconds']} s on this machine (2 cores, shared).\n"
    )
    add("## Summary\n")
    add("| | original design (model) | ours at the chosen default |")
    add("|---|---|---|")
    add(
        f"| p50 / p90 / p99 detection latency | {orig['p50']} / {orig['p90']} / {orig['p99']} s "
        f"| {chosen['latency']['p50']} / {chosen['latency']['p90']} / "
        f"{chosen['latency']['p99']} s (p99 x{chosen['p99_ratio']}) |"
    )
    for run in f["cost_runs"]:
        o = run["original"]
        c = run[chosen["config"]]
        served = "" if o["served"] else f" — **not served** ({o['status']} at 15 min)"
        add(
            f"| cost of a {run['wait_seconds'] / 60:.0f}-minute wait | {_usd(o['dollars'])}"
            f"{served} | {_usd(c['dollars'])} (x{c['ratio_to_original']}) |"
        )
    add(
        f"| worst cost ratio, waits of 0-15 min / 1-15 min | 1 | "
        f"x{chosen['cost_ratio_max_0_to_15min']} / x{chosen['cost_ratio_max_1_to_15min']} |"
    )
    add(
        "| longest wait served | 15 min (one Lambda run; 60 x 30 s does not fit) | "
        f"{f['acceptance']['waits_up_to_60min_served']['figure'] / 60:.0f} min |"
    )
    at = f["already_there"]
    add(
        f"| image already there: Create to complete (local) | {at['original']['ms_median']} ms, "
        f"{at['original']['lambda_invocations']} invocation, "
        f"ECR {at['original']['ecr_calls_by_operation']} | "
        f"{at['ours']['ms_median']} ms, {at['ours']['lambda_invocations']} invocations, "
        f"{at['ours']['state_transitions']} transition, "
        f"ECR {at['ours']['ecr_calls_by_operation']} |"
    )
    add(
        f"| image already there: cost | {_usd(at['original']['dollars'])} | "
        f"{_usd(at['ours']['dollars'])} |"
    )
    add("")
    add("### Acceptance at the chosen default\n")
    acc = f["acceptance"]
    add("| criterion | result | figure |")
    add("|---|---|---|")
    for name, item in acc.items():
        add(f"| {name.replace('_', ' ')} | {_yes(item['met'])} | `{item['figure']}` |")
    add("")

    add("## Detection latency\n")
    add(
        f"{f['samples_per_config']} pushes per configuration at seeded random moments in the "
        f"first {f['window_seconds']:.0f} s of a wait (the same moments for every "
        "configuration), all configurations side by side in one thread pool against one "
        "local ECR (the moto server over HTTP). Durations are scaled by "
        f"{scale} (the original's 30 s sleep takes {30 * scale:g} s of wall clock); figures are "
        "converted back to real seconds by dividing by the scale, which also multiplies "
        "each HTTP call's local time by 1/scale — a handicap for the designs that look "
        "often. The model column is our real handlers on a fake clock (no noise); "
        "it checks the measurement.\n"
    )
    add("| configuration | p50 s | p90 s | p99 s | p99 / original | model p99 s |")
    add("|---|---|---|---|---|---|")
    add(
        f"| original design (model), 30 s delay | {orig['p50']} | {orig['p90']} | {orig['p99']} "
        "| 1 | — |"
    )
    for r in rows:
        lat = r["latency"]
        add(
            f"| {r['config']} | {lat['p50']} | {lat['p90']} | {lat['p99']} | "
            f"{r['p99_ratio']} | {r['latency_model']['p99']} |"
        )
    add("")
    add(
        "Q is the Provider framework's query interval (how often Step Functions calls "
        "`is_complete`), B the poll budget inside one `is_complete` call, I the waiter's "
        "IntervalSeconds (the step between looks inside a call; the construct sets it to "
        "Q unless told otherwise).\n"
    )

    add("## Cost per wait\n")
    add(
        "Prices, us-east-1, on demand, first tier, free tiers not counted "
        "(sources: " + ", ".join(f"[{k}]({v})" for k, v in f["price_sources"].items()) + "):\n"
    )
    add(f"- Lambda requests: ${prices['lambda_request'] * 1e6:.2f} per 1M.")
    add(
        f"- Lambda duration: {_rate(prices['lambda_gb_second_x86_64'])} per GB-s (x86_64), "
        f"{_rate(prices['lambda_gb_second_arm64'])} per GB-s (arm64); billed per 1 ms; 128 MB "
        "everywhere."
    )
    add(
        f"- Step Functions Standard: ${prices['sfn_state_transition'] * 1000:.3f} per 1,000 state "
        "transitions; each retry of the waiter's Task is a transition."
    )
    add("- ECR DescribeImages / BatchGetImage: no per-request charge.\n")
    add(
        "What each design is billed for:\n\n"
        "- The original: one Node.js x86_64 function, billed from the Create request until it "
        "answers, sleeps included; stopped by Lambda at 15 minutes without an answer "
        "(CloudFormation then waits for its own one-hour limit).\n"
        "- Ours: per wait, the framework's onEvent (Node.js, x86_64) and our `on_event` "
        "(Python, arm64); then per Step Functions attempt one state transition, the "
        "framework's isComplete (x86_64) and our `is_complete` (arm64). The framework functions "
        "invoke ours synchronously (`invokeUserFunction` in the framework runtime is a "
        "RequestResponse invoke), so both are billed for the whole of our call, sleeps "
        f"included. Our durations are measured; the framework's are ours plus "
        f"{f['framework_overhead_seconds_modelled']} s (modelled: its Invoke round trip, "
        "logging, StartExecution or response).\n"
    )
    add(
        "Per second of waiting, that is (128 MB: "
        f"{_rate(0.125 * prices['lambda_gb_second_x86_64'])} per second x86_64, "
        f"{_rate(0.125 * prices['lambda_gb_second_arm64'])} arm64):\n\n"
        f"- original: {_rate(0.125 * prices['lambda_gb_second_x86_64'])} per second;\n"
        "- ours, one look per attempt: (transition + 2 requests + 2 short durations) / Q "
        f"≈ {_rate(prices['sfn_state_transition'] + 2 * prices['lambda_request'])} / Q "
        "per second, which equals the original only at Q ≈ "
        f"{(prices['sfn_state_transition'] + 2 * prices['lambda_request']) / (0.125 * prices['lambda_gb_second_x86_64']):.1f} s;\n"  # noqa: E501
        "- ours, polling inside `is_complete`: both our function and the framework's are "
        "billed for the whole budget, "
        f"{_rate(0.125 * (prices['lambda_gb_second_x86_64'] + prices['lambda_gb_second_arm64']))}"
        " per second: 1.8x the original's sleeping function before any transition.\n"
    )
    add(
        "Measured waits (the image pushed exactly at the wait length; model = the schedule "
        "model's price for the same wait):\n"
    )
    header = "| wait | original |" + "".join(f" {r['config']} |" for r in rows)
    add(header)
    add("|---" * (2 + len(rows)) + "|")
    for run in f["cost_runs"]:
        o = run["original"]
        cells = [
            f"{run['wait_seconds'] / 60:.0f} min",
            f"{_usd(o['dollars'])} ({'served' if o['served'] else o['status']})",
        ]
        for r in rows:
            c = run[r["config"]]
            cells.append(
                f"{_usd(c['dollars'])} x{c['ratio_to_original']} "
                f"({c['lambda_invocations']} inv, {c['state_transitions']} tr)"
            )
        add("| " + " | ".join(cells) + " |")
    add("")
    add("Cost ratio to the original over wait lengths (schedule model, waits every 5 s):\n")
    add("| configuration | 5-min wait | 15-min wait | worst, 1-15 min | worst, 0-15 min |")
    add("|---|---|---|---|---|")
    for r in rows:
        add(
            f"| {r['config']} | x{r['cost_ratio_5min']} | x{r['cost_ratio_15min']} | "
            f"x{r['cost_ratio_max_1_to_15min']} | x{r['cost_ratio_max_0_to_15min']} |"
        )
    add("")
    add(
        "A wait of a few seconds (and the image-already-there case) costs ours at least one "
        "state transition and four invocations, about "
        f"{_usd(prices['sfn_state_transition'] + 4 * prices['lambda_request'])}, "
        "against the original's single short invocation: on the Provider framework no "
        "configuration is as cheap as the original for very short waits.\n"
    )
    add("### Sweep (schedule model only)\n")
    add("| configuration | model p99 s | p99 / original | cost x, 5 min | worst cost x, 1-15 min |")
    add("|---|---|---|---|---|")
    for s in f["sweep"]:
        add(
            f"| {s['config']} | {s['p99_model']} | {s['p99_ratio_model']} | "
            f"x{s['cost_ratio_5min_model']} | x{s['cost_ratio_max_1_to_15min_model']} |"
        )
    add("")

    add("## Scale\n")
    add(
        "Waiters on imported repositories in one stack (the stack holds only the waiters and "
        "their shared provider). Limits: CloudFormation "
        "([quotas](https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html)): "  # noqa: E501
        "500 resources per stack, template body 1 MB from S3 (51,200 bytes inline); IAM "
        "([quotas](https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html)): "
        "a role's inline policies 10,240 characters in aggregate, a managed policy 6,144 "
        "characters (white space not counted), 10 managed policies per role by default. "
        "Policy sizes are measured with intrinsic functions resolved to full-length values.\n"
    )
    add(
        "| waiters | synth s | template bytes | resources | largest role inline policies "
        "(chars) | managed (overflow) policies | largest managed policy (chars) |"
    )
    add("|---|---|---|---|---|---|---|")
    for s in f["synth"]:
        add(
            f"| {s['waiters']} | {s['synth_seconds']} | {s['template_bytes']} | "
            f"{s['resources']} | {s['largest_role_inline_aggregate_chars']} | "
            f"{s['managed_policies']} ({s['overflow_policies']}) | "
            f"{s['largest_managed_policy_chars']} |"
        )
    add("")
    big = f["synth"][-1]
    if big["overflow_policies"]:
        add(
            "Each waiter adds one statement (DescribeImages and BatchGetImage on its "
            "repository) to the `is_complete` role. Past the inline limit the CDK moves "
            "statements into `OverflowPolicy` managed policies attached to the same role: "
            f"{big['overflow_policies']} at {big['waiters']} waiters, under the default quota "
            "of 10 managed policies per role. Each waiter adds exactly one resource.\n"
        )
    c = f["concurrent"]
    add(
        f"{c['waiters']} concurrent waits ({c['config']}) against one local ECR behind the "
        f"fault proxy, {c['throttled_share']:.0%} of requests answered ThrottlingException, "
        f"images pushed at seeded moments in the first {c['pushes_within_virtual_seconds']:.0f} "
        f"s: **{c['completed']}/{c['waiters']} completed, {c['true_digest']} with the true "
        f"digest**; {c['requests_seen_by_proxy']} requests ({c['throttled']} throttled, "
        f"retried by botocore's standard mode) in {c['wall_seconds']} s of wall clock, "
        f"{c['requests_per_wall_second']} requests per second. botocore's retry backoff "
        "runs in real time, not scaled, so this run's latencies are not comparable with "
        "the latency table and are not reported.\n"
    )

    add("## Lambda code\n")
    lc = f["lambda_code"]
    add(
        f"Cold import of the handler module in a bare Python {lc['python']} (`-E -s -S`, "
        "only the asset and boto3's packages on the path), median of "
        f"{lc['runs']} processes: **{lc['handler_import_ms_median']} ms** (max "
        f"{lc['handler_import_ms_max']} ms); boto3 imported by it: "
        f"{lc['boto3_imported_by_handler_import']}. The first ECR call then imports boto3 "
        f"and makes a client: {lc['boto3_import_and_ecr_client_ms_median']} ms. Asset: "
        f"{lc['asset_files']} files, {lc['asset_bytes']} bytes ({lc['asset_zip_bytes']} "
        "bytes zipped).\n"
    )

    add("## The defaults, and why\n")
    add(chosen_text(f))
    add("## Method and limits of these figures\n")
    add(
        f"- Unit figures from the run: one look at the local ECR "
        f"{units['look_seconds_ours_median']} s (ours, DescribeImages plus BatchGetImage "
        f"when found), {units['look_seconds_original_median']} s (original); "
        f"`is_complete` work outside looks {units['invocation_overhead_seconds_median']} s. "
        "Real ECR answers take longer than loopback moto; at one look per attempt the "
        "transition dominates the price, so these durations hardly move the cost.\n"
        "- The original design is a model (`original_design` in `scripts/bench.py`): its "
        "loop as documented, not its Node.js code; it is billed for its whole run.\n"
        "- Not counted on either side: CloudWatch Logs ingestion (a few hundred bytes per "
        "look), Lambda INIT billing of cold starts (once per container; containers stay "
        "warm between attempts), free tiers.\n"
        "- The Provider framework's own overheads in AWS (Step Functions start, Lambda "
        "invoke latency) are not in the local latency figures; they add a fraction of a "
        "second per attempt.\n"
    )
    return "\n".join(out)


def chosen_text(f: dict[str, Any]) -> str:
    chosen = f["chosen"]
    before = f["defaults_before"]
    both = [r for r in f["rows"] if r["p99_ratio"] <= 0.2 and r["cost_ratio_max_0_to_15min"] <= 1]
    lines = [
        "Rule (`pick_default` in `scripts/bench.py`): among the measured configurations whose "
        "p99 is at most 0.2x the original's and that keep no Lambda busy between looks "
        "(poll budget 0), the cheapest for a 5-minute wait; costs within 2% tie, broken by "
        "fewer ECR calls. A poll budget is cheaper per wait (see the table: about x1.9 "
        "instead of x2.5 of the original's cost for a 5-minute wait), but it holds two Lambda "
        "executions per waiter (ours and the framework's, which waits on ours) for the whole "
        "wait, out of the account's regional concurrency that the user's own functions share "
        "(1,000 by default, lower on new accounts): 200 waiters would hold up to 400. A "
        "deploy tool must not be able to throttle production functions to save a fraction "
        "of a cent per wait, so the budget stays available "
        "(`ECR_IMAGE_WAITER_POLL_BUDGET_SECONDS` on the is_complete function) but off.\n",
        f"**Chosen: {chosen['config']}** — p99 {chosen['latency']['p99']} s "
        f"(x{chosen['p99_ratio']} of the original's {f['original_latency']['p99']} s), a "
        f"5-minute wait x{chosen['cost_ratio_5min']} the original's cost, a 15-minute wait "
        f"x{chosen['cost_ratio_15min']}. Defaults before this run: Q={before['query']} s, "
        f"B={before['budget']} s.\n",
    ]
    shipped = next(
        (
            r
            for r in f["rows"]
            if r["query"] == before["query"]
            and r["budget"] == before["budget"]
            and r["interval"] == before["query"]
        ),
        None,
    )
    if shipped is not None and shipped["config"] != chosen["config"]:
        lines.append(
            f"The defaults in `names.py` at this run are {shipped['config']} (p99 "
            f"x{shipped['p99_ratio']}, 5-minute wait x{shipped['cost_ratio_5min']}, worst "
            f"1-15 min x{shipped['cost_ratio_max_1_to_15min']}). The chosen configuration (a "
            "recommendation: `names.DEFAULT_POLL_BUDGET_SECONDS` still ships 0) "
            f"keeps the query interval and sets the poll budget to {chosen['budget']} s "
            f"(`DEFAULT_POLL_BUDGET_SECONDS`): each `is_complete` call then looks every "
            f"{chosen['interval']} s for up to {chosen['budget']} s, and Step Functions "
            "waits one query interval between calls, so a push is seen within about one "
            "interval either way, with one transition per ~50 s instead of one per "
            "interval. Its costs beyond the price: two functions (ours and the framework's) "
            "stay busy for most of the wait (200 concurrent waits hold up to 400 concurrent "
            "executions of the account's regional Lambda concurrency, 1,000 by default), "
            "and ECR sees the same one look per interval per waiter as before.\n"
        )
    if not both:
        lines.append(
            "**No configuration on the Provider framework reaches both targets.** The "
            "reason is in the prices: a sleeping 128 MB x86_64 function costs "
            "$0.0000021 per second. Looking from Step Functions costs a transition "
            "($0.000025) per look, so it matches that price only when looking every ~12 s "
            "or less often, and a p99 of at most 0.2x the original's ~30 s needs a look "
            "at least every ~6 s. Looking inside `is_complete` keeps two functions billed "
            "(ours and the framework's, which waits on ours): $0.0000038 per second, 1.8x "
            "the original before any transition. And every wait pays the framework's fixed "
            "part (a transition and four invocations, ~$0.000026), so waits shorter than "
            "~12 s, including the image-already-there case, cost more than the original's "
            "single short run whatever the configuration.\n"
        )
        lines.append(
            "Trade-off taken: detection within the latency target at the lowest cost "
            "among the configurations that reach it. The configurations that cost no more "
            "than the original for waits of a minute or more (Q >= 15 s, one look per "
            "attempt) have a p99 about half the original's, not a fifth.\n"
        )
        lines.append(
            "Designs that could reach both (options, not measured here):\n\n"
            '- Event-driven detection: an EventBridge rule on `aws.ecr` "ECR Image '
            'Action" PUSH events for the repository and tag completes the wait (a '
            "WaitCondition handle, or a small function answering the custom resource), "
            "with one look at create time for images already there and a slow poll as a "
            "fallback (ECR events are best effort). Cost per wait: a few invocations, no "
            "per-second charge.\n"
            "- A custom resource function that is its own provider (no Step Functions): it "
            "polls every 1-2 s inside one arm64 invocation (cheaper per second than the "
            "original's x86_64) and, before its 15-minute limit, re-invokes itself "
            "asynchronously with the request to continue to the one-hour ceiling, then "
            "answers CloudFormation itself.\n"
        )
    return "\n".join(lines)
