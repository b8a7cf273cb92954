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
  attestation-manifest``) and entries with an ``artifactType`` (a SOCI v2 index carries the
  image's platform, signatures and SBOMs may too) are never candidates; when several
  children match, the first in the index wins, as ``docker pull`` does (:meth:`choose`,
  linear in the number of entries; a message lists at most :data:`MAX_LISTED` platforms and
  says how many more). The observation is READY with the child's digest as the
  image digest (so ``image_uri`` pins the child), the index digest in ``index_digest``, the
  child's media type and the architecture. The child is then read by digest: a child not in
  the repository yet is NOT_YET (the index was pushed first). No matching child is NEVER
  (``NoMatchingPlatform``, Kind.UNUSABLE_IMAGE) listing the platforms the index has.
  An index of artifacts only is NEVER (``NotAnImage``) saying so; an index that lists itself
  as the image, or names another index as its child, is NEVER (``InvalidManifest``,
  ``UnsupportedMediaType``). This happens with or without ``lambda_compatible``.
* **Single manifest**: READY as DescribeImages found it. Without ``lambda_compatible`` its
  architecture is not looked for (``None``); with it, see *Architecture of a single-platform
  image* below.

With ``lambda_compatible`` (the default) the image Lambda would run — the single manifest,
or the chosen child — must also be one Lambda takes: a Docker image manifest v2 schema 2 or
an OCI image manifest (Lambda developer guide, container images; aws/aws-lambda-roadmap#82),
with an image config, at least one layer and image layers only. Anything else is NEVER
naming the media type: ``UnsupportedMediaType`` (schema 1, a nested index, an unknown type)
or ``NotAnImage`` (an OCI artifact such as a Helm chart, a signature, a SOCI index, an SBOM
or an attestation: its ``artifactType``, config or layers are not image ones; or no
layers). The remedy fits what was found (:data:`ARTIFACT_KINDS`): buildx's
``--provenance=false`` advice only for indexes and attestations; a schema 1 image is to be
rebuilt, a signature, SOCI index or SBOM is to be replaced by the image it belongs to.

Every document is parsed without raising (:func:`parse_document`; wrong types are treated
as absent and named): invalid JSON, a nesting deeper than the parser's recursion limit or a
field of the wrong type ends as ``InvalidManifest`` or another never-case with a clear
message. Every string taken from a document is made safe (:mod:`engine.safe`) and every
digest is checked against the sha256 pattern before it is used in a call or a message.

An index itself is never handed to Lambda: Lambda rejects image indexes, including the one
buildx (>= 0.10) pushes by default with provenance attestations ("The image manifest, config
or layer media type for the source image ... is not supported"; aws/aws-cdk#30258,
docker/buildx#1533). The waiter resolves the index to the child for the function's
architecture and reports that child's digest URI. Creating a function from a per-platform
child referenced by digest is reported to work but is not documented by AWS; the documented
path is a single-platform image (``docker buildx build --provenance=false --platform
linux/arm64`` or ``BUILDX_NO_DEFAULT_ATTESTATIONS=1``).

Without ``lambda_compatible`` only the index resolution above is done.

**Architecture of a single-platform image** (with ``lambda_compatible``, a Lambda check like
the media types: an index is resolved with or without it because a child must be picked, but
a single manifest is one image either way, and a plain wait needs no more than
DescribeImages). A single-platform manifest does not name its architecture; its image config
blob does: the OCI image config's REQUIRED ``architecture`` and ``os`` properties and
OPTIONAL ``variant`` (OCI image spec v1.1, config.md, "Properties"; Docker image spec v1.2
has the same fields). The config is read by its digest (the manifest's ``config.digest``)
with ECR's GetDownloadUrlForLayer, which "retrieves the pre-signed Amazon S3 download URL
corresponding to an image layer" and works for the config blob as for any blob in the
repository (ECR API Reference, GetDownloadUrlForLayer; IAM action
``ecr:GetDownloadUrlForLayer`` on the repository), then a GET of that URL
(:mod:`engine.download`): HTTPS on port 443 to an ECR or S3 host of the client's partition,
no IP literal (plain HTTP is taken only from a loopback address when ECR itself is a
loopback endpoint, as a local ECR is), at most two redirects under the same rules, at most
:data:`CONFIG_MAX_BYTES` (the read stops there), the whole exchange — connection, headers,
chunk sizes, body, redirects — within one deadline of :data:`CONFIG_TIMEOUT_SECONDS`, and
the bytes must hash to the config digest. A URL that breaks a rule is not fetched and the
reason names the rule. ``amd64`` (any variant:
an x86-64 level) is Lambda's ``x86_64``, ``arm64`` (variant ``v8`` or none) is ``arm64``, as
for index children.

* The config's platform is the wanted one: READY with ``architecture`` set.
* It is another (``linux/amd64`` for an ``arm64`` function, or a platform Lambda does not
  run): NEVER, ``ArchitectureMismatch`` (Kind.UNUSABLE_IMAGE), naming both architectures and
  the remedy; Lambda would create the function and fail every invocation with "exec format
  error".
* It cannot be read (``LayersNotFoundException``, ``LayerInaccessibleException``,
  ``ecr:GetDownloadUrlForLayer`` refused, throttling that outlived botocore's retries, a
  network error, an HTTP error, a digest mismatch, JSON without an architecture): the
  architecture stays unknown and the image is READY, with the reason in
  ``ResolvedImage.architecture_unknown`` (``architectureUnknownReason`` in ``to_dict()``,
  the CLI's ``--json`` and progress line, the custom resource's log) and in the observation's
  message. The check is best effort: a config that cannot be read is no evidence that the
  image is wrong.

The presigned URL carries a signature (like a CloudFormation ResponseURL): it is never put
into a message, a reason or a log; errors from the download are reported by kind and status.

BatchGetImage answers a missing image with ``failures[].failureCode`` rather than an error;
those codes and refused calls (``AccessDenied`` naming ``ecr:BatchGetImage``) are sorted by
the classification table like every other ECR answer.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ecr_image_waiter.engine import download as _download
from ecr_image_waiter.engine.aws import failure_of, from_client_error, observation_of, sdk_errors
from ecr_image_waiter.engine.classify import Kind, Verdict, classify
from ecr_image_waiter.engine.image import Observation, ResolvedImage
from ecr_image_waiter.engine.reference import ImageReference
from ecr_image_waiter.engine.safe import field, listing, safe_text, valid_digest
from ecr_image_waiter.errors import InvalidInputError
from ecr_image_waiter.names import (
    ARCH_ARM64,
    ARCH_X86_64,
    ARCHITECTURES,
    ECR_BATCH_GET_IMAGE_ACTION,
    ECR_GET_DOWNLOAD_URL_ACTION,
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

#: Reading an image config blob: the download's whole time limit and size cap (see
#: engine.download; read at each download, so tests may lower the limit).
CONFIG_TIMEOUT_SECONDS = _download.TIMEOUT_SECONDS
CONFIG_MAX_BYTES = _download.MAX_BYTES
LOOPBACK_HOSTS = _download.LOOPBACK_HOSTS

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
            return self._check_config(client, ref, image, manifest)
        return _ready(image, f"found {image.image_uri} (architecture not recorded in the manifest)")

    def _check_config(
        self, client: ECRClient, ref: ImageReference, image: ResolvedImage, manifest: dict[str, Any]
    ) -> Observation:
        """READY with the architecture, READY with the reason it is unknown, or NEVER on a
        mismatch; the manifest already passed :meth:`unusable` (it has an image config)."""
        digest = valid_digest(_get(manifest.get("config"), "digest")) or ""
        read = read_config_platform(client, ref, digest)
        if isinstance(read, str):
            image = replace(image, architecture_unknown=read)
            return _ready(image, f"found {image.image_uri} (architecture unknown: {read})")
        os_name, oci_arch, variant = read
        wanted_arch, variants = PLATFORMS[self.architecture]
        if os_name in ("linux", "") and oci_arch == wanted_arch and variant in variants:
            image = replace(image, architecture=self.architecture)
            return _ready(image, f"found {image.image_uri} ({self.platform} image)")
        platform = "/".join(p for p in (os_name or "?", oci_arch, variant) if p)
        theirs = LAMBDA_ARCHITECTURE_OF.get(oci_arch)
        if theirs is not None and (
            os_name not in ("linux", "") or variant not in PLATFORMS[theirs][1]
        ):
            theirs = None
        built = f"Lambda architecture {theirs}" if theirs else "an architecture Lambda does not run"
        remedy = (
            f"build and push the image for {self.platform} (`docker buildx build "
            f"--provenance=false --platform {self.platform} --push ...`)"
        )
        if theirs is not None:
            remedy += f", or give the waiter and the function architecture {theirs}"
        return _never(
            "ArchitectureMismatch",
            f"image {image.digest} is built for {platform} ({built}), not for architecture "
            f"{self.architecture} ({self.platform}): a function with architecture "
            f"{self.architecture} would fail every invocation with 'exec format error'",
            remedy,
        )

    def choose(
        self, index_digest: str, media_type: str, manifest: dict[str, Any]
    ) -> str | Observation:
        """The digest of the index's child for the architecture, or the NEVER observation
        saying why there is none. Pure: no ECR call; linear in the number of entries.

        Candidates are entries that are objects with a ``platform`` object, no
        ``artifactType`` and no attestation marks; the first whose platform matches and
        whose digest is a valid sha256 digest wins, as ``docker pull`` picks the first.
        """
        wanted_arch, variants = PLATFORMS[self.architecture]
        kind = _index_kind(media_type)
        entries = manifest.get("manifests")
        if not isinstance(entries, list):
            return _never(
                "InvalidManifest",
                f"{kind} {index_digest} has no list of manifests "
                f"('manifests' is {_shape(entries)})",
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
                    f"{kind} {index_digest} lists itself as its {self.platform} image",
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
                f"{listing(list(artifacts), MAX_LISTED)} and no {self.platform} image",
                ARTIFACT_REMEDY,
            )
        if not platforms:
            there = (
                "no image platforms (attestations only)" if attestations else "no image platforms"
            )
        else:
            there = listing(list(platforms), MAX_LISTED)
        other = [
            arch
            for arch, (oci_arch, _) in PLATFORMS.items()
            if arch != self.architecture
            and any(p.startswith(f"linux/{oci_arch}") for p in platforms)
        ]
        remedy = (
            f"build and push the image for {self.platform} "
            f"(`docker buildx build --platform {self.platform} --push ...`)"
        )
        if other:
            remedy += f", or give the waiter and the function architecture {other[0]}"
        return _never(
            "NoMatchingPlatform",
            f"{kind} {index_digest} has no {self.platform} image for architecture "
            f"{self.architecture}; platforms in the index: {there}{note}",
            remedy,
        )

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
                self.buildx_remedy,
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
        layer_types = (
            [_get(layer, "mediaType") for layer in layers] if isinstance(layers, list) else []
        )
        declared = [t for t in (_get(manifest, "artifactType"), config_type) if t]
        kind = _artifact_kind(declared + layer_types[:MAX_LISTED])
        if artifact is not None or config_type not in IMAGE_CONFIG_MEDIA_TYPES:
            label = (
                safe_text(artifact, TYPE_CHARS)
                if isinstance(artifact, str)
                else (config_type or "no config")
            )
            return self._artifact(digest, label, kind, layer_types)
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
                return self._artifact(
                    digest, layer_type or "unknown", kind, layer_types, layer=True
                )
        return None

    def _artifact(
        self,
        digest: str,
        what: str,
        kind: tuple[str, str] | None,
        layer_types: list[str],
        *,
        layer: bool = False,
    ) -> Observation:
        if kind is None and IN_TOTO in layer_types:
            # A buildx attestation manifest pushed under a tag: buildx's own advice fits.
            kind = ("a buildx attestation", self.buildx_remedy)
        if layer:
            text = f"manifest {digest} has a layer of type {what}, not an image layer"
        else:
            text = f"manifest {digest} is an artifact of type {what}, not a container image"
        if kind is not None:
            text += f" ({kind[0]})"
        elif layer:
            text += " (an artifact, not a container image)"
        return _never("NotAnImage", text, kind[1] if kind else ARTIFACT_REMEDY)


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


def read_config_platform(
    client: ECRClient, ref: ImageReference, digest: str
) -> tuple[str, str, str] | str:
    """(os, architecture, variant) from the image config blob ``digest`` ("" for a field it
    lacks), or why it could not be read. Never raises for an unreadable config and never
    puts the presigned URL into its answer (see the module docstring)."""
    if valid_digest(digest) is None:
        return f"the config digest {safe_text(digest, 80)} is not a sha256 digest"
    hex_digest = digest.partition(":")[2]
    kwargs: dict[str, Any] = {"repositoryName": ref.repository, "layerDigest": digest}
    if ref.registry_id is not None:
        kwargs["registryId"] = ref.registry_id
    try:
        answer = client.get_download_url_for_layer(**kwargs)
    except sdk_errors() as error:
        failure = failure_of(error)
        if failure.cause != "answer":
            return f"GetDownloadUrlForLayer for the config {digest}: {type(error).__name__}"
        code = failure.code
        if classify(code, status=failure.status).kind is Kind.ACCESS_DENIED:
            return (
                f"{ECR_GET_DOWNLOAD_URL_ACTION} on the config {digest} was refused ({code}); "
                "grant it on the repository to have the architecture checked"
            )
        return (
            f"GetDownloadUrlForLayer for the config {digest}: {code}: "
            f"{safe_text(failure.answer_message, 300)}"
        )
    url = answer.get("downloadUrl") if isinstance(answer, dict) else None
    if not isinstance(url, str) or not url:
        return f"GetDownloadUrlForLayer gave no download URL for the config {digest}"
    local = _is_loopback(str(client.meta.endpoint_url or ""))
    try:
        data = _download.download(
            url,
            local=local,
            partition=str(getattr(client.meta, "partition", "aws") or "aws"),
            timeout=CONFIG_TIMEOUT_SECONDS,
        )
    except _download.Refused as refused:
        return f"the config {digest} was not downloaded: {refused}"
    except _download.Failure as failure:
        return f"downloading the config {digest} failed: {failure}"
    import hashlib

    if hashlib.sha256(data).hexdigest() != hex_digest:
        return f"the downloaded config does not hash to its digest {digest}"
    config = parse_document(data, f"the config {digest}")
    if isinstance(config, str):
        return config
    architecture = config.get("architecture")
    if not isinstance(architecture, str) or not architecture:
        return f"the config {digest} names no architecture"
    os_name = config.get("os", "")
    variant = config.get("variant", "")
    if not isinstance(os_name, str) or not isinstance(variant, str):
        return f"the config {digest} names its os or variant with a value that is not a string"
    return (
        safe_text(os_name, PLATFORM_CHARS),
        safe_text(architecture, PLATFORM_CHARS),
        safe_text(variant, PLATFORM_CHARS),
    )


def _is_loopback(url: str) -> bool:
    from urllib.parse import urlsplit

    try:
        return (urlsplit(url).hostname or "") in LOOPBACK_HOSTS
    except ValueError:
        return False


def _classified(code: str, message: str) -> Observation:
    return observation_of(code, message, action=ECR_BATCH_GET_IMAGE_ACTION)


def _never(code: str, message: str, remedy: str) -> Observation:
    rule = classify(code)
    return Observation(rule.verdict, code, message, kind=rule.kind, remedy=remedy)


def _ready(image: ResolvedImage, message: str) -> Observation:
    return Observation(Verdict.READY, "ImageFound", message, image=image)
