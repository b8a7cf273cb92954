"""No log line, progress line or error carries the ResponseURL or the credentials.

Every surface runs with distinctive credentials (secret key and session token) and every
kind of ending (ready, not yet, never, invalid input, Delete), while everything written to
the logging system (at DEBUG for this package) and to the process's stdout/stderr is
captured and searched.
"""

from __future__ import annotations

import io
import logging
import time
from typing import Any

import pytest

from ecr_image_waiter.cli.main import main
from tests.faultproxy import Cycle, Decision, Fault, FaultProxy, record
from tests.images import push, single_manifest
from tests.provider_support import (
    ResponseEndpoint,
    ServerProvider,
    push_event,
    request,
    sweep_event,
)

SECRET = "invariant-secret-key-3c9a51"
TOKEN = "invariant-session-token-e07b22"


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", TOKEN)
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="ecr_image_waiter")


def assert_clean(texts: list[str], *forbidden: str) -> None:
    joined = "\n".join(texts)
    leaked = [f for f in forbidden if f and f in joined]
    record("log-check", texts=len(texts), chars=len(joined), leaked=len(leaked))
    assert not leaked, f"leaked into logs: {leaked}"


@pytest.mark.usefixtures("secrets")
def test_custom_resource_logs_carry_no_response_url_or_credentials(
    server_ecr: Any,
    moto_server_url: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Through handler(), ECR throttled every other call; every way a request ends, and an
    answer refused by its (expired) URL."""
    # The local S3's access log (werkzeug's request lines) is the server's, not the provider's.
    caplog.set_level(logging.WARNING, logger="werkzeug")
    caplog.set_level(logging.DEBUG, logger="ecr_image_waiter")  # the handler's level again
    server_ecr.create_repository(repositoryName="app")
    push(server_ecr, "app", single_manifest("logs"), tag="v1")
    throttled = Cycle([Decision(Fault.THROTTLE), Decision(Fault.PASS)])
    expired = ResponseEndpoint([403] * 5)
    with FaultProxy(moto_server_url, throttled) as proxy:
        provider = ServerProvider(moto_server_url, monkeypatch)
        monkeypatch.setenv("AWS_ENDPOINT_URL_ECR", proxy.url)
        requests = [
            provider.request(RepositoryName="app", ImageTag="v1"),
            provider.request(
                RepositoryName="app", ImageTag="v2", MaxRetries="1", RetryDelaySeconds="1"
            ),
            provider.request(RepositoryName="app", ImageTag="v3", TimeoutSeconds="600"),
            provider.request(RepositoryName="gone", ImageTag="v1"),
            provider.request(RepositoryName="Bad Name!", ImageTag="v1"),
            provider.request(
                "Update", RepositoryName="app", ImageTag="v1", physical_id="default/app:v0"
            ),
            provider.request(
                "Delete", RepositoryName="app", physical_id="default/app:v1", logical_id="Old"
            ),
        ]
        refused = request(RepositoryName="app", ImageTag="v1", url=expired.url())
        try:
            for req in [*requests, refused]:
                provider(req)
            pushed = push(server_ecr, "app", single_manifest("logs-v3"), tag="v3")
            provider(push_event("app", pushed, "v3"))
            time.sleep(1.2)  # past the 1 s deadline of the second request
            provider(sweep_event())
        finally:
            expired.close()
    answers = [provider.answer(req) for req in requests]
    statuses = [answer["Status"] if answer else None for answer in answers]
    assert statuses == ["SUCCESS", "FAILED", "SUCCESS", "FAILED", "FAILED", "SUCCESS", "SUCCESS"]
    assert len(expired.received) == 1
    bodies = [str(answer) for answer in answers] + [r.body.decode() for r in expired.received]
    out, err = capfd.readouterr()
    lines = [r.getMessage() for r in caplog.records]
    assert any('"verdict": "ready"' in line for line in lines)  # the logs were captured
    assert any('"verdict": "refused"' in line for line in lines)
    for req in [*requests, refused]:
        url = req["ResponseURL"]
        assert_clean([*lines, out, err, caplog.text, *bodies], url, url.split("?", 1)[1])
    assert_clean([*lines, out, err, caplog.text, *bodies], "X-Amz-Signature", SECRET, TOKEN)


@pytest.mark.usefixtures("secrets")
def test_cli_output_and_logs_carry_no_credentials(
    server_ecr: Any,
    moto_server_url: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    server_ecr.create_repository(repositoryName="app")
    push(server_ecr, "app", single_manifest("cli-logs"), tag="v1")
    texts: list[str] = []
    statuses = []
    with FaultProxy(
        moto_server_url, Cycle([Decision(Fault.ERROR_503), Decision(Fault.PASS)])
    ) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL_ECR", proxy.url)
        for argv in (
            ["wait", "app:v1", "--interval", "0.1", "--timeout", "5", "--json"],
            ["wait", "app:v2", "--interval", "0.1", "--timeout", "0.3"],
            ["check", "gone:v1"],
            ["check", "Bad Name!"],
        ):
            out, err = io.StringIO(), io.StringIO()
            statuses.append(
                int(main(argv, stdout=out, stderr=err, env={"AWS_REGION": "us-east-1"}))
            )
            texts += [out.getvalue(), err.getvalue()]
    assert statuses == [0, 1, 3, 2]
    captured = capfd.readouterr()
    assert_clean([*texts, captured.out, captured.err, caplog.text], SECRET, TOKEN)


def test_sdk_debug_lines_never_carry_a_stored_response_url(
    server_ecr: Any,
    moto_server_url: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """With the function's log level at DEBUG (the root logger, as AWS_LAMBDA_LOG_LEVEL=DEBUG
    sets it), the AWS SDK's DEBUG lines would carry the PutItem and Scan bodies, and so the
    ResponseURL the wait table stores: the handler keeps them out."""
    from ecr_image_waiter.custom_resource.logs import SDK_LOGGERS

    before = {name: logging.getLogger(name).level for name in SDK_LOGGERS}
    for name in SDK_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET)
    try:
        caplog.set_level(logging.WARNING, logger="werkzeug")
        caplog.set_level(logging.DEBUG)  # the root logger and the capture (set last)
        server_ecr.create_repository(repositoryName="app")
        provider = ServerProvider(moto_server_url, monkeypatch)
        req = provider.request(RepositoryName="app", ImageTag="later", TimeoutSeconds="600")
        provider(req)  # stored: the PutItem body holds the ResponseURL
        provider(sweep_event())  # the Scan's answer holds it too
        assert provider.answer(req) is None  # still pending
        assert any(r.name.startswith("ecr_image_waiter") for r in caplog.records)
        url = req["ResponseURL"]
        assert_clean([caplog.text], url, url.split("?", 1)[1])
    finally:
        for name, level in before.items():
            logging.getLogger(name).setLevel(level)
