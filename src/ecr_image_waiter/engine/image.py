"""What a successful lookup returns, and what each look at ECR saw."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ecr_image_waiter.engine.classify import NeverReason, Verdict
from ecr_image_waiter.engine.reference import registry_host
from ecr_image_waiter.engine.safe import safe_text

#: Caps on the text an observation or image carries (server text is already cut where it
#: entered; these only keep a whole message bounded).
CODE_CHARS = 100
MESSAGE_CHARS = 2000
NOTE_CHARS = 1000


@dataclass(frozen=True)
class ResolvedImage:
    """An image that is in ECR, pinned to its digest."""

    repository: str
    tag: str | None
    digest: str
    registry_id: str
    region: str
    media_type: str | None = None
    pushed_at: datetime | None = None
    #: When the reference named an image index, the index's digest (``digest`` is then the
    #: digest of the child manifest chosen for ``architecture``).
    index_digest: str | None = None
    architecture: str | None = None
    #: Why ``architecture`` is None although it was looked for: the image config of a
    #: single-platform image could not be read (see engine.manifest). None otherwise.
    architecture_unknown_reason: str | None = None

    def __post_init__(self) -> None:
        # Every text field may hold server text: made safe here too, whoever built it.
        if self.media_type is not None:
            object.__setattr__(self, "media_type", safe_text(self.media_type, CODE_CHARS))
        if self.architecture_unknown_reason is not None:
            object.__setattr__(
                self,
                "architecture_unknown_reason",
                safe_text(self.architecture_unknown_reason, NOTE_CHARS),
            )

    @property
    def registry(self) -> str:
        return registry_host(self.registry_id, self.region)

    @property
    def repository_uri(self) -> str:
        return f"{self.registry}/{self.repository}"

    @property
    def image_uri(self) -> str:
        """The digest-pinned URI: ``<registry>/<repository>@sha256:<hex>``."""
        return f"{self.repository_uri}@{self.digest}"

    @property
    def digest_hex(self) -> str:
        return self.digest.split(":", 1)[1]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (camelCase keys, ISO 8601 time)."""
        return {
            "repository": self.repository,
            "tag": self.tag,
            "digest": self.digest,
            "imageUri": self.image_uri,
            "repositoryUri": self.repository_uri,
            "registryId": self.registry_id,
            "region": self.region,
            "mediaType": self.media_type,
            "pushedAt": self.pushed_at.isoformat() if self.pushed_at is not None else None,
            "indexDigest": self.index_digest,
            "architecture": self.architecture,
            "architectureUnknownReason": self.architecture_unknown_reason,
        }


@dataclass(frozen=True)
class Observation:
    """One look at ECR, already sorted by the classification table."""

    verdict: Verdict
    #: The ECR error code, or ``ImageFound``.
    code: str
    message: str
    image: ResolvedImage | None = None
    kind: NeverReason | None = None
    remedy: str = ""
    #: For access denied: the IAM action that was refused, such as ``ecr:DescribeImages``.
    action: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # The one place every look's text passes: whatever a server wrote into a code, a
        # message or a build id is escaped and bounded before any front end shows it
        # (engine.safe). Idempotent: text made safe where it entered stays as it is.
        object.__setattr__(self, "code", safe_text(self.code, CODE_CHARS))
        object.__setattr__(self, "message", safe_text(self.message, MESSAGE_CHARS))
        object.__setattr__(self, "remedy", safe_text(self.remedy, NOTE_CHARS))
        if self.action is not None:
            object.__setattr__(self, "action", safe_text(self.action, CODE_CHARS))
        object.__setattr__(
            self,
            "extra",
            {safe_text(k, CODE_CHARS): safe_text(v, NOTE_CHARS) for k, v in self.extra.items()},
        )

    @property
    def summary(self) -> str:
        """``code: message``, for progress lines and timeout reasons."""
        if self.message and self.message != self.code:
            return f"{self.code}: {self.message}"
        return self.code
