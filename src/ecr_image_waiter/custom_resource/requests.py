"""CloudFormation requests: Delete answers at once (no ECR call) and drops the resource's
pending waits; Create/Update validate, look once and answer if ready or never, else store
the wait, turn the sweep on and look again (a push in between is then not missed).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from ecr_image_waiter import names
from ecr_image_waiter.custom_resource import response
from ecr_image_waiter.custom_resource.logs import log_line
from ecr_image_waiter.custom_resource.properties import Settings, parse_properties, show
from ecr_image_waiter.custom_resource.store import (
    ANSWERED,
    PENDING,
    Wait,
    partition_of,
    request_key,
)
from ecr_image_waiter.custom_resource.wait_core import (
    REQUEST_TYPES,
    Log,
    WaitCore,
    _failed_id,
    _missed,
    _new_wait,
    _text,
    _with,
)
from ecr_image_waiter.engine.decide import Outcome, decide
from ecr_image_waiter.engine.image import Observation
from ecr_image_waiter.errors import InvalidInputError


class RequestHandling(WaitCore):
    """What the provider does with a CloudFormation request."""

    def on_request(self, request: Mapping[str, Any]) -> None:
        request_type = request.get("RequestType")
        log: Log = partial(
            log_line,
            source="cloudformation",
            requestType=_text(request_type),
            logicalResourceId=_text(request.get("LogicalResourceId")),
        )
        if request_type not in REQUEST_TYPES:
            log(
                verdict="ignored",
                error=f"RequestType {show(request_type)} is not one of " + ", ".join(REQUEST_TYPES),
            )
            return
        now = self.clock()
        if request_type == "Delete":
            dropped = self._drop_waits_of(request)
            physical = _text(request.get("PhysicalResourceId")) or names.CREATE_FAILED_PHYSICAL_ID
            log(event="request", physicalResourceId=physical, verdict="deleted", pending=dropped)
            self._answer_at_once(request, now, status="SUCCESS", physical_id=physical, log=log)
            return
        try:
            settings = parse_properties(request.get("ResourceProperties"))
        except InvalidInputError as error:
            reason = response.cap_message(str(error))
            log(event="request", verdict="invalid", error=reason)
            self._answer_at_once(
                request,
                now,
                status="FAILED",
                physical_id=_failed_id(request),
                reason=reason,
                log=log,
            )
            return

        wait = _new_wait(request, settings, now)
        observation = self._look(settings, wait)
        outcome = decide(observation, self.clock(), wait.deadline)
        self._log_look(
            log, wait=wait, settings=settings, observation=observation, outcome=outcome, attempts=1
        )
        if outcome in (Outcome.READY, Outcome.NEVER):
            status, physical, why, data = self._final(wait, settings, observation, outcome, 1)
            self._answer_at_once(
                request,
                now,
                status=status,
                physical_id=physical,
                reason=why,
                data=data,
                log=log,
            )
            return

        wait = _missed(wait, observation, self.clock())
        existing = self.store.add(wait)
        if existing is not None:
            if existing.status != PENDING:
                log(event="request", verdict="already answered")
                return
            wait = existing
        if settings.trigger_build_on_missing and wait.run is None:
            wait = self._start_build(wait, settings, observation, log)
            if wait.status != PENDING:
                return
        enabled = self.sweep.wait_added()
        log(
            event="registered",
            verdict="pending",
            remaining=wait.deadline - now,
            status="sweep enabled" if enabled else None,
            run=wait.run,
        )
        # Look again: a push that landed between the first look and the store is seen here.
        self._advance(wait, log)

    def _start_build(
        self, wait: Wait, settings: Settings, observation: Observation, log: Log
    ) -> Wait:
        watch = self.watch_factory(settings)
        if watch is None:  # the properties parser requires a name with the flag
            return wait
        run = watch.running()
        verdict = "following"
        if run is None:
            try:
                run = watch.trigger(
                    _text(wait.request.get("RequestId")) or wait.sk, settings.reference
                )
            except Exception as error:  # a start that fails ends the wait: nothing will push
                reason = response.cap_message(str(error))
                log(event="trigger", verdict="start failed", error=reason)
                self._answer(
                    wait,
                    status="FAILED",
                    physical_id=_failed_id(wait.request),
                    reason=reason,
                    log=log,
                )
                return _with(wait, status=ANSWERED)
            verdict = "triggered"
        log(event="trigger", verdict=verdict, code=observation.code, run=run)
        if not self.store.set_run(wait, run):
            stored = self.store.get(wait.pk, wait.sk)
            return stored if stored is not None else wait
        return _with(wait, run=run)

    def _drop_waits_of(self, request: Mapping[str, Any]) -> int:
        stack, logical = request.get("StackId"), request.get("LogicalResourceId")
        dropped = 0
        for wait in self.store.in_partition(partition_of(request)):
            same = (wait.request.get("StackId"), wait.request.get("LogicalResourceId"))
            if wait.status == PENDING and same == (stack, logical) and self.store.drop(wait):
                dropped += 1
        return dropped

    def _answer_at_once(
        self,
        request: Mapping[str, Any],
        now: float,
        *,
        status: str,
        physical_id: str,
        log: Log,
        reason: str | None = None,
        data: Mapping[str, str] | None = None,
    ) -> None:
        """Answer a request that was never stored: stored as answered first, so a second
        delivery of the same request does not answer again."""
        text = response.body(
            request, status=status, physical_id=physical_id, reason=reason, data=data
        )
        wait = Wait(
            pk=partition_of(request),
            sk=request_key(request),
            status=ANSWERED,
            request=dict(request),
            started_at=now,
            deadline=now,
            interval=float(names.SWEEP_PERIOD_SECONDS),
            next_look_at=now,
            body=text,
            send_rounds=1,
            answered_at=now,
            expires_at=int(now) + names.ANSWERED_RETENTION_SECONDS,
        )
        existing = self.store.add(wait)
        if existing is not None:
            if existing.status == PENDING:
                # The same request, stored as pending by an earlier delivery that did not
                # finish (Lambda retries it): this delivery's look ends that wait.
                self._answer(
                    existing,
                    status=status,
                    physical_id=physical_id,
                    reason=reason,
                    data=data,
                    log=log,
                )
                return
            log(event="answer", verdict="already answered")
            return
        self._send(wait, text, log, status=status)
