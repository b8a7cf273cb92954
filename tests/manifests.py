"""Real image-index JSON for the tests, as buildx and other tools write it.

Every builder returns the manifest text; ``tests.images.push`` stores it under its true
sha256 digest (moto does not compute digests itself). An index refers to its children by
those digests, so pushing the children untagged and the index tagged gives ECR exactly what
``docker buildx build --push`` leaves there.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from tests.images import DOCKER_LIST, DOCKER_V2, OCI_INDEX, OCI_MANIFEST, digest_of, push

#: A Docker image manifest, schema 1 (signed); Lambda does not take it.
DOCKER_V1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
IN_TOTO_LAYER = "application/vnd.in-toto+json"


def _sha(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _dump(body: dict[str, Any]) -> str:
    return json.dumps(body, sort_keys=True)


def oci_image(seed: str) -> str:
    """A single-platform OCI image manifest."""
    return _dump(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "size": 1470,
                "digest": _sha(f"config-{seed}"),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "size": 3623807,
                    "digest": _sha(f"layer-{seed}"),
                }
            ],
        }
    )


def attestation(subject_digest: str) -> str:
    """A buildx provenance attestation manifest for the image ``subject_digest``."""
    return _dump(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "size": 167,
                "digest": _sha(f"attestation-config-{subject_digest}"),
            },
            "layers": [
                {
                    "mediaType": IN_TOTO_LAYER,
                    "size": 1520,
                    "digest": _sha(f"provenance-{subject_digest}"),
                    "annotations": {
                        "in-toto.io/predicate-type": "https://slsa.dev/provenance/v0.2"
                    },
                }
            ],
        }
    )


def helm_chart(seed: str = "chart") -> str:
    """A Helm chart stored as an OCI artifact: an OCI manifest whose config is not an image."""
    return _dump(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": HELM_CONFIG, "size": 117, "digest": _sha(f"helm-{seed}")},
            "layers": [{"mediaType": HELM_LAYER, "size": 3521, "digest": _sha(f"chart-{seed}")}],
        }
    )


def schema1(seed: str = "old") -> str:
    """A Docker schema 1 signed manifest (no ``mediaType`` field, ``schemaVersion`` 1)."""
    return _dump(
        {
            "schemaVersion": 1,
            "name": "app",
            "tag": seed,
            "architecture": "amd64",
            "fsLayers": [{"blobSum": _sha(f"blob-{seed}")}],
            "history": [{"v1Compatibility": "{}"}],
            "signatures": [],
        }
    )


def _descriptor(
    manifest: str,
    platform: dict[str, str],
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "mediaType": json.loads(manifest).get("mediaType", DOCKER_V1_SIGNED),
        "digest": digest_of(manifest),
        "size": len(manifest.encode()),
        "platform": platform,
    }
    if annotations:
        entry["annotations"] = annotations
    return entry


AMD64 = {"architecture": "amd64", "os": "linux"}
ARM64 = {"architecture": "arm64", "os": "linux", "variant": "v8"}
UNKNOWN = {"architecture": "unknown", "os": "unknown"}


@dataclass(frozen=True)
class Index:
    """An index and its children, by platform name (``linux/amd64``, ``attestation``...)."""

    text: str
    children: dict[str, str]

    @property
    def digest(self) -> str:
        return digest_of(self.text)

    def child_digest(self, name: str) -> str:
        return digest_of(self.children[name])


def image_index(
    platforms: tuple[str, ...] = ("linux/amd64", "linux/arm64"),
    *,
    seed: str = "app",
    attestations: bool = True,
    media_type: str = OCI_INDEX,
) -> Index:
    """A buildx-style index: one image per platform, each followed by its attestation.

    ``media_type`` OCI_INDEX gives OCI children (buildx's default with attestations);
    DOCKER_LIST gives Docker v2 children (what ``docker manifest create`` writes).
    """
    child_type = DOCKER_V2 if media_type == DOCKER_LIST else OCI_MANIFEST
    children: dict[str, str] = {}
    descriptors: list[dict[str, Any]] = []
    for name in platforms:
        os_name, arch = name.split("/")[:2]
        platform = {"architecture": arch, "os": os_name}
        if arch == "arm64":
            platform["variant"] = "v8"
        if child_type == OCI_MANIFEST:
            image = oci_image(f"{seed}-{name}")
        else:
            from tests.images import single_manifest

            image = single_manifest(f"{seed}-{name}", DOCKER_V2)
        children[name] = image
        descriptors.append(_descriptor(image, platform))
    if attestations:
        for name in platforms:
            subject = digest_of(children[name])
            proof = attestation(subject)
            children[f"attestation {name}"] = proof
            descriptors.append(
                _descriptor(
                    proof,
                    UNKNOWN,
                    {
                        "vnd.docker.reference.digest": subject,
                        "vnd.docker.reference.type": "attestation-manifest",
                    },
                )
            )
    text = _dump({"schemaVersion": 2, "mediaType": media_type, "manifests": descriptors})
    return Index(text=text, children=children)


def push_index(
    client: Any, repository: str, index: Index, tag: str, *, skip: tuple[str, ...] = ()
) -> str:
    """Push the children untagged (except those named in ``skip``), then the index tagged."""
    for name, child in index.children.items():
        if name not in skip:
            push(client, repository, child)
    return push(client, repository, index.text, tag=tag)


def push_raw(client: Any, repository: str, manifest: str, media_type: str, tag: str) -> str:
    """Push ``manifest`` with an explicit media type (for manifests without ``mediaType``)."""
    digest = digest_of(manifest)
    client.put_image(
        repositoryName=repository,
        imageManifest=manifest,
        imageDigest=digest,
        imageManifestMediaType=media_type,
        imageTag=tag,
    )
    return digest
