"""Parse and validate the custom resource's ResourceProperties into a frozen value.

CloudFormation passes every value as a string: numbers are whole decimal numbers (``"30"``),
flags ``"true"`` or ``"false"``. The properties and their rules are listed in the README
("The custom resource from any template"); anything unknown, and any value breaking a rule,
raises :class:`InvalidPropertyError` naming the property, the rule and the remedy.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ecr_image_waiter import names
from ecr_image_waiter.engine.reference import (
    ImageReference,
    validate_digest,
    validate_registry_id,
    validate_repository,
    validate_tag,
)
from ecr_image_waiter.errors import InvalidPropertyError, InvalidReferenceError

#: Whole numbers: decimal digits only, at most this many (no sign, spaces or exponent).
_WHOLE_RE = re.compile(r"[0-9]{1,9}")
_FLAGS = {"true": True, "false": False}
#: CodeBuild project names (AWS CodeBuild API Reference, CreateProject ``name``).
CODEBUILD_PROJECT_PATTERN = r"[A-Za-z0-9][A-Za-z0-9\-_]{1,254}"
#: CodePipeline names (AWS CodePipeline API Reference, PipelineDeclaration ``name``).
PIPELINE_NAME_PATTERN = r"[A-Za-z0-9.@\-_]{1,100}"
_CODEBUILD_RE = re.compile(CODEBUILD_PROJECT_PATTERN)
_PIPELINE_RE = re.compile(PIPELINE_NAME_PATTERN)
#: Longest quoted value in a message.
_SHOW_LIMIT = 60


@dataclass(frozen=True)
class Settings:
    """One resource's validated settings."""

    reference: ImageReference
    #: Seconds from the request to the deadline.
    timeout_seconds: int
    #: Seconds between the sweep's looks at this resource; None: every sweep.
    interval_seconds: int | None = None
    wait_for_repository: bool = False
    architecture: str = names.ARCH_X86_64
    lambda_compatible: bool = True
    codebuild_project_name: str | None = None
    pipeline_name: str | None = None
    trigger_build_on_missing: bool = False
    #: True when neither ImageTag nor ImageDigest was given and the tag ``latest`` is used.
    default_tag: bool = False

    @property
    def physical_id(self) -> str:
        """Stable for one image reference; changes when the reference does (< 1 KB)."""
        registry = self.reference.registry_id or "default"
        return f"{registry}/{self.reference}"


def show(value: object, limit: int = _SHOW_LIMIT) -> str:
    """Quote a value for a message, shortened so the message stays short."""
    text = repr(value)
    if len(text) > limit:
        text = text[: limit - 4] + "...'"
    return text


def parse_properties(properties: Mapping[str, Any] | None) -> Settings:
    """Validate ``properties`` (the event's ResourceProperties) and return the settings."""
    if properties is None:
        properties = {}
    if not isinstance(properties, Mapping):
        raise InvalidPropertyError(
            "ResourceProperties",
            f"must be an object of string properties, not {type(properties).__name__}",
        )
    unknown = sorted(str(key) for key in properties if key not in names.ALL_PROPERTIES)
    if unknown:
        raise InvalidPropertyError(
            show(unknown[0]).strip("'\""),
            "is not a property of this resource; known properties: "
            + ", ".join(sorted(names.ALL_PROPERTIES - {names.PROP_SERVICE_TOKEN})),
        )
    props = {key: _string(key, value) for key, value in properties.items()}

    repository = props.get(names.PROP_REPOSITORY_NAME)
    if repository is None:
        raise InvalidPropertyError(
            names.PROP_REPOSITORY_NAME, "is required: give the ECR repository name"
        )
    repository = _ref(names.PROP_REPOSITORY_NAME, validate_repository, repository)

    tag = props.get(names.PROP_IMAGE_TAG)
    digest = props.get(names.PROP_IMAGE_DIGEST)
    if tag is not None and digest is not None:
        raise InvalidPropertyError(
            names.PROP_IMAGE_DIGEST,
            f"cannot be given with {names.PROP_IMAGE_TAG}: wait for a tag or for a digest, "
            "remove one of them",
        )
    default_tag = tag is None and digest is None
    if digest is not None:
        digest = _ref(names.PROP_IMAGE_DIGEST, validate_digest, digest)
    elif tag is not None:
        tag = _ref(names.PROP_IMAGE_TAG, validate_tag, tag)
    else:
        tag = names.DEFAULT_TAG

    registry_id = props.get(names.PROP_REGISTRY_ID)
    if registry_id is not None:
        registry_id = _ref(names.PROP_REGISTRY_ID, validate_registry_id, registry_id)

    reference = ImageReference(
        repository=repository, tag=tag, digest=digest, registry_id=registry_id
    )
    timeout = _timeout(props)
    interval = _whole(props, names.PROP_INTERVAL_SECONDS, minimum=1)
    if interval is not None and interval < names.MIN_INTERVAL_SECONDS:
        raise InvalidPropertyError(
            names.PROP_INTERVAL_SECONDS,
            f"{interval} is too short: the provider looks again on ECR's push event at once, "
            f"and its sweep runs every {names.SWEEP_PERIOD_SECONDS} s (EventBridge's smallest "
            f'rate); give "{names.MIN_INTERVAL_SECONDS}" or more, or remove it',
        )
    if interval is not None and interval > names.MAX_TIMEOUT_SECONDS:
        raise InvalidPropertyError(
            names.PROP_INTERVAL_SECONDS,
            f"{interval} is out of range: at most {names.MAX_TIMEOUT_SECONDS} seconds (the "
            "largest deadline)",
        )

    architecture = props.get(names.PROP_ARCHITECTURE, names.ARCH_X86_64)
    if architecture not in names.ARCHITECTURES:
        raise InvalidPropertyError(
            names.PROP_ARCHITECTURE,
            f"{show(architecture)} is not a Lambda architecture: give "
            + " or ".join(repr(a) for a in names.ARCHITECTURES),
        )

    codebuild = props.get(names.PROP_CODEBUILD_PROJECT_NAME)
    if codebuild is not None and not _CODEBUILD_RE.fullmatch(codebuild):
        raise InvalidPropertyError(
            names.PROP_CODEBUILD_PROJECT_NAME,
            f"{show(codebuild)} is not a CodeBuild project name: 2 to 255 letters, digits, "
            f"'-' and '_', starting with a letter or digit (pattern {CODEBUILD_PROJECT_PATTERN})",
        )
    pipeline = props.get(names.PROP_PIPELINE_NAME)
    if pipeline is not None and not _PIPELINE_RE.fullmatch(pipeline):
        raise InvalidPropertyError(
            names.PROP_PIPELINE_NAME,
            f"{show(pipeline)} is not a CodePipeline name: 1 to 100 letters, digits, '.', "
            f"'@', '-' and '_' (pattern {PIPELINE_NAME_PATTERN})",
        )
    trigger = _flag(props, names.PROP_TRIGGER_BUILD_ON_MISSING, default=False)
    if trigger and codebuild is None and pipeline is None:
        raise InvalidPropertyError(
            names.PROP_TRIGGER_BUILD_ON_MISSING,
            f'"true" needs {names.PROP_CODEBUILD_PROJECT_NAME} or {names.PROP_PIPELINE_NAME}: '
            "name the build to start, or remove the flag",
        )

    return Settings(
        reference=reference,
        timeout_seconds=timeout,
        interval_seconds=interval,
        wait_for_repository=_flag(props, names.PROP_WAIT_FOR_REPOSITORY, default=False),
        architecture=architecture,
        lambda_compatible=_flag(props, names.PROP_LAMBDA_COMPATIBLE, default=True),
        codebuild_project_name=codebuild,
        pipeline_name=pipeline,
        trigger_build_on_missing=trigger,
        default_tag=default_tag,
    )


def _string(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidPropertyError(
            key,
            f"must be a string, not {type(value).__name__} {show(value)} (CloudFormation "
            'passes every property as a string: write "30", "true")',
        )
    return value


def _ref(prop: str, validate: Any, value: str) -> str:
    try:
        return str(validate(value))
    except InvalidReferenceError as error:
        raise InvalidPropertyError(prop, str(error)) from None


def _whole(props: Mapping[str, str], key: str, *, minimum: int) -> int | None:
    text = props.get(key)
    if text is None:
        return None
    if not _WHOLE_RE.fullmatch(text):
        raise InvalidPropertyError(
            key, f'{show(text)} is not a whole number of at most 9 digits, such as "30"'
        )
    value = int(text)
    if value < minimum:
        raise InvalidPropertyError(key, f"{value} is out of range: give {minimum} or more")
    return value


def _flag(props: Mapping[str, str], key: str, *, default: bool) -> bool:
    text = props.get(key)
    if text is None:
        return default
    flag = _FLAGS.get(text.lower())
    if flag is None:
        raise InvalidPropertyError(key, f'{show(text)} is not a flag: give "true" or "false"')
    return flag


def _timeout(props: Mapping[str, str]) -> int:
    timeout = _whole(props, names.PROP_TIMEOUT_SECONDS, minimum=1)
    retries = _whole(props, names.PROP_MAX_RETRIES, minimum=1)
    delay = _whole(props, names.PROP_RETRY_DELAY_SECONDS, minimum=1)
    if timeout is not None:
        if retries is not None or delay is not None:
            other = (
                names.PROP_MAX_RETRIES if retries is not None else names.PROP_RETRY_DELAY_SECONDS
            )
            raise InvalidPropertyError(
                names.PROP_TIMEOUT_SECONDS,
                f"cannot be given with {other}: set the deadline either with TimeoutSeconds or "
                "with MaxRetries x RetryDelaySeconds, remove one of them",
            )
        prop, total, what = names.PROP_TIMEOUT_SECONDS, timeout, f"{timeout}"
    else:
        retries = names.DEFAULT_MAX_RETRIES if retries is None else retries
        delay = names.DEFAULT_RETRY_DELAY_SECONDS if delay is None else delay
        prop = names.PROP_MAX_RETRIES
        total, what = retries * delay, f"MaxRetries x RetryDelaySeconds = {retries} x {delay}"

    limit = names.MAX_TIMEOUT_SECONDS
    reason = (
        f"CloudFormation waits at most {names.CLOUDFORMATION_MAX_SECONDS} s for a custom "
        f"resource, and the resource keeps {names.DEADLINE_HEADROOM_SECONDS} s to report its "
        f"own reason first: up to one {names.SWEEP_PERIOD_SECONDS} s sweep after the deadline, "
        "then the last look and the answer"
    )
    service_timeout = _whole(props, names.PROP_SERVICE_TIMEOUT, minimum=1)
    if service_timeout is not None:
        if service_timeout > names.CLOUDFORMATION_MAX_SECONDS:
            raise InvalidPropertyError(
                names.PROP_SERVICE_TIMEOUT,
                f"{service_timeout} is out of range: CloudFormation accepts 1 to "
                f"{names.CLOUDFORMATION_MAX_SECONDS} seconds",
            )
        if service_timeout <= names.DEADLINE_HEADROOM_SECONDS:
            raise InvalidPropertyError(
                names.PROP_SERVICE_TIMEOUT,
                f"{service_timeout} s leaves no time to wait: the resource keeps "
                f"{names.DEADLINE_HEADROOM_SECONDS} s to report its own reason first; give "
                f"ServiceTimeout {names.DEADLINE_HEADROOM_SECONDS + 1} or more, or remove it "
                f"(CloudFormation's default is {names.CLOUDFORMATION_MAX_SECONDS})",
            )
        if service_timeout - names.DEADLINE_HEADROOM_SECONDS < limit:
            limit = service_timeout - names.DEADLINE_HEADROOM_SECONDS
            reason = (
                f"ServiceTimeout is {service_timeout} s and the resource keeps "
                f"{names.DEADLINE_HEADROOM_SECONDS} s to report its own reason first"
            )
    if total > limit:
        raise InvalidPropertyError(
            prop,
            f"{what} s is too long: the largest accepted deadline is {limit} s ({reason}); "
            "shorten the deadline",
        )
    return total
