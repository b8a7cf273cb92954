"""No log line, progress line or error carries the ResponseURL or the credentials.

Every surface runs with distinctive credentials (secret key and session token) and every
kind of ending (ready, not yet, never, invalid input, Delete), while everything written to
the logging system (at DEBUG for this package) and to the process's stdout/stderr is
captured and searched.
"""

from __future__ import annotations

import io
import logging
from typing import Any

import pytest

from ecr_image_waiter import names
from ecr_image_waiter.cli.main import main
from ecr_image_waiter.custom_resource.resource import ImageWaiterResource
from ecr_image_waiter.local.framework import make_request, run_custom_resource
from tests.faultproxy import Cycle, Decision, Fault, FaultProxy, record
from tests.images import push, single_manifest

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
    server_ecr.create_repository(repositoryName="app")
    push(server_ecr, "app", single_manifest("logs"), tag="v1")
    throttled = Cycle([Decision(Fault.THROTTLE), Decision(Fault.PASS)])
    with FaultProxy(moto_server_url, throttled) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL_ECR", proxy.url)
        now = [1_800_000_000.0]

        def sleep(seconds: float) -> None:
            now[0] += seconds

        resource = ImageWaiterResource(clock=lambda: now[0], sleep=sleep, query_interval=5)
        requests = [
            make_request("Create", {"RepositoryName": "app", "ImageTag": "v1"}),
            make_request(
                "Create", {"RepositoryName": "app", "ImageTag": "v2", "TimeoutSeconds": "12"}
            ),
            make_request("Create", {"RepositoryName": "gone", "ImageTag": "v1"}),
            make_request("Create", {"RepositoryName": "Bad Name!", "ImageTag": "v1"}),
            make_request(
                "Update",
                {"RepositoryName": "app", "ImageTag": "v1"},
                physical_id="default/app:v0",
                old_properties={"RepositoryName": "app"},
            ),
            make_request("Delete", {"RepositoryName": "app"}, physical_id="default/app:v1"),
        ]
        statuses = []
        for request in requests:
            result = run_custom_resource(
                request,
                on_event=resource.on_event,
                is_complete=resource.is_complete,
                query_interval=5,
                total_timeout=names.PROVIDER_TOTAL_TIMEOUT_SECONDS,
                clock=lambda: now[0],
                sleep=sleep,
            )
            statuses.append(result["Status"])
            assert_clean([result["body"]], request["ResponseURL"], SECRET, TOKEN)
    assert statuses == ["SUCCESS", "FAILED", "FAILED", "FAILED", "SUCCESS", "SUCCESS"]
    out, err = capfd.readouterr()
    lines = [r.getMessage() for r in caplog.records]
    assert any('"verdict": "ready"' in line for line in lines)  # the logs were captured
    for request in requests:
        assert_clean([*lines, out, err], request["ResponseURL"], SECRET, TOKEN)


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
