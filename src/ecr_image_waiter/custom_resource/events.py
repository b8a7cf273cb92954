"""Events and the sweep: an ECR push makes its repository's pending waits look again, a
CodeBuild or CodePipeline state change those on that project or pipeline; the sweep looks at
every due wait, fails a passed deadline, resends an answer whose PUT failed and turns itself
off when nothing is pending.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from ecr_image_waiter import names
from ecr_image_waiter.custom_resource.logs import log_line
from ecr_image_waiter.custom_resource.store import (
    Wait,
    partition_for_repository,
)
from ecr_image_waiter.custom_resource.wait_core import (
    RESEND_AFTER_SECONDS,
    SWEEP_LOOKAHEAD_SECONDS,
    WORKERS,
    Log,
    WaitCore,
    _text,
)


class EventHandling(WaitCore):
    """What the provider does with an event or a sweep."""

    def on_push(self, event: Mapping[str, Any]) -> None:
        detail = event.get("detail")
        if not isinstance(detail, Mapping):
            log_line(source="ecr", verdict="ignored", error="the event has no detail")
            return
        repository = detail.get("repository-name")
        if (
            detail.get("action-type") != "PUSH"
            or detail.get("result") != "SUCCESS"
            or not isinstance(repository, str)
        ):
            log_line(source="ecr", repository=_text(repository), verdict="ignored")
            return
        waits = [
            wait
            for wait in self.store.in_partition(partition_for_repository(repository))
            if self._is_pending(wait)
        ]
        log_line(source="ecr", repository=_text(repository), verdict="woken", pending=len(waits))
        self._advance_all(waits, "ecr")

    def on_build(self, event: Mapping[str, Any]) -> None:
        detail = event.get("detail")
        source = event.get("source")
        if not isinstance(detail, Mapping):
            log_line(source=_text(source), verdict="ignored", error="the event has no detail")
            return
        if source == names.CODEBUILD_EVENT_SOURCE:
            name, field = detail.get("project-name"), "project"
        else:
            name, field = detail.get("pipeline"), "pipeline"
        waits = [
            wait
            for wait in self.store.everything()
            if self._is_pending(wait) and getattr(wait, field) == name
        ]
        log_line(source=_text(source), run=_text(name), verdict="woken", pending=len(waits))
        self._advance_all(waits, str(source))

    def on_sweep(self) -> None:
        now = self.clock()
        items = list(self.store.everything())
        due = [
            wait
            for wait in items
            if self._is_pending(wait)
            and (wait.next_look_at - SWEEP_LOOKAHEAD_SECONDS <= now or wait.deadline <= now)
        ]
        unsent = [
            wait
            for wait in items
            if self._unsent(wait) and (wait.answered_at or 0.0) + RESEND_AFTER_SECONDS <= now
        ]
        pending = sum(1 for wait in items if self._is_pending(wait))
        log_line(source="sweep", verdict="sweep", pending=pending, attempt=len(due))
        self._advance_all(due, "sweep")
        for wait in unsent:
            if self.store.take_resend(wait, self.clock()):
                self._send(
                    wait,
                    str(wait.body),
                    partial(log_line, source="sweep", logicalResourceId=wait.logical_id),
                )
        if not any(self._needs_sweep(wait) for wait in self.store.everything()):
            stays_off = self.sweep.idle(
                lambda: any(self._needs_sweep(wait) for wait in self.store.everything())
            )
            log_line(source="sweep", verdict="off" if stays_off else "on again")

    def _advance_all(self, waits: list[Wait], source: str) -> None:
        def one(wait: Wait) -> None:
            log: Log = partial(
                log_line,
                source=source,
                requestType=wait.request_type,
                logicalResourceId=wait.logical_id,
            )
            try:
                self._advance(wait, log)
            except Exception as error:  # one wait's trouble must not stop the others
                log(verdict="error", error=f"{type(error).__name__}: {error}"[:500])

        if len(waits) <= 1:
            for wait in waits:
                one(wait)
            return
        with ThreadPoolExecutor(max_workers=min(WORKERS, len(waits))) as pool:
            list(pool.map(one, waits))
