"""Looking an image up in ECR: one DescribeImages call, its answer classified.

A client can be injected (tests, cross-account sessions); otherwise :mod:`.aws` makes one on
first use from the standard AWS configuration (profiles, environment variables,
``AWS_ENDPOINT_URL_ECR``), with botocore's ``standard`` retry mode.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ecr_image_waiter.engine.aws import (
    CONNECT_TIMEOUT_SECONDS,
    READ_TIMEOUT_SECONDS,
    RETRY_CONFIG,
    account_of,
    failure_of,
    from_client_error,
    make_client,
    make_service_client,
    observation_of,
    sdk_errors,
)
from ecr_image_waiter.engine.classify import NeverReason, Verdict
from ecr_image_waiter.engine.image import Observation, ResolvedImage
from ecr_image_waiter.engine.reference import ImageReference
from ecr_image_waiter.engine.safe import safe_text, valid_digest

if TYPE_CHECKING:
    from mypy_boto3_ecr import ECRClient

#: Inspects a found image further (media type, index children, architecture) and returns a
#: final observation; used for Lambda compatibility checks.
Inspector = Callable[["ECRClient", ImageReference, ResolvedImage], Observation]


class EcrLookup:
    """Looks one image reference up in ECR and classifies the answer."""

    def __init__(
        self,
        client: ECRClient | None = None,
        *,
        wait_for_repository: bool = False,
        inspector: Inspector | None = None,
    ) -> None:
        self._client = client
        self.wait_for_repository = wait_for_repository
        self.inspector = inspector

    def client(self, ref: ImageReference) -> ECRClient:
        if self._client is None:
            self._client = make_client(ref.region)
        return self._client

    def look(self, ref: ImageReference) -> Observation:
        """One look: READY with the image, NOT_YET or NEVER with ECR's code and message."""
        kwargs: dict[str, Any] = {"repositoryName": ref.repository, "imageIds": [ref.image_id()]}
        if ref.registry_id is not None:
            kwargs["registryId"] = ref.registry_id
        try:
            client = self.client(ref)
            response = client.describe_images(**kwargs)
        except sdk_errors() as error:
            failure = failure_of(error)
            if failure.cause == "answer":
                return from_client_error(
                    error, "ecr:DescribeImages", wait_for_repository=self.wait_for_repository
                )
            if failure.cause == "credentials":
                return self._observation("NoCredentials", failure.message)
            if failure.cause == "region":
                return Observation(
                    Verdict.NEVER,
                    "NoRegion",
                    "no AWS region is configured",
                    kind=NeverReason.INVALID_REQUEST,
                    remedy="give --region, set AWS_REGION, or use a full ECR image URI",
                )
            return self._observation(failure.code, failure.message)

        details = response.get("imageDetails") or []
        if not details:
            return self._observation("ImageNotFoundException", "DescribeImages returned no image")
        detail = details[0]
        if not isinstance(detail, dict) or not detail.get("imageDigest"):
            return self._observation("ImageNotFoundException", "DescribeImages gave no digest")
        digest = valid_digest(detail.get("imageDigest"))
        if digest is None:
            # Never put into a URI, a call or the READY line (engine.safe).
            return self._observation(
                "InvalidDigest",
                f"DescribeImages gave the digest {safe_text(detail.get('imageDigest'), 80)}, "
                "which is not sha256:<64 hex digits>",
            )
        registry = detail.get("registryId")
        if not isinstance(registry, str) or not _ACCOUNT_RE.fullmatch(registry):
            registry = None
        image = ResolvedImage(
            repository=ref.repository,
            tag=ref.tag,
            digest=digest,
            registry_id=registry or ref.registry_id or account_of(client),
            region=client.meta.region_name,
            media_type=_text_or_none(detail.get("imageManifestMediaType")),
            pushed_at=_time_or_none(detail.get("imagePushedAt")),
        )
        if self.inspector is not None:
            return self.inspector(client, ref, image)
        return Observation(Verdict.READY, "ImageFound", f"found {image.image_uri}", image=image)

    def _observation(self, code: str, message: str) -> Observation:
        return observation_of(code, message, wait_for_repository=self.wait_for_repository)


__all__ = [
    "CONNECT_TIMEOUT_SECONDS",
    "READ_TIMEOUT_SECONDS",
    "RETRY_CONFIG",
    "EcrLookup",
    "Inspector",
    "from_client_error",
    "make_client",
    "make_service_client",
]

_ACCOUNT_RE = re.compile(r"\d{12}")


def _text_or_none(value: Any) -> str | None:
    return safe_text(value, 200) if isinstance(value, str) and value else None


def _time_or_none(value: Any) -> datetime | None:
    return value if isinstance(value, datetime) else None
