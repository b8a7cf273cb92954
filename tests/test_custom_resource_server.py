"""The provider's real entry point, ``handler()``, as Lambda runs it: configured by its
environment variables, every client on the moto server over HTTP, and the ResponseURL a real
presigned S3 PUT URL on that server, from which each answer is read back as CloudFormation
would read it. Also: the response PUT itself against a recording endpoint, a stopped ECR and
a stand-in ECR that refuses access.

Real time, but no figure depends on the machine's speed: what is asserted is what was
answered, how often, and what was logged.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from ecr_image_waiter import names
from ecr_image_waiter.custom_resource import handler as entry
from ecr_image_waiter.custom_resource import response
from ecr_image_waiter.custom_resource.response import Sent
from ecr_image_waiter.custom_resource.waits import RESEND_AFTER_SECONDS
from ecr_image_waiter.errors import InvalidInputError
from tests.conftest import free_port
from tests.images import push, single_manifest
from tests.manifests import image_index
from tests.provider_support import (
    REGISTRY,
    ResponseEndpoint,
    ServerProvider,
    json_lines,
    push_event,
    request,
    sweep_event,
)


@pytest.fixture
def provider(server_ecr: Any, moto_server_url: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    return ServerProvider(moto_server_url, monkeypatch)


@pytest.fixture
def endpoint() -> Iterator[ResponseEndpoint]:
    served = ResponseEndpoint()
    try:
        yield served
    finally:
        served.close()


def test_a_pending_wait_is_answered_through_the_presigned_url_when_its_image_is_pushed(
    provider: ServerProvider, server_ecr: Any
) -> None:
    server_ecr.create_repository(repositoryName="practice-material")
    req = provider.request(RepositoryName="practice-material", TimeoutSeconds="600")
    provider(req)
    assert provider.answer(req) is None
    assert provider.rule_state() == "ENABLED"

    digest = push(server_ecr, "practice-material", single_manifest("pm"), "latest")
    provider(push_event("practice-material", digest, "latest"))
    answer = provider.answer(req)
    assert answer is not None
    assert answer["Status"] == "SUCCESS"
    assert answer["RequestId"] == req["RequestId"]
    assert answer["PhysicalResourceId"] == "default/practice-material:latest"
    assert answer["Data"][names.ATTR_IMAGE_DIGEST] == digest
    assert answer["Data"][names.ATTR_IMAGE_URI] == f"{REGISTRY}/practice-material@{digest}"

    provider(sweep_event())  # nothing pending: the sweep turns itself off
    assert provider.rule_state() == "DISABLED"


def test_an_index_pushed_child_by_child_is_answered_once(
    provider: ServerProvider, server_ecr: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    server_ecr.create_repository(repositoryName="app")
    req = provider.request(RepositoryName="app", ImageTag="v1", Architecture="arm64")
    provider(req)
    index = image_index()
    for child in index.children.values():
        provider(push_event("app", push(server_ecr, "app", child), ""))
    assert provider.answer(req) is None
    provider(push_event("app", push(server_ecr, "app", index.text, "v1"), "v1"))
    answer = provider.answer(req)
    assert answer is not None
    assert answer["Data"][names.ATTR_IMAGE_DIGEST] == index.child_digest("linux/arm64")
    # A second delivery of the index's event finds the wait answered: nothing is re-sent.
    provider(push_event("app", index.digest, "v1"))
    answers = [line for line in json_lines(caplog.records) if line.get("event") == "answer"]
    assert [line["verdict"] for line in answers] == ["sent"]


def test_the_image_already_there_is_answered_within_the_request(
    provider: ServerProvider, server_ecr: Any
) -> None:
    server_ecr.create_repository(repositoryName="app")
    digest = push(server_ecr, "app", single_manifest("there"), "v1")
    req = provider.request(RepositoryName="app", ImageTag="v1")
    provider(req)
    answer = provider.answer(req)
    assert answer is not None
    assert answer["Data"][names.ATTR_IMAGE_DIGEST] == digest
    assert provider.rule_state() == "DISABLED"


def test_a_short_deadline_fails_on_the_next_sweep_naming_image_time_and_last_answer(
    provider: ServerProvider, server_ecr: Any
) -> None:
    server_ecr.create_repository(repositoryName="text-generation")
    req = provider.request(
        RepositoryName="text-generation", ImageTag="latest", MaxRetries="2", RetryDelaySeconds="1"
    )
    provider(req)
    assert provider.answer(req) is None
    time.sleep(2.2)  # past the 2 s deadline, whatever the machine's speed
    provider(sweep_event())
    answer = provider.answer(req)
    assert answer is not None
    assert answer["Status"] == "FAILED"
    assert answer["PhysicalResourceId"] == names.CREATE_FAILED_PHYSICAL_ID
    reason = answer["Reason"]
    assert reason.startswith("timed out after ")
    assert "waiting for image text-generation:latest" in reason
    assert "last seen: ImageNotFoundException" in reason


def test_the_response_put_sends_json_with_an_empty_content_type(
    endpoint: ResponseEndpoint,
) -> None:
    text = response.body(
        request(RepositoryName="app"), status="FAILED", physical_id="p", reason="x" * 9000
    )
    assert response.put(endpoint.url(), text) == (Sent.SENT, "HTTP 200")
    (got,) = endpoint.received
    assert got.method == "PUT"
    assert got.headers.get("Content-Type") == ""
    assert got.body == text.encode()
    assert len(got.body) <= names.CLOUDFORMATION_RESPONSE_MAX_BYTES
    assert json.loads(got.body)["Reason"].endswith("...")


def test_the_response_put_gets_through_a_500_and_gives_up_after_its_tries(
    endpoint: ResponseEndpoint,
) -> None:
    pauses: list[float] = []
    endpoint.script = [500]
    assert response.put(endpoint.url(), "{}", sleep=pauses.append) == (Sent.SENT, "HTTP 200")
    assert len(endpoint.received) == 2
    assert len(pauses) == 1

    endpoint.received.clear()
    pauses.clear()
    endpoint.script = [503] * 10
    outcome = response.put(endpoint.url(), "{}", sleep=pauses.append)
    assert outcome == (Sent.FAILED, "HTTP 503")
    assert len(endpoint.received) == response.PUT_ATTEMPTS
    assert len(pauses) == response.PUT_ATTEMPTS - 1


def test_the_response_put_takes_a_403_as_final(endpoint: ResponseEndpoint) -> None:
    endpoint.script = [403, 403]
    assert response.put(endpoint.url(), "{}", sleep=lambda _s: None) == (Sent.REFUSED, "HTTP 403")
    assert len(endpoint.received) == 1
    closed = f"http://127.0.0.1:{free_port()}/x"
    kind, seen = response.put(closed, "{}", sleep=lambda _s: None)
    assert kind is Sent.FAILED
    assert "127.0.0.1" not in seen


def test_an_expired_response_url_is_logged_without_the_url_and_never_retried(
    provider: ServerProvider,
    server_ecr: Any,
    endpoint: ResponseEndpoint,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    server_ecr.create_repository(repositoryName="app")
    push(server_ecr, "app", single_manifest("expired"), "v1")
    endpoint.script = [403] * 5
    req = request(RepositoryName="app", ImageTag="v1", url=endpoint.url())
    provider(req)
    provider(sweep_event())
    assert len(endpoint.received) == 1
    answers = [line for line in json_lines(caplog.records) if line.get("event") == "answer"]
    assert [(line["verdict"], line["code"]) for line in answers] == [("refused", "HTTP 403")]
    assert "X-Amz-Signature" not in caplog.text
    assert endpoint.url() not in caplog.text


def test_an_answer_through_a_500_is_sent_once(
    provider: ServerProvider, server_ecr: Any, endpoint: ResponseEndpoint
) -> None:
    server_ecr.create_repository(repositoryName="app")
    push(server_ecr, "app", single_manifest("500"), "v1")
    endpoint.script = [500]
    req = request(RepositoryName="app", ImageTag="v1", url=endpoint.url())
    provider(req)
    assert [r.method for r in endpoint.received] == ["PUT", "PUT"]
    assert endpoint.received[0].body == endpoint.received[1].body
    assert json.loads(endpoint.received[1].body)["Status"] == "SUCCESS"
    provider(sweep_event())  # sent: nothing to send again, nothing left to sweep for
    assert len(endpoint.received) == 2
    assert provider.rule_state() == "DISABLED"


@pytest.mark.slow
def test_an_answer_unsent_on_every_try_is_sent_by_a_later_sweep(
    provider: ServerProvider, server_ecr: Any, endpoint: ResponseEndpoint
) -> None:
    """Real time: the sweep sends again only answers claimed RESEND_AFTER_SECONDS ago."""
    server_ecr.create_repository(repositoryName="app")
    push(server_ecr, "app", single_manifest("unsent"), "v1")
    endpoint.script = [503] * response.PUT_ATTEMPTS
    req = request(RepositoryName="app", ImageTag="v1", url=endpoint.url())
    provider(req)
    assert len(endpoint.received) == response.PUT_ATTEMPTS
    assert provider.rule_state() == "ENABLED"  # kept on for the answer
    time.sleep(RESEND_AFTER_SECONDS + 1)
    provider(sweep_event())
    assert len(endpoint.received) == response.PUT_ATTEMPTS + 1
    assert endpoint.received[-1].body == endpoint.received[0].body
    provider(sweep_event())
    assert len(endpoint.received) == response.PUT_ATTEMPTS + 1
    assert provider.rule_state() == "DISABLED"


def test_delete_answers_with_ecr_stopped(
    provider: ServerProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_ECR", f"http://127.0.0.1:{free_port()}")
    req = provider.request(
        "Delete", RepositoryName="text-generation", physical_id="default/text-generation:latest"
    )
    provider(req)
    answer = provider.answer(req)
    assert answer is not None
    assert answer["Status"] == "SUCCESS"
    assert answer["PhysicalResourceId"] == "default/text-generation:latest"


def test_delete_answers_with_the_repository_gone(provider: ServerProvider) -> None:
    req = provider.request("Delete", RepositoryName="gone", physical_id="default/gone:latest")
    provider(req)
    answer = provider.answer(req)
    assert answer is not None
    assert answer["Status"] == "SUCCESS"


def test_an_unconfigured_function_says_which_variable_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(names.ENV_TABLE_NAME, raising=False)
    with pytest.raises(InvalidInputError, match=names.ENV_TABLE_NAME):
        entry.handler(request(RepositoryName="app"), None)


def test_events_it_does_not_handle_are_logged_and_ignored(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    entry.handler({"source": "aws.s3", "detail-type": "Object Created"}, None)
    entry.handler(["not", "an", "object"], None)  # type: ignore[arg-type]
    verdicts = [line["verdict"] for line in json_lines(caplog.records)]
    assert verdicts == ["ignored", "ignored"]


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
def refusing_ecr(
    provider: ServerProvider, monkeypatch: pytest.MonkeyPatch
) -> Iterator[type[_RefusingEcr]]:
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


def test_access_denied_fails_at_once_naming_the_action(
    provider: ServerProvider, refusing_ecr: type[_RefusingEcr]
) -> None:
    refusing_ecr.message = (
        "User: arn:aws:sts::123456789012:assumed-role/waiter/fn is not authorized to perform: "
        "ecr:DescribeImages on resource: arn:aws:ecr:us-east-1:123456789012:repository/app"
    )
    req = provider.request(RepositoryName="app", ImageTag="v1")
    provider(req)
    answer = provider.answer(req)
    assert answer is not None
    assert answer["Status"] == "FAILED"
    assert refusing_ecr.calls == 1
    assert "access denied to ecr:DescribeImages for image app:v1" in answer["Reason"]
    assert "grant the refused action" in answer["Reason"]
    assert provider.rule_state() == "DISABLED"


def test_a_huge_ecr_message_keeps_the_response_under_4096_bytes(
    provider: ServerProvider, refusing_ecr: type[_RefusingEcr]
) -> None:
    refusing_ecr.code = "SomethingNewException"
    refusing_ecr.message = "é😀 " * 30_000
    repository = "/".join(["r" * 63] * 4)
    req = provider.request(
        RepositoryName=repository, ImageTag="t" * 128, RegistryId="1" * 12, logical_id="L" * 255
    )
    provider(req)
    body = provider.s3.get_object(Bucket="cfn-responses", Key=req["RequestId"])["Body"].read()
    assert len(body) <= names.CLOUDFORMATION_RESPONSE_MAX_BYTES
    answer = json.loads(body)
    assert answer["Status"] == "FAILED"
    assert "SomethingNewException" in answer["Reason"]
