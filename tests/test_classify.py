"""The classification table, case by case, and the lookup's use of it on real botocore errors."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from ecr_image_waiter.engine import (
    EcrLookup,
    NeverReason,
    Verdict,
    classify,
    make_client,
    parse_reference,
)
from ecr_image_waiter.engine.classify import TABLE

#: The expected verdict and kind for every code in the table: written out here, so a change
#: to the table has to be made twice (once on purpose).
EXPECTED: dict[str, tuple[Verdict, NeverReason | None]] = {
    "ImageNotFoundException": (Verdict.NOT_YET, None),
    "ImageNotFound": (Verdict.NOT_YET, None),
    "MissingDigestAndTag": (Verdict.NEVER, NeverReason.INVALID_REQUEST),
    "InvalidImageDigest": (Verdict.NEVER, NeverReason.INVALID_REQUEST),
    "InvalidImageTag": (Verdict.NEVER, NeverReason.INVALID_REQUEST),
    "ImageTagDoesNotMatchDigest": (Verdict.NEVER, NeverReason.INVALID_REQUEST),
    "ImageReferencedByManifestList": (Verdict.NOT_YET, None),
    "KmsError": (Verdict.NEVER, NeverReason.ACCESS_DENIED),
    "RepositoryNotFoundException": (Verdict.NEVER, NeverReason.REPOSITORY_MISSING),
    "ThrottlingException": (Verdict.NOT_YET, None),
    "Throttling": (Verdict.NOT_YET, None),
    "ThrottledException": (Verdict.NOT_YET, None),
    "TooManyRequestsException": (Verdict.NOT_YET, None),
    "RequestLimitExceeded": (Verdict.NOT_YET, None),
    "RequestThrottled": (Verdict.NOT_YET, None),
    "RequestThrottledException": (Verdict.NOT_YET, None),
    "SlowDown": (Verdict.NOT_YET, None),
    "ServerException": (Verdict.NOT_YET, None),
    "InternalFailure": (Verdict.NOT_YET, None),
    "InternalError": (Verdict.NOT_YET, None),
    "ServiceUnavailable": (Verdict.NOT_YET, None),
    "ServiceUnavailableException": (Verdict.NOT_YET, None),
    "RequestTimeout": (Verdict.NOT_YET, None),
    "RequestTimeoutException": (Verdict.NOT_YET, None),
    "PriorRequestNotComplete": (Verdict.NOT_YET, None),
    "ConnectionError": (Verdict.NOT_YET, None),
    "AccessDeniedException": (Verdict.NEVER, NeverReason.ACCESS_DENIED),
    "AccessDenied": (Verdict.NEVER, NeverReason.ACCESS_DENIED),
    "UnauthorizedOperation": (Verdict.NEVER, NeverReason.ACCESS_DENIED),
    "403": (Verdict.NEVER, NeverReason.ACCESS_DENIED),
    "UnrecognizedClientException": (Verdict.NEVER, NeverReason.ACCESS_DENIED),
    "InvalidClientTokenId": (Verdict.NEVER, NeverReason.ACCESS_DENIED),
    "InvalidSignatureException": (Verdict.NEVER, NeverReason.ACCESS_DENIED),
    "SignatureDoesNotMatch": (Verdict.NEVER, NeverReason.ACCESS_DENIED),
    "ExpiredTokenException": (Verdict.NEVER, NeverReason.ACCESS_DENIED),
    "ExpiredToken": (Verdict.NEVER, NeverReason.ACCESS_DENIED),
    "NoCredentials": (Verdict.NEVER, NeverReason.ACCESS_DENIED),
    "InvalidParameterException": (Verdict.NEVER, NeverReason.INVALID_REQUEST),
    "ValidationException": (Verdict.NEVER, NeverReason.INVALID_REQUEST),
    "InvalidParameterValue": (Verdict.NEVER, NeverReason.INVALID_REQUEST),
    "UpstreamAccessDenied": (Verdict.NEVER, NeverReason.ACCESS_DENIED),
    "UpstreamTooManyRequests": (Verdict.NOT_YET, None),
    "UpstreamUnavailable": (Verdict.NOT_YET, None),
    "ImageInaccessible": (Verdict.NEVER, NeverReason.UNUSABLE_IMAGE),
    "UnsupportedMediaType": (Verdict.NEVER, NeverReason.UNUSABLE_IMAGE),
    "NotAnImage": (Verdict.NEVER, NeverReason.UNUSABLE_IMAGE),
    "NoMatchingPlatform": (Verdict.NEVER, NeverReason.UNUSABLE_IMAGE),
    "InvalidManifest": (Verdict.NEVER, NeverReason.UNUSABLE_IMAGE),
    "ArchitectureMismatch": (Verdict.NEVER, NeverReason.UNUSABLE_IMAGE),
    "BuildFailed": (Verdict.NEVER, NeverReason.PIPELINE_FAILED),
    "PipelineExecutionFailed": (Verdict.NEVER, NeverReason.PIPELINE_FAILED),
    "ResourceNotFoundException": (Verdict.NEVER, NeverReason.INVALID_REQUEST),
    "PipelineNotFoundException": (Verdict.NEVER, NeverReason.INVALID_REQUEST),
}


def test_the_table_has_exactly_the_expected_codes() -> None:
    assert set(TABLE) == set(EXPECTED)


@pytest.mark.parametrize("code", sorted(EXPECTED))
def test_each_code(code: str) -> None:
    rule = classify(code)
    assert (rule.verdict, rule.kind) == EXPECTED[code]
    # What holds for every rule: a never-case says why and what to do; a not-yet has no kind.
    if rule.verdict is Verdict.NEVER:
        assert rule.kind is not None
        assert rule.remedy, f"a never-case needs a remedy: {code}"
    else:
        assert rule.verdict is Verdict.NOT_YET
        assert rule.kind is None
    # A status never overrides a code the table knows.
    for status in (400, 403, 429, 500, 503):
        assert classify(code, status=status) == rule


@pytest.mark.parametrize("code", sorted(TABLE))
def test_wait_for_repository_changes_only_the_missing_repository(code: str) -> None:
    rule = classify(code, wait_for_repository=True)
    if code == "RepositoryNotFoundException":
        assert rule.verdict is Verdict.NOT_YET
        assert rule.kind is None
    else:
        assert rule == classify(code)


@pytest.mark.parametrize("code", ["Unknown", "SomethingNew", "", "imagenotfoundexception"])
@pytest.mark.parametrize(
    ("status", "verdict", "kind"),
    [
        (None, Verdict.NEVER, NeverReason.UNKNOWN),
        (400, Verdict.NEVER, NeverReason.UNKNOWN),
        (404, Verdict.NEVER, NeverReason.UNKNOWN),
        (403, Verdict.NEVER, NeverReason.ACCESS_DENIED),
        (429, Verdict.NOT_YET, None),
        (500, Verdict.NOT_YET, None),
        (502, Verdict.NOT_YET, None),
        (503, Verdict.NOT_YET, None),
        (504, Verdict.NOT_YET, None),
    ],
)
def test_unknown_codes_go_by_status(
    code: str, status: int | None, verdict: Verdict, kind: NeverReason | None
) -> None:
    rule = classify(code, status=status)
    assert (rule.verdict, rule.kind) == (verdict, kind)
    assert rule.remedy


# --- Through the lookup, with ECR's answers faked at botocore's before-send event ---------


def answering(status: int, body: bytes, headers: dict[str, str] | None = None) -> Any:
    """A client whose every request gets this HTTP answer (no retries: one request)."""
    client = make_client("us-east-1", max_attempts=1)

    def before_send(request: Any, **_: Any) -> AWSResponse:
        raw = type("Raw", (), {"stream": lambda self, **_: iter([body])})()
        return AWSResponse(request.url, status, headers or {}, raw)

    client.meta.events.register("before-send.ecr.DescribeImages", before_send)
    return client


def json_error(code: str, message: str = "m") -> bytes:
    return f'{{"__type": "{code}", "message": "{message}"}}'.encode()


@pytest.mark.parametrize(
    ("status", "body", "code", "verdict", "kind", "action"),
    [
        (
            400,
            json_error("AccessDeniedException", "not authorized to perform: ecr:DescribeImages"),
            "AccessDeniedException",
            Verdict.NEVER,
            NeverReason.ACCESS_DENIED,
            "ecr:DescribeImages",
        ),
        (
            400,
            json_error("ThrottlingException"),
            "ThrottlingException",
            Verdict.NOT_YET,
            None,
            None,
        ),
        (500, json_error("ServerException"), "ServerException", Verdict.NOT_YET, None, None),
        (503, b"", "503", Verdict.NOT_YET, None, None),
        (
            403,
            b"<ErrorResponse><Error><Code>403</Code><Message>denied</Message></Error></ErrorResponse>",
            "403",
            Verdict.NEVER,
            NeverReason.ACCESS_DENIED,
            "ecr:DescribeImages",
        ),
        (
            400,
            json_error("BrandNewException"),
            "BrandNewException",
            Verdict.NEVER,
            NeverReason.UNKNOWN,
            None,
        ),
        (
            400,
            json_error("InvalidParameterException"),
            "InvalidParameterException",
            Verdict.NEVER,
            NeverReason.INVALID_REQUEST,
            None,
        ),
        (
            400,
            json_error("ImageNotFoundException"),
            "ImageNotFoundException",
            Verdict.NOT_YET,
            None,
            None,
        ),
    ],
)
def test_lookup_sorts_http_answers(  # noqa: PLR0917  (one parameter per table column)
    status: int,
    body: bytes,
    code: str,
    verdict: Verdict,
    kind: NeverReason | None,
    action: str | None,
) -> None:
    lookup = EcrLookup(answering(status, body, {"Content-Type": "application/x-amz-json-1.1"}))
    observation = lookup.look(parse_reference("app:v1"))
    assert observation.code == code
    assert (observation.verdict, observation.kind, observation.action) == (verdict, kind, action)


def test_lookup_honours_wait_for_repository() -> None:
    client = answering(400, json_error("RepositoryNotFoundException"))
    ref = parse_reference("app:v1")
    assert EcrLookup(client).look(ref).verdict is Verdict.NEVER
    assert EcrLookup(client, wait_for_repository=True).look(ref).verdict is Verdict.NOT_YET


def test_unreachable_endpoint_is_not_yet(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import free_port

    monkeypatch.setenv("AWS_ENDPOINT_URL_ECR", f"http://127.0.0.1:{free_port()}")
    observation = EcrLookup(make_client("us-east-1", max_attempts=1)).look(
        parse_reference("app:v1")
    )
    assert observation.code == "ConnectionError"
    assert observation.verdict is Verdict.NOT_YET
