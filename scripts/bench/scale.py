"""Scale: one stack of 1, 50 and 200 waiters against the quotas, and 200 waits under load.

The synths run in one subprocess (:mod:`.synth`), so the CDK loads once. The 200 waits go
through :mod:`.event_design`: 200 pending waits in one provider deployed from ``cdk.out``,
ended by 200 pushes, with a seeded 40% of the function's ECR and DynamoDB calls answered
ThrottlingException by a proxy before the moto server.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from . import event_design, runs
from .support import MotoPool, percentiles, say

ROOT = Path(__file__).resolve().parent.parent.parent
#: CloudFormation quotas (AWS CloudFormation User Guide, cloudformation-limits): 500
#: resources per stack; a template body of 1 MB from S3 (51,200 bytes inline).
MAX_RESOURCES = 500
MAX_TEMPLATE_BYTES = 1_000_000
#: EventBridge quotas (EventBridge User Guide, eb-quota): an event pattern at most 2,048
#: characters (adjustable); 300 rules per bus.
MAX_PATTERN_CHARS = 2048
MAX_RULES_PER_BUS = 300
#: IAM quotas (IAM User Guide, reference_iam-quotas): a role's inline policies 10,240
#: characters in aggregate; a managed policy 6,144; 10 managed policies per role (default).
MAX_ROLE_INLINE_CHARS = 10_240
MAX_MANAGED_POLICY_CHARS = 6_144
MAX_MANAGED_PER_ROLE = 10


def synth(counts: list[int]) -> list[dict[str, Any]]:
    """The templates of stacks with ``counts`` waiters, measured; each with its checks."""
    with tempfile.TemporaryDirectory(prefix="bench-synth-") as tmp:
        out = Path(tmp) / "synth.json"
        env = dict(os.environ)
        env.setdefault("JSII_NODE", str(ROOT / ".venv" / "node"))
        env.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
        env.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
        subprocess.run(
            [sys.executable, "-m", "scripts.bench.synth", str(out), *map(str, counts)],
            check=True,
            env=env,
            cwd=ROOT,
        )
        figures: list[dict[str, Any]] = json.loads(out.read_text())
    for figure in figures:
        figure["checks"] = limits(figure)
    return figures


def limits(figure: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each quota: the figure, the limit, met or not."""
    pairs = {
        "resources": (figure["resources"], MAX_RESOURCES),
        "template_bytes": (figure["template_bytes"], MAX_TEMPLATE_BYTES),
        "longest_push_pattern_chars": (figure["longest_push_pattern_chars"], MAX_PATTERN_CHARS),
        "longest_other_pattern_chars": (figure["longest_other_pattern_chars"], MAX_PATTERN_CHARS),
        "rules": (figure["rules"], MAX_RULES_PER_BUS),
        "largest_role_inline_aggregate_chars": (
            figure["largest_role_inline_aggregate_chars"],
            MAX_ROLE_INLINE_CHARS,
        ),
        "largest_managed_policy_chars": (
            figure["largest_managed_policy_chars"],
            MAX_MANAGED_POLICY_CHARS,
        ),
        "most_managed_policies_on_one_role": (
            figure["most_managed_policies_on_one_role"],
            MAX_MANAGED_PER_ROLE,
        ),
    }
    return {k: {"figure": v, "limit": lim, "met": v <= lim} for k, (v, lim) in pairs.items()}


#: The function's execution environments in the 200-wait run: Lambda would scale out to
#: about as many as there are requests at once; most of their time is botocore's backoff
#: (sleep), so two cores bear this many.
CONCURRENCY = 32
#: The deadline of the 200 waits (seconds).
THROTTLED_TIMEOUT = 900


def throttled_waits(
    servers: MotoPool, *, waits: int, throttle: float, seed: int, scale: float
) -> dict[str, Any]:
    """``waits`` pending waits in one provider, ended by pushes at seeded moments 10-70 s
    after the Creates, ``throttle`` of the ECR and DynamoDB calls throttled."""
    rng = random.Random(seed)
    pushes = tuple(rng.uniform(10.0, 70.0) for _ in range(waits))
    plan = event_design.Plan(
        push_at=pushes,
        events=True,
        scale=scale,
        throttle=throttle,
        seed=seed,
        timeout_seconds=THROTTLED_TIMEOUT,
        concurrency=min(CONCURRENCY, waits),
    )
    measured = runs.run(servers, plan)
    ok = [w for w in measured.waits if w.status == "SUCCESS"]
    right = [w for w in ok if w.digest_ok]
    latencies = [w.latency for w in right if w.latency is not None]
    figures: dict[str, Any] = {
        "waits": waits,
        "throttled_share": throttle,
        "scale": scale,
        "succeeded": len(ok),
        "true_digest": len(right),
        "not_answered": sum(1 for w in measured.waits if w.status is None),
        "answered_by": _tally(w.answered_by for w in measured.waits),
        "latency": percentiles(latencies),
        "throttled_calls": measured.throttled,
        "function_errors_retried": measured.counts.errors,
        "concurrency": plan.concurrency,
        "counts": measured.counts.to_dict(),
        "wall_seconds": measured.wall_seconds,
        "rule_enabled_at_end": measured.rule_enabled_at_end,
    }
    say(
        f"  {waits} waits, {throttle:.0%} of ECR/DynamoDB calls throttled: {len(ok)} SUCCESS "
        f"({len(right)} with the true digest), {measured.throttled} calls throttled, "
        f"{measured.counts.errors} invocations failed and were retried, "
        f"{measured.wall_seconds:.1f} s of wall clock"
    )
    return figures


def _tally(values: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for value in values:
        out[str(value)] = out.get(str(value), 0) + 1
    return out
