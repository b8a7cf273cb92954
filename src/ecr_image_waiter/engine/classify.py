"""The one table that sorts every ECR answer into ready, not yet or never.

botocore's retry mode has already retried throttling, 5xx answers and dropped connections
by the time an error reaches this table; what still arrives here is sorted once, here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Verdict(Enum):
    """What an answer from ECR means for a wait."""

    READY = "ready"
    NOT_YET = "not yet"
    NEVER = "never"


class NeverReason(Enum):
    """Why a wait will never succeed; selects the error class raised."""

    REPOSITORY_MISSING = "repository missing"
    ACCESS_DENIED = "access denied"
    INVALID_REQUEST = "invalid request"
    UNUSABLE_IMAGE = "unusable image"
    PIPELINE_FAILED = "pipeline failed"
    UNKNOWN = "unknown error"


@dataclass(frozen=True)
class Rule:
    verdict: Verdict
    kind: NeverReason | None
    remedy: str


_NOT_YET = Rule(Verdict.NOT_YET, None, "")
_TRANSIENT = Rule(
    Verdict.NOT_YET,
    None,
    "ECR is busy or unreachable; still retrying within the deadline",
)
_DENIED = Rule(
    Verdict.NEVER,
    NeverReason.ACCESS_DENIED,
    "grant the refused action on this repository to the caller's IAM role",
)
_CREDENTIALS = Rule(
    Verdict.NEVER,
    NeverReason.ACCESS_DENIED,
    "check the AWS credentials (profile, environment variables or role) in use",
)
_INVALID = Rule(
    Verdict.NEVER,
    NeverReason.INVALID_REQUEST,
    "check the repository name, tag or digest and the registry id",
)

_UNUSABLE = Rule(
    Verdict.NEVER,
    NeverReason.UNUSABLE_IMAGE,
    "push a single-platform image for the function's architecture",
)
_PIPELINE = Rule(
    Verdict.NEVER,
    NeverReason.PIPELINE_FAILED,
    "fix the failure shown in the build log, run the build again, then retry the deployment",
)
_INVALID_SOURCE = Rule(
    Verdict.NEVER,
    NeverReason.INVALID_REQUEST,
    "check the CodeBuild project or pipeline name and its region",
)

#: Error code -> rule. Codes are those ECR and the AWS common errors document
#: (ECR API Reference, DescribeImages "Errors" and "Common Errors").
TABLE: dict[str, Rule] = {
    # The image is simply not there (yet).
    "ImageNotFoundException": _NOT_YET,
    "ImageNotFound": _NOT_YET,  # BatchGetImage failures[].failureCode
    "MissingDigestAndTag": _INVALID,
    "InvalidImageDigest": _INVALID,
    "InvalidImageTag": _INVALID,
    "ImageTagDoesNotMatchDigest": _INVALID,
    "ImageReferencedByManifestList": _NOT_YET,
    "KmsError": Rule(
        Verdict.NEVER, NeverReason.ACCESS_DENIED, "check the repository's KMS key policy"
    ),
    # The repository: never, unless the caller asked to wait for it (see classify()).
    "RepositoryNotFoundException": Rule(
        Verdict.NEVER,
        NeverReason.REPOSITORY_MISSING,
        "create the repository first (deploy the stack that owns it), or check its name, "
        "region and registry id",
    ),
    # Throttling and server-side trouble that outlived botocore's retries.
    "ThrottlingException": _TRANSIENT,
    "Throttling": _TRANSIENT,
    "ThrottledException": _TRANSIENT,
    "TooManyRequestsException": _TRANSIENT,
    "RequestLimitExceeded": _TRANSIENT,
    "RequestThrottled": _TRANSIENT,
    "RequestThrottledException": _TRANSIENT,
    "SlowDown": _TRANSIENT,
    "ServerException": _TRANSIENT,
    "InternalFailure": _TRANSIENT,
    "InternalError": _TRANSIENT,
    "ServiceUnavailable": _TRANSIENT,
    "ServiceUnavailableException": _TRANSIENT,
    "RequestTimeout": _TRANSIENT,
    "RequestTimeoutException": _TRANSIENT,
    "PriorRequestNotComplete": _TRANSIENT,
    "ConnectionError": _TRANSIENT,  # botocore connection errors (see aws.py)
    # Permissions and credentials.
    "AccessDeniedException": _DENIED,
    "AccessDenied": _DENIED,
    "UnauthorizedOperation": _DENIED,
    "403": _DENIED,  # an HTTP 403 with no AWS error code
    "UnrecognizedClientException": _CREDENTIALS,
    "InvalidClientTokenId": _CREDENTIALS,
    "InvalidSignatureException": _CREDENTIALS,
    "SignatureDoesNotMatch": _CREDENTIALS,
    "ExpiredTokenException": _CREDENTIALS,
    "ExpiredToken": _CREDENTIALS,
    "NoCredentials": _CREDENTIALS,
    # BatchGetImage failures[].failureCode values not listed above (ECR API Reference,
    # ImageFailure.failureCode): pull-through cache upstream trouble, archived images.
    "UpstreamAccessDenied": Rule(
        Verdict.NEVER,
        NeverReason.ACCESS_DENIED,
        "check the credentials of the pull-through cache rule for the upstream registry",
    ),
    "UpstreamTooManyRequests": _TRANSIENT,
    "UpstreamUnavailable": _TRANSIENT,
    "ImageInaccessible": Rule(
        Verdict.NEVER,
        NeverReason.UNUSABLE_IMAGE,
        "the image cannot be pulled (for example it is archived): restore it or push it again",
    ),
    # The image is there but Lambda cannot run it (engine.manifest); the observation
    # carries a remedy specific to what was found.
    "UnsupportedMediaType": _UNUSABLE,
    "NotAnImage": _UNUSABLE,
    "NoMatchingPlatform": _UNUSABLE,
    "ArchitectureMismatch": _UNUSABLE,
    "InvalidManifest": _UNUSABLE,
    # The build or pipeline that should push the image has failed (engine.pipeline).
    "BuildFailed": _PIPELINE,
    "PipelineExecutionFailed": _PIPELINE,
    # A CodeBuild project (ResourceNotFoundException) or pipeline that does not exist.
    "ResourceNotFoundException": _INVALID_SOURCE,
    "PipelineNotFoundException": _INVALID_SOURCE,
    # The request is wrong.
    "InvalidParameterException": _INVALID,
    "ValidationException": _INVALID,
    "InvalidParameterValue": _INVALID,
}

_UNKNOWN = Rule(
    Verdict.NEVER,
    NeverReason.UNKNOWN,
    "this ECR answer is not one a wait can outlast; check the message",
)


def classify(code: str, *, status: int | None = None, wait_for_repository: bool = False) -> Rule:
    """The rule for an error ``code`` (with its HTTP ``status``, if any).

    Unknown codes are never-cases, except 5xx answers and 429s, which are transient.
    """
    if code == "RepositoryNotFoundException" and wait_for_repository:
        return _NOT_YET
    rule = TABLE.get(code)
    if rule is not None:
        return rule
    if status is not None and (status >= 500 or status == 429):
        return _TRANSIENT
    if status == 403:
        return _DENIED
    return _UNKNOWN
