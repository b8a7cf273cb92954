"""The provider shared by every ``EcrImageWaiter`` of a stack: one function, one table, rules.

One Python function (arm64, 128 MB) is the ServiceToken of every ``Custom::EcrImageWaiter``
and the target of the stack's EventBridge rules: ECR push events of the waited repositories,
CodeBuild/CodePipeline state changes of the named builds, and a one-minute sweep that the
function turns on while a wait is pending and off when none is. Pending waits live in an
on-demand DynamoDB table with a TTL. docs/design.md says why; the README lists the limits.

Every permission names its resource: ECR reads on the waited repositories, table actions on
the table, enable/disable on the sweep rule, build reads (and starts, for a waiter that
triggers its build) on the named projects and pipelines.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from aws_cdk import Duration, Names, RemovalPolicy, Stack, Token
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from ecr_image_waiter import names
from ecr_image_waiter.construct.asset import staged_asset_dir
from ecr_image_waiter.engine.reference import validate_registry_id, validate_repository
from ecr_image_waiter.errors import InvalidInputError

#: Log retention of the provider's log group unless the first caller asks otherwise.
DEFAULT_LOG_RETENTION = logs.RetentionDays.ONE_WEEK
#: A request looks at most twice; a sweep may look at up to a few hundred waits, eight at a
#: time, each look a few ECR calls with botocore's retries.
FUNCTION_TIMEOUT = Duration.minutes(5)
MEMORY_MB = 128
#: The newest Python runtime (cdk-nag AwsSolutions-L1 flags any other).
RUNTIME = lambda_.Runtime.PYTHON_3_14
#: Graviton costs less per GB-second; the code is pure Python.
ARCHITECTURE = lambda_.Architecture.ARM_64

#: The ECR reads, on the repository only: DescribeImages finds the image, BatchGetImage reads
#: its manifest, GetDownloadUrlForLayer reads a single-platform image's config (its
#: architecture) for the Lambda checks.
ECR_READ_ACTIONS: tuple[str, ...] = (
    names.ECR_DESCRIBE_ACTION,
    names.ECR_BATCH_GET_IMAGE_ACTION,
    names.ECR_GET_DOWNLOAD_URL_ACTION,
)
#: The ECR push rule's pattern without its repository names, and what each name adds to it.
_PUSH_PATTERN_BASE_CHARS = len(
    json.dumps(
        {
            "source": [names.ECR_EVENT_SOURCE],
            "detail-type": [names.ECR_EVENT_DETAIL_TYPE],
            "detail": {
                "action-type": ["PUSH"],
                "result": ["SUCCESS"],
                "repository-name": [],
            },
        }
    )
)
#: Room kept in each push rule's pattern below EventBridge's limit.
_PATTERN_MARGIN_CHARS = 48


class EcrImageWaiterProvider(Construct):
    """The per-stack provider behind every ``Custom::EcrImageWaiter`` resource.

    Use :meth:`of` rather than the constructor. Templates that use the resource without the
    construct (raw CloudFormation, SAM, another CDK language) get :attr:`service_token`; let
    the provider wait for their repositories with :meth:`allow_repositories`.
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
        stack = Stack.of(self)
        self.log_retention: logs.RetentionDays = (
            log_retention if log_retention is not None else DEFAULT_LOG_RETENTION
        )
        self._granted: set[str] = set()
        self._push_rules: list[tuple[events.Rule, int]] = []
        self._watched: set[str] = set()
        self._build_rules: dict[str, events.Rule] = {}

        self.table = dynamodb.Table(
            self,
            "Waits",
            partition_key=dynamodb.Attribute(
                name=names.TABLE_PARTITION_KEY, type=dynamodb.AttributeType.STRING
            ),
            sort_key=dynamodb.Attribute(
                name=names.TABLE_SORT_KEY, type=dynamodb.AttributeType.STRING
            ),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            time_to_live_attribute=names.TABLE_TTL_ATTRIBUTE,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            # Only waits in flight during a deploy: nothing to keep once the stack is gone.
            removal_policy=RemovalPolicy.DESTROY,
        )
        # The rule's name is fixed here, not read from the rule: the function's environment
        # and policy name it, and the rule targets the function (no dependency cycle).
        self.sweep_rule_name = Names.unique_resource_name(self, max_length=64, separator="-")
        log_group = logs.LogGroup(self, "Logs", retention=self.log_retention)
        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="ecr-image-waiter: the provider's own logs, table, sweep rule, and the "
            "repositories and builds its waiters name",
        )
        log_group.grant_write(role)
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            memory_size=MEMORY_MB,
            timeout=FUNCTION_TIMEOUT,
            handler=names.HANDLER,
            code=lambda_.Code.from_asset(str(staged_asset_dir())),
            environment={
                names.ENV_TABLE_NAME: self.table.table_name,
                names.ENV_SWEEP_RULE_NAME: self.sweep_rule_name,
            },
            role=role,
            log_group=log_group,
            description="ecr-image-waiter: answers Custom::EcrImageWaiter requests when the "
            "image is in ECR",
        )
        self._grant(names.DYNAMODB_ACTIONS, self.table.table_arn)
        sweep_rule_arn = stack.format_arn(
            service="events", resource="rule", resource_name=self.sweep_rule_name
        )
        self._grant(names.EVENTS_SWEEP_ACTIONS, sweep_rule_arn)
        # Enabled at deploy: the first sweep finds nothing pending and turns itself off, so a
        # deploy that changed this rule never leaves a pending wait without its sweep.
        self.sweep_rule = events.Rule(
            self,
            "Sweep",
            rule_name=self.sweep_rule_name,
            schedule=events.Schedule.rate(Duration.seconds(names.SWEEP_PERIOD_SECONDS)),
            description="ecr-image-waiter: looks at pending waits again; on only while some "
            "wait is pending",
            targets=[targets.LambdaFunction(self.function, retry_attempts=0)],
        )

    @property
    def service_token(self) -> str:
        """The ServiceToken of ``Custom::EcrImageWaiter`` resources: the function's ARN."""
        return self.function.function_arn

    @property
    def role(self) -> iam.IRole:
        role = self.function.role
        assert role is not None  # noqa: S101  (created above)
        return role

    # --- what the waiters need ---------------------------------------------------------------

    def watch_repository(self, repository_name: str, repository_arn: str) -> None:
        """Let the provider wait for one repository: ECR reads on its ARN, and its pushes in
        the ECR push rule."""
        self._grant(ECR_READ_ACTIONS, repository_arn)
        self._add_push_filter(repository_name, repository_name)

    def allow_repositories(
        self,
        *,
        names: Sequence[str] = (),
        prefixes: Sequence[str] = (),
        registry_id: str | None = None,
    ) -> None:
        """Let the provider wait for these repositories (exact names, or name prefixes): ECR
        reads on ``repository/<name>`` and ``repository/<prefix>*``, and their pushes in the
        push rule (``{"prefix": ...}`` filters for prefixes).

        For a provider that serves templates this app does not see (the standalone provider
        stack). ``registry_id`` is the account owning the repositories (default: the
        provider's). A prefix is the start of a repository name (``team/``, ``app-``); an
        empty prefix, which would allow every repository, is refused.
        """
        stack = Stack.of(self)
        if registry_id is not None:
            if not isinstance(registry_id, str):
                raise InvalidInputError(f"registry_id={registry_id!r} is not a string")
            validate_registry_id(registry_id)
        for name in names:
            validate_repository(name)
            self.watch_repository(name, _ecr_repository_arn(stack, name, registry_id))
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
            self._grant(ECR_READ_ACTIONS, _ecr_repository_arn(stack, prefix + "*", registry_id))
            self._add_push_filter({"prefix": prefix}, f"prefix:{prefix}")

    def grant_codebuild_project(self, project_name: str, project_arn: str, *, start: bool) -> None:
        """Let the provider follow a CodeBuild project's builds (and start one with
        ``start``), and wake its waits when a build ends."""
        self._grant(names.CODEBUILD_READ_ACTIONS, project_arn)
        if start:
            self._grant(names.CODEBUILD_TRIGGER_ACTIONS, project_arn)
        rule = self._build_rule(
            "CodeBuild", names.CODEBUILD_EVENT_SOURCE, names.CODEBUILD_EVENT_DETAIL_TYPE
        )
        rule.add_event_pattern(
            detail={
                "project-name": [project_name],
                "build-status": list(names.CODEBUILD_ENDED_STATUSES),
            }
        )

    def grant_pipeline(self, pipeline_name: str, pipeline_arn: str, *, start: bool) -> None:
        """Let the provider follow a pipeline's executions (and start one with ``start``),
        and wake its waits when an execution ends."""
        self._grant(names.CODEPIPELINE_READ_ACTIONS, pipeline_arn)
        if start:
            self._grant(names.CODEPIPELINE_TRIGGER_ACTIONS, pipeline_arn)
        rule = self._build_rule(
            "CodePipeline", names.CODEPIPELINE_EVENT_SOURCE, names.CODEPIPELINE_EVENT_DETAIL_TYPE
        )
        rule.add_event_pattern(
            detail={"pipeline": [pipeline_name], "state": list(names.CODEPIPELINE_ENDED_STATES)}
        )

    def accept_pushes_from(self, account: str) -> None:
        """Let ``account`` (a repository owner with an :class:`EcrPushForwarder`) put its push
        events on this account's default bus (EventBridge User Guide, "Example policy: Send
        events to the default bus in a different account")."""
        stack = Stack.of(self)
        bus_arn = stack.format_arn(service="events", resource="event-bus", resource_name="default")
        events.CfnEventBusPolicy(
            self,
            f"AcceptPushesFrom{account}",
            statement_id=f"ecr-image-waiter-pushes-from-{account}",
            statement={
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:{stack.partition}:iam::{account}:root"},
                "Action": "events:PutEvents",
                "Resource": bus_arn,
            },
        )

    # --- rules -------------------------------------------------------------------------------

    def _add_push_filter(self, value: object, key: str) -> None:
        """Add one repository name (or prefix filter) to a push rule with room for it."""
        if key in self._watched:
            return
        self._watched.add(key)
        size = _filter_chars(value)
        for index, (rule, used) in enumerate(self._push_rules):
            if used + size <= names.EVENT_PATTERN_MAX_CHARS - _PATTERN_MARGIN_CHARS:
                rule.add_event_pattern(detail={"repository-name": [value]})
                self._push_rules[index] = (rule, used + size)
                return
        number = len(self._push_rules) + 1
        rule = events.Rule(
            self,
            "EcrPush" if number == 1 else f"EcrPush{number}",
            description="ecr-image-waiter: pushes to the repositories this stack waits for",
            event_pattern=events.EventPattern(
                source=[names.ECR_EVENT_SOURCE],
                detail_type=[names.ECR_EVENT_DETAIL_TYPE],
                detail={
                    "action-type": ["PUSH"],
                    "result": ["SUCCESS"],
                    "repository-name": [value],
                },
            ),
            targets=[targets.LambdaFunction(self.function, retry_attempts=2)],
        )
        self._push_rules.append((rule, _PUSH_PATTERN_BASE_CHARS + size))

    @property
    def push_rules(self) -> list[events.Rule]:
        return [rule for rule, _ in self._push_rules]

    def _build_rule(self, id: str, source: str, detail_type: str) -> events.Rule:
        rule = self._build_rules.get(id)
        if rule is None:
            rule = events.Rule(
                self,
                f"{id}Ended",
                description=f"ecr-image-waiter: {detail_type} of the builds its waiters name",
                event_pattern=events.EventPattern(source=[source], detail_type=[detail_type]),
                targets=[targets.LambdaFunction(self.function, retry_attempts=2)],
            )
            self._build_rules[id] = rule
        return rule

    def _grant(self, actions: Sequence[str], resource_arn: str) -> None:
        stack = Stack.of(self)
        key = json.dumps([list(actions), stack.resolve(resource_arn)], sort_keys=True)
        if key in self._granted:
            return
        self._granted.add(key)
        self.role.add_to_principal_policy(
            iam.PolicyStatement(actions=list(actions), resources=[resource_arn])
        )


def _ecr_repository_arn(stack: Stack, resource_name: str, registry_id: str | None) -> str:
    """``arn:<partition>:ecr:<region>:<account>:repository/<resource_name>``."""
    return stack.format_arn(
        service="ecr",
        resource="repository",
        resource_name=resource_name,
        account=registry_id if registry_id is not None else stack.account,
    )


def _filter_chars(value: object) -> int:
    """Characters one repository filter adds to a push pattern: its JSON and a comma; a
    name known only at deploy time (a token) counts as the longest repository name."""
    if isinstance(value, str) and Token.is_unresolved(value):
        return names.REPOSITORY_NAME_MAX_CHARS + 4
    return len(json.dumps(value)) + 2
