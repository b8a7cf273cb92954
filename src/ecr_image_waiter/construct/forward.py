"""Cross-account repositories: ECR's push events reach only the repository owner's bus.

:class:`EcrPushForwarder` goes in the owner's stack and forwards successful pushes of the
named repositories to the waiting account's default bus;
:meth:`EcrImageWaiterProvider.accept_pushes_from` lets that bus take them. Without both, a
waiter on another account's repository sees the image at the next sweep (at most a minute).
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Stack
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from constructs import Construct

from ecr_image_waiter import names
from ecr_image_waiter.errors import InvalidInputError


class EcrPushForwarder(Construct):
    """Forwards successful pushes of ``repositories`` to ``to_account``'s default bus.

    ::

        EcrPushForwarder(stack, "Forward", repositories=[repo], to_account="111122223333")

    :param to_region: the waiting account's region (default this stack's); EventBridge
        forwards between accounts in the same region and to supported other regions
        (EventBridge User Guide, "Sending and receiving events between AWS accounts").
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        repositories: Sequence[ecr.IRepository],
        to_account: str,
        to_region: str | None = None,
    ) -> None:
        super().__init__(scope, id)
        if not repositories:
            raise InvalidInputError(
                f"{self.node.path}: repositories=[] forwards nothing: give the repositories "
                "whose pushes the other account waits for"
            )
        stack = Stack.of(self)
        bus_arn = stack.format_arn(
            service="events",
            resource="event-bus",
            resource_name="default",
            account=to_account,
            region=to_region,
        )
        bus = events.EventBus.from_event_bus_arn(self, "Bus", bus_arn)
        # The target's role (made by the CDK) may put events on that one bus only.
        self.rule = events.Rule(
            self,
            "Rule",
            description=f"ecr-image-waiter: forwards pushes to {to_account}'s default bus",
            event_pattern=events.EventPattern(
                source=[names.ECR_EVENT_SOURCE],
                detail_type=[names.ECR_EVENT_DETAIL_TYPE],
                detail={
                    "action-type": ["PUSH"],
                    "result": ["SUCCESS"],
                    "repository-name": [r.repository_name for r in repositories],
                },
            ),
            targets=[targets.EventBus(bus)],
        )
