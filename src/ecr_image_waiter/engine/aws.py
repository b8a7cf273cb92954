"""AWS clients for the Lambda code: made on first use, one per service and configuration.

Every client has botocore's ``standard`` retry mode (throttling, 5xx answers and dropped
connections are retried with jittered backoff) and the timeouts of :mod:`.lookup`. In Lambda
the environment never changes, so this is one client per service per container; in tests a
changed endpoint or region gets its own client.
"""

from __future__ import annotations

import os
from typing import Any

_CLIENTS: dict[tuple[str | None, ...], Any] = {}


def _key(service: str) -> tuple[str | None, ...]:
    env = os.environ
    return (
        service,
        env.get("AWS_REGION"),
        env.get("AWS_DEFAULT_REGION"),
        env.get(f"AWS_ENDPOINT_URL_{service.upper()}"),
        env.get("AWS_ENDPOINT_URL"),
    )


def shared_client(service: str) -> Any:
    """The container's client for ``service`` (``ecr``, ``dynamodb``, ``events``, ...).

    Raises botocore's errors when no client can be made (no region, say).
    """
    from ecr_image_waiter.engine.lookup import make_service_client

    key = _key(service)
    client = _CLIENTS.get(key)
    if client is None:
        client = make_service_client(service)
        _CLIENTS[key] = client
    return client


def try_shared_client(service: str) -> Any | None:
    """:func:`shared_client`, or None when it cannot be made yet (the caller then makes its
    own on first use and reports the failure as an observation with its remedy)."""
    from botocore.exceptions import BotoCoreError

    try:
        return shared_client(service)
    except BotoCoreError:
        return None
