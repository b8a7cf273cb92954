"""The local AWS side (ecr_image_waiter.local) against the moto server, from a real cdk.out.

One synth per session (a node process, ~540 MB). Every test deploys the example's provider
into a freshly reset moto server and drives it as CloudFormation and EventBridge would; the
Lambda's clock runs 120 times faster (the sweep's minute is half a second). Assertions count
invocations, answers and events rather than time.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ecr_image_waiter import names
from ecr_image_waiter.local import CloudAssembly, LocalCloud, delay, duplicate, lose
from ecr_image_waiter.local.cicd import deploy_repositories_and_builds
from ecr_image_waiter.local.events import codebuild_state_change, fixture
from ecr_image_waiter.local.support import reset_moto

ROOT = Path(__file__).resolve().parents[1]
SCALE = 120.0
TEXT = "text-generation"

pytestmark = [pytest.mark.synth, pytest.mark.timeout(120)]


def make_cloud(cdk_out: Path, endpoint: str, **kwargs: object) -> tuple[LocalCloud, CloudAssembly]:
    reset_moto(endpoint)
    cloud = LocalCloud(endpoint, time_scale=SCALE, **kwargs)  # type: ignore[arg-type]
    assembly = CloudAssembly(cdk_out)
    cicd = assembly.stack_named("-Cicd")
    deploy_repositories_and_builds(assembly, cicd, cloud.client("ecr"), cloud.client("codebuild"))
    cloud.deploy(assembly, assembly.stack_named("-Api"))
    return cloud, assembly


@pytest.fixture
def cloud(cdk_out: Path, moto_server_url: str) -> Iterator[LocalCloud]:
    made, _ = make_cloud(cdk_out, moto_server_url)
    try:
        yield made
    finally:
        made.close()


def waiter_of(cloud: LocalCloud, repository: str) -> str:
    cfn = cloud.cloudformation
    assert cfn is not None
    (found,) = [
        logical
        for logical in cfn.waiters()
        if cfn.properties(logical)[names.PROP_REPOSITORY_NAME] == repository
    ]
    return found


def sweep_state(cloud: LocalCloud) -> str:
    assert cloud.eventbridge is not None
    (sweep,) = [rule for rule in cloud.eventbridge.rules if rule.schedule]
    return cloud.eventbridge.state(sweep)


# --- the deploy from cdk.out --------------------------------------------------------------


def test_the_provider_is_deployed_as_synthesized(cloud: LocalCloud, cdk_out: Path) -> None:
    assert cloud.function is not None
    assert cloud.eventbridge is not None
    assert cloud.provider is not None
    # The handler runs from the asset directory in cdk.out, not from the source tree.
    path = Path(cloud.function.handler_path)
    assert path.parents[2].parent == cdk_out
    assert path.parents[2].name.startswith("asset.")
    assert ROOT / "src" not in path.parents
    assert cloud.function.memory_mb == 128
    assert cloud.function.architectures == ("arm64",)
    # The environment's Ref to the table is the table created in moto.
    table = cloud.provider.environment[names.ENV_TABLE_NAME]
    described = cloud.client("dynamodb").describe_table(TableName=table)["Table"]
    assert {k["AttributeName"] for k in described["KeySchema"]} == {"pk", "sk"}
    ttl = cloud.client("dynamodb").describe_time_to_live(TableName=table)
    assert ttl["TimeToLiveDescription"]["AttributeName"] == names.TABLE_TTL_ATTRIBUTE
    # The sweep rule by its literal name; the push rule with the repositories' names.
    rules = {rule.name: rule for rule in cloud.eventbridge.rules}
    assert cloud.provider.environment[names.ENV_SWEEP_RULE_NAME] in rules
    pushes = [
        rule for rule in rules.values() if rule.pattern and "aws.ecr" in rule.pattern["source"]
    ]
    assert len(pushes) == 1
    assert sorted(pushes[0].pattern["detail"]["repository-name"]) == [  # type: ignore[index]
        "practice-material",
        TEXT,
    ]
    described_rule = cloud.client("events").describe_rule(Name=pushes[0].name)
    assert json.loads(described_rule["EventPattern"]) == pushes[0].pattern


# --- CloudFormation requests ------------------------------------------------------------------


def test_a_missing_image_is_pending_until_its_push_event(cloud: LocalCloud) -> None:
    cfn = cloud.cloudformation
    assert cfn is not None
    assert cloud.function is not None
    cloud.tick()  # the deploy-time sweep finds nothing pending and turns itself off
    assert cloud.settle()
    assert sweep_state(cloud) == "DISABLED"
    request = cfn.request(waiter_of(cloud, TEXT), "Create")
    assert cloud.settle()
    assert cfn.response(request) is None
    assert sweep_state(cloud) == "ENABLED"  # the function turned its sweep on
    digest = cloud.push_image(TEXT, "latest")
    assert cloud.settle()
    answer = cfn.wait_response(request, timeout=30)
    assert answer["Status"] == "SUCCESS", answer
    assert answer["Data"]["ImageDigest"] == digest
    assert answer["Data"]["ImageUri"].endswith(f"/{TEXT}@{digest}")
    assert cfn.answers(request) == 1
    stats = cloud.function.stats()
    assert stats["cloudformation"].invocations == 1
    assert stats["ecr"].invocations == 1
    assert stats["ecr"].calls.get("ecr.DescribeImages", 0) >= 1
    assert stats["cloudformation"].gb_seconds > 0


def test_an_image_already_there_is_one_invocation(cloud: LocalCloud) -> None:
    cfn = cloud.cloudformation
    assert cfn is not None
    assert cloud.function is not None
    digest = cloud.push_image(TEXT, "latest")
    assert cloud.settle()
    request = cfn.request(waiter_of(cloud, TEXT), "Create")
    answer = cfn.wait_response(request, timeout=30)
    assert cloud.settle()
    assert answer["Status"] == "SUCCESS"
    assert answer["Data"]["ImageDigest"] == digest
    assert cfn.answers(request) == 1
    assert cloud.function.stats()["cloudformation"].invocations == 1
    # A second deploy (an Update with a new nonce) is one more invocation, answered at once.
    update = cfn.request(
        waiter_of(cloud, TEXT), "Update", overrides={names.PROP_RESOLVE_NONCE: "2"}
    )
    assert cfn.wait_response(update, timeout=30)["Status"] == "SUCCESS"
    assert cloud.settle()
    assert cloud.function.stats()["cloudformation"].invocations == 2


def test_a_lost_push_event_is_caught_by_the_sweep(cdk_out: Path, moto_server_url: str) -> None:
    is_push = lambda event: event.get("source") == "aws.ecr"  # noqa: E731
    cloud, _ = make_cloud(cdk_out, moto_server_url, plan=lose(is_push))
    try:
        cfn = cloud.cloudformation
        assert cfn is not None
        assert cloud.eventbridge is not None
        request = cfn.request(
            waiter_of(cloud, TEXT),
            "Create",
            overrides={names.PROP_TIMEOUT_SECONDS: str(names.MAX_TIMEOUT_SECONDS)},
        )
        assert cloud.settle()
        digest = cloud.push_image(TEXT, "latest")
        assert cloud.settle()
        assert sum(len(rule.lost) for rule in cloud.eventbridge.rules) == 1
        assert cfn.response(request) is None, (cfn.response(request) or {}).get("Reason")
        ticks = 0
        while cfn.response(request) is None and ticks < 40:
            time.sleep(60 / SCALE / 2)  # half a scaled minute between ticks
            cloud.tick()
            ticks += 1
            assert cloud.settle()
        answer = cfn.response(request)
        assert answer is not None
        assert answer["Status"] == "SUCCESS", answer
        assert answer["Data"]["ImageDigest"] == digest
        assert cfn.answers(request) == 1
        assert cloud.function is not None
        assert cloud.function.stats()["sweep"].invocations >= 1
        # With nothing pending the sweep turns itself off again.
        cloud.tick()
        assert cloud.settle()
        assert sweep_state(cloud) == "DISABLED"
    finally:
        cloud.close()


def test_a_missing_repository_fails_at_once(cloud: LocalCloud) -> None:
    cfn = cloud.cloudformation
    assert cfn is not None
    assert cloud.function is not None
    request = cfn.request(
        waiter_of(cloud, TEXT), "Create", overrides={names.PROP_REPOSITORY_NAME: "nowhere"}
    )
    answer = cfn.wait_response(request, timeout=30)
    assert answer["Status"] == "FAILED"
    assert "nowhere" in answer["Reason"]
    assert "RepositoryNotFound" in answer["Reason"] or "does not exist" in answer["Reason"]
    assert answer["PhysicalResourceId"] == names.CREATE_FAILED_PHYSICAL_ID
    assert cloud.settle()
    assert cloud.function.stats()["cloudformation"].invocations == 1
    assert cfn.answers(request) == 1


def test_a_function_error_is_retried_twice(cloud: LocalCloud) -> None:
    cfn = cloud.cloudformation
    assert cfn is not None
    assert cloud.function is not None
    assert cloud.provider is not None
    # Without its table every invocation fails.
    table = cloud.provider.environment[names.ENV_TABLE_NAME]
    cloud.client("dynamodb").delete_table(TableName=table)
    request = cfn.request(waiter_of(cloud, TEXT), "Create")
    assert cloud.settle(timeout=30)
    attempts = [i for i in cloud.function.invocations if i.source == "cloudformation"]
    assert [i.attempt for i in attempts] == [1, 2, 3]
    assert all(i.ok is False for i in attempts)
    assert "ResourceNotFound" in str(attempts[0].error)
    assert cfn.response(request) is None


def test_an_index_push_wakes_the_wait_with_each_event(cloud: LocalCloud) -> None:
    cfn = cloud.cloudformation
    assert cfn is not None
    assert cloud.function is not None
    request = cfn.request(waiter_of(cloud, TEXT), "Create")
    assert cloud.settle()
    index, children = cloud.push_index(TEXT, "latest")
    assert cloud.settle()
    answer = cfn.wait_response(request, timeout=30)
    assert answer["Status"] == "SUCCESS", answer
    assert answer["Data"]["ImageDigest"] == children["amd64"]
    assert answer["Data"]["IndexDigest"] == index
    assert cloud.function.stats()["ecr"].invocations == 3  # two children, then the index
    assert cfn.answers(request) == 1


def test_fixtures_have_the_documented_shapes() -> None:
    push = fixture("ecr-image-push")
    assert push["resources"] == []
    assert push["detail"]["action-type"] == "PUSH"
    children = fixture("ecr-image-push-index")
    assert [e["detail"]["image-tag"] for e in children] == ["", "", "latest"]
    build = fixture("codebuild-build-state-change")
    assert build["detail-type"] == names.CODEBUILD_EVENT_DETAIL_TYPE
    pipeline = fixture("codepipeline-execution-state-change")
    assert pipeline["detail-type"] == names.CODEPIPELINE_EVENT_DETAIL_TYPE
    assert fixture("scheduled-event")["detail-type"] == names.SCHEDULED_EVENT_DETAIL_TYPE


def test_a_duplicated_push_event_answers_once(cdk_out: Path, moto_server_url: str) -> None:
    cloud, _ = make_cloud(
        cdk_out, moto_server_url, plan=duplicate(lambda e: e.get("source") == "aws.ecr")
    )
    try:
        cfn = cloud.cloudformation
        assert cfn is not None
        assert cloud.function is not None
        request = cfn.request(waiter_of(cloud, TEXT), "Create")
        assert cloud.settle()
        digest = cloud.push_image(TEXT, "latest")
        assert cloud.settle()
        answer = cfn.wait_response(request, timeout=30)
        assert answer["Data"]["ImageDigest"] == digest
        assert cloud.function.stats()["ecr"].invocations == 2
        assert cfn.answers(request) == 1
    finally:
        cloud.close()


def test_a_delayed_push_event_still_ends_the_wait(cdk_out: Path, moto_server_url: str) -> None:
    cloud, _ = make_cloud(
        cdk_out, moto_server_url, plan=delay(lambda e: e.get("source") == "aws.ecr", 0.3)
    )
    try:
        cfn = cloud.cloudformation
        assert cfn is not None
        assert cloud.eventbridge is not None
        request = cfn.request(waiter_of(cloud, TEXT), "Create")
        assert cloud.settle()
        digest = cloud.push_image(TEXT, "latest")
        assert cloud.settle()  # waits for the held delivery too
        assert cloud.eventbridge.in_flight() == 0
        answer = cfn.response(request)
        assert answer is not None
        assert answer["Data"]["ImageDigest"] == digest
    finally:
        cloud.close()


def test_an_invocation_past_its_timeout_is_killed_and_retried(
    cdk_out: Path, moto_server_url: str
) -> None:
    cloud, _ = make_cloud(cdk_out, moto_server_url, function_timeout=0.01)
    try:
        cfn = cloud.cloudformation
        assert cfn is not None
        assert cloud.function is not None
        cold = cloud.function.cold_starts
        cfn.request(waiter_of(cloud, TEXT), "Create")
        assert cloud.settle(timeout=60)
        attempts = [i for i in cloud.function.invocations if i.source == "cloudformation"]
        assert [i.attempt for i in attempts] == [1, 2, 3]
        assert all("Task timed out" in str(i.error) for i in attempts)
        assert cloud.function.cold_starts == cold + 3  # each kill costs a new environment
        assert all(i.cold for i in attempts[1:])
    finally:
        cloud.close()


def test_an_update_to_a_new_tag_replaces_and_cleanup_deletes_the_old(cloud: LocalCloud) -> None:
    cfn = cloud.cloudformation
    assert cfn is not None
    logical = waiter_of(cloud, TEXT)
    cloud.push_image(TEXT, "latest")
    cloud.push_image(TEXT, "v2")
    assert cloud.settle()
    created = cfn.wait_response(cfn.request(logical, "Create"), timeout=30)
    update = cfn.request(logical, "Update", overrides={names.PROP_IMAGE_TAG: "v2"})
    assert update.event["OldResourceProperties"][names.PROP_IMAGE_TAG] == "latest"
    updated = cfn.wait_response(update, timeout=30)
    assert updated["PhysicalResourceId"] != created["PhysicalResourceId"]
    (delete,) = cfn.cleanup()
    assert delete.event["PhysicalResourceId"] == created["PhysicalResourceId"]
    deleted = cfn.wait_response(delete, timeout=30)
    assert deleted["Status"] == "SUCCESS"
    assert deleted["PhysicalResourceId"] == created["PhysicalResourceId"]
    assert cfn.cleanup() == []


def test_a_build_state_change_wakes_the_waits_on_that_project(cloud: LocalCloud) -> None:
    # moto 5.2.5's CodeBuild reports every build SUCCEEDED (stop_build included), so a build
    # failure cannot be played here; this checks the rule and the routing of the event.
    cfn = cloud.cloudformation
    assert cfn is not None
    assert cloud.function is not None
    logical = waiter_of(cloud, TEXT)
    request = cfn.request(logical, "Create")
    assert cloud.settle()
    project = cfn.properties(logical)[names.PROP_CODEBUILD_PROJECT_NAME]
    cloud.publish(codebuild_state_change("another-project", "FAILED"))
    cloud.publish(codebuild_state_change(project, "IN_PROGRESS"))  # not an ended build
    cloud.publish(codebuild_state_change(project, "SUCCEEDED"))
    assert cloud.settle()
    (woken,) = [i for i in cloud.function.finished() if i.source == "codebuild"]
    looks = [f for _, f in woken.logs if f.get("event") == "attempt"]
    assert [f["logicalResourceId"] for f in looks] == [logical]
    assert cfn.response(request) is None  # still waiting for the image


def test_the_functions_calls_can_go_through_a_proxy(cdk_out: Path, moto_server_url: str) -> None:
    from tests.faultproxy import FaultProxy

    with FaultProxy(moto_server_url) as proxy:
        cloud, _ = make_cloud(cdk_out, moto_server_url, function_endpoint=proxy.url)
        try:
            cfn = cloud.cloudformation
            assert cfn is not None
            digest = cloud.push_image(TEXT, "latest")
            assert cloud.settle()
            seen = len(proxy.snapshot())  # the push event's invocation went through it
            answer = cfn.wait_response(cfn.request(waiter_of(cloud, TEXT), "Create"), timeout=30)
            assert answer["Data"]["ImageDigest"] == digest
            assert cloud.settle()
            operations = {event.operation for event in proxy.snapshot()[seen:]}
            assert "DescribeImages" in operations
            assert "PutItem" in operations
        finally:
            cloud.close()
