"""Pushing to moto's ECR as a registry would, with the events ECR would emit.

moto does not compute digests (FACTS.md): the true ``sha256`` of the manifest bytes is given
to ``put_image``. moto's ECR emits no events: :func:`push_image` publishes the push event
itself, and :func:`push_index` the events of an index push (each child untagged, then the
index with the tag).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ecr_image_waiter.local.events import ecr_push

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"

Publish = Callable[[Mapping[str, Any]], Any]


def digest_of(body: str) -> str:
    return "sha256:" + hashlib.sha256(body.encode("utf-8")).hexdigest()


def image_manifest(name: str, *, media_type: str = DOCKER_MANIFEST, config: str = "") -> str:
    """A small single-platform manifest, different per ``name`` (ECR's API needs no blobs)."""

    def blob(what: str) -> str:
        return digest_of(f"{name}-{what}")

    docker = media_type == DOCKER_MANIFEST
    config_type, layer_type = (DOCKER_CONFIG, DOCKER_LAYER) if docker else (OCI_CONFIG, OCI_LAYER)
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": media_type,
            "config": {"mediaType": config_type, "size": 1469, "digest": config or blob("config")},
            "layers": [{"mediaType": layer_type, "size": 3208942, "digest": blob("layer")}],
        },
        sort_keys=True,
    )


def put_manifest(ecr: Any, repository: str, manifest: str, tag: str | None = None) -> str:
    """Put ``manifest`` into ``repository`` (tagged if ``tag``), with no event; returns its
    digest."""
    digest = digest_of(manifest)
    tagging = {"imageTag": tag} if tag is not None else {}
    ecr.put_image(
        repositoryName=repository,
        imageManifest=manifest,
        imageManifestMediaType=json.loads(manifest)["mediaType"],
        imageDigest=digest,
        **tagging,
    )
    return digest


def push_image(
    ecr: Any,
    publish: Publish | None,
    repository: str,
    tag: str,
    *,
    manifest: str | None = None,
    media_type: str = DOCKER_MANIFEST,
) -> str:
    """Put one image under ``tag`` (``manifest``, else a new one of ``media_type``) and
    publish its push event; returns its digest."""
    body = manifest or image_manifest(f"{repository}:{tag}", media_type=media_type)
    media_type = json.loads(body)["mediaType"]
    digest = put_manifest(ecr, repository, body, tag)
    if publish is not None:
        config = DOCKER_CONFIG if media_type == DOCKER_MANIFEST else OCI_CONFIG
        publish(
            ecr_push(
                repository, digest, tag, manifest_media_type=media_type, artifact_media_type=config
            )
        )
    return digest


def push_index(
    ecr: Any,
    publish: Publish | None,
    repository: str,
    tag: str,
    platforms: Sequence[tuple[str, str]] = (("linux", "amd64"), ("linux", "arm64")),
) -> tuple[str, dict[str, str]]:
    """Put an OCI image index (children untagged first), publishing each push event;
    returns (index digest, {architecture: child digest})."""
    children: dict[str, str] = {}
    entries = []
    for os_name, architecture in platforms:
        body = image_manifest(f"{repository}:{tag}/{architecture}", media_type=OCI_MANIFEST)
        digest = put_manifest(ecr, repository, body)
        if publish is not None:
            publish(
                ecr_push(
                    repository,
                    digest,
                    "",
                    manifest_media_type=OCI_MANIFEST,
                    artifact_media_type=OCI_CONFIG,
                )
            )
        children[architecture] = digest
        entries.append(
            {
                "mediaType": OCI_MANIFEST,
                "digest": digest,
                "size": len(body),
                "platform": {"os": os_name, "architecture": architecture},
            }
        )
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries})
    index_digest = put_manifest(ecr, repository, index, tag)
    if publish is not None:
        publish(
            ecr_push(
                repository,
                index_digest,
                tag,
                manifest_media_type=OCI_INDEX,
                artifact_media_type=OCI_INDEX,
            )
        )
    return index_digest, children
