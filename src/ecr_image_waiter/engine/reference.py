"""Image references: parsing and validation, with messages that name the broken rule.

Accepted forms::

    REPOSITORY                  (tag ``latest``)
    REPOSITORY:TAG
    REPOSITORY@sha256:<64 hex>
    <account>.dkr.ecr.<region>.amazonaws.com/REPOSITORY[:TAG|@sha256:<64 hex>]

The rules for names, tags, digests and registry ids, with their sources, are in
docs/rules.md ("Image references").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ecr_image_waiter.errors import InvalidReferenceError
from ecr_image_waiter.names import DEFAULT_TAG

REPOSITORY_PATTERN = r"(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*"
REPOSITORY_MIN_LENGTH = 2
REPOSITORY_MAX_LENGTH = 256
TAG_PATTERN = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
TAG_MAX_LENGTH = 128
DIGEST_PATTERN = r"sha256:[a-f0-9]{64}"
REGISTRY_ID_PATTERN = r"[0-9]{12}"
REGION_PATTERN = r"[a-z]{2}(?:-[a-z]+)+-[0-9]+"

_REPOSITORY_RE = re.compile(REPOSITORY_PATTERN)
_TAG_RE = re.compile(TAG_PATTERN)
_DIGEST_RE = re.compile(DIGEST_PATTERN)
_REGISTRY_ID_RE = re.compile(REGISTRY_ID_PATTERN)
_REGION_RE = re.compile(REGION_PATTERN)
_URI_RE = re.compile(
    r"(?P<account>[^./]+)\.dkr\.ecr(?P<fips>-fips)?\.(?P<region>[^./]+)"
    r"\.amazonaws\.com(?P<cn>\.cn)?/(?P<rest>.*)"
)


@dataclass(frozen=True)
class ImageReference:
    """A validated reference to one image in one ECR repository."""

    repository: str
    tag: str | None = None
    digest: str | None = None
    registry_id: str | None = None
    region: str | None = None

    def __post_init__(self) -> None:
        if (self.tag is None) == (self.digest is None):
            raise InvalidReferenceError(
                f"image reference for {self.repository!r} needs exactly one of a tag or a digest"
            )

    @property
    def reference(self) -> str:
        """The tag or the digest, as ECR would name it."""
        return self.digest if self.digest is not None else str(self.tag)

    def __str__(self) -> str:
        sep = "@" if self.digest is not None else ":"
        return f"{self.repository}{sep}{self.reference}"

    def image_id(self) -> dict[str, str]:
        """The ECR ``ImageIdentifier`` for this reference."""
        if self.digest is not None:
            return {"imageDigest": self.digest}
        return {"imageTag": str(self.tag)}


def validate_repository(name: str) -> str:
    """Return ``name`` if it is a valid ECR repository name, else raise with the rule."""
    if not isinstance(name, str) or name == "":
        raise InvalidReferenceError("repository name is empty: give the ECR repository name")
    if not REPOSITORY_MIN_LENGTH <= len(name) <= REPOSITORY_MAX_LENGTH:
        raise InvalidReferenceError(
            f"repository name {_show(name)} has {len(name)} characters: ECR repository names "
            f"have {REPOSITORY_MIN_LENGTH} to {REPOSITORY_MAX_LENGTH}"
        )
    if not _REPOSITORY_RE.fullmatch(name):
        raise InvalidReferenceError(
            f"repository name {_show(name)} is not valid: ECR repository names are lowercase "
            "letters and digits, in parts separated by '.', '_' or '-', optionally grouped "
            f"with '/' (pattern {REPOSITORY_PATTERN})"
        )
    return name


def validate_tag(tag: str) -> str:
    """Return ``tag`` if it is a usable image tag, else raise with the rule."""
    if not isinstance(tag, str) or tag == "":
        raise InvalidReferenceError("image tag is empty: give a tag such as 'latest'")
    if len(tag) > TAG_MAX_LENGTH:
        raise InvalidReferenceError(
            f"image tag {_show(tag)} has {len(tag)} characters: an image tag has at most "
            f"{TAG_MAX_LENGTH} (Docker reference grammar)"
        )
    if not _TAG_RE.fullmatch(tag):
        raise InvalidReferenceError(
            f"image tag {_show(tag)} is not valid: a tag is letters, digits, '_', '.' and '-', "
            f"and does not start with '.' or '-' (pattern {TAG_PATTERN})"
        )
    return tag


def validate_digest(digest: str) -> str:
    """Return ``digest`` if it is ``sha256:<64 lowercase hex>``, else raise with the rule."""
    if not isinstance(digest, str) or not _DIGEST_RE.fullmatch(digest):
        raise InvalidReferenceError(
            f"image digest {_show(digest)} is not valid: a digest is 'sha256:' followed by "
            "64 lowercase hex characters"
        )
    return digest


def validate_registry_id(registry_id: str) -> str:
    """Return ``registry_id`` if it is a 12-digit account id, else raise with the rule."""
    if not isinstance(registry_id, str) or not _REGISTRY_ID_RE.fullmatch(registry_id):
        raise InvalidReferenceError(
            f"registry id {_show(registry_id)} is not valid: a registry id is the 12-digit "
            "AWS account id that owns the repository"
        )
    return registry_id


def validate_region(region: str) -> str:
    """Return ``region`` if it looks like an AWS region name, else raise with the rule."""
    if not isinstance(region, str) or not _REGION_RE.fullmatch(region):
        raise InvalidReferenceError(
            f"region {_show(region)} is not valid: expected an AWS region name such as 'us-east-1'"
        )
    return region


def parse_reference(
    text: str, *, registry_id: str | None = None, region: str | None = None
) -> ImageReference:
    """Parse ``text`` into an :class:`ImageReference`, or raise :class:`InvalidReferenceError`.

    ``registry_id`` and ``region`` apply to short references; a full ECR URI carries its own,
    and giving a different one explicitly is an error.
    """
    if not isinstance(text, str) or text.strip() == "":
        raise InvalidReferenceError(
            "image reference is empty: give REPOSITORY[:TAG], REPOSITORY@sha256:<hex> or a "
            "full ECR image URI"
        )
    if text != text.strip():
        raise InvalidReferenceError(
            f"image reference {_show(text)} has leading or trailing whitespace"
        )
    if registry_id is not None:
        validate_registry_id(registry_id)
    if region is not None:
        validate_region(region)

    rest = text
    uri = _URI_RE.fullmatch(text)
    if uri is not None:
        uri_account = validate_registry_id(uri.group("account"))
        uri_region = validate_region(uri.group("region"))
        if registry_id is not None and registry_id != uri_account:
            raise InvalidReferenceError(
                f"image URI {_show(text)} names registry {uri_account} but registry id "
                f"{registry_id} was also given: give one or the other"
            )
        if region is not None and region != uri_region:
            raise InvalidReferenceError(
                f"image URI {_show(text)} names region {uri_region} but region {region} was "
                "also given: give one or the other"
            )
        registry_id, region = uri_account, uri_region
        rest = uri.group("rest")
    elif "/" in text and "." in text.split("/", 1)[0]:
        raise InvalidReferenceError(
            f"image reference {_show(text)} names a registry that is not Amazon ECR (a first "
            "part with a '.' is a registry host, as in Docker references): expected "
            "<account>.dkr.ecr.<region>.amazonaws.com/REPOSITORY; for an ECR repository whose "
            "name starts with a dotted part, give that full URI"
        )

    if "@" in rest:
        repository, digest = rest.split("@", 1)
        if ":" in repository.rsplit("/", 1)[-1]:
            raise InvalidReferenceError(
                f"image reference {_show(text)} gives both a tag and a digest: give one of them"
            )
        return ImageReference(
            repository=validate_repository(repository),
            digest=validate_digest(digest),
            registry_id=registry_id,
            region=region,
        )
    repository, sep, tag = rest.partition(":")
    return ImageReference(
        repository=validate_repository(repository),
        tag=validate_tag(tag) if sep else DEFAULT_TAG,
        registry_id=registry_id,
        region=region,
    )


def registry_host(registry_id: str, region: str) -> str:
    """The registry host name for an account and region (``.amazonaws.com.cn`` in China)."""
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"{registry_id}.dkr.ecr.{region}.{suffix}"


def _show(value: object, limit: int = 80) -> str:
    """Quote a user value for a message, shortened so messages stay one readable line."""
    text = repr(value)
    if len(text) > limit:
        text = text[: limit - 5] + "...'"
    return text
