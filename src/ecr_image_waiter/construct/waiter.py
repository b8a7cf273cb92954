"""``EcrImageWaiter``: a Docker-image Lambda is created only once its image is in ECR.

::

    waiter = EcrImageWaiter(self, "TextGenImage", repository=repo, tag="latest")
    lambda_.DockerImageFunction(
        self, "TextGen", code=waiter.docker_image_code(), architecture=waiter.architecture
    )

The ImageUri pins ``ImageDigestHex`` by ``Fn::GetAtt``, so the function waits for the waiter;
everything given is checked at synth with the Lambda code's rules (README, "The CDK construct").
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from aws_cdk import CustomResource, Duration, Stack, Token
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from ecr_image_waiter import names
from ecr_image_waiter.construct.provider import EcrImageWaiterProvider
from ecr_image_waiter.engine.reference import (
    validate_digest,
    validate_registry_id,
    validate_repository,
    validate_tag,
)
from ecr_image_waiter.errors import InvalidInputError

DEFAULT_TIMEOUT = Duration.minutes(30)


class EcrImageWaiter(Construct):
    """Waits, during a deploy, until an image is in an ECR repository, and resolves its digest.

    :param repository: the repository (created here, imported, or from another stack).
    :param tag: the tag to wait for; default ``latest`` when no digest is given.
    :param digest: a ``sha256:<hex>`` digest to wait for, instead of a tag.
    :param timeout: how long to wait before failing with a reason naming the image; at most
        ``names.MAX_TIMEOUT_SECONDS`` (58 minutes 30 s), so that the failure, which the
        one-minute sweep reports, arrives before CloudFormation's own one-hour limit. Default
        30 minutes. The resource's ``ServiceTimeout`` is set to fit it.
    :param interval: how often the sweep looks again while no push event has ended the wait;
        default (and minimum) the sweep's period, ``names.SWEEP_PERIOD_SECONDS`` (60 s).
    :param registry_id: the account that owns the repository when it is not this stack's.
    :param architecture: the architecture the image must run on (an image index resolves to
        its child for it); give the function ``architecture=waiter.architecture`` so the two
        cannot differ. Default x86_64, as for a Lambda function.
    :param lambda_compatible: fail at once on an image Lambda cannot run (a manifest media
        type Lambda does not take, a non-image artifact, a single-platform image whose config
        names another architecture; a config that cannot be read leaves the architecture
        unknown, which the handler logs, and does not fail). Default on. An image index is
        resolved to its child for ``architecture`` (skipping attestations) either way, and one
        without that child fails at once either way.
    :param wait_for_repository: keep waiting while the repository does not exist yet,
        instead of failing at once.
    :param resolve_on_every_deploy: re-resolve the tag on every deploy, so a re-pushed tag
        rolls the function forward. Off by default, which keeps synth output deterministic.
    :param codebuild_project: the CodeBuild project that pushes the image: a failed build
        ends the wait at once.
    :param pipeline: the CodePipeline that pushes the image: a failed execution ends the wait.
    :param trigger_build_on_missing: start the project (or the pipeline) once per deploy
        request when the first look finds no image (a run already in progress is followed
        instead). Only then does the provider get the start action, on that project or
        pipeline only.
    :param log_retention: retention of the shared provider's log group (default one week);
        every waiter of a stack must agree.
    :param service_token: the ServiceToken of a provider deployed elsewhere, typically the
        standalone provider stack's export (``Fn.import_value("EcrImageWaiterServiceToken")``).
        The waiter then creates no provider and grants nothing: the provider's own stack must
        allow the repository (``--repository`` / ``--repository-prefix``) and the build
        (``--codebuild-project`` / ``--pipeline``, ``--allow-start`` for
        ``trigger_build_on_missing``). ``log_retention`` cannot be given with it.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        repository: ecr.IRepository,
        tag: str | None = None,
        digest: str | None = None,
        timeout: Duration = DEFAULT_TIMEOUT,
        interval: Duration | None = None,
        registry_id: str | None = None,
        architecture: lambda_.Architecture = lambda_.Architecture.X86_64,
        lambda_compatible: bool = True,
        wait_for_repository: bool = False,
        resolve_on_every_deploy: bool = False,
        codebuild_project: codebuild.IProject | None = None,
        pipeline: codepipeline.IPipeline | None = None,
        trigger_build_on_missing: bool = False,
        log_retention: logs.RetentionDays | None = None,
        service_token: str | None = None,
    ) -> None:
        super().__init__(scope, id)
        where = self.node.path
        timeout_seconds = _timeout_seconds(timeout, where)
        interval_seconds = _interval_seconds(interval, timeout_seconds, where)
        arch = _architecture_name(architecture, where)
        if tag is not None and digest is not None:
            raise InvalidInputError(
                f"{where}: both tag={tag!r} and digest={digest!r} were given: a waiter waits "
                "for one image, give either the tag or the digest"
            )
        if tag is None and digest is None:
            tag = names.DEFAULT_TAG
        _check(validate_repository, repository.repository_name, where, "repository")
        _check(validate_tag, tag, where, "tag")
        _check(validate_digest, digest, where, "digest")
        _check(validate_registry_id, registry_id, where, "registry_id")
        if trigger_build_on_missing and codebuild_project is None and pipeline is None:
            raise InvalidInputError(
                f"{where}: trigger_build_on_missing=True needs something to start: give "
                "codebuild_project= or pipeline=, or leave trigger_build_on_missing off"
            )
        if trigger_build_on_missing and codebuild_project is not None and pipeline is not None:
            raise InvalidInputError(
                f"{where}: trigger_build_on_missing=True with both codebuild_project and "
                "pipeline would not say which one to start: give only one of them, or leave "
                "trigger_build_on_missing off"
            )

        if service_token is not None and log_retention is not None:
            raise InvalidInputError(
                f"{where}: log_retention={log_retention.name} was given with service_token=: "
                "the provider's log groups belong to the stack that deploys the provider, set "
                "the retention there (ecr-image-waiter provider synth --log-retention-days)"
            )

        self._repository = repository
        self._architecture = architecture
        #: The provider this waiter created or shares; None with an imported service_token.
        self.provider: EcrImageWaiterProvider | None = None
        if service_token is None:
            self.provider = EcrImageWaiterProvider.of(self, log_retention=log_retention)
            service_token = self.provider.service_token
            self.provider.watch_repository(
                repository.repository_name, _repository_arn(self, repository, registry_id)
            )

        properties: dict[str, str] = {
            names.PROP_REPOSITORY_NAME: repository.repository_name,
            names.PROP_TIMEOUT_SECONDS: str(timeout_seconds),
            names.PROP_INTERVAL_SECONDS: str(interval_seconds),
            names.PROP_ARCHITECTURE: arch,
            names.PROP_LAMBDA_COMPATIBLE: _flag(lambda_compatible),
            names.PROP_WAIT_FOR_REPOSITORY: _flag(wait_for_repository),
        }
        if digest is not None:
            properties[names.PROP_IMAGE_DIGEST] = digest
        else:
            properties[names.PROP_IMAGE_TAG] = str(tag)
        if registry_id is not None:
            properties[names.PROP_REGISTRY_ID] = registry_id
        if codebuild_project is not None:
            properties[names.PROP_CODEBUILD_PROJECT_NAME] = codebuild_project.project_name
            if self.provider is not None:
                self.provider.grant_codebuild_project(
                    codebuild_project.project_name,
                    codebuild_project.project_arn,
                    start=trigger_build_on_missing,
                )
        if pipeline is not None:
            properties[names.PROP_PIPELINE_NAME] = pipeline.pipeline_name
            if self.provider is not None:
                self.provider.grant_pipeline(
                    pipeline.pipeline_name, pipeline.pipeline_arn, start=trigger_build_on_missing
                )
        if trigger_build_on_missing:
            properties[names.PROP_TRIGGER_BUILD_ON_MISSING] = _flag(True)
        if resolve_on_every_deploy:
            # A new value on every synth: CloudFormation sends an Update, which re-resolves.
            properties[names.PROP_RESOLVE_NONCE] = uuid.uuid4().hex

        self.resource = CustomResource(
            self,
            "Resource",
            service_token=service_token,
            resource_type=names.RESOURCE_TYPE,
            properties=properties,
            service_timeout=Duration.seconds(service_timeout_for(timeout_seconds)),
        )

    @staticmethod
    def service_token(scope: Construct) -> str:
        """The ServiceToken of the provider shared by the waiters of ``scope``'s stack.

        Any template can then declare a ``Custom::EcrImageWaiter`` with the original design's
        properties (``RepositoryName``, ``ImageTag``, ``MaxRetries``, ``RetryDelaySeconds``).
        Let the provider wait for the repositories such templates name with
        ``EcrImageWaiterProvider.of(scope).allow_repositories(names=[...])``.
        """
        return EcrImageWaiterProvider.of(scope).service_token

    @property
    def repository(self) -> ecr.IRepository:
        """The repository waited for."""
        return self._repository

    @property
    def architecture(self) -> lambda_.Architecture:
        """The architecture the image was checked for: give the function the same."""
        return self._architecture

    @property
    def image_digest(self) -> str:
        """``sha256:<hex>`` of the resolved image (the platform child of an image index)."""
        return self.resource.get_att_string(names.ATTR_IMAGE_DIGEST)

    @property
    def image_digest_hex(self) -> str:
        """The 64 hex characters of :attr:`image_digest`."""
        return self.resource.get_att_string(names.ATTR_IMAGE_DIGEST_HEX)

    @property
    def image_uri(self) -> str:
        """``<repository uri>@sha256:<hex>``: the digest-pinned image URI."""
        return self.resource.get_att_string(names.ATTR_IMAGE_URI)

    @property
    def image_tag(self) -> str:
        """The tag waited for (empty when waiting for a digest)."""
        return self.resource.get_att_string(names.ATTR_IMAGE_TAG)

    @property
    def repository_uri(self) -> str:
        """The repository URI, as the Lambda code resolved it."""
        return self.resource.get_att_string(names.ATTR_REPOSITORY_URI)

    def docker_image_code(self, **kwargs: Any) -> lambda_.DockerImageCode:
        """Code for a ``DockerImageFunction`` pinned to the resolved digest.

        The ImageUri is ``<repository uri>@sha256:`` + the waiter's ``ImageDigestHex``. The
        ``sha256:`` prefix must be written here: ``DockerImageCode.from_ecr`` picks ``@`` over
        ``:`` by testing the unresolved value, so a bare digest token would give the invalid
        ``repo:sha256:...``. ``kwargs`` go to ``from_ecr`` (``cmd``, ``entrypoint``,
        ``working_directory``).
        """
        return lambda_.DockerImageCode.from_ecr(
            self._repository, tag_or_digest="sha256:" + self.image_digest_hex, **kwargs
        )


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _whole_seconds(value: Duration, where: str, name: str) -> int:
    if not isinstance(value, Duration):
        raise InvalidInputError(
            f"{where}: {name}={value!r} is not a Duration: give "
            f"{name}=Duration.seconds(N) or Duration.minutes(N) (aws_cdk.Duration)"
        )
    millis = value.to_milliseconds()
    if millis % 1000:
        raise InvalidInputError(
            f"{where}: {name}={millis / 1000:g} s is not a whole number of seconds: give "
            f"{name}=Duration.seconds(N) with a whole N"
        )
    return int(millis // 1000)


def _timeout_seconds(timeout: Duration, where: str) -> int:
    seconds = _whole_seconds(timeout, where, "timeout")
    if seconds < 1:
        raise InvalidInputError(
            f"{where}: timeout={seconds} s is too short: give at least Duration.seconds(1)"
        )
    if seconds > names.MAX_TIMEOUT_SECONDS:
        raise InvalidInputError(
            f"{where}: timeout={seconds} s cannot be reported before CloudFormation stops "
            f"waiting for a custom resource ({names.CLOUDFORMATION_MAX_SECONDS} s): the failure "
            f"comes from the sweep, up to {names.SWEEP_PERIOD_SECONDS} s after the deadline, "
            f"and needs {names.DEADLINE_HEADROOM_SECONDS - names.SWEEP_PERIOD_SECONDS} s more to "
            f"arrive; the largest accepted timeout is {names.MAX_TIMEOUT_SECONDS} s: give "
            f"Duration.seconds({names.MAX_TIMEOUT_SECONDS}) or less"
        )
    return seconds


def service_timeout_for(timeout_seconds: int) -> int:
    """The resource's ServiceTimeout: its deadline plus the time its failure needs to arrive
    (one sweep period, then the last look and the answer), so the waiter's own reason always
    reaches CloudFormation first."""
    return min(names.CLOUDFORMATION_MAX_SECONDS, timeout_seconds + names.DEADLINE_HEADROOM_SECONDS)


def _interval_seconds(interval: Duration | None, timeout_seconds: int, where: str) -> int:
    if interval is None:
        return names.DEFAULT_INTERVAL_SECONDS
    seconds = _whole_seconds(interval, where, "interval")
    if seconds < names.MIN_INTERVAL_SECONDS:
        raise InvalidInputError(
            f"{where}: interval={seconds} s is shorter than the sweep's period: a push event "
            "ends the wait at once, and the sweep that covers lost events runs every "
            f"{names.SWEEP_PERIOD_SECONDS} s (EventBridge's smallest rate); give "
            f"interval=Duration.seconds({names.MIN_INTERVAL_SECONDS}) or more, or none"
        )
    if seconds > timeout_seconds:
        raise InvalidInputError(
            f"{where}: interval={seconds} s is longer than timeout={timeout_seconds} s, so "
            "the image would be looked for only once: give an interval no longer than the "
            "timeout"
        )
    return seconds


def _architecture_name(architecture: lambda_.Architecture, where: str) -> str:
    if not isinstance(architecture, lambda_.Architecture):
        raise InvalidInputError(
            f"{where}: architecture={architecture!r} is not an aws_lambda.Architecture: give "
            "aws_lambda.Architecture.X86_64 or aws_lambda.Architecture.ARM_64"
        )
    name = architecture.name
    if name not in names.ARCHITECTURES:
        raise InvalidInputError(
            f"{where}: architecture {name!r} is not one Lambda runs: give "
            "aws_lambda.Architecture.X86_64 or aws_lambda.Architecture.ARM_64"
        )
    return name


def _check(validator: Callable[[str], str], value: str | None, where: str, name: str) -> None:
    """Validate ``value`` unless it is absent or only known at deploy time (a token)."""
    if value is None or Token.is_unresolved(value):
        return
    try:
        validator(value)
    except InvalidInputError as error:
        raise InvalidInputError(f"{where}: {name}: {error}") from error


def _repository_arn(scope: Construct, repository: ecr.IRepository, registry_id: str | None) -> str:
    """The ARN to grant reads on: the repository's own, or in ``registry_id``'s account."""
    stack = Stack.of(scope)
    if registry_id is None or registry_id == stack.account:
        return repository.repository_arn
    return stack.format_arn(
        service="ecr",
        resource="repository",
        resource_name=repository.repository_name,
        account=registry_id,
    )
