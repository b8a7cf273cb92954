"""What the provider's tests share: its table and sweep rule, CloudFormation requests, the
events EventBridge delivers, a fake clock, a recording response PUT, and the provider run
in process (``WaitService``) or through its real entry point against the moto server.

The request shapes follow tests/events/*.json (as CloudFormation sends them to the
provider's function); the event shapes follow the EventBridge samples of the ECR, CodeBuild
and EventBridge user guides.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3

from ecr_image_waiter import names
from ecr_image_waiter.custom_resource import handler as entry
from ecr_image_waiter.custom_resource.response import Sent
from ecr_image_waiter.custom_resource.store import WaitStore
from ecr_image_waiter.custom_resource.sweep import SweepSwitch
from ecr_image_waiter.custom_resource.waits import WaitService
from ecr_image_waiter.local.support import FakeClock as SharedFakeClock
from tests.conftest import ACCOUNT, REGION

EVENTS = Path(__file__).parent / "events"
REGISTRY = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
START = 1_800_000_000.0
TABLE = "ecr-image-waiter-waits"
RULE = "ecr-image-waiter-sweep"
BUCKET = "cfn-responses"


class FakeClock(SharedFakeClock):
    """The shared fake clock (epoch seconds), starting at :data:`START`."""

    def __init__(self, start: float = START) -> None:
        super().__init__(start)


# --- the provider's resources -----------------------------------------------------------------


def create_resources(*, table: str = TABLE, rule: str = RULE, endpoint: str | None = None) -> None:
    """The table of waits (the construct's key schema) and the sweep rule, disabled."""
    boto3.client("dynamodb", region_name=REGION, endpoint_url=endpoint).create_table(
        TableName=table,
        KeySchema=[
            {"AttributeName": names.TABLE_PARTITION_KEY, "KeyType": "HASH"},
            {"AttributeName": names.TABLE_SORT_KEY, "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": names.TABLE_PARTITION_KEY, "AttributeType": "S"},
            {"AttributeName": names.TABLE_SORT_KEY, "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    boto3.client("events", region_name=REGION, endpoint_url=endpoint).put_rule(
        Name=rule,
        ScheduleExpression=f"rate({names.SWEEP_PERIOD_SECONDS // 60} minute)",
        State="DISABLED",
    )


def rule_state(*, rule: str = RULE, endpoint: str | None = None) -> str:
    events = boto3.client("events", region_name=REGION, endpoint_url=endpoint)
    return str(events.describe_rule(Name=rule)["State"])


def stored(*, table: str = TABLE, endpoint: str | None = None) -> list[Any]:
    """Every wait item of the table (the sweep's flag left out)."""
    client = boto3.client("dynamodb", region_name=REGION, endpoint_url=endpoint)
    return list(WaitStore(table, client).everything())


# --- CloudFormation requests ------------------------------------------------------------------


def request(
    kind: str = "Create",
    *,
    url: str | None = None,
    request_id: str | None = None,
    physical_id: str | None = None,
    logical_id: str | None = None,
    **props: str,
) -> dict[str, Any]:
    """A request from tests/events/<kind>.json with these ResourceProperties (ServiceToken
    kept), a fresh RequestId unless given, and ``url`` as its ResponseURL if given."""
    data: dict[str, Any] = json.loads((EVENTS / f"{kind.lower()}.json").read_text())
    data["ResourceProperties"] = {names.PROP_SERVICE_TOKEN: data["ServiceToken"], **props}
    fixture_id, data["RequestId"] = data["RequestId"], request_id or str(uuid.uuid4())
    # Each request has its own ResponseURL (the fixture's names its RequestId).
    data["ResponseURL"] = data["ResponseURL"].replace(fixture_id, data["RequestId"])
    if url is not None:
        data["ResponseURL"] = url
    if physical_id is not None:
        data["PhysicalResourceId"] = physical_id
    if logical_id is not None:
        data["LogicalResourceId"] = logical_id
    return data


# --- events -----------------------------------------------------------------------------------


def _event(source: str, detail_type: str, detail: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": ACCOUNT,
        "time": "2027-01-15T08:00:00Z",
        "region": REGION,
        "resources": [],
        "detail": detail,
    }


def push_event(
    repository: str, digest: str, tag: str = "", *, result: str = "SUCCESS"
) -> dict[str, Any]:
    """ECR's "ECR Image Action" for a push (``tag`` empty for an untagged child)."""
    return _event(
        names.ECR_EVENT_SOURCE,
        names.ECR_EVENT_DETAIL_TYPE,
        {
            "result": result,
            "repository-name": repository,
            "image-digest": digest,
            "action-type": "PUSH",
            "image-tag": tag,
        },
    )


def build_event(project: str, status: str, build_id: str | None = None) -> dict[str, Any]:
    """CodeBuild's "Build State Change"."""
    build_id = build_id or f"{project}:b7"
    return _event(
        names.CODEBUILD_EVENT_SOURCE,
        names.CODEBUILD_EVENT_DETAIL_TYPE,
        {
            "build-status": status,
            "project-name": project,
            "build-id": f"arn:aws:codebuild:{REGION}:{ACCOUNT}:build/{build_id}",
            "current-phase": "COMPLETED",
        },
    )


def pipeline_event(pipeline: str, state: str, execution: str = "exec-1") -> dict[str, Any]:
    """CodePipeline's "Pipeline Execution State Change"."""
    return _event(
        names.CODEPIPELINE_EVENT_SOURCE,
        names.CODEPIPELINE_EVENT_DETAIL_TYPE,
        {"pipeline": pipeline, "execution-id": execution, "state": state, "version": 1},
    )


def sweep_event() -> dict[str, Any]:
    """What the sweep rule delivers once a minute."""
    return _event(names.SCHEDULED_EVENT_SOURCE, names.SCHEDULED_EVENT_DETAIL_TYPE, {})


# --- the answers ------------------------------------------------------------------------------


@dataclass
class RecordingPut:
    """Stands in for the response PUT: records (url, body) and answers from ``script`` (then
    ``Sent.SENT``)."""

    script: list[tuple[Sent, str]] = field(default_factory=list)
    calls: list[tuple[str, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __call__(self, url: str, text: str) -> tuple[Sent, str]:
        with self._lock:
            self.calls.append((url, text))
            return self.script.pop(0) if self.script else (Sent.SENT, "HTTP 200")

    def answers(self, req: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """The bodies sent, parsed (for one request if given, matched by its ResponseURL)."""
        with self._lock:
            calls = list(self.calls)
        return [json.loads(text) for url, text in calls if req is None or url == req["ResponseURL"]]

    def one(self, req: dict[str, Any]) -> dict[str, Any]:
        """The one answer to ``req``; fails if there is none or more than one."""
        found = self.answers(req)
        assert len(found) == 1, f"{len(found)} answers to {req['RequestId']}: {found}"
        return found[0]


class AtomicWrites:
    """A DynamoDB client whose calls run one at a time.

    DynamoDB applies each conditional write atomically; moto in process checks the condition
    and then writes, and threads can interleave the two (two conditional updates of one
    item both passing were seen here). The tests that race threads need DynamoDB's
    guarantee, which this lock gives them.
    """

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.Lock()
        self.exceptions = client.exceptions

    def __getattr__(self, name: str) -> Any:
        call = getattr(self._client, name)

        def locked(**kwargs: Any) -> Any:
            with self._lock:
                return call(**kwargs)

        return locked


def service(
    clock: Callable[[], float],
    put: Callable[[str, str], tuple[Sent, str]],
    *,
    lookup_factory: Any = None,
    watch_factory: Any = None,
    events: Any = None,
    dynamodb: Any = None,
    table: str = TABLE,
    rule: str = RULE,
) -> WaitService:
    """The provider's logic as its entry point builds it, with a fake clock, a recording PUT
    and, if given, other lookups, build watches or clients."""
    client = dynamodb or AtomicWrites(boto3.client("dynamodb", region_name=REGION))
    store = WaitStore(table, client)
    return WaitService(
        store=store,
        sweep=SweepSwitch(rule, events or boto3.client("events", region_name=REGION), store),
        lookup_factory=lookup_factory or entry.default_lookup,
        watch_factory=watch_factory or entry.default_watch,
        clock=clock,
        put=put,
    )


# --- through the real entry point against the moto server ---------------------------------------


class ServerProvider:
    """The provider's function as Lambda runs it: ``handler()`` configured by environment
    variables, every client on the moto server, the ResponseURL a presigned S3 PUT URL on it.

    Each instance has its own table and rule, so the container's cached service is a new one.
    """

    def __init__(self, server_url: str, monkeypatch: Any, *, endpoint: str | None = None) -> None:
        self.server_url = server_url
        suffix = uuid.uuid4().hex[:8]
        self.table = f"waits-{suffix}"
        self.rule = f"sweep-{suffix}"
        create_resources(table=self.table, rule=self.rule, endpoint=server_url)
        self.s3 = boto3.client("s3", region_name=REGION, endpoint_url=server_url)
        self.s3.create_bucket(Bucket=BUCKET)
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint or server_url)
        monkeypatch.setenv(names.ENV_TABLE_NAME, self.table)
        monkeypatch.setenv(names.ENV_SWEEP_RULE_NAME, self.rule)

    def request(self, kind: str = "Create", **kwargs: Any) -> dict[str, Any]:
        """A request whose ResponseURL is a presigned PUT of the object named by its id."""
        req = request(kind, **kwargs)
        req["ResponseURL"] = self.s3.generate_presigned_url(
            "put_object", Params={"Bucket": BUCKET, "Key": req["RequestId"]}, ExpiresIn=7200
        )
        return req

    def __call__(self, event: dict[str, Any]) -> None:
        entry.handler(event, None)

    def answer(self, req: dict[str, Any]) -> dict[str, Any] | None:
        """What CloudFormation would have read from the ResponseURL, or None."""
        try:
            body = self.s3.get_object(Bucket=BUCKET, Key=req["RequestId"])["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            return None
        answer: dict[str, Any] = json.loads(body)
        return answer

    def rule_state(self) -> str:
        return rule_state(rule=self.rule, endpoint=self.server_url)

    def stored(self) -> list[Any]:
        return stored(table=self.table, endpoint=self.server_url)


def json_lines(records: Iterator[Any] | list[Any]) -> list[dict[str, Any]]:
    """The provider's JSON log lines among captured log records."""
    lines = []
    for record in records:
        if record.name.startswith("ecr_image_waiter.custom_resource"):
            lines.append(json.loads(record.getMessage()))
    return lines


@dataclass
class InProcess:
    """The provider's logic against moto in process: a fake clock, a recording PUT, and
    ``handle`` routing an event as the entry point does."""

    ecr: Any
    clock: FakeClock
    put: RecordingPut
    service: WaitService

    def handle(self, event: dict[str, Any]) -> None:
        if "RequestType" in event:
            self.service.on_request(event)
        elif event["source"] == names.ECR_EVENT_SOURCE:
            self.service.on_push(event)
        elif event["source"] == names.SCHEDULED_EVENT_SOURCE:
            self.service.on_sweep()
        else:
            self.service.on_build(event)

    def sweep(self, after: float = names.SWEEP_PERIOD_SECONDS) -> None:
        """Let ``after`` seconds pass, then run the sweep."""
        self.clock.advance(after)
        self.service.on_sweep()


def in_process(ecr: Any, **kwargs: Any) -> InProcess:
    """Create the table and the rule in moto, and the service on them (``service`` kwargs)."""
    create_resources()
    clock = kwargs.pop("clock", None) or FakeClock()
    put = kwargs.pop("put", None) or RecordingPut()
    return InProcess(ecr, clock, put, service(clock, put, **kwargs))


@dataclass(frozen=True)
class Received:
    """One request a ResponseEndpoint got."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class ResponseEndpoint:
    """A stand-in for the presigned S3 URL on 127.0.0.1: records every request and answers
    the statuses in ``script`` in turn (then 200)."""

    def __init__(self, script: list[int] | None = None) -> None:
        self.script = list(script or [])
        self.received: list[Received] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                endpoint.received.append(
                    Received(self.command, self.path, dict(self.headers.items()), body)
                )
                status = endpoint.script.pop(0) if endpoint.script else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_POST = do_PUT

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, key: str = "response") -> str:
        """A URL shaped like a presigned one (its signature must never be logged)."""
        port = self.server.server_address[1]
        return (
            f"http://127.0.0.1:{port}/{key}?X-Amz-Algorithm=AWS4-HMAC-SHA256"
            "&X-Amz-Expires=7200&X-Amz-Signature=5ecre7516na7ure5ecre7516na7ure"
        )

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
