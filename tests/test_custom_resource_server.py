"""The Lambda entry points over HTTP and in real time: the moto server, a stopped ECR, and
a small stand-in ECR that refuses access.

These runs use the wall clock, with generous bounds where the acceptance names a figure.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from ecr_image_waiter import names
from ecr_image_waiter.custom_resource import handler
from ecr_image_waiter.local.framework import TIMEOUT_REASON, ProviderResult, run_custom_resource
from tests.conftest import free_port
from tests.images import push, single_manifest

EVENTS = Path(__file__).parent / "events"


def event(kind: str, **props: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / f"{kind}.json").read_text())
    data["ResourceProperties"] = {names.PROP_SERVICE_TOKEN: data["ServiceToken"], **props}
    return data


def run(request: dict[str, Any], *, query: float = 1, total: float = 60) -> ProviderResult:
    return run_custom_resource(
        request,
        on_event=handler.on_event,
        is_complete=handler.is_complete,
        query_interval=query,
        total_timeout=total,
        function_name="ApiStack-EcrImageWaiterHandler",
    )


@pytest.fixture(autouse=True)
def query_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the construct tells the function: the framework calls every second here."""
    monkeypatch.setenv(names.ENV_QUERY_INTERVAL_SECONDS, "1")


def test_retry_pair_fails_after_about_two_seconds_naming_repository_and_tag(
    server_ecr: Any,
) -> None:
    server_ecr.create_repository(repositoryName="text-generation")
    request = event(
        "create",
        RepositoryName="text-generation",
        ImageTag="latest",
        MaxRetries="2",
        RetryDelaySeconds="1",
    )
    started = time.monotonic()
    result = run(request)
    took = time.monotonic() - started
    assert result["Status"] == "FAILED"
    assert 2.0 <= took < 8.0
    assert "text-generation:latest" in result["Reason"]
    assert "ImageNotFoundException" in result["Reason"]
    assert TIMEOUT_REASON not in result["Reason"]
    assert result["response_within_limit"]


def test_create_completes_once_a_pipeline_pushes_the_image(server_ecr: Any) -> None:
    server_ecr.create_repository(repositoryName="practice-material")
    pushed: list[str] = []
    missed = threading.Event()

    def is_complete(request: dict[str, Any], context: Any) -> dict[str, Any]:
        answer = handler.is_complete(request, context)
        if not answer.get("IsComplete"):
            missed.set()
        return answer

    def pipeline() -> None:
        # The push lands after the first look has missed, however slow the machine is.
        missed.wait(30)
        time.sleep(0.5)
        pushed.append(push(server_ecr, "practice-material", single_manifest("pm"), "latest"))

    thread = threading.Thread(target=pipeline)
    thread.start()
    try:
        result = run_custom_resource(
            event("create", RepositoryName="practice-material", TimeoutSeconds="30"),
            on_event=handler.on_event,
            is_complete=is_complete,
            query_interval=1,
            total_timeout=60,
            function_name="ApiStack-EcrImageWaiterHandler",
        )
    finally:
        missed.set()
        thread.join()
    assert result["Status"] == "SUCCESS", result["Reason"]
    assert result["Data"] is not None
    assert result["Data"][names.ATTR_IMAGE_DIGEST] == pushed[0]
    assert result["Data"][names.ATTR_IMAGE_URI].endswith(f"/practice-material@{pushed[0]}")
    assert result["is_complete_calls"] >= 2


def test_delete_completes_with_ecr_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_ECR", f"http://127.0.0.1:{free_port()}")
    started = time.monotonic()
    result = run(event("delete", RepositoryName="text-generation", ImageTag="latest"), query=5)
    assert result["Status"] == "SUCCESS"
    assert result["PhysicalResourceId"] == "default/text-generation:latest"
    assert result["is_complete_calls"] == 1
    assert time.monotonic() - started < 5


def test_delete_completes_with_the_repository_gone(server_ecr: Any) -> None:
    result = run(event("delete", RepositoryName="text-generation"), query=5)
    assert result["Status"] == "SUCCESS"


class _RefusingEcr(BaseHTTPRequestHandler):
    """Answers every ECR call with an AWS JSON 1.1 error (ECR's protocol, botocore's model)."""

    code = "AccessDeniedException"
    message = "denied"
    calls = 0

    def do_POST(self) -> None:
        type(self).calls += 1
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        body = json.dumps({"__type": self.code, "message": self.message}).encode()
        self.send_response(400)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def refusing_ecr(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[_RefusingEcr]]:
    stub = type("Refusing", (_RefusingEcr,), {"calls": 0})
    server = ThreadingHTTPServer(("127.0.0.1", 0), stub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_ECR", f"http://127.0.0.1:{server.server_address[1]}")
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()


def test_access_denied_fails_at_once_naming_the_action(refusing_ecr: type[_RefusingEcr]) -> None:
    refusing_ecr.message = (
        "User: arn:aws:sts::123456789012:assumed-role/waiter/fn is not authorized to perform: "
        "ecr:DescribeImages on resource: arn:aws:ecr:us-east-1:123456789012:repository/app"
    )
    started = time.monotonic()
    result = run(event("create", RepositoryName="app", ImageTag="v1"), query=5)
    assert result["Status"] == "FAILED"
    assert result["is_complete_calls"] == 1
    assert refusing_ecr.calls == 1
    assert time.monotonic() - started < 5
    reason = result["Reason"]
    assert "access denied to ecr:DescribeImages for image app:v1" in reason
    assert "grant the refused action" in reason


def test_a_huge_ecr_message_keeps_the_response_under_4096_bytes(
    refusing_ecr: type[_RefusingEcr],
) -> None:
    refusing_ecr.code = "SomethingNewException"
    refusing_ecr.message = "é😀 " * 30_000
    repository = "/".join(["r" * 63] * 4)
    request = event("create", RepositoryName=repository, ImageTag="t" * 128, RegistryId="1" * 12)
    request["LogicalResourceId"] = "L" * 255
    result = run(request, query=5)
    assert result["Status"] == "FAILED"
    assert "SomethingNewException" in result["Reason"]
    assert result["response_within_limit"], result["response_bytes"]
    assert result["response_bytes"] == len(result["body"].encode())
