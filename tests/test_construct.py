"""The EcrImageWaiter construct: what it synthesizes, and what it refuses at synth.

One app with three stacks is synthesized once for the module; the validation tests only
construct (no synth).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, CfnOutput, CfnParameter, Duration, Environment, Stack
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk.assertions import Template

from ecr_image_waiter import names
from ecr_image_waiter.construct import EcrImageWaiter, EcrImageWaiterProvider
from ecr_image_waiter.construct.provider import FUNCTION_TIMEOUT
from ecr_image_waiter.errors import InvalidInputError
from tests.test_example import as_list, policy_statements, templates, wildcard_grants

pytestmark = pytest.mark.synth

ENV = Environment(account="123456789012", region="us-east-1")
OTHER_ACCOUNT = "210987654321"
DIGEST = "sha256:" + "ab" * 32
PIPELINE_ARN = "arn:aws:codepipeline:us-east-1:123456789012:image-pipeline"


def build(outdir: Path) -> dict[str, Any]:
    app = App(outdir=str(outdir))
    handles: dict[str, Any] = {}

    main = Stack(app, "Main", env=ENV)
    repo = ecr.Repository(main, "Repo")
    tagged = EcrImageWaiter(
        main, "Tagged", repository=repo, tag="v1", architecture=lambda_.Architecture.ARM_64
    )
    pinned = EcrImageWaiter(
        main,
        "Pinned",
        repository=repo,
        digest=DIGEST,
        timeout=Duration.seconds(100),
        interval=Duration.seconds(90),
    )
    lambda_.DockerImageFunction(
        main, "Fn", code=tagged.docker_image_code(), architecture=tagged.architecture
    )
    CfnOutput(main, "Token", value=EcrImageWaiter.service_token(main))
    CfnOutput(main, "Uri", value=tagged.image_uri)
    handles.update(tagged=tagged, pinned=pinned)

    options = Stack(app, "Options", env=ENV)
    imported = ecr.Repository.from_repository_name(options, "Imported", "team/app")
    other = ecr.Repository.from_repository_name(options, "Other", "team/other")
    project = codebuild.Project.from_project_name(options, "Build", "image-build")
    pipeline = codepipeline.Pipeline.from_pipeline_arn(options, "Pipeline", PIPELINE_ARN)
    EcrImageWaiter(
        options,
        "CrossAccount",
        repository=imported,
        registry_id=OTHER_ACCOUNT,
        codebuild_project=project,
        trigger_build_on_missing=True,
        wait_for_repository=True,
        lambda_compatible=False,
        log_retention=logs.RetentionDays.ONE_MONTH,
    )
    EcrImageWaiter(options, "ByPipeline", repository=other, pipeline=pipeline)
    EcrImageWaiter(options, "Again", repository=other, tag="v2", pipeline=pipeline)

    defaults = Stack(app, "Defaults")  # no account or region: environment-agnostic
    EcrImageWaiter(
        defaults, "Plain", repository=ecr.Repository.from_repository_name(defaults, "R", "plain")
    )

    app.synth()
    handles["templates"] = templates(outdir)
    return handles


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return build(tmp_path_factory.mktemp("construct") / "cdk.out")


def of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def waiter(template: dict[str, Any], prefix: str) -> dict[str, Any]:
    (found,) = [
        v for k, v in of_type(template, names.RESOURCE_TYPE).items() if k.startswith(prefix)
    ]
    return dict(found["Properties"])


def provider_function(template: dict[str, Any]) -> dict[str, Any]:
    (function,) = [
        f
        for f in of_type(template, "AWS::Lambda::Function").values()
        if f["Properties"].get("Handler") == names.HANDLER
    ]
    return function


def role_statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    """The statements of the provider function's role."""
    function = provider_function(template)
    role = function["Properties"]["Role"]["Fn::GetAtt"][0]
    return [
        statement
        for policy in of_type(template, "AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def non_log_actions(statements: list[dict[str, Any]]) -> list[tuple[tuple[str, ...], str]]:
    return sorted(
        (tuple(as_list(s["Action"])), json.dumps(s["Resource"], sort_keys=True))
        for s in statements
        if not as_list(s["Action"])[0].startswith("logs:")
    )


# --- the synthesized template ----------------------------------------------------------------


def test_image_uri_is_repo_at_sha256_of_the_digest_hex_attribute(synthesized: dict[str, Any]):
    main = synthesized["templates"]["Main"]
    (function,) = [
        f
        for f in of_type(main, "AWS::Lambda::Function").values()
        if "ImageUri" in f["Properties"]["Code"]
    ]
    tagged_id = next(k for k in of_type(main, names.RESOURCE_TYPE) if k.startswith("Tagged"))
    repo_id = next(iter(of_type(main, "AWS::ECR::Repository")))
    uri = function["Properties"]["Code"]["ImageUri"]
    assert uri == {
        "Fn::Join": [
            "",
            [
                {"Fn::Select": [4, {"Fn::Split": [":", {"Fn::GetAtt": [repo_id, "Arn"]}]}]},
                ".dkr.ecr.",
                {"Fn::Select": [3, {"Fn::Split": [":", {"Fn::GetAtt": [repo_id, "Arn"]}]}]},
                ".",
                {"Ref": "AWS::URLSuffix"},
                "/",
                {"Ref": repo_id},
                "@sha256:",
                {"Fn::GetAtt": [tagged_id, names.ATTR_IMAGE_DIGEST_HEX]},
            ],
        ]
    }
    assert "DependsOn" not in function or tagged_id not in function["DependsOn"]
    assert function["Properties"]["Architectures"] == ["arm64"]


def test_attributes_are_getatts_of_the_resource(synthesized: dict[str, Any]):
    tagged: EcrImageWaiter = synthesized["tagged"]
    stack = Stack.of(tagged)
    logical = stack.resolve(tagged.resource.node.default_child.logical_id)  # type: ignore[union-attr]
    for value, attr in [
        (tagged.image_digest, names.ATTR_IMAGE_DIGEST),
        (tagged.image_digest_hex, names.ATTR_IMAGE_DIGEST_HEX),
        (tagged.image_uri, names.ATTR_IMAGE_URI),
        (tagged.image_tag, names.ATTR_IMAGE_TAG),
        (tagged.repository_uri, names.ATTR_REPOSITORY_URI),
    ]:
        assert stack.resolve(value) == {"Fn::GetAtt": [logical, attr]}
    assert tagged.architecture.name == "arm64"


def test_properties_are_strings_with_the_given_settings(synthesized: dict[str, Any]):
    main = synthesized["templates"]["Main"]
    tagged = waiter(main, "Tagged")
    pinned = waiter(main, "Pinned")
    assert tagged.pop(names.PROP_SERVICE_TOKEN) == pinned.pop(names.PROP_SERVICE_TOKEN)
    assert tagged.pop(names.PROP_REPOSITORY_NAME) == {
        "Ref": next(iter(of_type(main, "AWS::ECR::Repository")))
    }
    pinned.pop(names.PROP_REPOSITORY_NAME)
    assert tagged == {
        names.PROP_IMAGE_TAG: "v1",
        names.PROP_TIMEOUT_SECONDS: "1800",
        names.PROP_INTERVAL_SECONDS: "60",
        # The deadline, one sweep period, and 30 s for the last look and the answer.
        names.PROP_SERVICE_TIMEOUT: "1890",
        names.PROP_ARCHITECTURE: "arm64",
        names.PROP_LAMBDA_COMPATIBLE: "true",
        names.PROP_WAIT_FOR_REPOSITORY: "false",
    }
    assert pinned == {
        names.PROP_IMAGE_DIGEST: DIGEST,
        names.PROP_TIMEOUT_SECONDS: "100",
        names.PROP_INTERVAL_SECONDS: "90",
        names.PROP_SERVICE_TIMEOUT: "190",
        names.PROP_ARCHITECTURE: "x86_64",
        names.PROP_LAMBDA_COMPATIBLE: "true",
        names.PROP_WAIT_FOR_REPOSITORY: "false",
    }
    options = synthesized["templates"]["Options"]
    cross = waiter(options, "CrossAccount")
    assert cross[names.PROP_REPOSITORY_NAME] == "team/app"
    assert cross[names.PROP_REGISTRY_ID] == OTHER_ACCOUNT
    assert cross[names.PROP_CODEBUILD_PROJECT_NAME] == "image-build"
    assert cross[names.PROP_TRIGGER_BUILD_ON_MISSING] == "true"
    assert cross[names.PROP_WAIT_FOR_REPOSITORY] == "true"
    assert cross[names.PROP_LAMBDA_COMPATIBLE] == "false"
    assert names.PROP_RESOLVE_NONCE not in cross
    by_pipeline = waiter(options, "ByPipeline")
    assert by_pipeline[names.PROP_PIPELINE_NAME] == "image-pipeline"
    assert by_pipeline[names.PROP_IMAGE_TAG] == names.DEFAULT_TAG
    assert names.PROP_TRIGGER_BUILD_ON_MISSING not in by_pipeline
    plain = waiter(synthesized["templates"]["Defaults"], "Plain")
    assert plain[names.PROP_IMAGE_TAG] == "latest"
    for template in synthesized["templates"].values():
        for resource in of_type(template, names.RESOURCE_TYPE).values():
            for key, value in resource["Properties"].items():
                assert key in names.ALL_PROPERTIES
                assert isinstance(value, str) or key in (
                    names.PROP_SERVICE_TOKEN,
                    names.PROP_REPOSITORY_NAME,
                ), (key, value)


def test_one_provider_per_stack_shared_by_every_waiter(synthesized: dict[str, Any]):
    for name, template in synthesized["templates"].items():
        waiters = of_type(template, names.RESOURCE_TYPE)
        tokens = {json.dumps(w["Properties"][names.PROP_SERVICE_TOKEN]) for w in waiters.values()}
        assert len(tokens) == 1, name
        assert of_type(template, "AWS::StepFunctions::StateMachine") == {}, name
        function_id = next(
            k
            for k, v in of_type(template, "AWS::Lambda::Function").items()
            if v["Properties"].get("Handler") == names.HANDLER
        )
        assert tokens == {json.dumps({"Fn::GetAtt": [function_id, "Arn"]})}, name
        props = provider_function(template)["Properties"]
        assert props["Runtime"] == "python3.14"
        assert props["Architectures"] == ["arm64"]
        assert props["MemorySize"] == 128
        assert props["Timeout"] == FUNCTION_TIMEOUT.to_seconds()
        assert "LogGroup" in props["LoggingConfig"]
        (table_id, table) = next(iter(of_type(template, "AWS::DynamoDB::Table").items()))
        sweep_rules = [
            rule["Properties"]
            for rule in of_type(template, "AWS::Events::Rule").values()
            if "ScheduleExpression" in rule["Properties"]
        ]
        (sweep,) = sweep_rules
        assert props["Environment"]["Variables"] == {
            names.ENV_TABLE_NAME: {"Ref": table_id},
            names.ENV_SWEEP_RULE_NAME: sweep["Name"],
        }
        assert table["Properties"]["BillingMode"] == "PAY_PER_REQUEST"
        assert table["Properties"]["TimeToLiveSpecification"] == {
            "AttributeName": names.TABLE_TTL_ATTRIBUTE,
            "Enabled": True,
        }
        assert sweep["ScheduleExpression"] == "rate(1 minute)"
        assert sweep["Targets"][0]["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}
    main = synthesized["templates"]["Main"]
    output = main["Outputs"]["Token"]["Value"]
    assert output == waiter(main, "Tagged")[names.PROP_SERVICE_TOKEN]


def push_patterns(template: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        rule["Properties"]["EventPattern"]
        for rule in of_type(template, "AWS::Events::Rule").values()
        if rule["Properties"].get("EventPattern", {}).get("source") == [names.ECR_EVENT_SOURCE]
    ]


def test_push_rule_matches_successful_pushes_of_the_waited_repositories(
    synthesized: dict[str, Any],
):
    main = synthesized["templates"]["Main"]
    repo_id = next(iter(of_type(main, "AWS::ECR::Repository")))
    assert push_patterns(main) == [
        {
            "source": ["aws.ecr"],
            "detail-type": ["ECR Image Action"],
            "detail": {
                "action-type": ["PUSH"],
                "result": ["SUCCESS"],
                # Two waiters on one repository: it is listed once.
                "repository-name": [{"Ref": repo_id}],
            },
        }
    ]
    options = synthesized["templates"]["Options"]
    (pattern,) = push_patterns(options)
    assert pattern["detail"]["repository-name"] == ["team/app", "team/other"]
    builds = {
        rule["Properties"]["EventPattern"]["source"][0]: rule["Properties"]["EventPattern"]
        for rule in of_type(options, "AWS::Events::Rule").values()
        if "EventPattern" in rule["Properties"]
        and rule["Properties"]["EventPattern"]["source"] != [names.ECR_EVENT_SOURCE]
    }
    assert builds["aws.codebuild"]["detail"] == {
        "project-name": ["image-build"],
        "build-status": list(names.CODEBUILD_ENDED_STATUSES),
    }
    assert builds["aws.codebuild"]["detail-type"] == [names.CODEBUILD_EVENT_DETAIL_TYPE]
    assert builds["aws.codepipeline"]["detail"] == {
        "pipeline": ["image-pipeline"],
        "state": list(names.CODEPIPELINE_ENDED_STATES),
    }
    # Each rule may invoke the function: one permission per rule, with the rule as source.
    for template in synthesized["templates"].values():
        rules = of_type(template, "AWS::Events::Rule")
        permissions = of_type(template, "AWS::Lambda::Permission").values()
        sources = sorted(json.dumps(p["Properties"]["SourceArn"]) for p in permissions)
        assert sources == sorted(json.dumps({"Fn::GetAtt": [rule_id, "Arn"]}) for rule_id in rules)


def test_push_rules_split_to_stay_under_the_pattern_limit():
    stack = Stack(App(), "S", env=ENV)
    names_ = [f"team-{i:03d}/" + "x" * 200 for i in range(40)]
    for i, name in enumerate(names_):
        repo = ecr.Repository.from_repository_name(stack, f"R{i}", name)
        EcrImageWaiter(stack, f"W{i}", repository=repo)
    template = Template.from_stack(stack).to_json()
    patterns = push_patterns(template)
    assert len(patterns) > 1
    listed = [name for p in patterns for name in p["detail"]["repository-name"]]
    assert sorted(listed) == sorted(names_)
    for pattern in patterns:
        assert len(json.dumps(pattern)) <= names.EVENT_PATTERN_MAX_CHARS


def test_log_group_has_a_retention(synthesized: dict[str, Any]):
    expected = {"Main": 7, "Options": 30, "Defaults": 7}
    for name, template in synthesized["templates"].items():
        groups = of_type(template, "AWS::Logs::LogGroup")
        assert len(groups) == 1, name  # the provider function's
        assert {g["Properties"]["RetentionInDays"] for g in groups.values()} == {expected[name]}


def test_the_provider_reads_the_repository_once_and_names_every_resource(
    synthesized: dict[str, Any],
):
    main = synthesized["templates"]["Main"]
    repo_id = next(iter(of_type(main, "AWS::ECR::Repository")))
    table_id = next(iter(of_type(main, "AWS::DynamoDB::Table")))
    sweep_name = provider_function(main)["Properties"]["Environment"]["Variables"][
        names.ENV_SWEEP_RULE_NAME
    ]
    grants = non_log_actions(role_statements(main))
    # Two waiters on one repository: one statement.
    assert grants == sorted(
        [
            (
                ("ecr:DescribeImages", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"),
                json.dumps({"Fn::GetAtt": [repo_id, "Arn"]}),
            ),
            (names.DYNAMODB_ACTIONS, json.dumps({"Fn::GetAtt": [table_id, "Arn"]})),
            (
                names.EVENTS_SWEEP_ACTIONS,
                json.dumps(
                    {
                        "Fn::Join": [
                            "",
                            [
                                "arn:",
                                {"Ref": "AWS::Partition"},
                                f":events:us-east-1:123456789012:rule/{sweep_name}",
                            ],
                        ]
                    },
                    sort_keys=True,
                ),
            ),
        ]
    )
    for template in synthesized["templates"].values():
        assert wildcard_grants(template) == []
        for _, statement in policy_statements(template):
            if statement["Effect"] == "Allow":
                assert statement.get("Resource") != "*"


def test_codebuild_pipeline_and_cross_account_grants(synthesized: dict[str, Any]):
    options = synthesized["templates"]["Options"]
    grants = non_log_actions(role_statements(options))
    text = json.dumps(grants)
    # The cross-account repository is named in the registry's account.
    assert f":ecr:us-east-1:{OTHER_ACCOUNT}:repository/team/app" in text
    assert ":ecr:us-east-1:123456789012:repository/team/other" in text
    actions = [a for action_group, _ in grants for a in action_group]
    assert actions.count("ecr:DescribeImages") == 2  # two repositories, three waiters
    # The triggering waiter's project: reads and StartBuild, on that project only.
    assert sorted(a for a in actions if a.startswith("codebuild:")) == sorted(
        [*names.CODEBUILD_READ_ACTIONS, *names.CODEBUILD_TRIGGER_ACTIONS]
    )
    # Two waiters, one pipeline, no trigger: one statement with the read actions only.
    assert sorted(a for a in actions if a.startswith("codepipeline:")) == sorted(
        names.CODEPIPELINE_READ_ACTIONS
    )
    for action_group, resource in grants:
        if action_group[0].startswith("codebuild:"):
            assert ":project/image-build" in resource
        if action_group[0].startswith("codepipeline:"):
            assert resource == json.dumps(PIPELINE_ARN)


def test_resolve_on_every_deploy_adds_a_fresh_nonce_per_synth():
    nonces = []
    for _ in range(2):
        app = App()
        stack = Stack(app, "S", env=ENV)
        repo = ecr.Repository.from_repository_name(stack, "R", "repo")
        EcrImageWaiter(stack, "W", repository=repo, resolve_on_every_deploy=True)
        props = next(iter(Template.from_stack(stack).find_resources(names.RESOURCE_TYPE).values()))
        nonces.append(props["Properties"][names.PROP_RESOLVE_NONCE])
    assert all(isinstance(n, str) and n for n in nonces)
    assert nonces[0] != nonces[1]


# --- synth-time validation -------------------------------------------------------------


def new_stack() -> tuple[Stack, ecr.IRepository]:
    stack = Stack(App(), "S", env=ENV)
    return stack, ecr.Repository.from_repository_name(stack, "R", "repo")


@pytest.mark.parametrize(
    ("kwargs", "patterns"),
    [
        ({"tag": "v1", "digest": DIGEST}, ["both tag='v1' and digest=", "either the tag or"]),
        ({"tag": "bad tag!"}, ["tag", "'bad tag!'", "not valid"]),
        ({"digest": "sha256:xyz"}, ["digest", "'sha256:xyz'", "64 lowercase hex"]),
        ({"registry_id": "12345"}, ["registry_id", "'12345'", "12-digit"]),
        (
            {"timeout": Duration.hours(1)},
            ["timeout=3600 s", "up to 60 s after the deadline", "Duration.seconds(3510)"],
        ),
        (
            {"timeout": Duration.seconds(3511)},
            ["timeout=3511 s", "largest accepted timeout is 3510"],
        ),
        ({"timeout": Duration.seconds(0)}, ["timeout=0 s", "at least Duration.seconds(1)"]),
        ({"timeout": Duration.millis(1500)}, ["timeout=1.5 s", "whole number"]),
        ({"interval": Duration.seconds(59)}, ["interval=59 s", "Duration.seconds(60) or more"]),
        (
            {"timeout": Duration.seconds(30), "interval": Duration.minutes(1)},
            ["interval=60 s", "timeout=30 s"],
        ),
        ({"trigger_build_on_missing": True}, ["trigger_build_on_missing", "codebuild_project="]),
        ({"timeout": 600}, ["timeout=600 is not a Duration", "Duration.seconds(N)"]),
        ({"interval": 7}, ["interval=7 is not a Duration", "Duration.seconds(N)"]),
        ({"architecture": "arm64"}, ["architecture='arm64'", "Architecture.ARM_64"]),
    ],
)
def test_bad_settings_are_refused_with_value_rule_and_remedy(
    kwargs: dict[str, Any], patterns: list[str]
) -> None:
    stack, repo = new_stack()
    with pytest.raises(InvalidInputError) as caught:
        EcrImageWaiter(stack, "W", repository=repo, **kwargs)
    message = str(caught.value)
    assert message.startswith("S/W: ")
    for pattern in patterns:
        assert pattern in message


def test_an_imported_repository_with_an_invalid_name_is_refused_at_synth():
    stack = Stack(App(), "S", env=ENV)
    repo = ecr.Repository.from_repository_name(stack, "R", "Bad Name!")
    with pytest.raises(InvalidInputError) as caught:
        EcrImageWaiter(stack, "W", repository=repo)
    message = str(caught.value)
    assert message.startswith("S/W: repository: repository name 'Bad Name!' is not valid")
    assert "lowercase letters and digits" in message


def test_trigger_with_both_project_and_pipeline_is_refused():
    stack, repo = new_stack()
    project = codebuild.Project.from_project_name(stack, "P", "p")
    pipeline = codepipeline.Pipeline.from_pipeline_arn(stack, "Pl", PIPELINE_ARN)
    with pytest.raises(InvalidInputError, match="give only one of them"):
        EcrImageWaiter(
            stack,
            "W",
            repository=repo,
            codebuild_project=project,
            pipeline=pipeline,
            trigger_build_on_missing=True,
        )


def test_largest_timeout_and_smallest_interval_are_accepted():
    stack, repo = new_stack()
    EcrImageWaiter(
        stack,
        "W",
        repository=repo,
        timeout=Duration.seconds(names.MAX_TIMEOUT_SECONDS),
        interval=Duration.seconds(names.MIN_INTERVAL_SECONDS),
    )
    EcrImageWaiter(stack, "Short", repository=repo, timeout=Duration.seconds(1))
    emitted = Template.from_stack(stack).find_resources(names.RESOURCE_TYPE).values()
    settings = sorted(
        (
            int(resource["Properties"][names.PROP_TIMEOUT_SECONDS]),
            int(resource["Properties"][names.PROP_INTERVAL_SECONDS]),
            int(resource["Properties"][names.PROP_SERVICE_TIMEOUT]),
        )
        for resource in emitted
    )
    interval = names.MIN_INTERVAL_SECONDS
    # The largest deadline's failure arrives by CloudFormation's one hour, exactly.
    assert settings == [
        (1, interval, 1 + names.DEADLINE_HEADROOM_SECONDS),
        (names.MAX_TIMEOUT_SECONDS, interval, names.CLOUDFORMATION_MAX_SECONDS),
    ]


def test_deploy_time_values_are_not_validated_at_synth():
    stack, repo = new_stack()
    tag = CfnParameter(stack, "Tag").value_as_string
    account = CfnParameter(stack, "Account").value_as_string
    waiter = EcrImageWaiter(stack, "W", repository=repo, tag=tag, registry_id=account)
    assert waiter.node.id == "W"


def test_conflicting_log_retention_in_one_stack_is_refused():
    stack, repo = new_stack()
    EcrImageWaiter(stack, "A", repository=repo, log_retention=logs.RetentionDays.ONE_MONTH)
    EcrImageWaiter(stack, "B", repository=repo)  # no retention: takes the provider's
    with pytest.raises(
        InvalidInputError, match="log_retention=ONE_WEEK differs from the ONE_MONTH"
    ):
        EcrImageWaiter(stack, "C", repository=repo, log_retention=logs.RetentionDays.ONE_WEEK)


def test_provider_of_returns_the_one_provider_and_guards_its_id():
    stack, repo = new_stack()
    provider = EcrImageWaiterProvider.of(stack, log_retention=logs.RetentionDays.TWO_WEEKS)
    waiter = EcrImageWaiter(stack, "W", repository=repo)
    assert waiter.provider is provider
    assert EcrImageWaiterProvider.of(waiter) is provider
    taken = Stack(App(), "T")
    ecr.Repository(taken, EcrImageWaiterProvider.CONSTRUCT_ID)
    with pytest.raises(InvalidInputError, match="reserved for the shared provider"):
        EcrImageWaiterProvider.of(taken)


def test_cross_account_pushes_are_forwarded_to_the_waiting_accounts_default_bus():
    from ecr_image_waiter.construct import EcrPushForwarder

    app = App()
    owner = Stack(app, "Owner", env=Environment(account=OTHER_ACCOUNT, region="us-east-1"))
    repo = ecr.Repository(owner, "Repo", repository_name="shared/app")
    EcrPushForwarder(owner, "Forward", repositories=[repo], to_account=ENV.account or "")
    waiting = Stack(app, "Waiting", env=ENV)
    imported = ecr.Repository.from_repository_name(waiting, "R", "shared/app")
    EcrImageWaiter(waiting, "W", repository=imported, registry_id=OTHER_ACCOUNT)
    EcrImageWaiterProvider.of(waiting).accept_pushes_from(OTHER_ACCOUNT)

    owner_template = Template.from_stack(owner).to_json()
    (rule,) = of_type(owner_template, "AWS::Events::Rule").values()
    assert rule["Properties"]["EventPattern"]["detail"]["repository-name"] == [
        {"Ref": next(iter(of_type(owner_template, "AWS::ECR::Repository")))}
    ]
    (target,) = rule["Properties"]["Targets"]
    assert target["Arn"] == {
        "Fn::Join": [
            "",
            ["arn:", {"Ref": "AWS::Partition"}, ":events:us-east-1:123456789012:event-bus/default"],
        ]
    }
    assert "RoleArn" in target
    (put,) = [
        s for _, s in policy_statements(owner_template) if s.get("Action") == "events:PutEvents"
    ]
    assert put["Resource"] == target["Arn"]

    waiting_template = Template.from_stack(waiting).to_json()
    (policy,) = of_type(waiting_template, "AWS::Events::EventBusPolicy").values()
    statement = policy["Properties"]["Statement"]
    assert statement["Action"] == "events:PutEvents"
    assert statement["Principal"] == {
        "AWS": {
            "Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, f":iam::{OTHER_ACCOUNT}:root"]]
        }
    }
    with pytest.raises(InvalidInputError, match="forwards nothing"):
        EcrPushForwarder(owner, "Empty", repositories=[], to_account="111122223333")
