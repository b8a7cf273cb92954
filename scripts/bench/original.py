"""The original design, as a model: one 128 MB x86_64 Node.js function that sleeps.

Its loop as its documentation and public copies describe it (shared seed design):
DescribeImages for the tag; found -> SUCCESS; ImageNotFoundException -> sleep
RetryDelaySeconds (30) and look again, MaxRetries (60) times; all in one invocation, which
Lambda stops at its 15-minute limit, so no answer at all past 15 minutes (60 x 30 s does not
fit). It is billed from the Create until it answers, sleeps included.
"""

from __future__ import annotations

import bisect
import time
from typing import Any

from ecr_image_waiter import names

from . import prices

RETRY_DELAY_SECONDS = float(names.DEFAULT_RETRY_DELAY_SECONDS)
MAX_RETRIES = names.DEFAULT_MAX_RETRIES
#: AWS Lambda's maximum function timeout (Lambda quotas: 900 seconds).
LAMBDA_MAX_SECONDS = 900.0
#: What the function adds to its last look: the response PUT (modelled, generous).
ANSWER_SECONDS = 0.05


def look_seconds(ecr: Any, repository: str, runs: int = 15) -> float:
    """Median time of one DescribeImages at the local ECR (the model's look)."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        ecr.describe_images(repositoryName=repository, imageIds=[{"imageTag": "v1"}])
        times.append(time.perf_counter() - started)
    times.sort()
    return times[len(times) // 2]


def looks(look: float) -> list[float]:
    """When the function starts each look, seconds after the Create, within 15 minutes."""
    found, at = [], 0.0
    for _ in range(MAX_RETRIES):
        if at >= LAMBDA_MAX_SECONDS:
            break
        found.append(at)
        at += look + RETRY_DELAY_SECONDS
    return found


def latency(push_at: float, look: float) -> float | None:
    """Seconds from a push at ``push_at`` to the SUCCESS answer; None: never answered."""
    starts = looks(look)
    index = bisect.bisect_left(starts, push_at)
    if index >= len(starts):
        return None
    return starts[index] + look + ANSWER_SECONDS - push_at


def cost(wait_seconds: float, look: float) -> dict[str, Any]:
    """The bill of a wait whose image is pushed ``wait_seconds`` after the Create."""
    found = latency(wait_seconds, look)
    served = found is not None
    billed = LAMBDA_MAX_SECONDS if found is None else min(wait_seconds + found, LAMBDA_MAX_SECONDS)
    return {
        "served": served,
        "status": "ready" if served else "killed at 15 min, no answer",
        "invocations": 1,
        "billed_seconds_x86_64": round(prices.lambda_seconds(billed), 3),
        "ecr_calls": bisect.bisect_left(looks(look), wait_seconds) + (1 if served else 0),
        "dollars": prices.lambda_invocation(billed, "x86_64"),
    }
