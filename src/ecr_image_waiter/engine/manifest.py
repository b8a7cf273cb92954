"""Is the image one Lambda can run, for the wanted architecture? Use::

    lookup = EcrLookup(inspector=LambdaImageInspector(architecture="arm64"))

:class:`LambdaImageInspector` runs after DescribeImages has found the reference: it reads the
manifest with BatchGetImage (by digest), resolves an index (:mod:`.index`), applies the Lambda
checks (:mod:`.lambda_checks`) and reads a single image's architecture from its config
(:mod:`.config_platform`). The rules are in docs/rules.md ("The Lambda checks").
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ecr_image_waiter.engine.aws import failure_of, from_client_error, observation_of, sdk_errors
from ecr_image_waiter.engine.classify import Verdict
from ecr_image_waiter.engine.config_platform import (
    CONFIG_MAX_BYTES,
    CONFIG_TIMEOUT_SECONDS,
    LOOPBACK_HOSTS,
    check_config,
    read_config_platform,
)
from ecr_image_waiter.engine.image import Observation, ResolvedImage
from ecr_image_waiter.engine.index import choose
from ecr_image_waiter.engine.lambda_checks import unusable
from ecr_image_waiter.engine.media import (
    ACCEPTED_MEDIA_TYPES,
    DOCKER_MANIFEST_V1,
    INDEX_MEDIA_TYPES,
    LAMBDA_MEDIA_TYPES,
    OCI_INDEX,
    OCI_MANIFEST,
    PLATFORMS,
    REPUSH_REMEDY,
    SINGLE_PLATFORM_REMEDY,
    TYPE_CHARS,
    _index_kind,
    _never,
    _ready,
    parse_document,
)
from ecr_image_waiter.engine.reference import ImageReference
from ecr_image_waiter.engine.safe import safe_text
from ecr_image_waiter.errors import InvalidInputError
from ecr_image_waiter.names import ARCH_X86_64, ARCHITECTURES, ECR_BATCH_GET_IMAGE_ACTION

if TYPE_CHECKING:
    from mypy_boto3_ecr import ECRClient

__all__ = [
    "CONFIG_MAX_BYTES",
    "CONFIG_TIMEOUT_SECONDS",
    "LAMBDA_MEDIA_TYPES",
    "LOOPBACK_HOSTS",
    "LambdaImageInspector",
    "parse_document",
    "read_config_platform",
]


class LambdaImageInspector:
    """An :data:`~ecr_image_waiter.engine.lookup.Inspector`: index resolution and Lambda checks.

    ``architecture`` is a Lambda architecture name (``x86_64`` or ``arm64``);
    ``lambda_compatible`` adds the media type checks. The rules are in docs/rules.md.
    """

    def __init__(self, architecture: str = ARCH_X86_64, lambda_compatible: bool = True) -> None:
        if architecture not in ARCHITECTURES:
            raise InvalidInputError(
                f"architecture {architecture!r} is not valid: a Lambda architecture is one of "
                f"{', '.join(ARCHITECTURES)}"
            )
        self.architecture = architecture
        self.lambda_compatible = lambda_compatible

    @property
    def platform(self) -> str:
        """The OCI platform the architecture needs, such as ``linux/arm64``."""
        return f"linux/{PLATFORMS[self.architecture][0]}"

    @property
    def buildx_remedy(self) -> str:
        return SINGLE_PLATFORM_REMEDY.format(p=self.platform)

    def __call__(self, client: ECRClient, ref: ImageReference, image: ResolvedImage) -> Observation:
        known = image.media_type
        if not self.lambda_compatible and known is not None and known not in INDEX_MEDIA_TYPES:
            # DescribeImages already said it is a single manifest: nothing more to read.
            return _ready(image, f"found {image.image_uri}")
        fetched = _get_manifest(client, ref, image.digest)
        if isinstance(fetched, Observation):
            return fetched
        media_type, manifest = fetched
        if media_type in INDEX_MEDIA_TYPES:
            return self._resolve_index(client, ref, image, media_type, manifest)
        image = replace(image, media_type=media_type)
        if self.lambda_compatible:
            problem = self.unusable(media_type, manifest, image.digest)
            if problem is not None:
                return problem
            return check_config(client, ref, image, manifest, self.architecture)
        return _ready(image, f"found {image.image_uri} (architecture not recorded in the manifest)")

    def choose(
        self, index_digest: str, media_type: str, manifest: dict[str, Any]
    ) -> str | Observation:
        """The digest of the index's child for the architecture, or the NEVER observation
        saying why there is none (:func:`.index.choose`)."""
        return choose(self.architecture, index_digest, media_type, manifest)

    def _resolve_index(
        self,
        client: ECRClient,
        ref: ImageReference,
        image: ResolvedImage,
        media_type: str,
        manifest: dict[str, Any],
    ) -> Observation:
        kind = _index_kind(media_type)
        chosen = self.choose(image.digest, media_type, manifest)
        if isinstance(chosen, Observation):
            return chosen
        child_digest = chosen
        fetched = _get_manifest(client, ref, child_digest)
        if isinstance(fetched, Observation):
            if fetched.verdict is Verdict.NOT_YET:
                return replace(
                    fetched,
                    message=f"{kind} {image.digest} names {self.platform} image {child_digest}, "
                    f"which is not in the repository yet ({fetched.summary})",
                )
            return fetched
        child_type, child_manifest = fetched
        if child_type in INDEX_MEDIA_TYPES:
            # Never pinned as "the image", with or without the Lambda checks.
            return _never(
                "UnsupportedMediaType",
                f"{kind} {image.digest} names another index ({child_type}) {child_digest} as "
                f"its {self.platform} image; an index is not an image Lambda or `docker run` "
                "can take as one platform",
                self.buildx_remedy,
            )
        if self.lambda_compatible:
            problem = self.unusable(child_type, child_manifest, child_digest)
            if problem is not None:
                return problem
        child = replace(
            image,
            digest=child_digest,
            index_digest=image.digest,
            media_type=child_type,
            architecture=self.architecture,
        )
        return _ready(
            child, f"found {child.image_uri} ({self.platform} image of {kind} {image.digest})"
        )

    def unusable(
        self, media_type: str, manifest: dict[str, Any], digest: str
    ) -> Observation | None:
        """A NEVER observation if Lambda cannot run this manifest, else None
        (:func:`.lambda_checks.unusable`)."""
        return unusable(media_type, manifest, digest, self.buildx_remedy)


def _get_manifest(
    client: ECRClient, ref: ImageReference, digest: str
) -> tuple[str, dict[str, Any]] | Observation:
    """(media type, parsed manifest) of ``digest``, or the observation explaining why not.
    Never raises on any answer: a wrong type, a deep nesting or a huge document ends as an
    InvalidManifest never-case."""
    kwargs: dict[str, Any] = {
        "repositoryName": ref.repository,
        "imageIds": [{"imageDigest": digest}],
        "acceptedMediaTypes": list(ACCEPTED_MEDIA_TYPES),
    }
    if ref.registry_id is not None:
        kwargs["registryId"] = ref.registry_id
    try:
        response = client.batch_get_image(**kwargs)
    except sdk_errors() as error:
        problem = failure_of(error)
        if problem.cause == "answer":
            return from_client_error(error, ECR_BATCH_GET_IMAGE_ACTION)
        return _classified(problem.code, problem.message)

    images = response.get("images") or []
    if not isinstance(images, list) or not images or not isinstance(images[0], dict):
        failures = response.get("failures") or []
        if isinstance(failures, list) and failures and isinstance(failures[0], dict):
            failure = failures[0]
            code = safe_text(failure.get("failureCode") or "ImageNotFound", 100)
            reason = safe_text(failure.get("failureReason") or code, 300)
            return _classified(code, f"BatchGetImage {digest}: {reason}")
        return _classified("ImageNotFound", f"BatchGetImage returned no manifest for {digest}")
    found = images[0]
    parsed = parse_document(found.get("imageManifest"), f"manifest {digest}")
    if isinstance(parsed, str):
        return _never("InvalidManifest", parsed, REPUSH_REMEDY)
    manifest = parsed
    declared = found.get("imageManifestMediaType") or manifest.get("mediaType")
    if isinstance(declared, str) and declared:
        media_type = safe_text(declared, TYPE_CHARS)
    elif manifest.get("schemaVersion") == 1:
        media_type = DOCKER_MANIFEST_V1
    elif "manifests" in manifest:
        media_type = OCI_INDEX
    else:
        media_type = OCI_MANIFEST
    return media_type, manifest


def _classified(code: str, message: str) -> Observation:
    return observation_of(code, message, action=ECR_BATCH_GET_IMAGE_ACTION)
