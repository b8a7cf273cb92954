"""Prices (us-east-1, on demand, first tier, free tiers not counted) and what they come from.

Every figure the benchmark prices is a count the run made times one of these. Lambda and
Step Functions are AWS's pricing pages; the DynamoDB on-demand figures are third-party
quotes of the prices after AWS's November 2024 cut (docs/benchmarks.md says so again).
"""

from __future__ import annotations

import math

#: AWS Lambda pricing (https://aws.amazon.com/lambda/pricing/): $0.20 per 1M requests;
#: duration $0.0000166667 per GB-s on x86_64 and $0.0000133334 per GB-s on arm64, billed in
#: 1 ms increments.
LAMBDA_REQUEST = 0.20 / 1_000_000
LAMBDA_GB_SECOND = {"x86_64": 0.0000166667, "arm64": 0.0000133334}
MEMORY_GB = 128 / 1024
#: AWS Step Functions Standard (https://aws.amazon.com/step-functions/pricing/): $0.025 per
#: 1,000 state transitions; the Provider framework's design paid one per attempt.
SFN_TRANSITION = 0.025 / 1000
#: DynamoDB on demand, third-party quotes: about $0.625 per million write request units and
#: $0.125 per million read request units; storage $0.25 per GB-month and continuous
#: backups (PITR) $0.20 per GB-month (https://aws.amazon.com/dynamodb/pricing/on-demand/).
DYNAMODB_WRITE_UNIT = 0.625 / 1_000_000
DYNAMODB_READ_UNIT = 0.125 / 1_000_000
DYNAMODB_STORAGE_GB_MONTH = 0.25
DYNAMODB_PITR_GB_MONTH = 0.20
#: Amazon EventBridge (https://aws.amazon.com/eventbridge/pricing/): events published by AWS
#: services to the default bus, the scheduled events of a rule, and rules themselves are
#: free; the Lambda invocations they cause are billed as Lambda.
EVENTBRIDGE_SERVICE_EVENT = 0.0
#: EventBridge Scheduler: $1.00 per million invocations past 14M free (third-party quote);
#: the event design uses no schedule, the count stays 0.
SCHEDULER_INVOCATION = 1.00 / 1_000_000
#: Amazon ECR (https://aws.amazon.com/ecr/pricing/): no per-request charge for API calls.
ECR_CALL = 0.0

SOURCES = {
    "AWS Lambda": "https://aws.amazon.com/lambda/pricing/",
    "AWS Step Functions": "https://aws.amazon.com/step-functions/pricing/",
    "Amazon DynamoDB (on demand; third-party quotes)": (
        "https://aws.amazon.com/dynamodb/pricing/on-demand/"
    ),
    "Amazon EventBridge": "https://aws.amazon.com/eventbridge/pricing/",
    "Amazon ECR": "https://aws.amazon.com/ecr/pricing/",
}

#: Push -> rule -> target delivery: AWS publishes no latency figure for EventBridge. A
#: third-party report quotes 80 ms p90 end to end (Amazon Key case study, AWS Architecture
#: Blog, 2026-02-04, seen only in summaries); it is added to our measured part, as a p99.
EVENT_DELAY_SECONDS = 0.080
EVENT_DELAY_SOURCE = (
    "80 ms p90 end to end, a third-party figure (Amazon Key case study, AWS Architecture "
    "Blog, 2026-02-04, seen only in summaries); AWS publishes no EventBridge latency figure"
)


def lambda_seconds(seconds: float) -> float:
    """Billed seconds of one invocation: rounded up to the millisecond."""
    return math.ceil(max(seconds, 0.0) * 1000 - 1e-9) / 1000


def lambda_invocation(seconds: float, arch: str) -> float:
    """Dollars for one 128 MB invocation of ``seconds`` on ``arch``."""
    return LAMBDA_REQUEST + lambda_seconds(seconds) * MEMORY_GB * LAMBDA_GB_SECOND[arch]


def per_second(arch: str) -> float:
    """Dollars per second of a 128 MB function on ``arch``."""
    return MEMORY_GB * LAMBDA_GB_SECOND[arch]


def table() -> dict[str, float]:
    """The prices, for benchmarks.json."""
    return {
        "lambda_request": LAMBDA_REQUEST,
        "lambda_128mb_second_x86_64": per_second("x86_64"),
        "lambda_128mb_second_arm64": per_second("arm64"),
        "sfn_state_transition": SFN_TRANSITION,
        "dynamodb_write_unit": DYNAMODB_WRITE_UNIT,
        "dynamodb_read_unit": DYNAMODB_READ_UNIT,
        "dynamodb_storage_gb_month": DYNAMODB_STORAGE_GB_MONTH,
        "dynamodb_pitr_gb_month": DYNAMODB_PITR_GB_MONTH,
        "eventbridge_service_event": EVENTBRIDGE_SERVICE_EVENT,
        "scheduler_invocation": SCHEDULER_INVOCATION,
        "ecr_call": ECR_CALL,
        "event_delay_seconds_cited": EVENT_DELAY_SECONDS,
    }
