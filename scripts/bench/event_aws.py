"""The AWS side of the event design's runs: the function's containers and clients, our own
clients, and the events CloudFormation, ECR and the sweep rule send.

A container is one set of the function's clients (from boto3's default session, so the
meter counts their calls); an invocation takes an idle one or makes one, as Lambda does.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

from ecr_image_waiter import names
from ecr_image_waiter.engine.lookup import (
    CONNECT_TIMEOUT_SECONDS,
    READ_TIMEOUT_SECONDS,
    RETRY_CONFIG,
)

from . import support
from .support import ACCOUNT, REGION

_CLIENTS: dict[tuple[str, ...], dict[str, Any]] = {}
#: Free "containers" (each one set of the function's clients) per endpoint triple.
_IDLE: dict[tuple[str, ...], list[dict[str, Any]]] = {}
_CLIENTS_LOCK = threading.Lock()


class Containers:
    """Lambda's containers, as far as the clients go: an invocation takes an idle one or
    makes a new one (its own clients, so its own botocore retry quota, as in Lambda), and
    gives it back when done; containers are kept warm across runs."""

    def __init__(self, endpoint: str, ecr_endpoint: str, ddb_endpoint: str) -> None:
        self.key = (endpoint, ecr_endpoint, ddb_endpoint)

    def take(self) -> dict[str, Any]:
        with _CLIENTS_LOCK:
            idle = _IDLE.setdefault(self.key, [])
            if idle:
                return idle.pop()
        return make_clients(*self.key)

    def give(self, clients: dict[str, Any]) -> None:
        with _CLIENTS_LOCK:
            _IDLE.setdefault(self.key, []).append(clients)


def make_clients(endpoint: str, ecr_endpoint: str, ddb_endpoint: str) -> dict[str, Any]:
    import boto3
    from botocore.config import Config

    config = Config(
        retries=dict(RETRY_CONFIG),  # type: ignore[arg-type]
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
        max_pool_connections=64,
    )
    made = {
        "ecr": boto3.client("ecr", region_name=REGION, endpoint_url=ecr_endpoint, config=config),
        "dynamodb": boto3.client(
            "dynamodb", region_name=REGION, endpoint_url=ddb_endpoint, config=config
        ),
        "events": boto3.client("events", region_name=REGION, endpoint_url=endpoint, config=config),
    }
    made["ecr"].meta.events.register("before-send.ecr.GetDownloadUrlForLayer", support.no_blob)
    return made


def harness(endpoint: str) -> dict[str, Any]:
    """Our own clients (another session: not counted as the function's calls)."""
    import boto3
    from botocore.config import Config

    with _CLIENTS_LOCK:
        key = ("harness", endpoint)
        if key not in _CLIENTS:
            session = boto3.Session(region_name=REGION)
            config = Config(max_pool_connections=64)
            _CLIENTS[key] = {
                s: session.client(s, endpoint_url=endpoint, config=config)
                for s in ("ecr", "dynamodb", "events", "s3")
            }
        return _CLIENTS[key]


def request(run_id: str, index: int, repository: str, url: str, timeout: int) -> dict[str, Any]:
    return {
        "RequestType": "Create",
        "RequestId": f"{run_id}-{index}",
        "StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/bench/{run_id}",
        "LogicalResourceId": f"Waiter{index}",
        "ResponseURL": url,
        "ResourceType": names.RESOURCE_TYPE,
        "ServiceToken": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:bench",
        "ResourceProperties": {
            names.PROP_SERVICE_TOKEN: f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:bench",
            names.PROP_REPOSITORY_NAME: repository,
            names.PROP_IMAGE_TAG: "v1",
            names.PROP_TIMEOUT_SECONDS: str(timeout),
        },
    }


def push_event(repository: str, digest: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": names.ECR_EVENT_DETAIL_TYPE,
        "source": names.ECR_EVENT_SOURCE,
        "account": ACCOUNT,
        "region": REGION,
        "resources": [],
        "detail": {
            "result": "SUCCESS",
            "repository-name": repository,
            "image-digest": digest,
            "action-type": "PUSH",
            "image-tag": "v1",
        },
    }


SWEEP_EVENT = {"source": names.SCHEDULED_EVENT_SOURCE, "detail-type": "Scheduled Event"}
