"""What the provider does with each thing that reaches it: :class:`WaitService` answers
CloudFormation requests (:mod:`.requests`), push and build events and the sweep
(:mod:`.events`). A look decides with :func:`ecr_image_waiter.engine.decide.decide`; an
answer is claimed in the table before it is sent, so each request is answered once.
docs/design.md has the why.
"""

from __future__ import annotations

from ecr_image_waiter.custom_resource.events import EventHandling
from ecr_image_waiter.custom_resource.requests import RequestHandling
from ecr_image_waiter.custom_resource.wait_core import (
    DUE_TOLERANCE_SECONDS,
    REQUEST_TYPES,
    RESEND_AFTER_SECONDS,
    SWEEP_LOOKAHEAD_SECONDS,
    WORKERS,
    Log,
    LookupFactory,
    Put,
    WatchFactory,
    image_data,
)


class WaitService(RequestHandling, EventHandling):
    """The provider's logic, with its table, sweep switch, ECR lookup, build watch, clock
    and response PUT injected."""


__all__ = [
    "DUE_TOLERANCE_SECONDS",
    "REQUEST_TYPES",
    "RESEND_AFTER_SECONDS",
    "SWEEP_LOOKAHEAD_SECONDS",
    "WORKERS",
    "Log",
    "LookupFactory",
    "Put",
    "WaitService",
    "WatchFactory",
    "image_data",
]
