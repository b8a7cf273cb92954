"""The TypeScript and CloudFormation examples' waiters, answered by the standalone provider.

The provider is what ``ecr-image-waiter provider synth`` writes, deployed from its cloud
assembly on the local AWS side (the moto server); each example's ``Custom::EcrImageWaiter``
properties, as the template gives them, go to it as CloudFormation's Create requests, and a
push (with its ECR event) answers them with the pushed digest. A missing repository fails
at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ecr_image_waiter import names
from ecr_image_waiter.local import CloudAssembly, LocalCloud
from ecr_image_waiter.local.support import reset_moto
from tests.test_example import templates
from tests.test_templates import (  # noqa: F401  (typescript_out: the synth fixture)
    CLOUDFORMATION,
    _export_target,
    load_yaml,
    resources_of,
    typescript_out,
    waiter_properties,
)

pytestmark = [pytest.mark.synth, pytest.mark.timeout(180)]

#: The Lambda's clock runs this much faster than the wall clock.
SCALE = 60.0
REPOSITORIES = ["text-generation", "practice-material"]


@pytest.fixture(scope="module")
def provider_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ecr_image_waiter.construct.standalone import synth_provider

    outdir = tmp_path_factory.mktemp("standalone") / "provider.out"
    result = synth_provider(outdir, repository_names=REPOSITORIES)
    return result.assembly


@pytest.fixture(scope="module")
def typescript_stacks(typescript_out: Path) -> dict[str, dict[str, Any]]:  # noqa: F811
    return templates(typescript_out)


@pytest.fixture
def cloud(provider_out: Path, moto_server_url: str) -> Iterator[LocalCloud]:
    reset_moto(moto_server_url)
    made = LocalCloud(moto_server_url, time_scale=SCALE)
    assembly = CloudAssembly(provider_out)
    made.deploy(assembly, assembly.stack_named("EcrImageWaiterProvider"))
    made.start()
    try:
        yield made
    finally:
        made.close()


def answered(cloud: LocalCloud, waiters: dict[str, dict[str, Any]]) -> dict[str, Any]:
    cfn = cloud.cloudformation
    assert cfn is not None
    for repository in REPOSITORIES:
        cloud.client("ecr").create_repository(repositoryName=repository)
    requests = {
        logical_id: cfn.send(logical_id, "Create", props) for logical_id, props in waiters.items()
    }
    assert cloud.settle()
    for logical_id, req in requests.items():
        assert cfn.response(req) is None, logical_id  # pending: the image is not there yet
    pushed = {repository: cloud.push_image(repository, "latest") for repository in REPOSITORIES}
    answers = {logical_id: cfn.wait_response(req) for logical_id, req in requests.items()}
    for logical_id, req in requests.items():
        assert cfn.answers(req) == 1, logical_id
    return {"answers": answers, "pushed": pushed}


def assert_pinned(answer: dict[str, Any], digest: str) -> None:
    assert answer["Status"] == "SUCCESS", answer.get("Reason")
    data = answer["Data"]
    assert data[names.ATTR_IMAGE_DIGEST] == digest
    assert data[names.ATTR_IMAGE_URI].endswith(f"@{digest}")


def test_the_typescript_waiters_get_the_pushed_digests(
    cloud: LocalCloud, typescript_stacks: dict[str, dict[str, Any]]
) -> None:
    api = typescript_stacks["EcrImageWaiterTs-Api"]
    cicd = typescript_stacks["EcrImageWaiterTs-CICD"]
    waiters = {}
    for logical_id, waiter in resources_of(api, names.RESOURCE_TYPE).items():
        name = _export_target(cicd, waiter["Properties"][names.PROP_REPOSITORY_NAME])
        waiters.update(
            waiter_properties(
                {"Resources": {logical_id: waiter}}, {names.PROP_REPOSITORY_NAME: name}
            )
        )
    result = answered(cloud, waiters)
    for logical_id, answer in result["answers"].items():
        repository = waiters[logical_id][names.PROP_REPOSITORY_NAME]
        assert_pinned(answer, result["pushed"][repository])


def test_the_cloudformation_waiter_gets_the_pushed_digest_and_a_missing_repository_fails(
    cloud: LocalCloud,
) -> None:
    template = load_yaml(CLOUDFORMATION.read_text())
    waiters = waiter_properties(template)
    (logical_id,) = waiters
    result = answered(cloud, waiters)
    repository = waiters[logical_id][names.PROP_REPOSITORY_NAME]
    assert_pinned(result["answers"][logical_id], result["pushed"][repository])

    cfn = cloud.cloudformation
    assert cfn is not None
    missing = cfn.send("Missing", "Create", {**waiters[logical_id], "RepositoryName": "not-there"})
    answer = cfn.wait_response(missing)
    assert answer["Status"] == "FAILED"
    assert "repository missing" in answer["Reason"]
    assert "RepositoryNotFoundException" in answer["Reason"]
    # Failed at once: answered by the request's own invocation, no sweep needed.
    assert answer["PhysicalResourceId"] == names.CREATE_FAILED_PHYSICAL_ID
