"""ecr-image-waiter: wait until a container image is in Amazon ECR.

* :mod:`ecr_image_waiter.engine`: the wait engine (standard library + boto3 only).
* :mod:`ecr_image_waiter.cli`: the ``ecr-image-waiter`` command.
* :mod:`ecr_image_waiter.custom_resource`: Lambda code of the event-driven custom resource provider.
* :mod:`ecr_image_waiter.construct`: the ``EcrImageWaiter`` CDK construct (needs the
  ``cdk`` extra). It is importable from here too, loaded only when asked for, so the Lambda
  code and the CLI never import aws_cdk.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ecr_image_waiter.construct import EcrImageWaiter

__version__ = "0.1.0"

__all__ = ["EcrImageWaiter", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "EcrImageWaiter":
        from ecr_image_waiter import construct

        return construct.EcrImageWaiter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
