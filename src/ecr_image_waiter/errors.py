"""Every failure this project reports, in one place, in three families:

* ``InvalidInputError``: the request itself is wrong; nothing was asked of ECR (exit 2);
* ``WaitTimeoutError``: the image did not appear before the deadline (exit 1);
* ``ImageNeverReadyError``: an answer that waiting longer cannot change (exit 3).

Wait errors carry the repository, the tag or digest, the number of attempts, the seconds
waited and the last ECR error code, so a caller never has to parse the message.
"""

from __future__ import annotations


class EcrImageWaiterError(Exception):
    """Base class of every error raised by ecr-image-waiter."""


class InvalidInputError(EcrImageWaiterError, ValueError):
    """The input breaks a rule; the message names the value, the rule and the remedy."""


class InvalidReferenceError(InvalidInputError):
    """An image reference (repository, tag, digest or URI) is not valid."""


class InvalidPropertyError(InvalidInputError):
    """A custom resource property is missing, malformed or contradicts another one."""

    def __init__(self, prop: str, message: str) -> None:
        super().__init__(f"property {prop}: {message}")
        self.prop = prop


class WaitError(EcrImageWaiterError):
    """A wait for an image ended without the image."""

    def __init__(
        self,
        message: str,
        *,
        repository: str,
        reference: str,
        attempts: int = 0,
        waited_seconds: float = 0.0,
        last_code: str | None = None,
        last_message: str | None = None,
    ) -> None:
        super().__init__(message)
        self.repository = repository
        #: The tag (``latest``) or digest (``sha256:...``) that was waited for.
        self.reference = reference
        self.attempts = attempts
        self.waited_seconds = waited_seconds
        self.last_code = last_code
        self.last_message = last_message


class WaitTimeoutError(WaitError):
    """The deadline passed and the image was still not there."""


class ImageNeverReadyError(WaitError):
    """ECR answered in a way that waiting cannot change."""


class RepositoryNotFoundError(ImageNeverReadyError):
    """The repository does not exist (and the caller did not ask to wait for it)."""


class AccessDeniedError(ImageNeverReadyError):
    """The caller lacks an IAM permission; ``action`` names it (``ecr:DescribeImages``)."""

    def __init__(self, message: str, *, action: str, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.action = action


class UnusableImageError(ImageNeverReadyError):
    """The image is there but cannot be used (wrong media type, wrong architecture)."""


class PipelineFailedError(ImageNeverReadyError):
    """The build or pipeline that should push the image has failed."""
