"""CloudFormation's side of a custom resource: requests to the function, answers from S3.

:meth:`LocalCloudFormation.request` builds the event from the template's resource
(properties resolved, overrides applied) with a ResponseURL that is a presigned S3 PUT URL
on the moto server, and invokes the function asynchronously. The answer is read back from
that bucket, as CloudFormation reads it; with bucket versioning every PUT that reached it is
counted, so "exactly one answer" can be checked. An Update answered with a new physical id
is a replacement: :meth:`LocalCloudFormation.cleanup` then sends the old one's Delete, as
CloudFormation does after the update. The URL is kept out of every repr.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ecr_image_waiter import names
from ecr_image_waiter.local.function import LocalFunction
from ecr_image_waiter.local.template import CloudAssembly

RequestType = Literal["Create", "Update", "Delete"]
#: How long the presigned ResponseURL lives (URLs seen in public repositories carry 7200).
URL_EXPIRES_SECONDS = 7200


@dataclass(frozen=True)
class Request:
    """One request CloudFormation sent (the event holds the ResponseURL: not in the repr)."""

    logical_id: str
    request_type: str
    request_id: str
    key: str
    event: dict[str, Any] = field(repr=False)
    sent_at: float = field(default_factory=time.monotonic)

    @property
    def properties(self) -> dict[str, Any]:
        return dict(self.event.get("ResourceProperties", {}))


class LocalCloudFormation:
    """Requests for one deployed stack's ``Custom::EcrImageWaiter`` resources."""

    def __init__(
        self,
        assembly: CloudAssembly,
        stack: str,
        function: LocalFunction,
        s3: Any,
        *,
        bucket: str = "local-cloudformation-responses",
        service_token: str,
        time_scale: float = 1.0,
    ) -> None:
        self.assembly = assembly
        self.stack = stack
        self.function = function
        self.s3 = s3
        self.bucket = bucket
        self.service_token = service_token
        self.time_scale = time_scale
        self.stack_id = (
            f"arn:aws:cloudformation:{assembly.region}:{assembly.account}:stack/{stack}/"
            + str(uuid.uuid5(uuid.NAMESPACE_URL, stack))
        )
        self.requests: list[Request] = []
        #: logical id -> (physical id, properties) of resources that were created.
        self.current: dict[str, tuple[str, dict[str, Any]]] = {}
        #: (logical id, old physical id, old properties) replaced by an Update: CloudFormation
        #: deletes them in the cleanup phase (:meth:`cleanup`).
        self.replaced: list[tuple[str, str, dict[str, Any]]] = []
        self._applied: set[str] = set()
        s3.create_bucket(Bucket=bucket)
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})

    def waiters(self) -> list[str]:
        return sorted(self.assembly.resources(self.stack, names.RESOURCE_TYPE))

    def properties(self, logical_id: str) -> dict[str, Any]:
        """The resource's properties as CloudFormation sends them: resolved, all strings."""
        raw = self.assembly.properties(self.stack, logical_id)
        raw.pop(names.PROP_SERVICE_TIMEOUT, None)
        resolved = self.assembly.resolve(self.stack, raw)
        resolved[names.PROP_SERVICE_TOKEN] = self.service_token
        return {key: _string(value) for key, value in resolved.items()}

    def service_timeout(self, logical_id: str) -> float:
        """The resource's ServiceTimeout (CloudFormation's 3600 s when it has none, or when
        the resource is another template's, sent with :meth:`send`)."""
        resources = self.assembly.resources(self.stack, names.RESOURCE_TYPE)
        raw = resources.get(logical_id, {}).get("Properties", {}).get(names.PROP_SERVICE_TIMEOUT)
        return float(raw) if raw is not None else float(names.CLOUDFORMATION_MAX_SECONDS)

    def request(
        self,
        logical_id: str,
        request_type: RequestType,
        *,
        overrides: Mapping[str, str] | None = None,
        physical_id: str | None = None,
    ) -> Request:
        """Send one request (async invoke); Update and Delete default to the resource's
        current physical id and send its current properties as OldResourceProperties."""
        properties = self.properties(logical_id)
        properties.update({key: str(value) for key, value in (overrides or {}).items()})
        current = self.current.get(logical_id)
        if request_type != "Create" and physical_id is None:
            physical_id = current[0] if current else ""
        old = current[1] if request_type == "Update" and current is not None else None
        return self._send(logical_id, request_type, properties, physical_id=physical_id, old=old)

    def send(
        self,
        logical_id: str,
        request_type: RequestType,
        properties: Mapping[str, str],
        *,
        physical_id: str | None = None,
    ) -> Request:
        """Send a request for a resource of another template (a stack that uses this
        provider through its exported ServiceToken): ``properties`` as that template gives
        them, with this provider's ServiceToken."""
        sent = {key: str(value) for key, value in properties.items()}
        sent[names.PROP_SERVICE_TOKEN] = self.service_token
        return self._send(logical_id, request_type, sent, physical_id=physical_id, old=None)

    def _send(
        self,
        logical_id: str,
        request_type: str,
        properties: dict[str, Any],
        *,
        physical_id: str | None,
        old: dict[str, Any] | None,
    ) -> Request:
        request_id = str(uuid.uuid4())
        key = f"{self.stack}/{logical_id}/{request_id}"
        url = self.s3.generate_presigned_url(
            "put_object",
            Params={"Bucket": self.bucket, "Key": key},
            ExpiresIn=URL_EXPIRES_SECONDS,
        )
        event: dict[str, Any] = {
            "RequestType": request_type,
            "ServiceToken": self.service_token,
            "ResponseURL": url,
            "StackId": self.stack_id,
            "RequestId": request_id,
            "LogicalResourceId": logical_id,
            "ResourceType": names.RESOURCE_TYPE,
            "ResourceProperties": properties,
        }
        if request_type != "Create":
            event["PhysicalResourceId"] = physical_id or ""
        if old is not None:
            event["OldResourceProperties"] = old
        request = Request(logical_id, request_type, request_id, key, event)
        self.requests.append(request)
        self.function.invoke_async(event)
        return request

    # --- answers -------------------------------------------------------------------------

    def response(self, request: Request) -> dict[str, Any] | None:
        """The answer in the bucket (the latest PUT), or None if none arrived yet."""
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=request.key)["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            return None
        answer: dict[str, Any] = json.loads(body)
        if answer.get("Status") == "SUCCESS" and request.key not in self._applied:
            self._applied.add(request.key)
            props, physical = dict(request.properties), str(answer["PhysicalResourceId"])
            old = self.current.get(request.logical_id)
            if request.request_type == "Delete":
                self.current.pop(request.logical_id, None)
            else:
                self.current[request.logical_id] = (physical, props)
            if request.request_type == "Update" and old is not None and old[0] != physical:
                self.replaced.append((request.logical_id, old[0], old[1]))
        return answer

    def cleanup(self) -> list[Request]:
        """The Deletes CloudFormation sends after an update for every resource an Update
        replaced (a new physical id), with the old id and properties."""
        sent = []
        while self.replaced:
            logical_id, physical, properties = self.replaced.pop(0)
            sent.append(
                self._send(logical_id, "Delete", properties, physical_id=physical, old=None)
            )
        return sent

    def delete_stack(self) -> list[Request]:
        """A Delete for every resource the stack holds."""
        return [
            self._send(logical_id, "Delete", properties, physical_id=physical, old=None)
            for logical_id, (physical, properties) in sorted(self.current.items())
        ]

    def answers(self, request: Request) -> int:
        """How many PUTs reached the request's ResponseURL (bucket versions of its key)."""
        listed = self.s3.list_object_versions(Bucket=self.bucket, Prefix=request.key)
        return sum(1 for v in listed.get("Versions", []) if v["Key"] == request.key)

    def wait_response(self, request: Request, timeout: float | None = None) -> dict[str, Any]:
        """The answer, polled from S3; TimeoutError after ``timeout`` real seconds (default
        the resource's ServiceTimeout divided by the time scale), as CloudFormation gives up.
        """
        if timeout is None:
            timeout = self.service_timeout(request.logical_id) / self.time_scale
        end = time.monotonic() + timeout
        while True:
            answer = self.response(request)
            if answer is not None:
                return answer
            if time.monotonic() >= end:
                raise TimeoutError(
                    f"CloudFormation did not receive a response from {request.logical_id} "
                    f"({request.request_type}) within {timeout:.1f} s"
                )
            time.sleep(0.05)


def _string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value) if isinstance(value, (dict, list)) else str(value)
