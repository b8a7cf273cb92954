"""The AWS side of a deployed provider, local: moto over HTTP plus Lambda, EventBridge and
CloudFormation played around it (:mod:`.cloud`), for the demo, the tests and the benchmarks.
"""

from __future__ import annotations

from ecr_image_waiter.local.cloud import LocalCloud, Provider, aws_environment
from ecr_image_waiter.local.cloudformation import LocalCloudFormation, Request
from ecr_image_waiter.local.eventbridge import (
    LocalEventBridge,
    Rule,
    delay,
    deliver_once,
    duplicate,
    lose,
)
from ecr_image_waiter.local.function import Invocation, LocalFunction, SourceStats
from ecr_image_waiter.local.template import CloudAssembly, TemplateError

__all__ = [
    "CloudAssembly",
    "Invocation",
    "LocalCloud",
    "LocalCloudFormation",
    "LocalEventBridge",
    "LocalFunction",
    "Provider",
    "Request",
    "Rule",
    "SourceStats",
    "TemplateError",
    "aws_environment",
    "delay",
    "deliver_once",
    "duplicate",
    "lose",
]
