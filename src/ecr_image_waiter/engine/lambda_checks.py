"""The Lambda checks on one manifest: a media type Lambda takes, an image config and image
layers, else what the manifest is and the remedy that fits it. Pure: no ECR call.
The rules are in docs/rules.md ("The Lambda checks").
"""

from __future__ import annotations

from typing import Any

from ecr_image_waiter.engine.image import Observation
from ecr_image_waiter.engine.media import (
    ARTIFACT_REMEDY,
    DOCKER_MANIFEST_V2,
    IMAGE_CONFIG_MEDIA_TYPES,
    IMAGE_LAYER_PREFIXES,
    IN_TOTO,
    INDEX_MEDIA_TYPES,
    LAMBDA_MEDIA_TYPES,
    MAX_LISTED,
    MEDIA_TYPE_REMEDY,
    OCI_MANIFEST,
    REPUSH_REMEDY,
    SCHEMA1_MEDIA_TYPES,
    SCHEMA1_REMEDY,
    TYPE_CHARS,
    _artifact_kind,
    _get,
    _never,
    _shape,
)
from ecr_image_waiter.engine.safe import safe_text, valid_digest


def unusable(
    media_type: str, manifest: dict[str, Any], digest: str, buildx_remedy: str
) -> Observation | None:
    """A NEVER observation if Lambda cannot run this manifest, else None. Pure; never
    raises on any JSON object; the remedy fits what the manifest is."""
    if media_type in SCHEMA1_MEDIA_TYPES:
        return _never(
            "UnsupportedMediaType",
            f"manifest {digest} has media type {media_type} (a Docker image manifest "
            f"schema 1), which Lambda does not take (it takes {DOCKER_MANIFEST_V2} and "
            f"{OCI_MANIFEST})",
            SCHEMA1_REMEDY,
        )
    if media_type in INDEX_MEDIA_TYPES:
        return _never(
            "UnsupportedMediaType",
            f"manifest {digest} has media type {media_type} (an image index), which Lambda "
            f"does not take (it takes {DOCKER_MANIFEST_V2} and {OCI_MANIFEST})",
            buildx_remedy,
        )
    if media_type not in LAMBDA_MEDIA_TYPES:
        what = _artifact_kind([media_type])
        return _never(
            "UnsupportedMediaType",
            f"manifest {digest} has media type {media_type}"
            f"{f' ({what[0]})' if what else ''}, which Lambda does not take "
            f"(it takes {DOCKER_MANIFEST_V2} and {OCI_MANIFEST})",
            what[1] if what else MEDIA_TYPE_REMEDY,
        )
    artifact = manifest.get("artifactType")
    config = manifest.get("config")
    config_type = _get(config, "mediaType")
    layers = manifest.get("layers")
    layer_types = [_get(layer, "mediaType") for layer in layers] if isinstance(layers, list) else []
    declared = [t for t in (_get(manifest, "artifactType"), config_type) if t]
    kind = _artifact_kind(declared + layer_types[:MAX_LISTED])
    if artifact is not None or config_type not in IMAGE_CONFIG_MEDIA_TYPES:
        label = (
            safe_text(artifact, TYPE_CHARS)
            if isinstance(artifact, str)
            else (config_type or "no config")
        )
        return _artifact(digest, label, kind, layer_types, buildx_remedy)
    if valid_digest(_get(config, "digest")) is None:
        return _never(
            "InvalidManifest",
            f"manifest {digest} names its image config by "
            f"{safe_text(config.get('digest'), 80) if isinstance(config, dict) else 'nothing'}"
            ", which is not a sha256 digest",
            REPUSH_REMEDY,
        )
    if not isinstance(layers, list):
        return _never(
            "InvalidManifest",
            f"manifest {digest} has no list of layers ('layers' is {_shape(layers)})",
            REPUSH_REMEDY,
        )
    if not layers:
        return _never(
            "NotAnImage",
            f"manifest {digest} has no layers: there is no file system for Lambda to run",
            ARTIFACT_REMEDY,
        )
    for layer_type in layer_types:
        if not layer_type.startswith(IMAGE_LAYER_PREFIXES):
            return _artifact(
                digest, layer_type or "unknown", kind, layer_types, buildx_remedy, layer=True
            )
    return None


def _artifact(
    digest: str,
    what: str,
    kind: tuple[str, str] | None,
    layer_types: list[str],
    buildx_remedy: str,
    *,
    layer: bool = False,
) -> Observation:
    if kind is None and IN_TOTO in layer_types:
        # A buildx attestation manifest pushed under a tag: buildx's own advice fits.
        kind = ("a buildx attestation", buildx_remedy)
    if layer:
        text = f"manifest {digest} has a layer of type {what}, not an image layer"
    else:
        text = f"manifest {digest} is an artifact of type {what}, not a container image"
    if kind is not None:
        text += f" ({kind[0]})"
    elif layer:
        text += " (an artifact, not a container image)"
    return _never("NotAnImage", text, kind[1] if kind else ARTIFACT_REMEDY)
