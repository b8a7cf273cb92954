"""Test images: manifests with their true sha256 digests, pushed to a (local) ECR.

The tests' names for :mod:`ecr_image_waiter.local.ecr`, which the demo and the benchmark use
too: moto does not compute imageDigest as the sha256 of the manifest, so every push passes
``imageDigest`` explicitly.
"""

from __future__ import annotations

from ecr_image_waiter.local.ecr import (
    DOCKER_LIST,
    OCI_INDEX,
    OCI_MANIFEST,
    digest_of,
    image_manifest,
)
from ecr_image_waiter.local.ecr import DOCKER_MANIFEST as DOCKER_V2
from ecr_image_waiter.local.ecr import put_manifest as push

__all__ = [
    "DOCKER_LIST",
    "DOCKER_V2",
    "OCI_INDEX",
    "OCI_MANIFEST",
    "digest_of",
    "push",
    "single_manifest",
]


def single_manifest(seed: str = "app", media_type: str = DOCKER_V2) -> str:
    """A single-platform image manifest; ``seed`` makes its digest unique."""
    return image_manifest(seed, media_type=media_type)
