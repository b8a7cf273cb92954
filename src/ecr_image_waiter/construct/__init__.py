"""The ``EcrImageWaiter`` CDK construct and the provider its waiters share (needs the
``cdk`` extra: aws-cdk-lib and constructs)."""

from __future__ import annotations

from ecr_image_waiter.construct.forward import EcrPushForwarder
from ecr_image_waiter.construct.provider import DEFAULT_LOG_RETENTION, EcrImageWaiterProvider
from ecr_image_waiter.construct.standalone import EcrImageWaiterProviderStack
from ecr_image_waiter.construct.waiter import DEFAULT_TIMEOUT, EcrImageWaiter

__all__ = [
    "DEFAULT_LOG_RETENTION",
    "DEFAULT_TIMEOUT",
    "EcrImageWaiter",
    "EcrImageWaiterProvider",
    "EcrImageWaiterProviderStack",
    "EcrPushForwarder",
]
