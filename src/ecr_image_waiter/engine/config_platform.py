"""The architecture of a single-platform image, from its config blob (GetDownloadUrlForLayer,
then a bounded GET of the presigned URL, which is never logged). A config that cannot be
read leaves the architecture unknown. The rules are in docs/rules.md ("The Lambda checks").
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ecr_image_waiter.engine import download as _download
from ecr_image_waiter.engine.aws import failure_of, sdk_errors
from ecr_image_waiter.engine.classify import NeverReason, classify
from ecr_image_waiter.engine.image import Observation, ResolvedImage
from ecr_image_waiter.engine.media import (
    LAMBDA_ARCHITECTURE_OF,
    PLATFORM_CHARS,
    PLATFORMS,
    _get,
    _never,
    _ready,
    parse_document,
)
from ecr_image_waiter.engine.reference import ImageReference
from ecr_image_waiter.engine.safe import safe_text, valid_digest
from ecr_image_waiter.names import ECR_GET_DOWNLOAD_URL_ACTION

if TYPE_CHECKING:
    from mypy_boto3_ecr import ECRClient

#: Reading an image config blob: the download's whole time limit and size cap (see
#: engine.download; read at each download, so tests may lower the limit).
CONFIG_TIMEOUT_SECONDS = _download.TIMEOUT_SECONDS
CONFIG_MAX_BYTES = _download.MAX_BYTES
LOOPBACK_HOSTS = _download.LOOPBACK_HOSTS


def check_config(
    client: ECRClient,
    ref: ImageReference,
    image: ResolvedImage,
    manifest: dict[str, Any],
    architecture: str,
) -> Observation:
    """READY with the architecture, READY with the reason it is unknown, or NEVER on a
    mismatch; the manifest already passed :func:`.lambda_checks.unusable` (it has a config)."""
    platform_wanted = f"linux/{PLATFORMS[architecture][0]}"
    digest = valid_digest(_get(manifest.get("config"), "digest")) or ""
    read = read_config_platform(client, ref, digest)
    if isinstance(read, str):
        image = replace(image, architecture_unknown_reason=read)
        return _ready(image, f"found {image.image_uri} (architecture unknown: {read})")
    os_name, oci_arch, variant = read
    wanted_arch, variants = PLATFORMS[architecture]
    if os_name in ("linux", "") and oci_arch == wanted_arch and variant in variants:
        image = replace(image, architecture=architecture)
        return _ready(image, f"found {image.image_uri} ({platform_wanted} image)")
    platform = "/".join(p for p in (os_name or "?", oci_arch, variant) if p)
    theirs = LAMBDA_ARCHITECTURE_OF.get(oci_arch)
    if theirs is not None and (os_name not in ("linux", "") or variant not in PLATFORMS[theirs][1]):
        theirs = None
    built = f"Lambda architecture {theirs}" if theirs else "an architecture Lambda does not run"
    remedy = (
        f"build and push the image for {platform_wanted} (`docker buildx build "
        f"--provenance=false --platform {platform_wanted} --push ...`)"
    )
    if theirs is not None:
        remedy += f", or give the waiter and the function architecture {theirs}"
    return _never(
        "ArchitectureMismatch",
        f"image {image.digest} is built for {platform} ({built}), not for architecture "
        f"{architecture} ({platform_wanted}): a function with architecture "
        f"{architecture} would fail every invocation with 'exec format error'",
        remedy,
    )


def read_config_platform(
    client: ECRClient, ref: ImageReference, digest: str
) -> tuple[str, str, str] | str:
    """(os, architecture, variant) from the image config blob ``digest`` ("" for a field it
    lacks), or why it could not be read. Never raises for an unreadable config and never
    puts the presigned URL into its answer (see docs/rules.md)."""
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
        if classify(code, status=failure.status).kind is NeverReason.ACCESS_DENIED:
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
