"""The sweep's switch: its EventBridge rule fires only while some wait is pending.

A new wait turns the table's flag on and enables the rule. A sweep that finds nothing
pending sets the flag off, disables the rule, then reads the table again, so a wait stored
in between is never left without a sweep. Why one rule and not a schedule per wait is in
docs/design.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ecr_image_waiter.custom_resource.store import WaitStore


class SweepSwitch:
    """Turns the sweep rule on and off (a boto3 EventBridge client is injected)."""

    def __init__(self, rule_name: str, events: Any, store: WaitStore) -> None:
        self.rule_name = rule_name
        self.events = events
        self.store = store

    def wait_added(self) -> bool:
        """After a wait is stored: make sure the sweep runs. True if this call turned the
        flag on.

        The rule is enabled even when the flag was already on: an invocation that set the
        flag and then died before its EnableRule (a throttled call, a timeout) would
        otherwise leave the rule off with the flag on, and no later wait would enable it.
        """
        turned_on = self.store.sweep_on_if_off()
        self.events.enable_rule(Name=self.rule_name)
        return turned_on

    def idle(self, any_pending: Callable[[], bool]) -> bool:
        """Nothing seemed pending: turn the sweep off, unless ``any_pending()`` (a fresh read
        of the table) then finds a wait that arrived meanwhile. True if the sweep stays off.
        """
        self.store.set_sweep_flag(False)
        self.events.disable_rule(Name=self.rule_name)
        if any_pending():
            self.store.set_sweep_flag(True)
            self.events.enable_rule(Name=self.rule_name)
            return False
        return True
