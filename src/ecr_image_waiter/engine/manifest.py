"""Is the image one Lambda can run, for the wanted architecture? Image indexes and media types.

Use::

    lookup = EcrLookup(inspector=LambdaImageInspector(architecture="arm64"))
    observation = lookup.look(ref)

:class:`LambdaImageInspector` runs after DescribeImages has found the reference. It reads the
manifest with BatchGetImage (by the digest DescribeImages gave, so a tag moved in between
cannot mix two images) and decides:

* **Image index** (OCI image index or Docker manifest list): the child manifest for the
  wanted architecture is chosen — ``x86_64`` is ``linux/amd64``, ``arm64`` is
  ``linux/arm64`` (variant ``v8`` or none). Attestation manifests (buildx provenance and
  SBOMs: platform ``unknown/unknown``, annotation ``vnd.docker.reference.type:
  attestation-manifest``) are skipped; when several children match, the first in the index
  wins, as ``docker pull`` does. The observation is READY with the child's digest as the
  image digest (so ``image_uri`` pins the child), the index digest in ``index_digest``, the
  child's media type and the architecture. The child is then read by digest: a child not in
  the repository yet is NOT_YET (the index was pushed first). No matching child is NEVER
  (``NoMatchingPlatform``, Kind.UNUSABLE_IMAGE) listing the platforms the index has.
  This happens with or without ``lambda_compatible``.
* **Single manifest**: READY as DescribeImages found it. Its architecture is reported as
  unknown (``None``): it lives in the image config blob, which BatchGetImage does not return
  (reading it takes GetDownloadUrlForLayer and an HTTPS download from S3), so an amd64-only
  single-platform image for an arm64 function is not caught here.

With ``lambda_compatible`` (the default) the image Lambda would run — the single manifest,
or the chosen child — must also be one Lambda takes: a Docker image manifest v2 schema 2 or
an OCI image manifest (Lambda developer guide, container images; aws/aws-lambda-roadmap#82),
with an image config and image layers. Anything else is NEVER naming the media type:
``UnsupportedMediaType`` (schema 1, a nested index, an unknown type) or ``NotAnImage`` (an
OCI artifact such as a Helm chart, a signature or an attestation: its config or layers are
not image ones).

An index itself is never handed to Lambda: Lambda rejects image indexes, including the one
buildx (>= 0.10) pushes by default with provenance attestations ("The image manifest, config
or layer media type for the source image ... is not supported"; aws/aws-cdk#30258,
docker/buildx#1533). The waiter resolves the index to the child for the function's
architecture and reports that child's digest URI. Creating a function from a per-platform
child referenced by digest is reported to work but is not documented by AWS; the documented
path is a single-platform image (``docker buildx build --provenance=false --platform
linux/arm64`` or ``BUILDX_NO_DEFAULT_ATTESTATIONS=1``).

Without ``lambda_compatible`` only the index resolution above is done.

BatchGetImage answers a missing image with ``failures[].failureCode`` rather than an error;
those codes and refused calls (``AccessDenied`` naming ``ecr:BatchGetImage``) are sorted by
the classification table like every other ECR answer.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ecr_image_waiter.engine.classify import Kind, Verdict, classify
from ecr_image_waiter.engine.image import Observation, ResolvedImage
from ecr_image_waiter.engine.reference import ImageReference
from ecr_image_waiter.errors import InvalidInputError
from ecr_image_waiter.names import (
    ARCH_ARM64,
    ARCH_X86_64,
    ARCHITECTURES,
    ECR_BATCH_GET_IMAGE_ACTION,
)

if TYPE_CHECKING:
    from mypy_boto3_ecr import ECRClient

# Manifest media types (Docker registry HTTP API v2 / image manifest v2 schema 2; OCI image
# spec v1.1, media-types.md).
DOCKER_MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST_V1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_MANIFEST_V1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"

INDEX_MEDIA_TYPES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
#: The manifest media types Lambda takes for a function image.
LAMBDA_MEDIA_TYPES = frozenset({DOCKER_MANIFEST_V2, OCI_MANIFEST})
#: Image config media types; any other config marks an artifact that is not an image.
IMAGE_CONFIG_MEDIA_TYPES = frozenset(
    {
        "application/vnd.docker.container.image.v1+json",
        "application/vnd.oci.image.config.v1+json",
    }
)
#: Prefixes of image layer media types (Docker rootfs diffs, OCI layers in any compression).
IMAGE_LAYER_PREFIXES = ("application/vnd.docker.image.rootfs.", "application/vnd.oci.image.layer.")

#: Sent as BatchGetImage ``acceptedMediaTypes``: every form the waiter can judge, so that ECR
#: returns the manifest as stored instead of converting it or refusing it. Schema 1 is listed
#: so that such an image comes back as itself and can be named in the message.
ACCEPTED_MEDIA_TYPES = (
    DOCKER_MANIFEST_V2,
    DOCKER_MANIFEST_LIST,
    OCI_MANIFEST,
    OCI_INDEX,
    DOCKER_MANIFEST_V1_SIGNED,
    DOCKER_MANIFEST_V1,
)

#: Lambda architecture -> (OCI platform architecture, accepted variants; "" is none).
PLATFORMS: dict[str, tuple[str, frozenset[str]]] = {
    ARCH_X86_64: ("amd64", frozenset({""})),
    ARCH_ARM64: ("arm64", frozenset({"", "v8"})),
}
ATTESTATION_ANNOTATION = "vnd.docker.reference.type"
ATTESTATION_VALUE = "attestation-manifest"

SINGLE_PLATFORM_REMEDY = (
    "push a single-platform image: `docker buildx build --provenance=false --platform {p}` "
    "(or set BUILDX_NO_DEFAULT_ATTESTATIONS=1)"
)


class LambdaImageInspector:
    """An :data:`~ecr_image_waiter.engine.lookup.Inspector`: index resolution and Lambda checks.

    ``architecture`` is a Lambda architecture name (``x86_64`` or ``arm64``);
    ``lambda_compatible`` adds the media type checks. See the module docstring for the rules.
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
            problem = self._unusable(media_type, manifest, image.digest)
            if problem is not None:
                return problem
        return _ready(image, f"found {image.image_uri} (architecture not recorded in the manifest)")

    def _resolve_index(
        self,
        client: ECRClient,
        ref: ImageReference,
        image: ResolvedImage,
        media_type: str,
        manifest: dict[str, Any],
    ) -> Observation:
        wanted_arch, variants = PLATFORMS[self.architecture]
        found: list[str] = []
        chosen: dict[str, Any] | None = None
        for entry in manifest.get("manifests") or []:
            if not isinstance(entry, dict) or _is_attestation(entry):
                continue
            platform = entry.get("platform") or {}
            name = _platform_name(platform)
            if name not in found:
                found.append(name)
            if (
                chosen is None
                and platform.get("os") == "linux"
                and platform.get("architecture") == wanted_arch
                and str(platform.get("variant") or "") in variants
                and isinstance(entry.get("digest"), str)
            ):
                chosen = entry
        kind = "OCI image index" if media_type == OCI_INDEX else "Docker manifest list"
        if chosen is None:
            there = ", ".join(found) if found else "no image platforms (attestations only)"
            other = [
                arch
                for arch, (oci_arch, _) in PLATFORMS.items()
                if arch != self.architecture
                and any(p.startswith(f"linux/{oci_arch}") for p in found)
            ]
            remedy = (
                f"build and push the image for {self.platform} "
                f"(`docker buildx build --platform {self.platform} --push ...`)"
            )
            if other:
                remedy += f", or give the waiter and the function architecture {other[0]}"
            return _never(
                "NoMatchingPlatform",
                f"{kind} {image.digest} has no {self.platform} image for architecture "
                f"{self.architecture}; platforms in the index: {there}",
                remedy,
            )
        child_digest = str(chosen["digest"])
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
        if self.lambda_compatible:
            problem = self._unusable(child_type, child_manifest, child_digest)
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

    def _unusable(
        self, media_type: str, manifest: dict[str, Any], digest: str
    ) -> Observation | None:
        """A NEVER observation if Lambda cannot run this manifest, else None."""
        remedy = SINGLE_PLATFORM_REMEDY.format(p=self.platform)
        if media_type not in LAMBDA_MEDIA_TYPES:
            return _never(
                "UnsupportedMediaType",
                f"manifest {digest} has media type {media_type}, which Lambda does not take "
                f"(it takes {DOCKER_MANIFEST_V2} and {OCI_MANIFEST})",
                remedy,
            )
        artifact = manifest.get("artifactType")
        config = manifest.get("config") if isinstance(manifest.get("config"), dict) else {}
        config_type = str((config or {}).get("mediaType") or "")
        if artifact or config_type not in IMAGE_CONFIG_MEDIA_TYPES:
            what = str(artifact or config_type or "no config")
            return _never(
                "NotAnImage",
                f"manifest {digest} is an artifact of type {what}, not a container image",
                f"point the waiter at a container image; {remedy}",
            )
        for layer in manifest.get("layers") or []:
            layer_type = str(layer.get("mediaType") or "") if isinstance(layer, dict) else ""
            if not layer_type.startswith(IMAGE_LAYER_PREFIXES):
                return _never(
                    "NotAnImage",
                    f"manifest {digest} has a layer of type {layer_type or 'unknown'}, not an "
                    "image layer (a signature, attestation or other artifact)",
                    f"point the waiter at a container image; {remedy}",
                )
        return None


def _is_attestation(entry: dict[str, Any]) -> bool:
    annotations = entry.get("annotations") or {}
    if isinstance(annotations, dict) and annotations.get(ATTESTATION_ANNOTATION) == (
        ATTESTATION_VALUE
    ):
        return True
    platform = entry.get("platform") or {}
    return platform.get("os") == "unknown" and platform.get("architecture") == "unknown"


def _platform_name(platform: dict[str, Any]) -> str:
    parts = [str(platform.get("os") or "?"), str(platform.get("architecture") or "?")]
    if platform.get("variant"):
        parts.append(str(platform["variant"]))
    return "/".join(parts)


def _get_manifest(
    client: ECRClient, ref: ImageReference, digest: str
) -> tuple[str, dict[str, Any]] | Observation:
    """(media type, parsed manifest) of ``digest``, or the observation explaining why not."""
    from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
    from botocore.exceptions import ConnectionError as BotoConnectionError

    kwargs: dict[str, Any] = {
        "repositoryName": ref.repository,
        "imageIds": [{"imageDigest": digest}],
        "acceptedMediaTypes": list(ACCEPTED_MEDIA_TYPES),
    }
    if ref.registry_id is not None:
        kwargs["registryId"] = ref.registry_id
    try:
        response = client.batch_get_image(**kwargs)
    except ClientError as error:
        err = error.response.get("Error", {})
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return _classified(
            str(err.get("Code") or "Unknown"), str(err.get("Message") or error), status=status
        )
    except (BotoConnectionError, HTTPClientError) as error:
        return _classified("ConnectionError", str(error))
    except BotoCoreError as error:
        return _classified(type(error).__name__, str(error))

    images = response.get("images") or []
    if not images:
        failures = response.get("failures") or []
        if failures:
            failure = failures[0]
            code = str(failure.get("failureCode") or "ImageNotFound")
            reason = str(failure.get("failureReason") or code)
            return _classified(code, f"BatchGetImage {digest}: {reason}")
        return _classified("ImageNotFound", f"BatchGetImage returned no manifest for {digest}")
    found = images[0]
    text = found.get("imageManifest") or ""
    try:
        manifest = json.loads(text)
    except ValueError as error:
        return _never(
            "InvalidManifest",
            f"manifest {digest} is not valid JSON ({error})",
            "push the image again",
        )
    if not isinstance(manifest, dict):
        return _never("InvalidManifest", f"manifest {digest} is not a JSON object", "push again")
    media_type = found.get("imageManifestMediaType") or manifest.get("mediaType")
    if not media_type:
        if manifest.get("schemaVersion") == 1:
            media_type = DOCKER_MANIFEST_V1
        elif "manifests" in manifest:
            media_type = OCI_INDEX
        else:
            media_type = OCI_MANIFEST
    return str(media_type), manifest


def _classified(code: str, message: str, *, status: int | None = None) -> Observation:
    rule = classify(code, status=status)
    return Observation(
        rule.verdict,
        code,
        message,
        kind=rule.kind,
        remedy=rule.remedy,
        action=ECR_BATCH_GET_IMAGE_ACTION if rule.kind is Kind.ACCESS_DENIED else None,
    )


def _never(code: str, message: str, remedy: str) -> Observation:
    rule = classify(code)
    return Observation(rule.verdict, code, message, kind=rule.kind, remedy=remedy)


def _ready(image: ResolvedImage, message: str) -> Observation:
    return Observation(Verdict.READY, "ImageFound", message, image=image)
