"""ResourceProperties validation: each bad value fails the request at once, through the
provider's service, with a reason naming its property and the rule."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from ecr_image_waiter import names
from ecr_image_waiter.custom_resource.properties import parse_properties
from ecr_image_waiter.errors import InvalidPropertyError
from tests.provider_support import EVENTS, InProcess, in_process, request

DIGEST = "sha256:" + "ab" * 32
LIMIT = names.MAX_TIMEOUT_SECONDS


@pytest.fixture
def cr(moto_ecr: Any) -> InProcess:
    return in_process(moto_ecr)


def create_event(**props: Any) -> dict[str, Any]:
    return request(**{names.PROP_REPOSITORY_NAME: "app", **props})


def fails(cr: InProcess, **props: Any) -> str:
    """The request's one answer: FAILED at once, with the create-failed marker; its reason."""
    req = create_event(**props)
    cr.handle(req)
    answer = cr.put.one(req)
    assert answer["Status"] == "FAILED"
    assert answer["PhysicalResourceId"] == names.CREATE_FAILED_PHYSICAL_ID
    assert cr.clock.elapsed == 0
    return str(answer["Reason"])


BAD = [
    # (properties, property named, a fragment of the rule)
    ({"Colour": "blue"}, "Colour", "not a property"),
    ({"RepositoryName": "Bad_Name!"}, "RepositoryName", "not valid"),
    ({"RepositoryName": ""}, "RepositoryName", "empty"),
    ({"RepositoryName": "a" * 257}, "RepositoryName", "257 characters"),
    ({"ImageTag": ".hidden"}, "ImageTag", "not valid"),
    ({"ImageTag": "t" * 129}, "ImageTag", "at most 128"),
    ({"ImageDigest": "sha256:xyz"}, "ImageDigest", "64 lowercase hex"),
    ({"ImageTag": "v1", "ImageDigest": DIGEST}, "ImageDigest", "cannot be given with ImageTag"),
    ({"RegistryId": "12345"}, "RegistryId", "12-digit"),
    ({"TimeoutSeconds": "0"}, "TimeoutSeconds", "1 or more"),
    ({"TimeoutSeconds": "-5"}, "TimeoutSeconds", "whole number"),
    ({"TimeoutSeconds": "1.5"}, "TimeoutSeconds", "whole number"),
    ({"TimeoutSeconds": " 30"}, "TimeoutSeconds", "whole number"),
    ({"TimeoutSeconds": "1e3"}, "TimeoutSeconds", "whole number"),
    ({"TimeoutSeconds": "9" * 40}, "TimeoutSeconds", "whole number"),
    (
        {"TimeoutSeconds": str(LIMIT + 1)},
        "TimeoutSeconds",
        f"largest accepted deadline is {LIMIT} s",
    ),
    ({"TimeoutSeconds": "600", "MaxRetries": "5"}, "TimeoutSeconds", "MaxRetries"),
    ({"TimeoutSeconds": "600", "RetryDelaySeconds": "5"}, "TimeoutSeconds", "RetryDelaySeconds"),
    ({"MaxRetries": "0"}, "MaxRetries", "1 or more"),
    ({"MaxRetries": "sixty"}, "MaxRetries", "whole number"),
    ({"RetryDelaySeconds": "0"}, "RetryDelaySeconds", "1 or more"),
    ({"MaxRetries": "60", "RetryDelaySeconds": "60"}, "MaxRetries", "60 x 60"),
    ({"MaxRetries": "120"}, "MaxRetries", f"largest accepted deadline is {LIMIT} s"),
    ({"IntervalSeconds": "0"}, "IntervalSeconds", "1 or more"),
    ({"IntervalSeconds": "59"}, "IntervalSeconds", "59 is too short"),
    ({"IntervalSeconds": "5"}, "IntervalSeconds", "its sweep runs every 60 s"),
    ({"IntervalSeconds": "30"}, "IntervalSeconds", 'give "60" or more, or remove it'),
    ({"IntervalSeconds": "4000"}, "IntervalSeconds", f"at most {LIMIT}"),
    ({"WaitForRepository": "yes"}, "WaitForRepository", '"true" or "false"'),
    ({"LambdaCompatible": "1"}, "LambdaCompatible", '"true" or "false"'),
    ({"Architecture": "amd64"}, "Architecture", "'x86_64' or 'arm64'"),
    ({"CodeBuildProjectName": "no spaces"}, "CodeBuildProjectName", "CodeBuild project"),
    ({"PipelineName": "p" * 101}, "PipelineName", "CodePipeline name"),
    ({"TriggerBuildOnMissing": "true"}, "TriggerBuildOnMissing", "CodeBuildProjectName"),
    ({"TriggerBuildOnMissing": "maybe"}, "TriggerBuildOnMissing", '"true" or "false"'),
    ({"ServiceTimeout": "300", "TimeoutSeconds": "300"}, "TimeoutSeconds", "is 210 s"),
    ({"ServiceTimeout": "7200"}, "ServiceTimeout", "1 to 3600"),
    ({"ServiceTimeout": "90"}, "ServiceTimeout", "give ServiceTimeout 91 or more, or remove it"),
    ({"TimeoutSeconds": 30}, "TimeoutSeconds", "must be a string"),
    ({"ImageTag": ["v1"]}, "ImageTag", "must be a string"),
]


@pytest.mark.parametrize(
    ("props", "prop", "rule"), BAD, ids=[f"{b[1]}-{i}" for i, b in enumerate(BAD)]
)
def test_bad_property_fails_the_request_naming_it(
    cr: InProcess, props: dict[str, Any], prop: str, rule: str
) -> None:
    reason = fails(cr, **props)
    assert reason.startswith(f"property {prop}: ")
    assert rule in reason
    with pytest.raises(InvalidPropertyError) as info:
        parse_properties({names.PROP_REPOSITORY_NAME: "app", **props})
    assert info.value.prop == prop
    assert str(info.value) == reason


def test_missing_repository_is_named(cr: InProcess) -> None:
    req = create_event()
    del req["ResourceProperties"][names.PROP_REPOSITORY_NAME]
    cr.handle(req)
    assert cr.put.one(req)["Reason"].startswith("property RepositoryName: is required")


@pytest.mark.parametrize(
    "value",
    ["x" * 100_000, "ß" * 5000 + "/", "\x00\x01\x02" * 1000, "😀" * 3000, "a\nb\r\n" * 500],
)
@pytest.mark.parametrize("prop", ["RepositoryName", "ImageTag", "TimeoutSeconds", "Architecture"])
def test_garbage_values_give_short_messages(cr: InProcess, prop: str, value: str) -> None:
    reason = fails(cr, **{prop: value})
    assert reason.startswith(f"property {prop}: ")
    assert len(reason) < 400
    assert "\n" not in reason


def test_garbage_property_name_is_shortened(cr: InProcess) -> None:
    reason = fails(cr, **{"Z" * 5000: "1"})
    assert len(reason) < 600
    assert "not a property" in reason


def test_defaults_are_the_original_designs() -> None:
    settings = parse_properties({names.PROP_REPOSITORY_NAME: "app"})
    assert settings.reference.tag == "latest"
    assert settings.default_tag is True
    assert settings.timeout_seconds == 60 * 30
    assert settings.interval_seconds is None
    assert settings.architecture == "x86_64"
    assert settings.lambda_compatible is True
    assert settings.wait_for_repository is False


def test_every_property_is_carried() -> None:
    settings = parse_properties(
        {
            "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:f",
            "ServiceTimeout": "3600",
            "RepositoryName": "team/app",
            "ImageDigest": DIGEST,
            "RegistryId": "210987654321",
            "TimeoutSeconds": str(LIMIT),
            "IntervalSeconds": "120",
            "WaitForRepository": "TRUE",
            "ResolveNonce": "2026-01-01T00:00:00Z 🚀",
            "Architecture": "arm64",
            "LambdaCompatible": "false",
            "CodeBuildProjectName": "build-app",
            "PipelineName": "app.pipeline@main",
            "TriggerBuildOnMissing": "true",
        }
    )
    assert settings.reference.digest == DIGEST
    assert settings.reference.tag is None
    assert settings.reference.registry_id == "210987654321"
    assert settings.timeout_seconds == LIMIT
    assert settings.interval_seconds == 120
    assert settings.wait_for_repository is True
    assert settings.architecture == "arm64"
    assert settings.lambda_compatible is False
    assert settings.codebuild_project_name == "build-app"
    assert settings.pipeline_name == "app.pipeline@main"
    assert settings.trigger_build_on_missing is True
    assert settings.physical_id == f"210987654321/team/app@{DIGEST}"


def test_largest_retry_pair_is_accepted() -> None:
    settings = parse_properties({"RepositoryName": "app", "MaxRetries": "117"})
    assert settings.timeout_seconds == 117 * 30 == LIMIT


def test_the_smallest_interval_is_the_sweeps_period() -> None:
    settings = parse_properties({"RepositoryName": "app", "IntervalSeconds": "60"})
    assert settings.interval_seconds == names.SWEEP_PERIOD_SECONDS == 60


def test_delete_never_validates(cr: InProcess) -> None:
    event: dict[str, Any] = json.loads((EVENTS / "delete.json").read_text())
    event["ResourceProperties"] = {"RepositoryName": "NOT VALID", "Bogus": ["x"]}
    before = copy.deepcopy(event)
    cr.handle(event)
    answer = cr.put.one(event)
    assert answer["Status"] == "SUCCESS"
    assert answer["PhysicalResourceId"] == event["PhysicalResourceId"]
    assert event == before


def test_physical_id_stays_under_one_kilobyte_for_the_longest_reference() -> None:
    repository = "/".join(["a" * 63] * 4)[:256]
    settings = parse_properties(
        {"RepositoryName": repository, "ImageTag": "t" * 128, "RegistryId": "123456789012"}
    )
    assert len(settings.physical_id.encode()) < names.PHYSICAL_ID_MAX_BYTES
