"""What the manifests and configs Lambda is given may contain: media types, platforms, the
known artifacts and their remedies, and a JSON parser that never raises. Pure; no I/O.
The rules are in docs/rules.md ("The Lambda checks").
"""

from __future__ import annotations

import json
from typing import Any

from ecr_image_waiter.engine.classify import Verdict, classify
from ecr_image_waiter.engine.image import Observation, ResolvedImage
from ecr_image_waiter.engine.safe import field, safe_text
from ecr_image_waiter.names import ARCH_ARM64, ARCH_X86_64

# Manifest media types (Docker registry HTTP API v2 / image manifest v2 schema 2; OCI image
# spec v1.1, media-types.md).
DOCKER_MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST_V1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_MANIFEST_V1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"

INDEX_MEDIA_TYPES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
SCHEMA1_MEDIA_TYPES = frozenset({DOCKER_MANIFEST_V1, DOCKER_MANIFEST_V1_SIGNED})
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
#: For amd64 a variant names an x86-64 microarchitecture level (v1 to v4), not another
#: architecture: such an image is still x86_64 code, so every level is taken rather than
#: failing a deploy on a level AWS does not document for Lambda's x86_64 hosts.
PLATFORMS: dict[str, tuple[str, frozenset[str]]] = {
    ARCH_X86_64: ("amd64", frozenset({"", "v1", "v2", "v3", "v4"})),
    ARCH_ARM64: ("arm64", frozenset({"", "v8"})),
}
#: buildx marks its attestation manifests in an index with this annotation (buildx docs,
#: "Attestation storage": ``vnd.docker.reference.type: attestation-manifest``).
ATTESTATION_ANNOTATION = "vnd.docker.reference.type"
ATTESTATION_VALUE = "attestation-manifest"

#: OCI platform architecture -> Lambda architecture.
LAMBDA_ARCHITECTURE_OF = {oci_arch: arch for arch, (oci_arch, _) in PLATFORMS.items()}


#: Platforms and artifact types named in a message, at most (then "and N more").
MAX_LISTED = 5
#: Longest media type, platform field or artifact type kept from a document.
TYPE_CHARS = 120
PLATFORM_CHARS = 40

# --- Remedies, one per case -------------------------------------------------------------------

SINGLE_PLATFORM_REMEDY = (
    "push a single-platform image: `docker buildx build --provenance=false --platform {p}` "
    "(or set BUILDX_NO_DEFAULT_ATTESTATIONS=1)"
)
#: Docker deprecated schema 1 (Docker docs, "Deprecated Engine Features": "Pushing and pulling
#: with image manifest v2 schema 1"); current Docker and buildx push schema 2 or OCI.
SCHEMA1_REMEDY = (
    "rebuild the image with a current Docker or buildx and push it again: they push Docker "
    "v2 schema 2 or OCI image manifests (schema 1 is deprecated)"
)
MEDIA_TYPE_REMEDY = (
    "push the image as a Docker v2 schema 2 or OCI image manifest (`docker push` and "
    "`docker buildx build --push` do)"
)
COSIGN_REMEDY = (
    "a signature is stored next to the image it signs (cosign tags it sha256-<digest>.sig): "
    "point the waiter at the image's own tag or digest"
)
SIGNATURE_REMEDY = (
    "a signature is stored next to the image it signs, as a referrer of it: point the waiter "
    "at the image's own tag or digest"
)
SOCI_REMEDY = (
    "a SOCI index only helps to lazy-load the image it indexes: point the waiter at that image"
)
SBOM_REMEDY = "an SBOM describes an image: point the waiter at the image itself"
HELM_REMEDY = "a Helm chart is not a container image: point the waiter at the function's image"
ARTIFACT_REMEDY = (
    "point the waiter at a container image (a Docker v2 schema 2 or OCI image manifest with "
    "an image config and image layers)"
)
REPUSH_REMEDY = "push the image again"

#: Known non-image artifacts, by media type prefix (of ``artifactType``, the config or a
#: layer): (what it is, remedy). Sources: cosign (sigstore/cosign specs/SIGNATURE_SPEC.md,
#: ``application/vnd.dev.cosign.simplesigning.v1+json``), Notation (notaryproject specs,
#: signature-specification.md, ``application/vnd.cncf.notary.signature``), SOCI
#: (awslabs/soci-snapshotter docs, ``application/vnd.amazon.soci.index.v1+json`` / ``v2``),
#: SPDX 2.3 and CycloneDX media types, Helm (helm.sh docs, "Use OCI-based registries":
#: ``application/vnd.cncf.helm.config.v1+json``), in-toto attestations as buildx stores them
#: (buildx docs, "Attestation storage": ``application/vnd.in-toto+json``).
ARTIFACT_KINDS: tuple[tuple[str, str, str], ...] = (
    ("application/vnd.dev.cosign.", "a cosign signature", COSIGN_REMEDY),
    ("application/vnd.cncf.notary.", "a Notation signature", SIGNATURE_REMEDY),
    ("application/vnd.amazon.soci.", "a SOCI index", SOCI_REMEDY),
    ("application/spdx", "an SPDX SBOM", SBOM_REMEDY),
    ("text/spdx", "an SPDX SBOM", SBOM_REMEDY),
    ("application/vnd.cyclonedx", "a CycloneDX SBOM", SBOM_REMEDY),
    ("application/vnd.syft", "a Syft SBOM", SBOM_REMEDY),
    ("application/vnd.cncf.helm.", "a Helm chart", HELM_REMEDY),
)
IN_TOTO = "application/vnd.in-toto+json"


def _artifact_kind(types: list[str]) -> tuple[str, str] | None:
    for media_type in types:
        for prefix, what, remedy in ARTIFACT_KINDS:
            if media_type.startswith(prefix):
                return what, remedy
    return None


def _count(number: int, one: str, many: str = "") -> str:
    return f"{number} {one}" if number == 1 else f"{number} {many or one + 's'}"


def _index_kind(media_type: str) -> str:
    return "OCI image index" if media_type == OCI_INDEX else "Docker manifest list"


def _get(document: Any, key: str) -> str:
    """A string field of a JSON object as safe text, "" if absent or of another type."""
    return field(document, key, TYPE_CHARS)


def _shape(value: Any) -> str:
    """What a JSON value is, for a message that says a field has the wrong type."""
    if value is None:
        return "missing"
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    return names.get(type(value), "a number")


def _is_attestation(entry: dict[str, Any]) -> bool:
    annotations = entry.get("annotations")
    if isinstance(annotations, dict) and annotations.get(ATTESTATION_ANNOTATION) == (
        ATTESTATION_VALUE
    ):
        return True
    platform = entry.get("platform")
    return (
        isinstance(platform, dict)
        and platform.get("os") == "unknown"
        and platform.get("architecture") == "unknown"
    )


def _platform_name(os_name: Any, arch: Any, variant: Any) -> str:
    parts = [_part(os_name), _part(arch)]
    if variant:
        parts.append(_part(variant))
    return "/".join(parts)


def _part(value: Any) -> str:
    if isinstance(value, str) and value:
        return safe_text(value, PLATFORM_CHARS)
    return "?"


def parse_document(text: Any, what: str) -> dict[str, Any] | str:
    """``text`` parsed as a JSON object, or why not (safe text naming ``what``). Never raises:
    invalid JSON, a nesting deeper than the parser's recursion limit and numbers too long
    to convert all end here."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            return f"{what} is not JSON (not UTF-8 text)"
    if not isinstance(text, str):
        return f"{what} is missing from the answer"
    try:
        document = json.loads(text)
    except RecursionError:
        return f"{what} is nested too deeply to be a manifest or config"
    except ValueError as error:
        return f"{what} is not valid JSON ({safe_text(str(error), 120)})"
    if not isinstance(document, dict):
        return f"{what} is not a JSON object"
    return document


def _never(code: str, message: str, remedy: str) -> Observation:
    rule = classify(code)
    return Observation(rule.verdict, code, message, kind=rule.kind, remedy=remedy)


def _ready(image: ResolvedImage, message: str) -> Observation:
    return Observation(Verdict.READY, "ImageFound", message, image=image)
