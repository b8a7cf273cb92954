"""One JSON line per event and per look at ECR, on this package's logger.

Only the fields named here are ever written: the event's ResponseURL (a presigned URL),
credentials and the raw event never reach a log line. Nothing is configured at import time;
:func:`enable` gives the logger the INFO level on the first invocation unless the Lambda
runtime's log level setting (``AWS_LAMBDA_LOG_LEVEL``) or the caller has chosen one, and
keeps the AWS SDK's DEBUG lines out.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

LOGGER = logging.getLogger("ecr_image_waiter.custom_resource")

#: The only keys a log line may carry.
FIELDS = (
    #: What woke the provider: cloudformation, ecr, aws.codebuild, aws.codepipeline, sweep.
    "source",
    "event",
    "requestType",
    "logicalResourceId",
    "physicalResourceId",
    "repository",
    "reference",
    "verdict",
    "code",
    "message",
    "elapsed",
    "remaining",
    "imageUri",
    #: A ready image's architecture, or ``unknown: <why>`` when it was looked for and could
    #: not be read.
    "architecture",
    "error",
    #: The build or execution started (or followed) for this request.
    "run",
    #: The number of this wait's look, and how many waits an event or sweep woke.
    "attempt",
    "pending",
    "status",
)
#: Longest string value in a log line (ECR messages can be long).
MAX_VALUE_CHARS = 500


#: The AWS SDK's loggers: at DEBUG they write request and response bodies, and the wait
#: table's items hold each request's ResponseURL (a presigned URL).
SDK_LOGGERS = ("botocore", "boto3", "urllib3")


def enable() -> None:
    """Let INFO lines through, unless a level was already chosen; keep the AWS SDK's DEBUG
    lines (request bodies, with the stored ResponseURLs) out even when the function's log
    level is DEBUG, unless a level was chosen for them."""
    if LOGGER.level == logging.NOTSET and not os.environ.get("AWS_LAMBDA_LOG_LEVEL"):
        LOGGER.setLevel(logging.INFO)
    for name in SDK_LOGGERS:
        sdk = logging.getLogger(name)
        if sdk.level == logging.NOTSET:
            sdk.setLevel(logging.INFO)


def log_line(**fields: Any) -> None:
    """Write one JSON line with the known ``fields`` (unknown keys are a programming error)."""
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise ValueError(f"log fields not allowed: {sorted(unknown)}")
    record: dict[str, Any] = {}
    for key in FIELDS:
        value = fields.get(key)
        if value is None:
            continue
        if isinstance(value, float):
            value = round(value, 3)
        elif isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
            value = value[: MAX_VALUE_CHARS - 3] + "..."
        record[key] = value
    LOGGER.info("%s", json.dumps(record, ensure_ascii=False, sort_keys=False))
