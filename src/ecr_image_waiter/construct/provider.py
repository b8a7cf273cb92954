"""The custom resource provider shared by every ``EcrImageWaiter`` in a stack.

One :class:`EcrImageWaiterProvider` per stack, found or created by
:meth:`EcrImageWaiterProvider.of`: two Python functions (``on_event`` and ``is_complete``) behind
the CDK Provider framework, which calls ``is_complete`` every
``names.DEFAULT_QUERY_INTERVAL_SECONDS`` seconds until ``names.PROVIDER_TOTAL_TIMEOUT_SECONDS``.
Each waiter's own interval and deadline are enforced by the Lambda code, so waiters with
different settings share this one provider.

Permissions are added per waiter, with the actions the Lambda code calls (``names``), on the
resources named only. The ``is_complete`` function's role gets ECR reads on the repositories
actually waited for and CodeBuild/CodePipeline reads on the projects and pipelines named.
The ``on_event`` function's role gets nothing, unless a waiter asks to start its build when
the image is missing: ``on_event`` then looks once and starts the run, so for that waiter it
gets the ECR reads on the repository, the reads on the project or pipeline (to follow a run
already going) and the start action on that project or pipeline only. Every function role
writes only to its own log group; no managed policy is attached.

Log groups: one for each of our two functions and one shared by the framework's functions, each
with a retention (one week unless the first user of the provider asks otherwise). They are
retained when the stack is deleted, so the logs of a first deploy that failed and rolled back
can still be read.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from aws_cdk import Acknowledgment, CfnElement, Duration, Stack, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import custom_resources as cr
from constructs import Construct, IConstruct

from ecr_image_waiter import names
from ecr_image_waiter.construct.asset import staged_asset_dir
from ecr_image_waiter.engine.reference import validate_registry_id, validate_repository
from ecr_image_waiter.errors import InvalidInputError

#: Log retention of the provider's log groups unless the first caller asks otherwise.
DEFAULT_LOG_RETENTION = logs.RetentionDays.ONE_WEEK

#: ``on_event`` validates the request; with TriggerBuildOnMissing it also looks at ECR once,
#: reads the project's recent runs and starts one: three calls, each with botocore's retries.
ON_EVENT_TIMEOUT = Duration.seconds(60)
#: ``is_complete`` looks once (or polls within the poll budget) and may sleep up to one query
#: interval to look at the deadline: its timeout covers both, plus a margin for slow answers.
IS_COMPLETE_TIMEOUT_SECONDS = (
    names.DEFAULT_QUERY_INTERVAL_SECONDS
    + names.MAX_POLL_BUDGET_SECONDS
    + names.IS_COMPLETE_TIMEOUT_MARGIN_SECONDS
)
IS_COMPLETE_TIMEOUT = Duration.seconds(IS_COMPLETE_TIMEOUT_SECONDS)
MEMORY_MB = 128
#: The newest Python runtime (cdk-nag AwsSolutions-L1 flags any other).
RUNTIME = lambda_.Runtime.PYTHON_3_14
#: Graviton costs less per GB-second; the code is pure Python.
ARCHITECTURE = lambda_.Architecture.ARM_64

#: The ECR reads, on the repository only: DescribeImages finds the image, BatchGetImage reads
#: its manifest, GetDownloadUrlForLayer reads a single-platform image's config (its
#: architecture) for the Lambda checks. Granted whether or not a waiter uses the Lambda
#: checks, because the grant is per repository and shared by its waiters.
ECR_READ_ACTIONS: tuple[str, ...] = (
    names.ECR_DESCRIBE_ACTION,
    names.ECR_BATCH_GET_IMAGE_ACTION,
    names.ECR_GET_DOWNLOAD_URL_ACTION,
)


class EcrImageWaiterProvider(Construct):
    """The per-stack provider behind every ``Custom::EcrImageWaiter`` resource.

    Use :meth:`of` rather than the constructor. For templates that use the resource without
    the construct (raw CloudFormation, SAM, another CDK language), pass :attr:`service_token`
    to them and grant the repositories they wait for with :meth:`grant_repository_read`.
    """

    #: The provider's construct id directly under its stack.
    CONSTRUCT_ID = "EcrImageWaiterProvider"

    @classmethod
    def of(
        cls, scope: Construct, *, log_retention: logs.RetentionDays | None = None
    ) -> EcrImageWaiterProvider:
        """The stack's provider, created on first use.

        ``log_retention`` applies when this call creates the provider (default one week). A
        later call that asks for a different retention than the provider has is an error, so
        a retention is never silently ignored.
        """
        stack = Stack.of(scope)
        existing = stack.node.try_find_child(cls.CONSTRUCT_ID)
        if existing is None:
            return cls(stack, cls.CONSTRUCT_ID, log_retention=log_retention)
        if not isinstance(existing, cls):
            raise InvalidInputError(
                f"stack {stack.node.path!r} already has a construct with id "
                f"{cls.CONSTRUCT_ID!r} that is not an EcrImageWaiterProvider: that id is "
                "reserved for the shared provider, rename the other construct"
            )
        if log_retention is not None and log_retention != existing.log_retention:
            raise InvalidInputError(
                f"log_retention={log_retention.name} differs from the "
                f"{existing.log_retention.name} of the provider that all waiters in stack "
                f"{stack.node.path!r} share: give every waiter in a stack the same "
                "log_retention (or none), or call EcrImageWaiterProvider.of(stack, "
                "log_retention=...) before creating the waiters"
            )
        return existing

    def __init__(
        self, scope: Construct, id: str, *, log_retention: logs.RetentionDays | None = None
    ) -> None:
        super().__init__(scope, id)
        self.log_retention: logs.RetentionDays = (
            log_retention if log_retention is not None else DEFAULT_LOG_RETENTION
        )
        self._granted: set[str] = set()
        code = lambda_.Code.from_asset(str(staged_asset_dir()))
        environment = {names.ENV_QUERY_INTERVAL_SECONDS: str(names.DEFAULT_QUERY_INTERVAL_SECONDS)}
        is_complete_environment = {
            **environment,
            names.ENV_POLL_BUDGET_SECONDS: str(names.DEFAULT_POLL_BUDGET_SECONDS),
        }

        self.on_event_function = self._function(
            "OnEvent",
            code=code,
            handler=names.HANDLER_ON_EVENT,
            timeout=ON_EVENT_TIMEOUT,
            environment=environment,
            description="ecr-image-waiter: validates a request and starts the wait",
        )
        self.is_complete_function = self._function(
            "IsComplete",
            code=code,
            handler=names.HANDLER_IS_COMPLETE,
            timeout=IS_COMPLETE_TIMEOUT,
            environment=is_complete_environment,
            description="ecr-image-waiter: looks for the image in ECR",
        )

        framework_logs = self._log_group("FrameworkLogs")
        self.provider = cr.Provider(
            self,
            "Provider",
            on_event_handler=self.on_event_function,
            is_complete_handler=self.is_complete_function,
            query_interval=Duration.seconds(names.DEFAULT_QUERY_INTERVAL_SECONDS),
            total_timeout=Duration.seconds(names.PROVIDER_TOTAL_TIMEOUT_SECONDS),
            log_group=framework_logs,
            framework_on_event_role=self._role("FrameworkOnEventRole", framework_logs),
            framework_complete_and_timeout_role=self._role("FrameworkCompleteRole", framework_logs),
        )
        self._acknowledge_framework_findings()

    @property
    def service_token(self) -> str:
        """The ServiceToken of ``Custom::EcrImageWaiter`` resources in this stack."""
        return self.provider.service_token

    @property
    def is_complete_role(self) -> iam.IRole:
        """The role that makes the wait's AWS calls (ECR, build and pipeline reads)."""
        role = self.is_complete_function.role
        assert role is not None  # noqa: S101  (created in _function)
        return role

    @property
    def on_event_role(self) -> iam.IRole:
        """The role of ``on_event``: grants only for waiters that start their build."""
        role = self.on_event_function.role
        assert role is not None  # noqa: S101  (created in _function)
        return role

    def grant_repository_read(self, repository_arn: str, *, on_event: bool = False) -> None:
        """Let the waiter read images of one repository (DescribeImages, BatchGetImage,
        GetDownloadUrlForLayer);
        ``on_event`` too when it makes the first look (a waiter that starts its build)."""
        self._grant(ECR_READ_ACTIONS, repository_arn, self.is_complete_role)
        if on_event:
            self._grant(ECR_READ_ACTIONS, repository_arn, self.on_event_role)

    def grant_codebuild_project(self, project_arn: str, *, start: bool = False) -> None:
        """Let the waiter follow a CodeBuild project's builds; with ``start``, let
        ``on_event`` follow them too and start one."""
        self._grant(names.CODEBUILD_READ_ACTIONS, project_arn, self.is_complete_role)
        if start:
            self._grant(names.CODEBUILD_READ_ACTIONS, project_arn, self.on_event_role)
            self._grant(names.CODEBUILD_TRIGGER_ACTIONS, project_arn, self.on_event_role)

    def grant_pipeline(self, pipeline_arn: str, *, start: bool = False) -> None:
        """Let the waiter follow a pipeline's executions; with ``start``, let ``on_event``
        follow them too and start one."""
        self._grant(names.CODEPIPELINE_READ_ACTIONS, pipeline_arn, self.is_complete_role)
        if start:
            self._grant(names.CODEPIPELINE_READ_ACTIONS, pipeline_arn, self.on_event_role)
            self._grant(names.CODEPIPELINE_TRIGGER_ACTIONS, pipeline_arn, self.on_event_role)

    def allow_repositories(
        self,
        *,
        names: Sequence[str] = (),
        prefixes: Sequence[str] = (),
        registry_id: str | None = None,
    ) -> None:
        """Let the provider wait for these repositories (exact names, or name prefixes): ECR
        reads in IAM on ``arn:...:repository/<name>`` and ``arn:...:repository/<prefix>*``;
        (in the event-driven provider, also the push-event rule).

        For a provider that serves templates this app does not see (the standalone provider
        stack): their waiters may name any of these repositories. Both functions get the
        reads, since such a template may set ``TriggerBuildOnMissing`` (``on_event`` then
        makes the first look). ``registry_id`` is the account owning the repositories
        (default: the provider's). A prefix is the start of a repository name (``team/``,
        ``app-``); an empty prefix, which would allow every repository, is refused.
        """
        stack = Stack.of(self)
        if registry_id is not None and not isinstance(registry_id, str):
            raise InvalidInputError(f"registry_id={registry_id!r} is not a string")
        if registry_id is not None:
            validate_registry_id(registry_id)
        arns: list[str] = []
        for name in names:
            validate_repository(name)
            arns.append(_ecr_repository_arn(stack, name, registry_id))
        for prefix in prefixes:
            if not isinstance(prefix, str) or prefix == "":
                raise InvalidInputError(
                    f"repository prefix {prefix!r} would allow every repository of the "
                    "account: give the start of the names to allow, such as 'team/' or 'app-'"
                )
            try:
                # A prefix is valid when some repository name starts with it.
                validate_repository(prefix + "a")
            except InvalidInputError as error:
                raise InvalidInputError(
                    f"repository prefix {prefix!r} starts no valid repository name: {error}"
                ) from error
            arns.append(_ecr_repository_arn(stack, prefix + "*", registry_id))
        for arn in arns:
            self.grant_repository_read(arn, on_event=True)

    def _grant(self, actions: Sequence[str], resource_arn: str, role: iam.IRole) -> None:
        stack = Stack.of(self)
        key = json.dumps(
            [list(actions), stack.resolve(resource_arn), stack.resolve(role.role_arn)],
            sort_keys=True,
        )
        if key in self._granted:
            return
        self._granted.add(key)
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=list(actions), resources=[resource_arn])
        )

    def _acknowledge_framework_findings(self) -> None:
        """Acknowledge the cdk-nag AwsSolutions findings that the Provider framework causes.

        They come from code this construct does not write and cannot configure; each reason
        says why the finding is acceptable here. No finding on our own functions or roles is
        acknowledged.
        """
        framework = self.provider.node
        invoked = [
            self.on_event_function,
            self.is_complete_function,
            framework.find_child("framework-isComplete"),
            framework.find_child("framework-onTimeout"),
        ]
        acknowledgments = [
            # The framework grants lambda:InvokeFunction with Function.grantInvoke, which
            # names the function and "<its arn>:*" (its versions and aliases): the wildcard
            # covers only versions of one named function.
            Acknowledgment(
                id=f"AwsSolutions-IAM5[Resource::<{self._logical_id(function)}.Arn>:*]",
                reason="The Provider framework may invoke the versions and aliases "
                "(<arn>:*) of this one function, and nothing else.",
            )
            for function in invoked
        ]
        acknowledgments += [
            # The waiter state machine only calls is_complete on a timer; each call already
            # logs one JSON line per attempt in our log group. State machine logging would
            # need logs:*LogDelivery on Resource * (CloudWatch Logs vended logs accept no
            # narrower resource), which is a worse trade.
            Acknowledgment(
                id="AwsSolutions-SF1",
                reason="The waiter state machine only retries is_complete on a timer; every "
                "attempt is already logged by is_complete in its own log group.",
            ),
            # X-Ray would trace a timer loop of short ECR lookups done once per deploy.
            Acknowledgment(
                id="AwsSolutions-SF2",
                reason="A deploy-time retry loop of one short ECR lookup has nothing for "
                "X-Ray to trace; the Provider framework offers no tracing option.",
            ),
        ]
        Validations.of(self).acknowledge(*acknowledgments)

    def _logical_id(self, construct: IConstruct) -> str:
        child = construct.node.default_child
        assert isinstance(child, CfnElement)  # noqa: S101  (a Function's CfnFunction)
        return str(Stack.of(self).resolve(child.logical_id))

    def _log_group(self, id: str) -> logs.LogGroup:
        return logs.LogGroup(self, id, retention=self.log_retention)

    def _role(self, id: str, log_group: logs.ILogGroup) -> iam.Role:
        role = iam.Role(
            self,
            id,
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="ecr-image-waiter: writes its own logs only",
        )
        log_group.grant_write(role)
        return role

    def _function(
        self,
        id: str,
        *,
        code: lambda_.Code,
        handler: str,
        timeout: Duration,
        environment: dict[str, str],
        description: str,
    ) -> lambda_.Function:
        log_group = self._log_group(f"{id}Logs")
        return lambda_.Function(
            self,
            id,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            memory_size=MEMORY_MB,
            timeout=timeout,
            handler=handler,
            code=code,
            environment=environment,
            role=self._role(f"{id}Role", log_group),
            log_group=log_group,
            description=description,
        )


def _ecr_repository_arn(stack: Stack, resource_name: str, registry_id: str | None) -> str:
    """``arn:<partition>:ecr:<region>:<account>:repository/<resource_name>``."""
    return stack.format_arn(
        service="ecr",
        resource="repository",
        resource_name=resource_name,
        account=registry_id if registry_id is not None else stack.account,
    )
