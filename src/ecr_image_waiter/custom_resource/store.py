"""The table of waits: one item per CloudFormation request, written with conditions.

A request that cannot be answered at once is stored as a pending wait under its repository
(so a push event finds the waits of its repository with one query). Every answer is a
conditional write first (pending -> answered, or a new answered item): of the invocations
that race to answer a request (a push event, the sweep, Lambda's retry of the request, a
re-sent request), exactly one wins and sends it. The item keeps the answer until it is sent,
so a PUT that failed is sent again by a later sweep.

The item also holds the request's ResponseURL (a presigned URL): it is read back only to
answer, and never logged.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ecr_image_waiter import names

PENDING = "pending"
ANSWERED = "answered"
DROPPED = "dropped"
#: The item that says whether the sweep is on (see :mod:`.sweep`).
SWEEP_KEY = {names.TABLE_PARTITION_KEY: "sweep", names.TABLE_SORT_KEY: "state"}
#: Longest repository part of a partition key, in UTF-8 bytes (DynamoDB allows 2048 bytes).
_PK_BYTES = 1024


def _pk(name: str) -> str:
    data = name.encode("utf-8", errors="ignore")[:_PK_BYTES]
    return "repo#" + data.decode("utf-8", errors="ignore")


def partition_of(request: Mapping[str, Any]) -> str:
    """The partition of a request: its RepositoryName property as given (not validated, so
    every retry of a request, valid or not, lands on the same item)."""
    props = request.get("ResourceProperties")
    name = props.get(names.PROP_REPOSITORY_NAME) if isinstance(props, Mapping) else None
    return _pk(name if isinstance(name, str) else "")


def partition_for_repository(repository: str) -> str:
    return _pk(repository)


def request_key(request: Mapping[str, Any]) -> str:
    """The same for every delivery of one request (CloudFormation's StackId, logical id and
    RequestId), different for every other request."""
    parts = [str(request.get(key, "")) for key in ("StackId", "LogicalResourceId", "RequestId")]
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()[:40]


@dataclass(frozen=True)
class Wait:
    """One request's item."""

    pk: str
    sk: str
    status: str
    #: The CloudFormation request event, ResponseURL included.
    request: dict[str, Any]
    started_at: float
    deadline: float
    #: Seconds between this wait's looks (the sweep's period unless IntervalSeconds is longer).
    interval: float
    next_look_at: float
    attempts: int = 0
    last_code: str | None = None
    last_message: str | None = None
    #: The build or execution started (or followed) for this request.
    run: str | None = None
    project: str | None = None
    pipeline: str | None = None
    #: The answer's JSON body, once answered.
    body: str | None = None
    sent: bool = False
    refused: bool = False
    send_rounds: int = 0
    #: When the answer was claimed, or when its latest re-send was taken.
    answered_at: float | None = None
    expires_at: int = 0

    @property
    def request_type(self) -> str:
        return str(self.request.get("RequestType", ""))

    @property
    def logical_id(self) -> str | None:
        value = self.request.get("LogicalResourceId")
        return value[:300] if isinstance(value, str) else None


def _to_item(wait: Wait) -> dict[str, Any]:
    item: dict[str, Any] = {
        names.TABLE_PARTITION_KEY: {"S": wait.pk},
        names.TABLE_SORT_KEY: {"S": wait.sk},
        "status": {"S": wait.status},
        "request": {"S": json.dumps(wait.request, separators=(",", ":"))},
        "startedAt": {"N": repr(wait.started_at)},
        "deadline": {"N": repr(wait.deadline)},
        "interval": {"N": repr(wait.interval)},
        "nextLookAt": {"N": repr(wait.next_look_at)},
        "attempts": {"N": str(wait.attempts)},
        "sent": {"BOOL": wait.sent},
        "refused": {"BOOL": wait.refused},
        "sendRounds": {"N": str(wait.send_rounds)},
        names.TABLE_TTL_ATTRIBUTE: {"N": str(wait.expires_at)},
    }
    optional = {
        "lastCode": wait.last_code,
        "lastMessage": wait.last_message,
        "run": wait.run,
        "project": wait.project,
        "pipeline": wait.pipeline,
        "body": wait.body,
    }
    for key, value in optional.items():
        if value is not None:
            item[key] = {"S": value}
    if wait.answered_at is not None:
        item["answeredAt"] = {"N": repr(wait.answered_at)}
    return item


def _from_item(item: Mapping[str, Any]) -> Wait:
    def text(key: str) -> str | None:
        value = item.get(key)
        return str(value["S"]) if value and "S" in value else None

    def number(key: str, default: float = 0.0) -> float:
        value = item.get(key)
        return float(value["N"]) if value and "N" in value else default

    def flag(key: str) -> bool:
        value = item.get(key)
        return bool(value.get("BOOL")) if value else False

    answered = item.get("answeredAt")
    return Wait(
        pk=text(names.TABLE_PARTITION_KEY) or "",
        sk=text(names.TABLE_SORT_KEY) or "",
        status=text("status") or DROPPED,
        request=json.loads(text("request") or "{}"),
        started_at=number("startedAt"),
        deadline=number("deadline"),
        interval=number("interval", float(names.SWEEP_PERIOD_SECONDS)),
        next_look_at=number("nextLookAt"),
        attempts=int(number("attempts")),
        last_code=text("lastCode"),
        last_message=text("lastMessage"),
        run=text("run"),
        project=text("project"),
        pipeline=text("pipeline"),
        body=text("body"),
        sent=flag("sent"),
        refused=flag("refused"),
        send_rounds=int(number("sendRounds")),
        answered_at=float(answered["N"]) if answered else None,
        expires_at=int(number(names.TABLE_TTL_ATTRIBUTE)),
    )


def _keys(wait: Wait) -> dict[str, Any]:
    return {names.TABLE_PARTITION_KEY: {"S": wait.pk}, names.TABLE_SORT_KEY: {"S": wait.sk}}


class WaitStore:
    """The table's reads and conditional writes (a boto3 DynamoDB client is injected)."""

    def __init__(self, table: str, client: Any) -> None:
        self.table = table
        self.client = client

    def _conditional(self, call: str, **kwargs: Any) -> bool:
        """Run a conditional write: True if it was applied, False if its condition failed."""
        try:
            getattr(self.client, call)(TableName=self.table, **kwargs)
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def get(self, pk: str, sk: str) -> Wait | None:
        answer = self.client.get_item(
            TableName=self.table,
            Key={names.TABLE_PARTITION_KEY: {"S": pk}, names.TABLE_SORT_KEY: {"S": sk}},
            ConsistentRead=True,
        )
        item = answer.get("Item")
        return _from_item(item) if item else None

    def add(self, wait: Wait) -> Wait | None:
        """Store a new item; None if stored, else the item already there (the same request
        delivered again)."""
        if self._conditional(
            "put_item",
            Item=_to_item(wait),
            ConditionExpression="attribute_not_exists(#pk)",
            ExpressionAttributeNames={"#pk": names.TABLE_PARTITION_KEY},
        ):
            return None
        return self.get(wait.pk, wait.sk) or wait

    def claim(self, wait: Wait, body: str, now: float) -> bool:
        """pending -> answered with ``body``; True for the one caller that made the change."""
        return self._conditional(
            "update_item",
            Key=_keys(wait),
            UpdateExpression="SET #s = :answered, body = :body, answeredAt = :now, "
            "sent = :false, sendRounds = :one, #ttl = :ttl",
            ConditionExpression="#s = :pending",
            ExpressionAttributeNames={"#s": "status", "#ttl": names.TABLE_TTL_ATTRIBUTE},
            ExpressionAttributeValues={
                ":answered": {"S": ANSWERED},
                ":pending": {"S": PENDING},
                ":body": {"S": body},
                ":now": {"N": repr(now)},
                ":false": {"BOOL": False},
                ":one": {"N": "1"},
                ":ttl": {"N": str(int(now) + names.ANSWERED_RETENTION_SECONDS)},
            },
        )

    def record_miss(self, wait: Wait, *, code: str, message: str, next_look_at: float) -> bool:
        """Count a look that found nothing (only while the wait is pending)."""
        return self._conditional(
            "update_item",
            Key=_keys(wait),
            UpdateExpression="SET attempts = attempts + :one, lastCode = :code, "
            "lastMessage = :message, nextLookAt = :next",
            ConditionExpression="#s = :pending",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":one": {"N": "1"},
                ":code": {"S": code},
                ":message": {"S": message[:1000]},
                ":next": {"N": repr(next_look_at)},
                ":pending": {"S": PENDING},
            },
        )

    def set_run(self, wait: Wait, run: str) -> bool:
        """Record the build started for the request, once."""
        return self._conditional(
            "update_item",
            Key=_keys(wait),
            UpdateExpression="SET #run = :run",
            ConditionExpression="attribute_not_exists(#run)",
            ExpressionAttributeNames={"#run": "run"},
            ExpressionAttributeValues={":run": {"S": run}},
        )

    def sent(self, wait: Wait, *, refused: bool, delivered: bool) -> None:
        """Record how one round of sending the answer ended (the round itself is counted
        when it is taken: by :meth:`claim`, :meth:`take_resend`, or a new answered item)."""
        self.client.update_item(
            TableName=self.table,
            Key=_keys(wait),
            UpdateExpression="SET sent = :sent, refused = :refused",
            ExpressionAttributeValues={
                ":sent": {"BOOL": delivered},
                ":refused": {"BOOL": refused},
            },
        )

    def take_resend(self, wait: Wait, now: float) -> bool:
        """Claim one more round of sending an unsent answer (one sweep at a time).

        The round's start is stamped as ``answeredAt``: a sweep that reads the item while
        this round's PUT is still under way then finds it not yet due for a re-send, instead
        of taking the next round and PUTting the same answer a second time.
        """
        return self._conditional(
            "update_item",
            Key=_keys(wait),
            UpdateExpression="SET sendRounds = sendRounds + :one, answeredAt = :now",
            ConditionExpression="sendRounds = :rounds AND sent = :false AND refused = :false",
            ExpressionAttributeValues={
                ":one": {"N": "1"},
                ":now": {"N": repr(now)},
                ":rounds": {"N": str(wait.send_rounds)},
                ":false": {"BOOL": False},
            },
        )

    def drop(self, wait: Wait) -> bool:
        """pending -> dropped (its resource was deleted); no answer is sent."""
        return self._conditional(
            "update_item",
            Key=_keys(wait),
            UpdateExpression="SET #s = :dropped",
            ConditionExpression="#s = :pending",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":dropped": {"S": DROPPED}, ":pending": {"S": PENDING}},
        )

    def in_partition(self, pk: str) -> list[Wait]:
        """Every item of one repository (strongly consistent)."""
        found: list[Wait] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": names.TABLE_PARTITION_KEY},
            "ExpressionAttributeValues": {":pk": {"S": pk}},
            "ConsistentRead": True,
        }
        while True:
            page = self.client.query(**kwargs)
            found.extend(_from_item(item) for item in page.get("Items", []))
            start = page.get("LastEvaluatedKey")
            if not start:
                return found
            kwargs["ExclusiveStartKey"] = start

    def everything(self) -> Iterator[Wait]:
        """Every wait item of the table (strongly consistent), the sweep's item left out."""
        kwargs: dict[str, Any] = {"TableName": self.table, "ConsistentRead": True}
        while True:
            page = self.client.scan(**kwargs)
            for item in page.get("Items", []):
                if item.get(names.TABLE_PARTITION_KEY, {}).get("S") == SWEEP_KEY["pk"]:
                    continue
                yield _from_item(item)
            start = page.get("LastEvaluatedKey")
            if not start:
                return
            kwargs["ExclusiveStartKey"] = start

    # --- the sweep's flag ------------------------------------------------------------------

    def sweep_on_if_off(self) -> bool:
        """Set the sweep flag; True when this call turned it on."""
        return self._conditional(
            "update_item",
            Key={key: {"S": value} for key, value in SWEEP_KEY.items()},
            UpdateExpression="SET #on = :true",
            ConditionExpression="attribute_not_exists(#on) OR #on = :false",
            ExpressionAttributeNames={"#on": "on"},
            ExpressionAttributeValues={":true": {"BOOL": True}, ":false": {"BOOL": False}},
        )

    def set_sweep_flag(self, on: bool) -> None:
        self.client.update_item(
            TableName=self.table,
            Key={key: {"S": value} for key, value in SWEEP_KEY.items()},
            UpdateExpression="SET #on = :on",
            ExpressionAttributeNames={"#on": "on"},
            ExpressionAttributeValues={":on": {"BOOL": on}},
        )
