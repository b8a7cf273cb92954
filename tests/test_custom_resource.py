"""The custom resource run as the Provider framework runs it, against moto in process.

A fake clock drives both the framework's intervals and the handlers' deadlines, so the runs
take no wall-clock time and every figure is exact.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from ecr_image_waiter import names
from ecr_image_waiter.custom_resource.resource import ImageWaiterResource
from ecr_image_waiter.local.framework import (
    CREATE_FAILED_PHYSICAL_ID_MARKER,
    DATA_NOT_ALLOWED,
    TIMEOUT_REASON,
    ProviderResult,
    max_attempts,
    run_custom_resource,
)
from tests.images import DOCKER_V2, push, single_manifest
from tests.manifests import image_index, push_index

EVENTS = Path(__file__).parent / "events"
ACCOUNT = "123456789012"
REGISTRY = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com"
START = 1_800_000_000.0


class FakeClock:
    """Epoch seconds that move only when something sleeps; runs actions due at a time."""

    def __init__(self) -> None:
        self.now = START
        self.sleeps: list[float] = []
        self._actions: list[tuple[float, Callable[[], None]]] = []

    def time(self) -> float:
        return self.now

    def at(self, offset: float, action: Callable[[], None]) -> None:
        self._actions.append((START + offset, action))
        self._actions.sort(key=lambda item: item[0])

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds
        while self._actions and self._actions[0][0] <= self.now:
            self._actions.pop(0)[1]()

    @property
    def elapsed(self) -> float:
        return self.now - START


def event(kind: str, **props: str) -> dict[str, Any]:
    """A base event from tests/events with these ResourceProperties (ServiceToken kept)."""
    data: dict[str, Any] = json.loads((EVENTS / f"{kind}.json").read_text())
    data["ResourceProperties"] = {names.PROP_SERVICE_TOKEN: data["ServiceToken"], **props}
    return data


def run(
    request: dict[str, Any],
    clock: FakeClock,
    *,
    query: float = 5,
    total: float = 600,
    poll_budget: float = 0,
) -> ProviderResult:
    resource = ImageWaiterResource(
        clock=clock.time, sleep=clock.sleep, query_interval=query, poll_budget=poll_budget
    )
    return run_custom_resource(
        request,
        on_event=resource.on_event,
        is_complete=resource.is_complete,
        query_interval=query,
        total_timeout=total,
        clock=clock.time,
        sleep=clock.sleep,
        function_name="ApiStack-EcrImageWaiterHandler",
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def looks(caplog: pytest.LogCaptureFixture) -> Callable[[], list[dict[str, Any]]]:
    """The JSON log lines of looks at ECR so far."""
    caplog.set_level(logging.INFO, logger="ecr_image_waiter.custom_resource")

    def lines() -> list[dict[str, Any]]:
        records = [json.loads(r.getMessage()) for r in caplog.records]
        return [r for r in records if r["event"] == "attempt" and r["verdict"] != "not due"]

    return lines


def test_create_completes_once_the_image_is_pushed(moto_ecr: Any, clock: FakeClock) -> None:
    moto_ecr.create_repository(repositoryName="text-generation")
    pushed: list[str] = []
    clock.at(12, lambda: pushed.append(push(moto_ecr, "text-generation", single_manifest(), "v1")))

    result = run(event("create", RepositoryName="text-generation", ImageTag="v1"), clock)

    assert result["Status"] == "SUCCESS", result["Reason"]
    digest = pushed[0]
    data = result["Data"]
    assert data is not None
    assert data == {
        names.ATTR_IMAGE_DIGEST: digest,
        names.ATTR_IMAGE_DIGEST_HEX: digest.removeprefix("sha256:"),
        names.ATTR_IMAGE_URI: f"{REGISTRY}/text-generation@{digest}",
        names.ATTR_IMAGE_TAG: "v1",
        names.ATTR_REPOSITORY_URI: f"{REGISTRY}/text-generation",
        names.ATTR_MEDIA_TYPE: DOCKER_V2,
        names.ATTR_PUSHED_AT: data[names.ATTR_PUSHED_AT],
        names.ATTR_INDEX_DIGEST: "",
        names.ATTR_ARCHITECTURE: "",
    }
    assert datetime.fromisoformat(data[names.ATTR_PUSHED_AT]).tzinfo is not None
    assert result["PhysicalResourceId"] == "default/text-generation:v1"
    # Calls at 0, 5, 10 miss; the one at 15 finds it.
    assert clock.elapsed == 15
    assert result["is_complete_calls"] == 4
    assert result["state_transitions"] == 4
    assert result["on_event_calls"] == 1
    assert result["response_within_limit"]
    assert names.STATE_KEY not in result["body"]


def test_image_already_there_completes_on_the_first_call(moto_ecr: Any, clock: FakeClock) -> None:
    moto_ecr.create_repository(repositoryName="app")
    digest = push(moto_ecr, "app", single_manifest("b"), "latest")
    result = run(event("create", RepositoryName="app"), clock)
    assert result["Status"] == "SUCCESS"
    assert result["Data"] is not None
    assert result["Data"][names.ATTR_IMAGE_DIGEST] == digest
    assert result["Data"][names.ATTR_IMAGE_TAG] == "latest"
    assert result["is_complete_calls"] == 1
    assert clock.elapsed == 0


def test_waiting_by_digest_returns_an_empty_tag(moto_ecr: Any, clock: FakeClock) -> None:
    moto_ecr.create_repository(repositoryName="app")
    digest = push(moto_ecr, "app", single_manifest("c"), "v3")
    result = run(event("create", RepositoryName="app", ImageDigest=digest), clock)
    assert result["Status"] == "SUCCESS"
    assert result["Data"] is not None
    assert result["Data"][names.ATTR_IMAGE_TAG] == ""
    assert result["Data"][names.ATTR_IMAGE_URI].endswith(f"/app@{digest}")
    assert result["PhysicalResourceId"] == f"default/app@{digest}"


def test_retry_pair_fails_on_its_own_deadline_with_a_useful_reason(
    moto_ecr: Any, clock: FakeClock
) -> None:
    moto_ecr.create_repository(repositoryName="text-generation")
    request = event(
        "create",
        RepositoryName="text-generation",
        ImageTag="latest",
        MaxRetries="2",
        RetryDelaySeconds="1",
    )
    result = run(request, clock, query=1, total=60)
    assert result["Status"] == "FAILED"
    assert clock.elapsed == 2
    reason = result["Reason"]
    assert "text-generation:latest" in reason
    assert "timed out after 2.0 s" in reason
    assert "ImageNotFoundException" in reason
    assert TIMEOUT_REASON not in reason
    assert "Logs: /aws/lambda/ApiStack-EcrImageWaiterHandler" in reason
    assert result["is_complete_calls"] == 3
    assert result["PhysicalResourceId"] == "default/text-generation:latest"


@pytest.mark.parametrize(("push_at", "status"), [(11, "SUCCESS"), (None, "FAILED")])
def test_last_look_happens_at_the_deadline_between_framework_calls(
    moto_ecr: Any, clock: FakeClock, push_at: float | None, status: str
) -> None:
    moto_ecr.create_repository(repositoryName="app")
    if push_at is not None:
        clock.at(push_at, lambda: push(moto_ecr, "app", single_manifest("d"), "v1"))
    result = run(event("create", RepositoryName="app", ImageTag="v1", TimeoutSeconds="12"), clock)
    assert result["Status"] == status
    # Framework calls at 0, 5 and 10; the call at 10 sleeps to 12 and looks again.
    assert clock.elapsed == 12
    assert clock.sleeps == [5, 5, 2]
    assert result["is_complete_calls"] == 3
    if status == "FAILED":
        assert "timed out after 12.0 s" in result["Reason"]
        assert "(4 checks)" in result["Reason"]


def test_resources_sharing_one_provider_keep_their_own_deadlines(moto_ecr: Any) -> None:
    moto_ecr.create_repository(repositoryName="app")
    cases = [
        ({"TimeoutSeconds": "7"}, 7),
        ({"TimeoutSeconds": "20"}, 20),
        ({"MaxRetries": "3", "RetryDelaySeconds": "4"}, 12),
        ({"TimeoutSeconds": "33", "IntervalSeconds": "10"}, 33),
        ({"MaxRetries": "1", "RetryDelaySeconds": "1"}, 1),
    ]
    for props, deadline in cases:
        clock = FakeClock()
        result = run(event("create", RepositoryName="app", ImageTag="never", **props), clock)
        assert result["Status"] == "FAILED", props
        assert clock.elapsed == deadline, props
        assert f"timed out after {deadline}.0 s" in result["Reason"]
        assert TIMEOUT_REASON not in result["Reason"]


def test_interval_seconds_spaces_the_looks(
    moto_ecr: Any, clock: FakeClock, looks: Callable[[], list[dict[str, Any]]]
) -> None:
    moto_ecr.create_repository(repositoryName="app")
    clock.at(1, lambda: push(moto_ecr, "app", single_manifest("e"), "v1"))
    request = event("create", RepositoryName="app", ImageTag="v1", IntervalSeconds="10")
    result = run(request, clock)
    assert result["Status"] == "SUCCESS"
    # Framework calls at 0, 5, 10: looks at 0 (miss) and 10 (found); 5 is not due.
    assert clock.elapsed == 10
    assert result["is_complete_calls"] == 3
    assert [line["verdict"] for line in looks()] == ["not yet", "ready"]


def test_interval_that_does_not_divide_the_timeout(
    moto_ecr: Any, clock: FakeClock, looks: Callable[[], list[dict[str, Any]]]
) -> None:
    moto_ecr.create_repository(repositoryName="app")
    request = event(
        "create", RepositoryName="app", ImageTag="v1", IntervalSeconds="7", TimeoutSeconds="16"
    )
    result = run(request, clock)
    assert result["Status"] == "FAILED"
    assert clock.elapsed == 16
    # Due at 0, 7, 14: seen by the calls at 0, 10 and 15; the call at 15 also looks at 16.
    assert [round(line["elapsed"]) for line in looks()] == [0, 10, 15, 16]


def test_poll_budget_finds_the_image_within_one_call(moto_ecr: Any, clock: FakeClock) -> None:
    moto_ecr.create_repository(repositoryName="app")
    clock.at(2, lambda: push(moto_ecr, "app", single_manifest("f"), "v1"))
    result = run(event("create", RepositoryName="app", ImageTag="v1"), clock, poll_budget=3)
    assert result["Status"] == "SUCCESS"
    assert result["is_complete_calls"] == 1
    assert clock.elapsed == 2


def test_poll_budget_from_a_bad_environment_value_is_named(
    moto_ecr: Any, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    moto_ecr.create_repository(repositoryName="app")
    monkeypatch.setenv(names.ENV_POLL_BUDGET_SECONDS, "lots")
    resource = ImageWaiterResource(clock=clock.time, sleep=clock.sleep, query_interval=5)
    result = run_custom_resource(
        event("create", RepositoryName="app"),
        on_event=resource.on_event,
        is_complete=resource.is_complete,
        clock=clock.time,
        sleep=clock.sleep,
    )
    assert result["Status"] == "FAILED"
    assert names.ENV_POLL_BUDGET_SECONDS in result["Reason"]
    assert "'lots'" in result["Reason"]


def test_missing_repository_fails_at_once(moto_ecr: Any, clock: FakeClock) -> None:
    result = run(event("create", RepositoryName="nowhere", ImageTag="v1"), clock)
    assert result["Status"] == "FAILED"
    assert result["is_complete_calls"] == 1
    assert clock.elapsed == 0
    assert "nowhere:v1" in result["Reason"]
    assert "RepositoryNotFoundException" in result["Reason"]
    assert "create the repository first" in result["Reason"]


def test_wait_for_repository_waits_for_it(moto_ecr: Any, clock: FakeClock) -> None:
    def create() -> None:
        moto_ecr.create_repository(repositoryName="later")
        push(moto_ecr, "later", single_manifest("g"), "v1")

    clock.at(6, create)
    request = event("create", RepositoryName="later", ImageTag="v1", WaitForRepository="true")
    result = run(request, clock)
    assert result["Status"] == "SUCCESS"
    assert clock.elapsed == 10


def test_invalid_property_fails_at_on_event(moto_ecr: Any, clock: FakeClock) -> None:
    request = event("create", RepositoryName="app", ImageTag="v1", TimeoutSeconds="7200")
    result = run(request, clock)
    assert result["Status"] == "FAILED"
    assert result["is_complete_calls"] == 0
    assert result["PhysicalResourceId"] == CREATE_FAILED_PHYSICAL_ID_MARKER
    assert "property TimeoutSeconds" in result["Reason"]
    assert "3540" in result["Reason"]

    # CloudFormation then deletes the failed resource: the framework answers by itself.
    delete = event("delete", RepositoryName="app", ImageTag="v1", TimeoutSeconds="7200")
    delete["PhysicalResourceId"] = result["PhysicalResourceId"]
    deleted = run(delete, clock)
    assert deleted["Status"] == "SUCCESS"
    assert deleted["on_event_calls"] == 0


def test_delete_makes_no_ecr_call_even_with_the_repository_gone(
    moto_ecr: Any, clock: FakeClock, looks: Callable[[], list[dict[str, Any]]]
) -> None:
    result = run(event("delete", RepositoryName="gone", ImageTag="v1"), clock)
    assert result["Status"] == "SUCCESS"
    assert result["PhysicalResourceId"] == "default/text-generation:latest"
    assert result["is_complete_calls"] == 1
    assert clock.elapsed == 0
    assert looks() == []


def test_update_keeps_or_changes_the_physical_id(moto_ecr: Any, clock: FakeClock) -> None:
    moto_ecr.create_repository(repositoryName="text-generation")
    first = push(moto_ecr, "text-generation", single_manifest("v1"), "latest")
    created = run(event("create", RepositoryName="text-generation", ImageTag="latest"), clock)
    assert created["Status"] == "SUCCESS"

    # Timing only: same physical id; the tag is resolved again (a re-push is picked up).
    second = push(moto_ecr, "text-generation", single_manifest("v2"), "latest")
    update = event(
        "update",
        RepositoryName="text-generation",
        ImageTag="latest",
        TimeoutSeconds="900",
        ResolveNonce="2",
    )
    update["PhysicalResourceId"] = created["PhysicalResourceId"]
    kept = run(update, clock)
    assert kept["Status"] == "SUCCESS"
    assert kept["PhysicalResourceId"] == created["PhysicalResourceId"]
    assert kept["Data"] is not None
    assert kept["Data"][names.ATTR_IMAGE_DIGEST] == second != first

    # A new tag: a new physical id (CloudFormation then deletes the old one).
    third = push(moto_ecr, "text-generation", single_manifest("v3"), "v3")
    update = event("update", RepositoryName="text-generation", ImageTag="v3")
    update["PhysicalResourceId"] = created["PhysicalResourceId"]
    changed = run(update, clock)
    assert changed["Status"] == "SUCCESS"
    assert changed["PhysicalResourceId"] == "default/text-generation:v3"
    assert changed["Data"] is not None
    assert changed["Data"][names.ATTR_IMAGE_DIGEST] == third


def test_update_deadline_starts_at_its_own_on_event(moto_ecr: Any, clock: FakeClock) -> None:
    moto_ecr.create_repository(repositoryName="app")
    clock.sleep(5000)
    update = event("update", RepositoryName="app", ImageTag="v9", TimeoutSeconds="10")
    update["PhysicalResourceId"] = "default/app:v1"
    started = clock.now
    result = run(update, clock)
    assert result["Status"] == "FAILED"
    assert clock.now - started == 10
    assert result["PhysicalResourceId"] == "default/app:v9"


def test_response_stays_under_4096_bytes_for_the_longest_values(
    moto_ecr: Any, clock: FakeClock
) -> None:
    repository = "/".join(["r" * 63] * 4)
    tag = "t" * 128
    moto_ecr.create_repository(repositoryName=repository)
    request = event(
        "create", RepositoryName=repository, ImageTag=tag, RegistryId=ACCOUNT, TimeoutSeconds="9"
    )
    request["LogicalResourceId"] = "L" * 255
    request["StackId"] = request["StackId"].replace("ApiStack", "S" * 128)
    failed = run({**request, "ResourceProperties": {**request["ResourceProperties"]}}, clock)
    assert failed["Status"] == "FAILED"
    assert repository in failed["Reason"]
    assert failed["response_within_limit"], failed["response_bytes"]

    push(moto_ecr, repository, single_manifest("long"), tag)
    done = run(request, clock)
    assert done["Status"] == "SUCCESS"
    assert done["response_within_limit"], done["response_bytes"]
    assert done["response_bytes"] == len(done["body"].encode())


def test_logs_never_hold_the_response_url_or_credentials(
    moto_ecr: Any,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETKEYXX"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    caplog.set_level(logging.DEBUG)
    moto_ecr.create_repository(repositoryName="app")
    clock.at(6, lambda: push(moto_ecr, "app", single_manifest("h"), "v1"))
    request = event("create", RepositoryName="app", ImageTag="v1")
    url = request["ResponseURL"]
    assert run(request, clock)["Status"] == "SUCCESS"
    request = event("create", RepositoryName="app", ImageTag="v1", Bad="x")
    assert run(request, clock)["Status"] == "FAILED"
    delete = event("delete", RepositoryName="app")
    assert run(delete, clock)["Status"] == "SUCCESS"

    ours = [r for r in caplog.records if r.name.startswith("ecr_image_waiter")]
    lines = [json.loads(r.getMessage()) for r in ours]
    assert {line["event"] for line in lines} == {"on_event", "is_complete", "attempt"}
    assert {"requestType", "logicalResourceId", "repository", "reference", "verdict"} <= set(
        next(line for line in lines if line["event"] == "attempt")
    )
    everything = caplog.text + "".join(r.getMessage() for r in caplog.records)
    for forbidden in (url, url.split("?")[1], "X-Amz-Signature", secret, "ResponseURL"):
        assert forbidden not in everything


# --- The local framework itself, against framework.js's rules ---------------------------------


def test_framework_times_out_with_its_bare_reason(clock: FakeClock) -> None:
    request = event("create", RepositoryName="app")
    result = run_custom_resource(
        request,
        on_event=lambda e, c: {"PhysicalResourceId": "p"},
        is_complete=lambda e, c: {"IsComplete": False},
        query_interval=5,
        total_timeout=20,
        clock=clock.time,
        sleep=clock.sleep,
    )
    assert result["Status"] == "FAILED"
    assert result["Reason"] == TIMEOUT_REASON
    assert result["is_complete_calls"] == 5  # the first try and MaxAttempts = 20 / 5 retries
    assert result["state_transitions"] == 6  # five Task attempts and the onTimeout Task
    assert clock.elapsed == 20


def test_framework_rejects_data_while_incomplete_and_merges_data(clock: FakeClock) -> None:
    request = event("create", RepositoryName="app")
    rejected = run_custom_resource(
        request,
        on_event=lambda e, c: {"PhysicalResourceId": "p"},
        is_complete=lambda e, c: {"IsComplete": False, "Data": {"A": "1"}},
        clock=clock.time,
        sleep=clock.sleep,
    )
    assert rejected["Status"] == "FAILED"
    assert rejected["Reason"].startswith(f"Error: {DATA_NOT_ALLOWED}\n")

    merged = run_custom_resource(
        request,
        on_event=lambda e, c: {"Data": {"A": "1", "B": "1"}, "Extra": "x"},
        is_complete=lambda e, c: {"IsComplete": e["Extra"] == "x", "Data": {"B": "2"}},
        clock=clock.time,
        sleep=clock.sleep,
    )
    assert merged["Status"] == "SUCCESS"
    assert merged["Data"] == {"A": "1", "B": "2"}
    assert merged["PhysicalResourceId"] == request["RequestId"]


def test_framework_refuses_a_new_physical_id_on_delete(clock: FakeClock) -> None:
    result = run_custom_resource(
        event("delete", RepositoryName="app"),
        on_event=lambda e, c: {"PhysicalResourceId": "other"},
        is_complete=lambda e, c: {"IsComplete": True},
        clock=clock.time,
        sleep=clock.sleep,
    )
    assert result["Status"] == "FAILED"
    assert "DELETE: cannot change the physical resource ID" in result["Reason"]
    assert result["is_complete_calls"] == 0


def test_framework_passes_the_real_response_url_to_user_handlers(clock: FakeClock) -> None:
    request = event("create", RepositoryName="app")
    seen: list[str] = []

    def on_event(e: dict[str, Any], c: Any) -> dict[str, Any]:
        seen.append(e["ResponseURL"])
        return {}

    run_custom_resource(request, on_event=on_event, clock=clock.time, sleep=clock.sleep)
    assert seen == [request["ResponseURL"]]


def test_query_interval_must_divide_the_total_timeout() -> None:
    assert max_attempts(5, 3570) == 714
    with pytest.raises(ValueError, match="totalTimeout=600s is not integrally dividable"):
        max_attempts(7, 600)


@pytest.mark.parametrize(
    ("architecture", "platform"), [("arm64", "linux/arm64"), (None, "linux/amd64")]
)
def test_an_index_resolves_to_the_child_for_the_architecture(
    moto_ecr: Any, clock: FakeClock, architecture: str | None, platform: str
) -> None:
    moto_ecr.create_repository(repositoryName="app")
    index = image_index()
    index_digest = push_index(moto_ecr, "app", index, "v1")
    props = {"RepositoryName": "app", "ImageTag": "v1"}
    if architecture is not None:
        props["Architecture"] = architecture
    result = run(event("create", **props), clock)
    assert result["Status"] == "SUCCESS", result["Reason"]
    assert result["Data"] is not None
    child = index.child_digest(platform)
    assert result["Data"][names.ATTR_IMAGE_DIGEST] == child
    assert result["Data"][names.ATTR_IMAGE_URI].endswith(f"/app@{child}")
    assert result["Data"][names.ATTR_INDEX_DIGEST] == index_digest
    assert result["Data"][names.ATTR_ARCHITECTURE] == (architecture or "x86_64")
