"""Lambda entry points for the CDK Provider framework (names.HANDLER_ON_EVENT, HANDLER_IS_COMPLETE).

Importing this module does no work: no AWS client, no logging set-up, no boto3 import. The
ECR client is made on the first ``is_complete`` call and kept for the container's life.
See :mod:`ecr_image_waiter.custom_resource.resource` for what the handlers do.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ecr_image_waiter.custom_resource.resource import ImageWaiterResource

_RESOURCE = ImageWaiterResource()


def on_event(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    """Create/Update: validate and start the deadline. Delete: answer at once."""
    return _RESOURCE.on_event(event, context)


def is_complete(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    """Look for the image: ``{"IsComplete": bool, "Data": {...}}``, or raise with the reason."""
    return _RESOURCE.is_complete(event, context)
