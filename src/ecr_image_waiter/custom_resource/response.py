"""The answer to CloudFormation: the response body, and its PUT to the request's ResponseURL.

As CloudFormation documents it (CloudFormation User Guide, crpg-ref-responses): a JSON body
of at most 4096 bytes with Status, Reason (when FAILED), PhysicalResourceId, StackId,
RequestId, LogicalResourceId and Data, sent with an HTTP PUT whose Content-Type is empty.
The ResponseURL is a presigned S3 URL: it is never logged, and no error message carries it.
"""

from __future__ import annotations

import json
import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from enum import Enum
from typing import Any

from ecr_image_waiter import names

#: Error messages (and so the FAILED reason) are cut to this many UTF-8 bytes, which keeps
#: the whole response under CloudFormation's 4096-byte limit.
MAX_REASON_BYTES = 1000
#: Tries of one PUT on a 5xx answer or a network error, and the pause before each retry
#: (jittered); a later sweep sends an unsent answer again.
PUT_ATTEMPTS = 3
PUT_BACKOFF_SECONDS = 0.5
PUT_TIMEOUT_SECONDS = 10.0


class Sent(Enum):
    """How a PUT of the answer ended."""

    SENT = "sent"
    #: The URL refused the answer (4xx: expired or already used): sending again cannot help.
    REFUSED = "refused"
    #: 5xx answers or network errors on every try: a later attempt may get through.
    FAILED = "failed"


def cap_message(message: str, limit: int = MAX_REASON_BYTES) -> str:
    """``message`` cut to ``limit`` UTF-8 bytes (on a character boundary), marked if cut."""
    data = message.encode("utf-8")
    if len(data) <= limit:
        return message
    return data[: limit - 3].decode("utf-8", errors="ignore") + "..."


def body(
    request: Mapping[str, Any],
    *,
    status: str,
    physical_id: str,
    reason: str | None = None,
    data: Mapping[str, str] | None = None,
) -> str:
    """The response body for ``request`` (a CloudFormation request event), as JSON text."""
    response: dict[str, Any] = {
        "Status": status,
        "PhysicalResourceId": cap_message(physical_id, names.PHYSICAL_ID_MAX_BYTES),
        "StackId": str(request.get("StackId", "")),
        "RequestId": str(request.get("RequestId", "")),
        "LogicalResourceId": str(request.get("LogicalResourceId", "")),
    }
    if reason is not None:
        response["Reason"] = cap_message(reason)
    if data:
        response["Data"] = dict(data)
    text = json.dumps(response, separators=(",", ":"))
    if len(text.encode("utf-8")) > names.CLOUDFORMATION_RESPONSE_MAX_BYTES:
        # Only a request with oversized ids can get here; the answer must still fit.
        response.pop("Data", None)
        response["Reason"] = cap_message(str(reason or "the response did not fit"), 200)
        text = json.dumps(response, separators=(",", ":"))
    return text


def put(
    url: str,
    text: str,
    *,
    attempts: int = PUT_ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
    opener: Callable[..., Any] = urllib.request.urlopen,
) -> tuple[Sent, str]:
    """PUT ``text`` to ``url`` with an empty Content-Type; ``(how it ended, what was seen)``.

    What was seen is an HTTP status or an exception's class name: never the URL.
    """
    if not url.lower().startswith(("https://", "http://")):
        return Sent.REFUSED, "not an http(s) URL"
    data = text.encode("utf-8")
    seen = ""
    for attempt in range(1, attempts + 1):
        request = urllib.request.Request(url, data=data, method="PUT")  # noqa: S310
        request.add_header("Content-Type", "")
        request.add_header("Content-Length", str(len(data)))
        try:
            with opener(request, timeout=PUT_TIMEOUT_SECONDS) as answer:
                answer.read()
                return Sent.SENT, f"HTTP {answer.status}"
        except urllib.error.HTTPError as error:
            seen = f"HTTP {error.code}"
            error.close()
            if error.code < 500:
                return Sent.REFUSED, seen
        except (OSError, ValueError) as error:
            seen = type(error).__name__
        if attempt < attempts:
            sleep(PUT_BACKOFF_SECONDS * attempt * (0.5 + random.random()))  # noqa: S311
    return Sent.FAILED, seen
