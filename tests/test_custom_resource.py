"""The provider's logic (WaitService) against moto in process: requests, push events, the
sweep and its rule, with a fake clock and a recording response PUT.

The clock moves only when a test moves it, so every deadline and figure is exact; what
CloudFormation would receive is each (ResponseURL, body) the PUT was given.
"""

from __future__ import annotations

import json
import logging
import random
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import boto3
import pytest

from ecr_image_waiter import names
from ecr_image_waiter.custom_resource.handler import default_lookup
from ecr_image_waiter.custom_resource.response import Sent
from ecr_image_waiter.custom_resource.store import (
    ANSWERED,
    DROPPED,
    PENDING,
    Wait,
    partition_of,
    request_key,
)
from ecr_image_waiter.custom_resource.waits import RESEND_AFTER_SECONDS
from tests.conftest import ACCOUNT, REGION
from tests.images import DOCKER_V2, push, single_manifest
from tests.manifests import image_index
from tests.provider_support import (
    REGISTRY,
    InProcess,
    RecordingPut,
    in_process,
    json_lines,
    push_event,
    request,
    rule_state,
    stored,
)


@pytest.fixture
def cr(moto_ecr: Any) -> InProcess:
    moto_ecr.create_repository(repositoryName="app")
    return in_process(moto_ecr)


def statuses() -> dict[str, int]:
    found: dict[str, int] = {}
    for wait in stored():
        found[wait.status] = found.get(wait.status, 0) + 1
    return found


# --- answered at once -------------------------------------------------------------------------


def test_image_already_there_answers_at_once_with_every_attribute(cr: InProcess) -> None:
    digest = push(cr.ecr, "app", single_manifest("there"), "v1")
    req = request(RepositoryName="app", ImageTag="v1")
    cr.handle(req)
    answer = cr.put.one(req)
    assert answer["Status"] == "SUCCESS"
    assert answer["PhysicalResourceId"] == "default/app:v1"
    for key in ("StackId", "RequestId", "LogicalResourceId"):
        assert answer[key] == req[key]
    data = answer["Data"]
    assert data == {
        names.ATTR_IMAGE_DIGEST: digest,
        names.ATTR_IMAGE_DIGEST_HEX: digest.removeprefix("sha256:"),
        names.ATTR_IMAGE_URI: f"{REGISTRY}/app@{digest}",
        names.ATTR_IMAGE_TAG: "v1",
        names.ATTR_REPOSITORY_URI: f"{REGISTRY}/app",
        names.ATTR_MEDIA_TYPE: DOCKER_V2,
        names.ATTR_PUSHED_AT: data[names.ATTR_PUSHED_AT],
        names.ATTR_INDEX_DIGEST: "",
        names.ATTR_ARCHITECTURE: "",
    }
    assert datetime.fromisoformat(data[names.ATTR_PUSHED_AT]).tzinfo is not None
    assert rule_state() == "DISABLED"  # nothing to sweep for
    assert statuses() == {ANSWERED: 1}


def test_waiting_by_digest_returns_an_empty_tag(cr: InProcess) -> None:
    digest = push(cr.ecr, "app", single_manifest("c"), "v3")
    req = request(RepositoryName="app", ImageDigest=digest)
    cr.handle(req)
    answer = cr.put.one(req)
    assert answer["Status"] == "SUCCESS"
    assert answer["Data"][names.ATTR_IMAGE_TAG] == ""
    assert answer["Data"][names.ATTR_IMAGE_URI] == f"{REGISTRY}/app@{digest}"
    assert answer["PhysicalResourceId"] == f"default/app@{digest}"


def test_missing_repository_fails_at_once_with_the_marker(cr: InProcess) -> None:
    req = request(RepositoryName="nowhere", ImageTag="v1")
    cr.handle(req)
    answer = cr.put.one(req)
    assert answer["Status"] == "FAILED"
    assert answer["PhysicalResourceId"] == names.CREATE_FAILED_PHYSICAL_ID
    assert "nowhere:v1" in answer["Reason"]
    assert "RepositoryNotFoundException" in answer["Reason"]
    assert "create the repository first" in answer["Reason"]
    assert cr.clock.elapsed == 0
    assert rule_state() == "DISABLED"


def test_invalid_property_fails_at_once_and_the_delete_that_follows_succeeds(
    cr: InProcess,
) -> None:
    req = request(RepositoryName="app", ImageTag="v1", TimeoutSeconds="7200")
    cr.handle(req)
    answer = cr.put.one(req)
    assert answer["Status"] == "FAILED"
    assert answer["PhysicalResourceId"] == names.CREATE_FAILED_PHYSICAL_ID
    assert answer["Reason"].startswith("property TimeoutSeconds: ")
    assert f"{names.MAX_TIMEOUT_SECONDS} s" in answer["Reason"]

    delete = request(
        "Delete",
        RepositoryName="app",
        TimeoutSeconds="7200",
        physical_id=answer["PhysicalResourceId"],
    )
    cr.handle(delete)
    deleted = cr.put.one(delete)
    assert deleted["Status"] == "SUCCESS"
    assert deleted["PhysicalResourceId"] == names.CREATE_FAILED_PHYSICAL_ID


def test_failed_update_keeps_the_resources_physical_id(cr: InProcess) -> None:
    req = request("Update", RepositoryName="nowhere", physical_id="default/app:v1")
    cr.handle(req)
    answer = cr.put.one(req)
    assert answer["Status"] == "FAILED"
    assert answer["PhysicalResourceId"] == "default/app:v1"


def test_delete_answers_at_once_without_asking_ecr(
    cr: InProcess, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ecr_image_waiter")
    looked: list[Any] = []

    def lookup(settings: Any) -> Any:
        looked.append(settings)
        return default_lookup(settings)

    cr.service.lookup_factory = lookup
    req = request("Delete", RepositoryName="gone", ImageTag="v1", physical_id="default/gone:v1")
    cr.handle(req)
    answer = cr.put.one(req)
    assert answer["Status"] == "SUCCESS"
    assert answer["PhysicalResourceId"] == "default/gone:v1"
    assert "Data" not in answer
    assert looked == []
    assert not [line for line in json_lines(caplog.records) if line.get("event") == "attempt"]


def test_update_keeps_or_changes_the_physical_id(cr: InProcess) -> None:
    first = push(cr.ecr, "app", single_manifest("v1"), "latest")
    created = request(RepositoryName="app", ImageTag="latest")
    cr.handle(created)
    physical = cr.put.one(created)["PhysicalResourceId"]
    assert physical == "default/app:latest"

    # Timing only: the same physical id; the tag is resolved again (a re-push is picked up).
    second = push(cr.ecr, "app", single_manifest("v2"), "latest")
    kept = request(
        "Update",
        RepositoryName="app",
        ImageTag="latest",
        TimeoutSeconds="900",
        ResolveNonce="2",
        physical_id=physical,
    )
    cr.handle(kept)
    answer = cr.put.one(kept)
    assert answer["PhysicalResourceId"] == physical
    assert answer["Data"][names.ATTR_IMAGE_DIGEST] == second
    assert second != first

    # A new tag: a new physical id (CloudFormation then deletes the old one).
    third = push(cr.ecr, "app", single_manifest("v3"), "v3")
    changed = request("Update", RepositoryName="app", ImageTag="v3", physical_id=physical)
    cr.handle(changed)
    answer = cr.put.one(changed)
    assert answer["PhysicalResourceId"] == "default/app:v3"
    assert answer["Data"][names.ATTR_IMAGE_DIGEST] == third


@pytest.mark.parametrize(
    ("architecture", "platform"), [("arm64", "linux/arm64"), (None, "linux/amd64")]
)
def test_an_index_already_there_resolves_to_the_child(
    cr: InProcess, architecture: str | None, platform: str
) -> None:
    index = image_index()
    for child in index.children.values():
        push(cr.ecr, "app", child)
    index_digest = push(cr.ecr, "app", index.text, "v1")
    props = {"RepositoryName": "app", "ImageTag": "v1"}
    if architecture is not None:
        props["Architecture"] = architecture
    req = request(**props)
    cr.handle(req)
    data = cr.put.one(req)["Data"]
    child = index.child_digest(platform)
    assert data[names.ATTR_IMAGE_DIGEST] == child
    assert data[names.ATTR_IMAGE_URI] == f"{REGISTRY}/app@{child}"
    assert data[names.ATTR_INDEX_DIGEST] == index_digest
    assert data[names.ATTR_ARCHITECTURE] == (architecture or "x86_64")


# --- pending, then answered by a push event ------------------------------------------------------


def test_missing_image_goes_pending_and_its_push_event_answers(cr: InProcess) -> None:
    cr.ecr.create_repository(repositoryName="other")
    req = request(RepositoryName="app", ImageTag="v1", TimeoutSeconds="600")
    cr.handle(req)
    assert cr.put.calls == []
    assert rule_state() == "ENABLED"
    assert statuses() == {PENDING: 1}

    # A push to another repository wakes nothing.
    other = push(cr.ecr, "other", single_manifest("other"), "v1")
    cr.handle(push_event("other", other, "v1"))
    assert cr.put.calls == []

    cr.clock.advance(7)
    digest = push(cr.ecr, "app", single_manifest("pushed"), "v1")
    cr.handle(push_event("app", digest, "v1"))
    answer = cr.put.one(req)
    assert answer["Status"] == "SUCCESS"
    assert answer["PhysicalResourceId"] == "default/app:v1"
    assert answer["Data"][names.ATTR_IMAGE_DIGEST] == digest
    assert answer["Data"][names.ATTR_IMAGE_URI] == f"{REGISTRY}/app@{digest}"
    assert statuses() == {ANSWERED: 1}

    # The same push delivered again, and a later one: still one answer.
    cr.handle(push_event("app", digest, "v1"))
    cr.handle(push_event("app", push(cr.ecr, "app", single_manifest("again"), "v1"), "v1"))
    assert len(cr.put.calls) == 1


@pytest.mark.parametrize(
    ("architecture", "platform"), [("arm64", "linux/arm64"), ("x86_64", "linux/amd64")]
)
def test_an_index_push_answers_once_with_the_right_child(
    cr: InProcess, architecture: str, platform: str
) -> None:
    req = request(RepositoryName="app", ImageTag="v1", Architecture=architecture)
    cr.handle(req)
    assert cr.put.calls == []
    # buildx pushes the children untagged (one event each, image-tag ""), then the index.
    index = image_index()
    for child in index.children.values():
        cr.handle(push_event("app", push(cr.ecr, "app", child), ""))
        assert cr.put.calls == []
    index_digest = push(cr.ecr, "app", index.text, "v1")
    cr.handle(push_event("app", index_digest, "v1"))
    data = cr.put.one(req)["Data"]
    assert data[names.ATTR_IMAGE_DIGEST] == index.child_digest(platform)
    assert data[names.ATTR_INDEX_DIGEST] == index_digest
    assert data[names.ATTR_ARCHITECTURE] == architecture


def test_a_push_between_the_first_look_and_the_registration_is_not_missed(
    cr: InProcess,
) -> None:
    """The push event arrives before the wait is stored (it wakes nothing); the look made
    after storing the wait finds the image."""
    pushed: list[str] = []

    class PushAfterFirstLook:
        def __init__(self, settings: Any) -> None:
            self.real = default_lookup(settings)

        def look(self, ref: Any) -> Any:
            seen = self.real.look(ref)
            if not pushed:
                pushed.append(push(cr.ecr, "app", single_manifest("race"), "v1"))
                cr.handle(push_event("app", pushed[0], "v1"))
            return seen

    cr.service.lookup_factory = PushAfterFirstLook
    req = request(RepositoryName="app", ImageTag="v1")
    cr.handle(req)
    answer = cr.put.one(req)
    assert answer["Status"] == "SUCCESS"
    assert answer["Data"][names.ATTR_IMAGE_DIGEST] == pushed[0]


def test_wait_for_repository_waits_for_it(cr: InProcess) -> None:
    req = request(RepositoryName="later", ImageTag="v1", WaitForRepository="true")
    cr.handle(req)
    assert cr.put.calls == []
    cr.ecr.create_repository(repositoryName="later")
    digest = push(cr.ecr, "later", single_manifest("later"), "v1")
    cr.handle(push_event("later", digest, "v1"))
    assert cr.put.one(req)["Data"][names.ATTR_IMAGE_DIGEST] == digest


# --- the sweep ----------------------------------------------------------------------------------


def test_the_sweep_looks_again_at_a_pending_wait(cr: InProcess) -> None:
    """A push whose event never came (events are best effort) is found by the next sweep."""
    req = request(RepositoryName="app", ImageTag="v1")
    cr.handle(req)
    cr.sweep()
    assert cr.put.calls == []
    digest = push(cr.ecr, "app", single_manifest("no-event"), "v1")
    cr.sweep()
    assert cr.put.one(req)["Data"][names.ATTR_IMAGE_DIGEST] == digest
    # Nothing pending any more: this sweep turned the rule off.
    assert rule_state() == "DISABLED"


@pytest.mark.parametrize("phase", [1, 4, 6, 30, 54, 56, 59])
def test_a_lost_event_is_found_within_a_period_and_a_margin_whatever_the_sweeps_phase(
    cr: InProcess, phase: float
) -> None:
    """Sweeps fire on their own minute marks, not the wait's: the push (its event lost) right
    after the request is found by the first sweep at least 5 s after the request's look."""
    req = request(RepositoryName="app", ImageTag="v1")
    cr.handle(req)
    digest = push(cr.ecr, "app", single_manifest("lost-event"), "v1")
    cr.sweep(after=phase)
    while not cr.put.calls:
        cr.sweep()
    assert cr.put.one(req)["Data"][names.ATTR_IMAGE_DIGEST] == digest
    found_after = cr.clock.elapsed
    assert found_after <= names.SWEEP_PERIOD_SECONDS + 5
    assert found_after == (phase if phase >= 5 else phase + names.SWEEP_PERIOD_SECONDS)


def test_a_wait_past_its_deadline_fails_with_its_own_reason(cr: InProcess) -> None:
    req = request(RepositoryName="app", ImageTag="v1", MaxRetries="4", RetryDelaySeconds="30")
    cr.handle(req)
    cr.sweep()
    assert cr.put.calls == []
    cr.sweep()
    answer = cr.put.one(req)
    assert answer["Status"] == "FAILED"
    assert answer["PhysicalResourceId"] == names.CREATE_FAILED_PHYSICAL_ID
    reason = answer["Reason"]
    # Two looks at the request, one per sweep.
    assert reason.startswith("timed out after 120.0 s waiting for image app:v1 (4 checks)")
    assert "last seen: ImageNotFoundException" in reason
    assert rule_state() == "DISABLED"  # the sweep that failed it found nothing else pending


def test_resources_sharing_one_provider_keep_their_own_deadlines(cr: InProcess) -> None:
    cases = [
        ({"TimeoutSeconds": "60"}, 60),
        ({"TimeoutSeconds": "150"}, 180),  # seen by the first sweep past it
        ({"MaxRetries": "4", "RetryDelaySeconds": "30"}, 120),
        ({"TimeoutSeconds": "240", "IntervalSeconds": "120"}, 240),
        ({"MaxRetries": "1", "RetryDelaySeconds": "1"}, 60),
    ]
    requests = [request(RepositoryName="app", ImageTag="never", **props) for props, _ in cases]
    for req in requests:
        cr.handle(req)
    for _ in range(5):
        cr.sweep()
    for req, (_props, failed_at) in zip(requests, cases, strict=True):
        reason = cr.put.one(req)["Reason"]
        assert reason.startswith(f"timed out after {failed_at}.0 s waiting for image app:never")
    assert rule_state() == "DISABLED"


def test_an_updates_deadline_starts_at_its_own_request(cr: InProcess) -> None:
    cr.clock.advance(5000)
    req = request("Update", RepositoryName="app", ImageTag="v9", TimeoutSeconds="60")
    req["PhysicalResourceId"] = "default/app:v1"
    cr.handle(req)
    cr.sweep()
    answer = cr.put.one(req)
    assert answer["Reason"].startswith("timed out after 60.0 s")
    assert answer["PhysicalResourceId"] == "default/app:v1"  # an Update keeps its id


def test_a_push_after_the_deadline_but_before_the_sweep_still_succeeds(cr: InProcess) -> None:
    req = request(RepositoryName="app", ImageTag="v1", TimeoutSeconds="90")
    cr.handle(req)
    cr.sweep()
    cr.clock.advance(15)  # 105 s: past the deadline, the next sweep is at 120 s
    digest = push(cr.ecr, "app", single_manifest("late"), "v1")
    cr.handle(push_event("app", digest, "v1"))
    assert cr.put.one(req)["Data"][names.ATTR_IMAGE_DIGEST] == digest


def test_interval_seconds_spaces_the_looks(cr: InProcess, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ecr_image_waiter")
    req = request(RepositoryName="app", ImageTag="v1", IntervalSeconds="180", TimeoutSeconds="600")
    cr.handle(req)
    for _ in range(6):
        cr.sweep()
    looks = [
        round(line["elapsed"])
        for line in json_lines(caplog.records)
        if line.get("event") == "attempt"
    ]
    # The request's two looks, then the sweeps at 180 and 360 s (not 60, 120, 240, 300).
    assert looks == [0, 0, 180, 360]


def test_with_nothing_pending_the_sweep_turns_its_rule_off(cr: InProcess) -> None:
    boto3.client("events", region_name=REGION).enable_rule(Name=cr.service.sweep.rule_name)
    cr.service.store.sweep_on_if_off()
    cr.sweep()
    assert rule_state() == "DISABLED"
    # The next wait turns it on again.
    cr.handle(request(RepositoryName="app", ImageTag="v1"))
    assert rule_state() == "ENABLED"


class HookedEvents:
    """An EventBridge client that runs ``hook`` once, just before its first DisableRule."""

    def __init__(self, hook: Callable[[], None]) -> None:
        self.real = boto3.client("events", region_name=REGION)
        self.hook: Callable[[], None] | None = hook
        self.calls: list[str] = []

    def enable_rule(self, **kwargs: Any) -> Any:
        self.calls.append("enable")
        return self.real.enable_rule(**kwargs)

    def disable_rule(self, **kwargs: Any) -> Any:
        hook, self.hook = self.hook, None
        if hook is not None:
            hook()
        self.calls.append("disable")
        return self.real.disable_rule(**kwargs)


@pytest.mark.parametrize("when", ["before the sweep's re-check", "stored, not yet announced"])
def test_a_wait_registered_while_the_sweep_turns_off_keeps_the_rule_on(
    moto_ecr: Any, when: str
) -> None:
    moto_ecr.create_repository(repositoryName="app")
    late = request(RepositoryName="app", ImageTag="v1")
    holder: list[InProcess] = []

    def register() -> None:
        cr = holder[0]
        if when == "before the sweep's re-check":
            cr.handle(late)  # stored and announced while the sweep is turning off
        else:
            # Stored only: its invocation has not yet reached the sweep switch.
            now = cr.clock()
            cr.service.store.add(
                Wait(
                    pk=partition_of(late),
                    sk=request_key(late),
                    status=PENDING,
                    request=late,
                    started_at=now,
                    deadline=now + 600,
                    interval=60.0,
                    next_look_at=now + 60,
                    expires_at=int(now) + 3600,
                )
            )

    events = HookedEvents(register)
    cr = in_process(moto_ecr, events=events)
    holder.append(cr)
    cr.service.store.sweep_on_if_off()
    events.real.enable_rule(Name=cr.service.sweep.rule_name)
    cr.sweep()
    assert rule_state() == "ENABLED"
    assert "disable" in events.calls
    assert events.calls[-1] == "enable"
    # The late wait is swept and answered like any other.
    digest = push(moto_ecr, "app", single_manifest("late"), "v1")
    cr.sweep()
    assert cr.put.one(late)["Data"][names.ATTR_IMAGE_DIGEST] == digest


# --- exactly one answer per request ------------------------------------------------------------


def test_duplicate_push_events_answer_once(cr: InProcess) -> None:
    req = request(RepositoryName="app", ImageTag="v1")
    cr.handle(req)
    digest = push(cr.ecr, "app", single_manifest("dup"), "v1")
    event = push_event("app", digest, "v1")
    threads = [threading.Thread(target=cr.handle, args=(event,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    cr.handle(event)
    assert cr.put.one(req)["Status"] == "SUCCESS"


def test_an_event_and_a_sweep_racing_answer_once(cr: InProcess) -> None:
    requests = [request(RepositoryName="app", ImageTag="v1") for _ in range(5)]
    for req in requests:
        cr.handle(req)
    digest = push(cr.ecr, "app", single_manifest("race"), "v1")
    cr.clock.advance(60)
    barrier = threading.Barrier(3)

    def run(action: Callable[[], None]) -> None:
        barrier.wait(30)
        action()

    threads = [
        threading.Thread(target=run, args=(lambda: cr.handle(push_event("app", digest, "v1")),)),
        threading.Thread(target=run, args=(cr.service.on_sweep,)),
        threading.Thread(target=run, args=(cr.service.on_sweep,)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for req in requests:
        assert cr.put.one(req)["Data"][names.ATTR_IMAGE_DIGEST] == digest
    assert len(cr.put.calls) == len(requests)


def test_the_same_request_delivered_twice_is_answered_once(cr: InProcess) -> None:
    # Pending: the second delivery (Lambda's retry, CloudFormation's re-send) joins the wait.
    req = request(RepositoryName="app", ImageTag="v1")
    cr.handle(req)
    cr.handle(json.loads(json.dumps(req)))
    assert statuses() == {PENDING: 1}
    digest = push(cr.ecr, "app", single_manifest("twice"), "v1")
    cr.handle(push_event("app", digest, "v1"))
    cr.handle(req)  # and once more after the answer
    assert cr.put.one(req)["Data"][names.ATTR_IMAGE_DIGEST] == digest

    # Answered at once: a second delivery sends nothing more.
    there = request(RepositoryName="app", ImageTag="v1")
    cr.handle(there)
    cr.handle(there)
    assert cr.put.one(there)["Status"] == "SUCCESS"
    invalid = request(RepositoryName="app", Colour="blue")
    cr.handle(invalid)
    cr.handle(invalid)
    assert cr.put.one(invalid)["Status"] == "FAILED"


@pytest.mark.parametrize("image", ["missing", "there"])
def test_the_same_request_delivered_twice_at_the_same_time_is_answered_once(
    cr: InProcess, image: str
) -> None:
    if image == "there":
        push(cr.ecr, "app", single_manifest("concurrent"), "v1")
    req = request(RepositoryName="app", ImageTag="v1")
    barrier = threading.Barrier(3)

    def deliver() -> None:
        barrier.wait(30)
        cr.handle(json.loads(json.dumps(req)))

    threads = [threading.Thread(target=deliver) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(stored()) == 1
    if image == "missing":
        assert cr.put.calls == []
        digest = push(cr.ecr, "app", single_manifest("concurrent"), "v1")
        cr.handle(push_event("app", digest, "v1"))
    assert cr.put.one(req)["Status"] == "SUCCESS"


def test_two_sweeps_at_once_send_an_unsent_answer_once(moto_ecr: Any) -> None:
    moto_ecr.create_repository(repositoryName="app")
    put = RecordingPut(script=[(Sent.FAILED, "HTTP 500")])
    cr = in_process(moto_ecr, put=put)
    push(moto_ecr, "app", single_manifest("two-sweeps"), "v1")
    cr.handle(request(RepositoryName="app", ImageTag="v1"))
    cr.clock.advance(60)
    barrier = threading.Barrier(2)

    def sweep() -> None:
        barrier.wait(30)
        cr.service.on_sweep()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(put.calls) == 2  # the failed PUT and one re-send


@pytest.mark.parametrize(
    "detail",
    [
        {"action-type": "DELETE", "result": "SUCCESS"},
        {"action-type": "PUSH", "result": "FAILURE"},
        {"action-type": "PUSH", "result": "SUCCESS", "repository-name": None},
    ],
)
def test_push_events_that_are_not_successful_pushes_wake_nothing(
    cr: InProcess, detail: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ecr_image_waiter")
    req = request(RepositoryName="app", ImageTag="v1")
    cr.handle(req)
    push(cr.ecr, "app", single_manifest("not-a-push"), "v1")
    event = push_event("app", "sha256:" + "0" * 64, "v1")
    event["detail"].update(detail)
    caplog.clear()
    cr.handle(event)
    assert cr.put.calls == []
    assert [line["verdict"] for line in json_lines(caplog.records)] == ["ignored"]


class FailsOnce:
    """An EventBridge client whose first EnableRule dies, as an invocation killed mid-way."""

    def __init__(self) -> None:
        self.real = boto3.client("events", region_name=REGION)
        self.failed = False

    def enable_rule(self, **kwargs: Any) -> Any:
        if not self.failed:
            self.failed = True
            raise RuntimeError("the invocation died here")
        return self.real.enable_rule(**kwargs)

    def disable_rule(self, **kwargs: Any) -> Any:
        return self.real.disable_rule(**kwargs)


@pytest.mark.parametrize("then", ["still missing", "pushed without an event"])
def test_a_request_retried_after_a_crash_mid_way_is_answered_once(moto_ecr: Any, then: str) -> None:
    """The first delivery stored its wait and died before the sweep was on; Lambda retries
    the request. The retry must leave the sweep on, or answer."""
    moto_ecr.create_repository(repositoryName="app")
    cr = in_process(moto_ecr, events=FailsOnce())
    req = request(RepositoryName="app", ImageTag="v1")
    with pytest.raises(RuntimeError, match="died"):
        cr.handle(req)
    assert statuses() == {PENDING: 1}
    digest = None
    if then == "pushed without an event":
        digest = push(moto_ecr, "app", single_manifest("crash"), "v1")
    cr.handle(req)  # Lambda's retry of the asynchronous invocation
    if digest is None:
        assert cr.put.calls == []
        assert rule_state() == "ENABLED"
        digest = push(moto_ecr, "app", single_manifest("crash"), "v1")
        cr.sweep()
    assert cr.put.one(req)["Data"][names.ATTR_IMAGE_DIGEST] == digest


def test_a_retried_answer_after_a_crash_between_claim_and_put_is_sent_by_the_sweep(
    cr: InProcess,
) -> None:
    req = request(RepositoryName="app", ImageTag="v1")
    cr.handle(req)
    (wait,) = stored()
    cr.service.store.claim(wait, '{"Status":"SUCCESS"}', cr.clock())  # then the crash
    cr.handle(req)  # a re-delivery does not answer a second time
    assert cr.put.calls == []
    cr.sweep(RESEND_AFTER_SECONDS)
    assert len(cr.put.answers(req)) == 1
    cr.sweep()
    assert len(cr.put.answers(req)) == 1


# --- Delete drops a pending wait ---------------------------------------------------------------


def test_delete_drops_the_resources_pending_wait(cr: InProcess) -> None:
    create = request(RepositoryName="app", ImageTag="v1")
    other = request(RepositoryName="app", ImageTag="v1", logical_id="OtherWaiter")
    cr.handle(create)
    cr.handle(other)
    delete = request("Delete", RepositoryName="app", ImageTag="v1", physical_id="default/app:v1")
    cr.handle(delete)
    assert cr.put.one(delete)["Status"] == "SUCCESS"
    assert sorted(w.status for w in stored() if w.status != ANSWERED) == [DROPPED, PENDING]
    digest = push(cr.ecr, "app", single_manifest("after-delete"), "v1")
    cr.handle(push_event("app", digest, "v1"))
    cr.sweep()
    assert cr.put.answers(create) == []
    assert cr.put.one(other)["Status"] == "SUCCESS"


# --- sending the answer --------------------------------------------------------------------------


def test_an_unsent_answer_is_sent_again_by_later_sweeps_a_bounded_number_of_times(
    moto_ecr: Any,
) -> None:
    moto_ecr.create_repository(repositoryName="app")
    put = RecordingPut(script=[(Sent.FAILED, "HTTP 500")] * 50)
    cr = in_process(moto_ecr, put=put)
    push(moto_ecr, "app", single_manifest("unsent"), "v1")
    req = request(RepositoryName="app", ImageTag="v1")
    cr.handle(req)
    for _ in range(names.MAX_SEND_ROUNDS + 3):
        cr.sweep()
    bodies = {text for _url, text in put.calls}
    assert len(bodies) == 1  # the same answer every time
    assert len(put.calls) == names.MAX_SEND_ROUNDS


@pytest.mark.parametrize("answered", ["at once", "by a push event"])
def test_an_unsent_answer_keeps_the_sweep_on_until_it_is_sent(moto_ecr: Any, answered: str) -> None:
    moto_ecr.create_repository(repositoryName="app")
    put = RecordingPut(script=[(Sent.FAILED, "HTTP 503")])
    cr = in_process(moto_ecr, put=put)
    req = request(RepositoryName="app", ImageTag="v1")
    if answered == "at once":
        push(moto_ecr, "app", single_manifest("unsent-once"), "v1")
        cr.handle(req)
    else:
        cr.handle(req)
        digest = push(moto_ecr, "app", single_manifest("unsent-push"), "v1")
        cr.handle(push_event("app", digest, "v1"))
    assert len(put.calls) == 1  # the PUT failed on every try
    assert rule_state() == "ENABLED"
    cr.sweep(RESEND_AFTER_SECONDS / 2)  # too soon to send again; nothing is pending
    assert len(put.calls) == 1
    assert rule_state() == "ENABLED"
    cr.sweep()
    assert len(put.calls) == 2
    assert put.calls[0] == put.calls[1]
    cr.sweep()
    assert rule_state() == "DISABLED"


def test_an_answer_that_gets_through_on_a_later_sweep_is_not_sent_again(moto_ecr: Any) -> None:
    moto_ecr.create_repository(repositoryName="app")
    put = RecordingPut(script=[(Sent.FAILED, "URLError"), (Sent.FAILED, "HTTP 503")])
    cr = in_process(moto_ecr, put=put)
    push(moto_ecr, "app", single_manifest("later"), "v1")
    req = request(RepositoryName="app", ImageTag="v1")
    cr.handle(req)
    for _ in range(5):
        cr.sweep()
    assert len(put.calls) == 3
    assert json.loads(put.calls[-1][1])["Status"] == "SUCCESS"


def test_a_refused_answer_is_never_sent_again(moto_ecr: Any) -> None:
    moto_ecr.create_repository(repositoryName="app")
    put = RecordingPut(script=[(Sent.REFUSED, "HTTP 403")])
    cr = in_process(moto_ecr, put=put)
    push(moto_ecr, "app", single_manifest("refused"), "v1")
    cr.handle(request(RepositoryName="app", ImageTag="v1"))
    for _ in range(4):
        cr.sweep()
    assert len(put.calls) == 1


# --- limits -------------------------------------------------------------------------------------


def test_response_stays_under_4096_bytes_for_the_longest_values(cr: InProcess) -> None:
    repository = "/".join(["r" * 63] * 4)
    tag = "t" * 128
    cr.ecr.create_repository(repositoryName=repository)
    long_ids = {"logical_id": "L" * 255}

    def longest(**props: str) -> dict[str, Any]:
        req = request(
            RepositoryName=repository, ImageTag=tag, RegistryId=ACCOUNT, **props, **long_ids
        )
        req["StackId"] = req["StackId"].replace("ApiStack", "S" * 128)
        return req

    failed = longest(TimeoutSeconds="60")
    cr.handle(failed)
    cr.sweep()
    answer = cr.put.one(failed)
    assert answer["Status"] == "FAILED"
    assert repository in answer["Reason"]

    push(cr.ecr, repository, single_manifest("long"), tag)
    done = longest()
    cr.handle(done)
    assert cr.put.one(done)["Status"] == "SUCCESS"
    for _url, text in cr.put.calls:
        assert len(text.encode()) <= names.CLOUDFORMATION_RESPONSE_MAX_BYTES


def test_logs_never_hold_the_response_url_or_credentials(
    cr: InProcess, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETKEYXX"
    token = "FwoGZXIvYXdzSESSIONTOKENxx"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.setenv("AWS_SESSION_TOKEN", token)
    # Every level of this package; botocore's DEBUG lines (request bodies) are not ours.
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="ecr_image_waiter")
    requests = [
        request(RepositoryName="app", ImageTag="v1"),
        request(RepositoryName="app", ImageTag="v1", Bad="x"),
        request(RepositoryName="gone", ImageTag="v1"),
        request(RepositoryName="app", ImageTag="v2", TimeoutSeconds="60"),
        request("Delete", RepositoryName="app", physical_id="default/app:v1", logical_id="Old"),
    ]
    for req in requests:
        cr.handle(req)
    digest = push(cr.ecr, "app", single_manifest("h"), "v1")
    cr.handle(push_event("app", digest, "v1"))
    cr.sweep()
    cr.sweep()
    assert [cr.put.one(req)["Status"] for req in requests] == [
        "SUCCESS",
        "FAILED",
        "FAILED",
        "FAILED",
        "SUCCESS",
    ]
    lines = json_lines(caplog.records)
    assert {"request", "registered", "attempt", "answer"} <= {line.get("event") for line in lines}
    everything = caplog.text + "".join(r.getMessage() for r in caplog.records)
    everything += "".join(text for _url, text in cr.put.calls)
    url = requests[0]["ResponseURL"]
    for forbidden in (url, url.split("?")[1], "X-Amz-Signature", secret, token, "ResponseURL"):
        assert forbidden not in everything


@pytest.mark.slow
def test_many_requests_events_sweeps_and_redeliveries_at_once_answer_each_request_once(
    moto_ecr: Any,
) -> None:
    """Seeded: requests on three repositories (some already there, some never pushed), each
    delivered twice, while pushes, duplicated push events and overlapping sweeps run in
    threads. Every request gets exactly one answer, and the right one."""
    rng = random.Random(2027)
    repos = ["red", "green", "blue"]
    for repo in repos:
        moto_ecr.create_repository(repositoryName=repo)
    cr = in_process(moto_ecr)
    early = push(moto_ecr, "red", single_manifest("early"), "v1")
    requests = [
        request(RepositoryName=rng.choice(repos), ImageTag="v1", TimeoutSeconds="600")
        for _ in range(24)
    ]
    never = request(RepositoryName="blue", ImageTag="never", TimeoutSeconds="120")
    digests = {"red": early}

    def pushes() -> None:
        for repo in ("green", "blue"):
            digests[repo] = push(moto_ecr, repo, single_manifest(repo), "v1")
            for _ in range(3):
                cr.handle(push_event(repo, digests[repo], "v1"))

    work: list[Callable[[], None]] = []
    for req in [*requests, never]:
        work += [lambda req=req: cr.handle(req)] * 2
    work += [pushes] + [cr.service.on_sweep] * 4
    rng.shuffle(work)
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(lambda job: job(), work))
    for _ in range(4):  # later sweeps pick up whatever the races left pending
        cr.sweep()
    for req in requests:
        answer = cr.put.one(req)
        repo = req["ResourceProperties"]["RepositoryName"]
        assert answer["Data"][names.ATTR_IMAGE_DIGEST] == digests[repo], answer
    assert cr.put.one(never)["Reason"].startswith("timed out after ")
    assert rule_state() == "DISABLED"
