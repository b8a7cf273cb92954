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
* **Single manifest**: READY as DescribeImages found it. Without ``lambda_compatible`` its
  architecture is not looked for (``None``); with it, see *Architecture of a single-platform
  image* below.

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
``ecr:GetDownloadUrlForLayer`` on the repository), then a GET of that URL: HTTPS only (plain
HTTP is taken only from a loopback address when ECR itself is a loopback endpoint, as a local
ECR is), redirects only to such URLs, at most :data:`CONFIG_MAX_BYTES` (the read stops
there), the body within :data:`CONFIG_TIMEOUT_SECONDS` of the request and no network wait
longer than that, and the bytes must hash to the config digest. ``amd64`` (any variant:
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

from ecr_image_waiter.engine.classify import Kind, Verdict, classify
from ecr_image_waiter.engine.image import Observation, ResolvedImage
from ecr_image_waiter.engine.lookup import classified, from_client_error
from ecr_image_waiter.engine.reference import ImageReference
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
ATTESTATION_ANNOTATION = "vnd.docker.reference.type"
ATTESTATION_VALUE = "attestation-manifest"

#: OCI platform architecture -> Lambda architecture.
LAMBDA_ARCHITECTURE_OF = {oci_arch: arch for arch, (oci_arch, _) in PLATFORMS.items()}

#: Reading an image config blob: the download's time limit and size cap (a config is a few
#: KiB; the cap only stops a wrong URL from streaming a layer).
CONFIG_TIMEOUT_SECONDS = 10
CONFIG_MAX_BYTES = 1024 * 1024
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

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
            return self._check_config(client, ref, image, manifest)
        return _ready(image, f"found {image.image_uri} (architecture not recorded in the manifest)")

    def _check_config(
        self, client: ECRClient, ref: ImageReference, image: ResolvedImage, manifest: dict[str, Any]
    ) -> Observation:
        """READY with the architecture, READY with the reason it is unknown, or NEVER on a
        mismatch; the manifest already passed :meth:`_unusable` (it has an image config)."""
        config = manifest.get("config")
        digest = str(config.get("digest") or "") if isinstance(config, dict) else ""
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
        return from_client_error(error, ECR_BATCH_GET_IMAGE_ACTION)
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


def read_config_platform(
    client: ECRClient, ref: ImageReference, digest: str
) -> tuple[str, str, str] | str:
    """(os, architecture, variant) from the image config blob ``digest`` ("" for a field it
    lacks), or why it could not be read. Never raises for an unreadable config and never
    puts the presigned URL into its answer (see the module docstring)."""
    from botocore.exceptions import BotoCoreError, ClientError

    algorithm, _, hex_digest = digest.partition(":")
    if algorithm != "sha256" or len(hex_digest) != 64:
        return f"the config digest {digest[:80]!r} is not a sha256 digest"
    kwargs: dict[str, Any] = {"repositoryName": ref.repository, "layerDigest": digest}
    if ref.registry_id is not None:
        kwargs["registryId"] = ref.registry_id
    try:
        answer = client.get_download_url_for_layer(**kwargs)
    except ClientError as error:
        err = error.response.get("Error", {})
        code = str(err.get("Code") or "Unknown")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if classify(code, status=status).kind is Kind.ACCESS_DENIED:
            return (
                f"{ECR_GET_DOWNLOAD_URL_ACTION} on the config {digest} was refused ({code}); "
                "grant it on the repository to have the architecture checked"
            )
        return f"GetDownloadUrlForLayer for the config {digest}: {code}: {err.get('Message')}"
    except BotoCoreError as error:
        return f"GetDownloadUrlForLayer for the config {digest}: {type(error).__name__}"
    url = str(answer.get("downloadUrl") or "")
    local = _is_loopback(str(client.meta.endpoint_url or ""))
    if not url or _url_problem(url, local=local):
        return f"GetDownloadUrlForLayer gave no usable download URL for the config {digest}"
    data = _download(url, local=local)
    if isinstance(data, str):
        return f"downloading the config {digest} failed: {data}"
    import hashlib

    if hashlib.sha256(data).hexdigest() != hex_digest:
        return f"the downloaded config does not hash to its digest {digest}"
    try:
        config = json.loads(data)
    except ValueError:
        return f"the config {digest} is not JSON"
    architecture = config.get("architecture") if isinstance(config, dict) else None
    if not isinstance(architecture, str) or not architecture:
        return f"the config {digest} names no architecture"
    return str(config.get("os") or ""), architecture, str(config.get("variant") or "")


def _is_loopback(url: str) -> bool:
    from urllib.parse import urlsplit

    try:
        return (urlsplit(url).hostname or "") in LOOPBACK_HOSTS
    except ValueError:
        return False


def _url_problem(url: str, *, local: bool) -> bool:
    """True if the waiter must not fetch ``url``: HTTPS only, or plain HTTP to a loopback
    address when ECR itself is a loopback endpoint (a local ECR)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return True
    if parts.scheme == "https" and parts.hostname:
        return False
    return not (local and parts.scheme == "http" and _is_loopback(url))


def _download(url: str, *, local: bool) -> bytes | str:
    """The body at ``url`` (at most CONFIG_MAX_BYTES), or what went wrong, without the URL."""
    import http.client
    import time
    import urllib.error
    import urllib.request

    class Redirects(urllib.request.HTTPRedirectHandler):
        def redirect_request(  # noqa: PLR0917  (urllib's signature)
            self,
            req: urllib.request.Request,
            fp: Any,
            code: int,
            msg: str,
            headers: Any,
            newurl: str,
        ) -> urllib.request.Request | None:
            if _url_problem(newurl, local=local):
                raise urllib.error.URLError("redirected to a URL that is not HTTPS")
            return super().redirect_request(req, fp, code, msg, headers, newurl)

    opener = urllib.request.build_opener(Redirects())
    # The socket timeout bounds each wait, not the whole body: a server trickling bytes could
    # hold a plain read(n) for n waits. read1() returns what has come, so the deadline and the
    # size cap are checked between reads.
    deadline = time.monotonic() + CONFIG_TIMEOUT_SECONDS
    chunks: list[bytes] = []
    size = 0
    try:
        with opener.open(url, timeout=CONFIG_TIMEOUT_SECONDS) as response:
            while size <= CONFIG_MAX_BYTES:
                if time.monotonic() > deadline:
                    return f"no complete answer within {CONFIG_TIMEOUT_SECONDS} s"
                chunk: bytes = response.read1(CONFIG_MAX_BYTES + 1 - size)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
    except urllib.error.HTTPError as error:
        error.close()
        return f"HTTP {error.code}"
    except urllib.error.URLError as error:
        reason = error.reason
        if isinstance(reason, str):
            return reason
        return _os_error(reason)
    except TimeoutError:
        return f"no answer within {CONFIG_TIMEOUT_SECONDS} s"
    except OSError as error:
        return _os_error(error)
    except (http.client.HTTPException, ValueError) as error:
        return type(error).__name__
    if size > CONFIG_MAX_BYTES:
        return f"larger than {CONFIG_MAX_BYTES} bytes"
    return b"".join(chunks)


def _os_error(error: BaseException) -> str:
    """A network error by kind (its text can carry the address, never needed here)."""
    if isinstance(error, TimeoutError):
        return f"no answer within {CONFIG_TIMEOUT_SECONDS} s"
    strerror = getattr(error, "strerror", None)
    return f"{type(error).__name__}: {strerror}" if strerror else type(error).__name__


def _classified(code: str, message: str) -> Observation:
    return classified(code, message, action=ECR_BATCH_GET_IMAGE_ACTION)


def _never(code: str, message: str, remedy: str) -> Observation:
    rule = classify(code)
    return Observation(rule.verdict, code, message, kind=rule.kind, remedy=remedy)


def _ready(image: ResolvedImage, message: str) -> Observation:
    return Observation(Verdict.READY, "ImageFound", message, image=image)
