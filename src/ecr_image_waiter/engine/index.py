"""Resolving an image index (OCI index or Docker manifest list) to its child for one
Lambda architecture. Pure: no ECR call. The rules are in docs/rules.md ("The Lambda checks").
"""

from __future__ import annotations

from typing import Any

from ecr_image_waiter.engine.image import Observation
from ecr_image_waiter.engine.media import (
    ARTIFACT_REMEDY,
    MAX_LISTED,
    PLATFORMS,
    REPUSH_REMEDY,
    TYPE_CHARS,
    _count,
    _index_kind,
    _is_attestation,
    _never,
    _platform_name,
    _shape,
)
from ecr_image_waiter.engine.safe import listing, safe_text, valid_digest


def choose(
    architecture: str, index_digest: str, media_type: str, manifest: dict[str, Any]
) -> str | Observation:
    """The digest of the index's child for the architecture, or the NEVER observation
    saying why there is none. Pure: no ECR call; linear in the number of entries.

    Candidates are entries that are objects with a ``platform`` object, no
    ``artifactType`` and no attestation marks; the first whose platform matches and
    whose digest is a valid sha256 digest wins, as ``docker pull`` picks the first.
    """
    wanted_arch, variants = PLATFORMS[architecture]
    platform_wanted = f"linux/{wanted_arch}"
    kind = _index_kind(media_type)
    entries = manifest.get("manifests")
    if not isinstance(entries, list):
        return _never(
            "InvalidManifest",
            f"{kind} {index_digest} has no list of manifests ('manifests' is {_shape(entries)})",
            REPUSH_REMEDY,
        )
    platforms: dict[str, None] = {}  # ordered set: linear, where a list scan was quadratic
    artifacts: dict[str, None] = {}
    attestations = 0
    unreadable = 0
    chosen: str | None = None
    for entry in entries:
        if not isinstance(entry, dict):
            unreadable += 1
            continue
        if _is_attestation(entry):
            attestations += 1
            continue
        artifact_type = entry.get("artifactType")
        if artifact_type is not None:
            # A SOCI v2 index entry, a signature or an SBOM: it may carry the image's
            # platform, but it is not the image (OCI image spec v1.1, image-index.md,
            # "artifactType").
            artifacts[safe_text(artifact_type, TYPE_CHARS)] = None
            continue
        platform = entry.get("platform")
        if not isinstance(platform, dict):
            platforms["no platform" if platform is None else "invalid platform"] = None
            continue
        os_name = platform.get("os")
        arch = platform.get("architecture")
        variant = platform.get("variant", "")
        platforms[_platform_name(os_name, arch, variant)] = None
        if (
            chosen is None
            and os_name == "linux"
            and arch == wanted_arch
            and isinstance(variant, str)
            and variant in variants
        ):
            digest = valid_digest(entry.get("digest"))
            if digest is None:
                unreadable += 1
                continue
            chosen = digest
    if chosen is not None:
        if chosen == index_digest:
            return _never(
                "InvalidManifest",
                f"{kind} {index_digest} lists itself as its {platform_wanted} image",
                REPUSH_REMEDY,
            )
        return chosen
    notes = []
    if attestations:
        notes.append(_count(attestations, "attestation") + " skipped")
    if artifacts:
        notes.append(_count(len(artifacts), "artifact type") + " skipped")
    if unreadable:
        notes.append(_count(unreadable, "unreadable entry", "unreadable entries"))
    note = f" ({'; '.join(notes)})" if notes else ""
    if not platforms and artifacts:
        return _never(
            "NotAnImage",
            f"{kind} {index_digest} is an index of artifacts, not of images: it lists "
            f"{listing(list(artifacts), MAX_LISTED)} and no {platform_wanted} image",
            ARTIFACT_REMEDY,
        )
    if not platforms:
        there = "no image platforms (attestations only)" if attestations else "no image platforms"
    else:
        there = listing(list(platforms), MAX_LISTED)
    other = [
        arch
        for arch, (oci_arch, _) in PLATFORMS.items()
        if arch != architecture and any(p.startswith(f"linux/{oci_arch}") for p in platforms)
    ]
    remedy = (
        f"build and push the image for {platform_wanted} "
        f"(`docker buildx build --platform {platform_wanted} --push ...`)"
    )
    if other:
        remedy += f", or give the waiter and the function architecture {other[0]}"
    return _never(
        "NoMatchingPlatform",
        f"{kind} {index_digest} has no {platform_wanted} image for architecture "
        f"{architecture}; platforms in the index: {there}{note}",
        remedy,
    )
