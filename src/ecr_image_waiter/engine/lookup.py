"""Looking an image up in ECR: the engine's only I/O, and its only importer of boto3.

A client can be injected (tests, cross-account sessions); otherwise one is made on first use
from the standard AWS configuration (profiles, environment variables, ``AWS_ENDPOINT_URL_ECR``),
with botocore's ``standard`` retry mode handling throttling and 5xx answers.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ecr_image_waiter.engine.classify import Kind, Verdict, classify
from ecr_image_waiter.engine.image import Observation, ResolvedImage
from ecr_image_waiter.engine.reference import ImageReference
from ecr_image_waiter.engine.safe import safe_text, valid_digest

if TYPE_CHECKING:
    from mypy_boto3_ecr import ECRClient

#: botocore's retry settings for ECR calls: the ``standard`` mode retries throttling,
#: transient 5xx answers and connection errors with jittered exponential backoff.
#: ``total_max_attempts`` counts the first call too (botocore's ``max_attempts`` counts
#: only the retries): five calls at most per look.
RETRY_CONFIG: dict[str, Any] = {"mode": "standard", "total_max_attempts": 5}
CONNECT_TIMEOUT_SECONDS = 5
READ_TIMEOUT_SECONDS = 15

#: Inspects a found image further (media type, index children, architecture) and returns a
#: final observation; used for Lambda compatibility checks.
Inspector = Callable[["ECRClient", ImageReference, ResolvedImage], Observation]


def make_client(region: str | None = None, *, max_attempts: int | None = None) -> ECRClient:
    """An ECR client from the standard AWS configuration, with botocore's standard retries.

    ``max_attempts`` overrides the number of calls per look, the first one included.
    """
    import boto3
    from botocore.config import Config

    retries = dict(RETRY_CONFIG)
    if max_attempts is not None:
        retries["total_max_attempts"] = max_attempts
    config = Config(
        retries=retries,  # type: ignore[arg-type]
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
        user_agent_extra="ecr-image-waiter",
    )
    return boto3.client("ecr", region_name=region, config=config)


def make_service_client(service: str, region: str | None = None) -> Any:
    """A client for another AWS service (``codebuild``, ``codepipeline``), configured like
    :func:`make_client`: standard AWS configuration, botocore's standard retries."""
    import boto3
    from botocore.config import Config

    config = Config(
        retries=dict(RETRY_CONFIG),  # type: ignore[arg-type]
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
        user_agent_extra="ecr-image-waiter",
    )
    return boto3.client(service, region_name=region, config=config)  # type: ignore[call-overload]


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
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            HTTPClientError,
            NoCredentialsError,
            NoRegionError,
            PartialCredentialsError,
        )
        from botocore.exceptions import (
            ConnectionError as BotoConnectionError,
        )

        kwargs: dict[str, Any] = {"repositoryName": ref.repository, "imageIds": [ref.image_id()]}
        if ref.registry_id is not None:
            kwargs["registryId"] = ref.registry_id
        try:
            client = self.client(ref)
            response = client.describe_images(**kwargs)
        except ClientError as error:
            return from_client_error(
                error, "ecr:DescribeImages", wait_for_repository=self.wait_for_repository
            )
        except (NoCredentialsError, PartialCredentialsError) as error:
            return self._observation("NoCredentials", str(error))
        except NoRegionError:
            return Observation(
                Verdict.NEVER,
                "NoRegion",
                "no AWS region is configured",
                kind=Kind.INVALID_REQUEST,
                remedy="give --region, set AWS_REGION, or use a full ECR image URI",
            )
        except (BotoConnectionError, HTTPClientError) as error:
            return self._observation("ConnectionError", str(error))
        except BotoCoreError as error:
            return self._observation(type(error).__name__, str(error))

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
            registry_id=registry or ref.registry_id or _account_of(client),
            region=client.meta.region_name,
            media_type=_text_or_none(detail.get("imageManifestMediaType")),
            pushed_at=_time_or_none(detail.get("imagePushedAt")),
        )
        if self.inspector is not None:
            return self.inspector(client, ref, image)
        return Observation(Verdict.READY, "ImageFound", f"found {image.image_uri}", image=image)

    def _observation(self, code: str, message: str) -> Observation:
        return classified(code, message, wait_for_repository=self.wait_for_repository)


def classified(
    code: str,
    message: str,
    *,
    status: int | None = None,
    action: str | None = None,
    wait_for_repository: bool = False,
) -> Observation:
    """ECR's answer ``code`` as an observation, by the classification table; ``action`` (the
    IAM action that was called) is kept only when the answer is an access denial."""
    rule = classify(code, status=status, wait_for_repository=wait_for_repository)
    return Observation(
        rule.verdict,
        code,
        message,
        kind=rule.kind,
        remedy=rule.remedy,
        action=action if rule.kind is Kind.ACCESS_DENIED else None,
    )


def from_client_error(error: Any, action: str, *, wait_for_repository: bool = False) -> Observation:
    """A botocore ``ClientError`` from calling ``action``, classified by its code and status."""
    err = error.response.get("Error", {})
    code = safe_text(err.get("Code") or "Unknown", 100)
    message = safe_text(err.get("Message") or str(error), 500)
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return classified(
        code, message, status=status, action=action, wait_for_repository=wait_for_repository
    )


_ACCOUNT_RE = re.compile(r"\d{12}")


def _text_or_none(value: Any) -> str | None:
    return safe_text(value, 200) if isinstance(value, str) and value else None


def _time_or_none(value: Any) -> datetime | None:
    return value if isinstance(value, datetime) else None


def _account_of(client: Any) -> str:
    """The caller's account, when ECR did not say which registry answered."""
    import boto3

    session = boto3.session.Session(region_name=client.meta.region_name)
    sts = session.client("sts")
    return str(sts.get_caller_identity()["Account"])
