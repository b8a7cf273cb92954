"""Test images: manifests with their true sha256 digests, pushed to a (local) ECR.

moto does not compute imageDigest as the sha256 of the manifest, so every push here passes
``imageDigest`` explicitly.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ecr_image_waiter.local.ecr import digest_of

DOCKER_V2 = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def single_manifest(seed: str = "app", media_type: str = DOCKER_V2) -> str:
    """A single-platform image manifest; ``seed`` makes its digest unique."""
    config_type = (
        "application/vnd.docker.container.image.v1+json"
        if media_type == DOCKER_V2
        else "application/vnd.oci.image.config.v1+json"
    )
    layer_type = (
        "application/vnd.docker.image.rootfs.diff.tar.gzip"
        if media_type == DOCKER_V2
        else "application/vnd.oci.image.layer.v1.tar+gzip"
    )
    body: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": {
            "mediaType": config_type,
            "size": 1234,
            "digest": "sha256:" + hashlib.sha256(f"config-{seed}".encode()).hexdigest(),
        },
        "layers": [
            {
                "mediaType": layer_type,
                "size": 5678,
                "digest": "sha256:" + hashlib.sha256(f"layer-{seed}".encode()).hexdigest(),
            }
        ],
    }
    return json.dumps(body, sort_keys=True)


def push(client: Any, repository: str, manifest: str, tag: str | None = None) -> str:
    """Put ``manifest`` into ``repository`` (tagged if ``tag``) and return its digest."""
    digest = digest_of(manifest)
    kwargs: dict[str, Any] = {
        "repositoryName": repository,
        "imageManifest": manifest,
        "imageDigest": digest,
        "imageManifestMediaType": json.loads(manifest)["mediaType"],
    }
    if tag is not None:
        kwargs["imageTag"] = tag
    client.put_image(**kwargs)
    return digest
