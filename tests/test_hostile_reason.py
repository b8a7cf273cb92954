"""Hostile content and the custom resource's FAILED reason and log lines.

The reason CloudFormation shows is the text of the engine's error for the last observation:
:func:`ecr_image_waiter.engine.wait.never_error` for a never-case,
:func:`~ecr_image_waiter.engine.wait.timeout_error` at the deadline. :func:`failed_reason` builds
it the way the custom resource does (the look is ``EcrLookup`` + ``LambdaImageInspector``,
what the resource calls), and every hostile case must give a reason and a log line with no
control, C1 or bidi character, within CloudFormation's 4,096-byte response. To point this at
another handler, replace :func:`failed_reason`; ``test_the_handler`` runs the provider's entry
point itself.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import pytest

from ecr_image_waiter.engine import (
    EcrLookup,
    LambdaImageInspector,
    Observation,
    Verdict,
    parse_reference,
)
from ecr_image_waiter.engine.wait import never_error, timeout_error
from tests.blobs import config_manifest
from tests.hostile import PAYLOAD, FakeEcr, assert_safe
from tests.images import DOCKER_V2, OCI_INDEX, OCI_MANIFEST, push, single_manifest
from tests.provider_support import ServerProvider

REPO = "app/fn"
#: CloudFormation: "The total size of the response body can't exceed 4096 bytes".
MAX_RESPONSE_BYTES = 4096


def failed_reason(observation: Observation) -> str:
    """The FAILED reason for ``observation``: the engine's error text, as the resource sends."""
    ref = parse_reference(f"{REPO}:v1", region="us-east-1")
    make = timeout_error if observation.verdict is Verdict.NOT_YET else never_error
    return str(make(observation, ref, attempts=3, waited_seconds=12.5))


def log_line(observation: Observation) -> str:
    """An attempt line as the resource logs it: JSON, not ASCII-escaped."""
    return json.dumps(
        {"event": "attempt", "code": observation.code, "message": observation.message},
        ensure_ascii=False,
    )


def _artifact(ecr: FakeEcr) -> None:
    body = json.loads(single_manifest("a", OCI_MANIFEST))
    body["artifactType"] = PAYLOAD
    ecr.put(json.dumps(body), OCI_MANIFEST, tag="v1")


def _platform(ecr: FakeEcr) -> None:
    child = ecr.put(single_manifest("c", OCI_MANIFEST), OCI_MANIFEST)
    platform = {"os": PAYLOAD, "architecture": PAYLOAD, "variant": PAYLOAD}
    entry = {"mediaType": OCI_MANIFEST, "digest": child, "platform": platform}
    ecr.put(json.dumps({"mediaType": OCI_INDEX, "manifests": [entry] * 50}), OCI_INDEX, tag="v1")


def _ecr_message(ecr: FakeEcr) -> None:
    ecr.errors["DescribeImages"] = ("AccessDeniedException", PAYLOAD * 30, 400)


def _ecr_code(ecr: FakeEcr) -> None:
    ecr.errors["DescribeImages"] = (PAYLOAD, PAYLOAD, 400)


def _throttled(ecr: FakeEcr) -> None:  # not yet: the timeout reason carries it
    ecr.errors["DescribeImages"] = ("ThrottlingException", PAYLOAD, 400)


def _failure(ecr: FakeEcr) -> None:
    ecr.put(single_manifest("f"), DOCKER_V2, tag="v1")
    ecr.batch_failure = ("ImageInaccessible", PAYLOAD)


def _media_type(ecr: FakeEcr) -> None:
    ecr.put(single_manifest("m"), PAYLOAD, tag="v1")


def _config_digest(ecr: FakeEcr) -> None:
    digest = "sha256:" + (PAYLOAD * 4)[:64]
    ecr.put(config_manifest(b"{}", DOCKER_V2, config_digest=digest), DOCKER_V2, tag="v1")


def _deep(ecr: FakeEcr) -> None:
    ecr.put("[" * 50_000 + "]" * 50_000, OCI_MANIFEST, tag="v1")


CASES: dict[str, Callable[[FakeEcr], None]] = {
    "artifactType": _artifact,
    "index platform fields": _platform,
    "ECR error message": _ecr_message,
    "ECR error code": _ecr_code,
    "throttled, message at the deadline": _throttled,
    "BatchGetImage failure reason": _failure,
    "media type": _media_type,
    "config digest": _config_digest,
    "nested 50,000 deep": _deep,
}


@pytest.mark.parametrize("arrange", CASES.values(), ids=list(CASES))
def test_reason_and_log_line_are_safe(arrange: Callable[[FakeEcr], None]) -> None:
    ecr = FakeEcr()
    arrange(ecr)
    inspector = LambdaImageInspector("arm64")
    observation = EcrLookup(ecr.client, inspector=inspector).look(
        parse_reference(f"{REPO}:v1", region="us-east-1")
    )
    assert observation.verdict is not Verdict.READY, observation.summary
    reason = failed_reason(observation)
    response = json.dumps(
        {
            "Status": "FAILED",
            "Reason": reason,
            "PhysicalResourceId": "ecr-image-waiter-app-fn",
            "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/s/0",
            "RequestId": "r",
            "LogicalResourceId": "Waiter",
        },
        ensure_ascii=False,
    )
    assert_safe(reason, log_line(observation), response)
    assert len(response.encode()) < MAX_RESPONSE_BYTES


# --- The provider's entry point, as Lambda runs it ------------------------------------------


def test_the_handler(
    server_ecr: Any,
    moto_server_url: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Hostile text a registry does store (valid JSON) through ``custom_resource.handler``:
    the answer read back from the presigned ResponseURL and the handler's log lines."""
    caplog.set_level(logging.DEBUG, logger="ecr_image_waiter")
    server_ecr.create_repository(repositoryName=REPO)
    body = json.loads(single_manifest("cr", OCI_MANIFEST))
    body["artifactType"] = PAYLOAD
    push(server_ecr, REPO, json.dumps(body), tag="v1")
    provider = ServerProvider(moto_server_url, monkeypatch)
    req = provider.request(RepositoryName=REPO, ImageTag="v1")
    provider(req)
    answer = provider.answer(req)
    assert answer is not None
    assert answer["Status"] == "FAILED"
    assert "NotAnImage" in answer["Reason"]
    assert "\\x1b]0;OWNED" in caplog.text  # the handler logged the escaped text
    assert_safe(answer["Reason"], caplog.text, json.dumps(answer, ensure_ascii=False))
