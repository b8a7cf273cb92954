"""The provider's Lambda entry point (names.HANDLER): thin routing, no work at import time.

CloudFormation requests, ECR push events, CodeBuild/CodePipeline state changes and the
sweep's scheduled events all arrive here, asynchronously; what each one does is in
:mod:`.waits`. The clients (ECR, DynamoDB, EventBridge, CodeBuild, CodePipeline) are made on
first use and kept for the container's life.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ecr_image_waiter import names
from ecr_image_waiter.custom_resource.logs import enable as enable_logs
from ecr_image_waiter.custom_resource.logs import log_line
from ecr_image_waiter.custom_resource.properties import Settings
from ecr_image_waiter.custom_resource.store import WaitStore
from ecr_image_waiter.custom_resource.sweep import SweepSwitch
from ecr_image_waiter.custom_resource.waits import WaitService
from ecr_image_waiter.engine.aws import shared_client, try_shared_client
from ecr_image_waiter.engine.lookup import EcrLookup
from ecr_image_waiter.engine.manifest import LambdaImageInspector
from ecr_image_waiter.engine.pipeline import PipelineWatch
from ecr_image_waiter.errors import InvalidInputError

_SERVICES: dict[tuple[str, str], WaitService] = {}


def default_lookup(settings: Settings) -> EcrLookup:
    """The ECR lookup for one wait, with the Lambda checks its settings ask for."""
    return EcrLookup(
        try_shared_client("ecr"),
        wait_for_repository=settings.wait_for_repository,
        inspector=LambdaImageInspector(
            architecture=settings.architecture, lambda_compatible=settings.lambda_compatible
        ),
    )


def default_watch(settings: Settings) -> PipelineWatch | None:
    """The watch of the named CodeBuild project and/or pipeline, or None."""
    project, pipeline = settings.codebuild_project_name, settings.pipeline_name
    if project is None and pipeline is None:
        return None
    return PipelineWatch(
        project,
        pipeline,
        codebuild_client=try_shared_client("codebuild") if project is not None else None,
        codepipeline_client=try_shared_client("codepipeline") if pipeline is not None else None,
    )


def _setting(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise InvalidInputError(
            f"environment variable {name} is not set: the provider function is configured "
            "by the EcrImageWaiterProvider construct, deploy it with that"
        )
    return value


def service() -> WaitService:
    """The container's service, made on first use from the function's environment."""
    key = (_setting(names.ENV_TABLE_NAME), _setting(names.ENV_SWEEP_RULE_NAME))
    found = _SERVICES.get(key)
    if found is None:
        store = WaitStore(key[0], shared_client("dynamodb"))
        found = WaitService(
            store=store,
            sweep=SweepSwitch(key[1], shared_client("events"), store),
            lookup_factory=default_lookup,
            watch_factory=default_watch,
        )
        _SERVICES[key] = found
    return found


def handler(event: Mapping[str, Any], context: Any = None) -> None:
    """Route one invocation; returns nothing (every invocation is asynchronous)."""
    enable_logs()
    if not isinstance(event, Mapping):
        log_line(verdict="ignored", error=f"the event is {type(event).__name__}, not an object")
        return
    if "RequestType" in event:
        service().on_request(event)
        return
    source, detail_type = event.get("source"), event.get("detail-type")
    if source == names.ECR_EVENT_SOURCE and detail_type == names.ECR_EVENT_DETAIL_TYPE:
        service().on_push(event)
    elif source in (names.CODEBUILD_EVENT_SOURCE, names.CODEPIPELINE_EVENT_SOURCE):
        service().on_build(event)
    elif source == names.SCHEDULED_EVENT_SOURCE and detail_type == (
        names.SCHEDULED_EVENT_DETAIL_TYPE
    ):
        service().on_sweep()
    else:
        log_line(
            verdict="ignored", error=f"an event this provider does not handle: {source!r}"[:300]
        )
