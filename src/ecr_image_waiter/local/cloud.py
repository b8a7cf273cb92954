"""The AWS side of a deployed provider, played against the moto server over HTTP.

:meth:`LocalCloud.deploy` creates in moto what CloudFormation would for a ``cdk.out`` stack:
the table, the EventBridge rules that target the function, and the function itself, run
locally (:mod:`.function`). Requests go through :mod:`.cloudformation`, events through
:mod:`.eventbridge`; :meth:`LocalCloud.push_image` pushes and publishes the push event.
``time_scale`` speeds up the Lambda's clock, retries, schedule and ServiceTimeout (moto's
own clock is not scaled: keep scale 1 for build-failure timing).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ecr_image_waiter import names
from ecr_image_waiter.local import ecr as local_ecr
from ecr_image_waiter.local.cloudformation import LocalCloudFormation
from ecr_image_waiter.local.eventbridge import LocalEventBridge, Plan, deliver_once
from ecr_image_waiter.local.function import ASYNC_RETRY_DELAYS, Invocation, LocalFunction
from ecr_image_waiter.local.template import (
    DYNAMODB_TABLE,
    EVENTS_RULE,
    LAMBDA_FUNCTION,
    CloudAssembly,
    TemplateError,
)

LogSink = Callable[[dict[str, Any], Invocation], None]


def aws_environment(endpoint: str, region: str) -> dict[str, str]:
    """What points every SDK at the local server with fake credentials."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_EC2_METADATA_DISABLED": "true",
    }


@dataclass(frozen=True)
class Provider:
    """What :meth:`LocalCloud.deploy` made for one stack."""

    stack: str
    function_logical_id: str
    function_name: str
    table_name: str
    environment: dict[str, str]


class LocalCloud:
    """moto (at ``endpoint``) plus a local Lambda, EventBridge and CloudFormation."""

    def __init__(
        self,
        endpoint: str,
        *,
        account: str = "123456789012",
        region: str = "us-east-1",
        time_scale: float = 1.0,
        concurrency: int = 2,
        retry_delays: tuple[float, ...] = ASYNC_RETRY_DELAYS,
        plan: Plan = deliver_once,
        on_log: LogSink | None = None,
        function_timeout: float | None = None,
        function_endpoint: str | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.account = account
        self.region = region
        self.time_scale = time_scale
        self.concurrency = concurrency
        self.retry_delays = retry_delays
        self.plan = plan
        self.on_log = on_log
        #: Overrides the template's Timeout (real seconds), e.g. to play a timed-out run.
        self.function_timeout = function_timeout
        #: Where the function's own AWS calls go (e.g. a fault proxy in front of the server);
        #: the local side's calls always go to ``endpoint``.
        self.function_endpoint = function_endpoint or endpoint
        self.epoch = time.time()
        self._clients: dict[str, Any] = {}
        self.function: LocalFunction | None = None
        self.eventbridge: LocalEventBridge | None = None
        self.cloudformation: LocalCloudFormation | None = None
        self.provider: Provider | None = None

    def client(self, service: str) -> Any:
        """A boto3 client on the local server (the local side's own, not the function's)."""
        found = self._clients.get(service)
        if found is None:
            from ecr_image_waiter.engine.aws import local_client

            found = local_client(service, self.region, self.endpoint)
            self._clients[service] = found
        return found

    def clock(self) -> float:
        """The Lambda's clock (epoch seconds, scaled by ``time_scale``)."""
        return self.epoch + (time.time() - self.epoch) * self.time_scale

    # --- deploy ------------------------------------------------------------------------------

    def deploy(self, assembly: CloudAssembly, stack: str) -> Provider:
        """Create the provider of ``stack`` (a stack of ``assembly``) in the local cloud; one
        stack per LocalCloud. The function's processes get exactly its Environment (Refs
        resolved) plus the endpoint and credential variables and the runtime's own
        (AWS_LAMBDA_FUNCTION_NAME, AWS_LAMBDA_FUNCTION_MEMORY_SIZE, AWS_EXECUTION_ENV)."""
        functions = {
            logical_id: resource
            for logical_id, resource in assembly.resources(stack, LAMBDA_FUNCTION).items()
            if resource.get("Properties", {}).get("Handler") == names.HANDLER
        }
        if len(functions) != 1:
            raise TemplateError(
                f"expected one function with Handler {names.HANDLER} in {stack}, "
                f"found {sorted(functions)}"
            )
        ((function_id, function),) = functions.items()
        tables = [
            self._create_table(assembly, stack, t)
            for t in assembly.resources(stack, DYNAMODB_TABLE)
        ]
        properties = function["Properties"]
        name = assembly.physical_name(stack, function_id)
        arn = f"arn:aws:lambda:{self.region}:{self.account}:function:{name}"
        assembly.deployed(stack, function_id, name, {"Arn": arn})
        variables = assembly.resolve(stack, properties.get("Environment", {}).get("Variables", {}))
        environment = {key: str(value) for key, value in variables.items()}
        memory = int(properties.get("MemorySize", 128))
        runtime_env = {
            **environment,
            **aws_environment(self.function_endpoint, self.region),
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory),
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{properties.get('Runtime', 'python3')}",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        self.function = LocalFunction(
            name,
            asset_dir=assembly.asset_dir(stack, function_id),
            handler=names.HANDLER,
            environment=runtime_env,
            memory_mb=memory,
            timeout_seconds=self.function_timeout or float(properties.get("Timeout", 3)),
            architectures=tuple(properties.get("Architectures", ["x86_64"])),
            concurrency=self.concurrency,
            time_scale=self.time_scale,
            epoch=self.epoch,
            retry_delays=self.retry_delays,
            on_log=self.on_log,
        )
        self.eventbridge = LocalEventBridge(
            self.client("events"),
            self.client("sqs"),
            self.function,
            account=self.account,
            region=self.region,
            time_scale=self.time_scale,
            plan=self.plan,
        )
        for logical_id, rule in sorted(assembly.resources(stack, EVENTS_RULE).items()):
            self._create_rule(assembly, stack, logical_id, rule, function_id)
        self.cloudformation = LocalCloudFormation(
            assembly,
            stack,
            self.function,
            self.client("s3"),
            service_token=arn,
            time_scale=self.time_scale,
        )
        self.provider = Provider(stack, function_id, name, tables[0] if tables else "", environment)
        return self.provider

    def _create_table(self, assembly: CloudAssembly, stack: str, logical_id: str) -> str:
        properties = assembly.resolve(stack, assembly.properties(stack, logical_id))
        name = assembly.physical_name(stack, logical_id)
        dynamodb = self.client("dynamodb")
        answer = dynamodb.create_table(
            TableName=name,
            KeySchema=properties["KeySchema"],
            AttributeDefinitions=properties["AttributeDefinitions"],
            BillingMode=properties.get("BillingMode", "PROVISIONED"),
            **(
                {}
                if properties.get("BillingMode") == "PAY_PER_REQUEST"
                else {"ProvisionedThroughput": properties["ProvisionedThroughput"]}
            ),
        )
        ttl = properties.get("TimeToLiveSpecification")
        if ttl:
            dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
        table_arn = answer["TableDescription"]["TableArn"]
        assembly.deployed(stack, logical_id, name, {"Arn": table_arn})
        return name

    def _create_rule(
        self,
        assembly: CloudAssembly,
        stack: str,
        logical_id: str,
        rule: Mapping[str, Any],
        function_id: str,
    ) -> None:
        properties = rule.get("Properties", {})
        targets = properties.get("Targets", [])
        if not any(t.get("Arn") == {"Fn::GetAtt": [function_id, "Arn"]} for t in targets):
            return
        name = assembly.physical_name(stack, logical_id)
        pattern = properties.get("EventPattern")
        assert self.eventbridge is not None  # noqa: S101  (made before the rules)
        made = self.eventbridge.create_rule(
            logical_id,
            name,
            pattern=assembly.resolve(stack, pattern) if pattern is not None else None,
            schedule=properties.get("ScheduleExpression"),
            state=str(properties.get("State", "ENABLED")),
            description=str(properties.get("Description", "")),
        )
        assembly.deployed(stack, logical_id, name, {"Arn": made.arn})

    # --- running -----------------------------------------------------------------------------

    def start(self, *, ticker: bool = True) -> None:
        """The pump (and with ``ticker`` the schedule) in background threads."""
        self._bus().start(ticker=ticker)

    def publish(self, event: Mapping[str, Any]) -> str:
        """Put an event on moto's default bus; the rules that match deliver it."""
        return self._bus().publish(event)

    def push_image(self, repository: str, tag: str, **kwargs: Any) -> str:
        """Put an image in moto's ECR and publish the push event ECR would; its digest."""
        return local_ecr.push_image(self.client("ecr"), self.publish, repository, tag, **kwargs)

    def push_index(
        self, repository: str, tag: str, platforms: Sequence[tuple[str, str]] | None = None
    ) -> tuple[str, dict[str, str]]:
        publish, ecr = self.publish, self.client("ecr")
        if platforms is None:
            return local_ecr.push_index(ecr, publish, repository, tag)
        return local_ecr.push_index(ecr, publish, repository, tag, platforms)

    def tick(self) -> int:
        """One period of the schedule: the ENABLED scheduled rules fire once."""
        return self._bus().tick()

    def settle(self, timeout: float = 60.0) -> bool:
        """Pump until no event waits in a rule's queue or is held back by the plan, and the
        function is idle (nothing queued, running or due for a retry); False on timeout."""
        end = time.monotonic() + timeout
        function = self._function()
        while time.monotonic() < end:
            moved = self._bus().pump()
            idle = function.settle(timeout=max(0.0, end - time.monotonic()))
            if self._bus().in_flight():
                time.sleep(0.02)
                continue
            if idle and not moved and not self._bus().pump():
                return function.settle(timeout=max(0.0, end - time.monotonic()))
        return False

    def close(self) -> None:
        if self.eventbridge is not None:
            self.eventbridge.stop()
        if self.function is not None:
            self.function.close()

    def __enter__(self) -> LocalCloud:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _bus(self) -> LocalEventBridge:
        if self.eventbridge is None:
            raise RuntimeError("deploy() a stack first")
        return self.eventbridge

    def _function(self) -> LocalFunction:
        if self.function is None:
            raise RuntimeError("deploy() a stack first")
        return self.function
