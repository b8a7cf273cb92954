"""The standalone provider: ``ecr-image-waiter provider synth`` and what it writes, and the
Python construct using an imported ServiceToken instead of its own provider.

One synth through the CLI for the module (a synth starts node); the refusals construct only.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Environment, Fn, Stack
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_logs as logs
from aws_cdk.assertions import Template

from ecr_image_waiter import names
from ecr_image_waiter.cli.main import ExitStatus, main
from ecr_image_waiter.construct import EcrImageWaiter, EcrImageWaiterProvider
from ecr_image_waiter.construct.standalone import (
    PACKAGE_TEMPLATE,
    EcrImageWaiterProviderStack,
    retention_days,
)
from ecr_image_waiter.errors import InvalidInputError
from tests.test_example import (
    as_list,
    cfn_lint,
    needs_cdk_nag,
    policy_statements,
    resources_of,
    unexplained_lint,
    wildcard_grants,
)

pytestmark = pytest.mark.synth

ENV = Environment(account="123456789012", region="us-east-1")
SYNTH_ARGS = [
    "provider",
    "synth",
    "--repository",
    "text-generation",
    "--repository",
    "practice-material",
    "--repository-prefix",
    "team/",
    "--codebuild-project",
    "image-build",
    "--pipeline",
    "image-pipeline",
    "--log-retention-days",
    "30",
]


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(argv, stdout=out, stderr=err, env={})
    return int(status), out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def provider_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    outdir = tmp_path_factory.mktemp("provider") / "out"
    status, out, err = run_cli([*SYNTH_ARGS, "-o", str(outdir)])
    assert status == ExitStatus.OK, err
    assert out.splitlines() == [
        str(outdir / f"{names.PROVIDER_STACK_NAME}.template.json"),
        str(outdir / PACKAGE_TEMPLATE),
    ]
    assert f"cdk deploy --app {outdir}" in err
    assert "aws cloudformation package" in err
    return outdir


@pytest.fixture(scope="module")
def provider_template(provider_out: Path) -> dict[str, Any]:
    return json.loads((provider_out / f"{names.PROVIDER_STACK_NAME}.template.json").read_text())


def statements_with(template: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for _, s in policy_statements(template) if action in as_list(s["Action"])]


def arn_tail(resource: Any) -> str:
    """The literal end of an ``Fn::Join`` ARN (``:repository/<name>``)."""
    return str(resource["Fn::Join"][1][-1])


# --- what provider synth writes ------------------------------------------------------------


def test_output_is_a_cloud_assembly_exporting_the_service_token(
    provider_out: Path, provider_template: dict[str, Any]
) -> None:
    manifest = json.loads((provider_out / "manifest.json").read_text())
    assert names.PROVIDER_STACK_NAME in manifest["artifacts"]
    output = provider_template["Outputs"]["ServiceToken"]
    assert output["Export"] == {"Name": names.PROVIDER_EXPORT_NAME}
    # The token is the provider's entry function: the one CloudFormation invokes.
    (function_id, attr) = output["Value"]["Fn::GetAtt"]
    assert attr == "Arn"
    assert provider_template["Resources"][function_id]["Type"] == "AWS::Lambda::Function"
    # Environment-agnostic: deployable in any account and region.
    assert "123456789012" not in json.dumps(provider_template)


def test_template_passes_cfn_lint_and_grants_no_wildcard(
    provider_out: Path, provider_template: dict[str, Any]
) -> None:
    path = provider_out / f"{names.PROVIDER_STACK_NAME}.template.json"
    assert unexplained_lint(cfn_lint([path]), provider_out) == []
    assert wildcard_grants(provider_template) == []


def test_ecr_reads_are_on_the_named_repositories_and_prefixes_only(
    provider_template: dict[str, Any],
) -> None:
    reads = statements_with(provider_template, names.ECR_DESCRIBE_ACTION)
    tails = {arn_tail(r) for s in reads for r in as_list(s["Resource"])}
    assert tails == {
        ":repository/text-generation",
        ":repository/practice-material",
        ":repository/team/*",
    }
    for statement in reads:
        assert set(as_list(statement["Action"])) == {
            names.ECR_DESCRIBE_ACTION,
            names.ECR_BATCH_GET_IMAGE_ACTION,
            names.ECR_GET_DOWNLOAD_URL_ACTION,
        }


def test_builds_are_followed_but_not_started_without_allow_start(
    provider_template: dict[str, Any],
) -> None:
    follow = statements_with(provider_template, "codebuild:BatchGetBuilds")
    assert {arn_tail(s["Resource"]) for s in follow} == {":project/image-build"}
    pipeline = statements_with(provider_template, "codepipeline:ListPipelineExecutions")
    assert {arn_tail(s["Resource"]) for s in pipeline} == {":image-pipeline"}
    assert statements_with(provider_template, "codebuild:StartBuild") == []
    assert statements_with(provider_template, "codepipeline:StartPipelineExecution") == []


def test_log_retention_days_reach_every_log_group(provider_template: dict[str, Any]) -> None:
    groups = resources_of(provider_template, "AWS::Logs::LogGroup")
    assert groups
    assert {g["Properties"]["RetentionInDays"] for g in groups.values()} == {30}


def test_package_template_points_each_function_at_its_asset_folder(
    provider_out: Path, provider_template: dict[str, Any]
) -> None:
    packaged = json.loads((provider_out / PACKAGE_TEMPLATE).read_text())
    functions = resources_of(packaged, "AWS::Lambda::Function")
    assert functions
    for function in functions.values():
        code = function["Properties"]["Code"]
        assert isinstance(code, str)
        assert code.startswith("asset.")
        assert (provider_out / code).is_dir()
    python = [f for f in functions.values() if f["Properties"]["Runtime"].startswith("python")]
    for function in python:
        handler_module = function["Properties"]["Handler"].rsplit(".", 1)[0]
        source = (
            provider_out
            / function["Properties"]["Code"]
            / (handler_module.replace(".", "/") + ".py")
        )
        assert source.is_file(), source
    # No CDK bootstrap check: deployable with aws cloudformation deploy in any account.
    assert "BootstrapVersion" not in json.dumps(packaged)
    assert packaged["Outputs"] == provider_template["Outputs"]
    assert set(packaged["Resources"]) == set(provider_template["Resources"])


def test_allow_start_grants_the_start_actions_on_those_builds_only(tmp_path: Path) -> None:
    app = App()
    stack = EcrImageWaiterProviderStack(
        app,
        "P",
        repository_prefixes=["app-"],
        codebuild_projects=["image-build"],
        allow_start=True,
        export_name="Team:EcrImageWaiter",
    )
    template = Template.from_stack(stack).to_json()
    starts = statements_with(template, "codebuild:StartBuild")
    assert [arn_tail(s["Resource"]) for s in starts] == [":project/image-build"]
    reads = statements_with(template, names.ECR_DESCRIBE_ACTION)
    assert {arn_tail(s["Resource"]) for s in reads} == {":repository/app-*"}
    assert template["Outputs"]["ServiceToken"]["Export"] == {"Name": "Team:EcrImageWaiter"}


@needs_cdk_nag
@pytest.mark.parametrize("registry_id", [None, "210987654321"])
def test_provider_stack_passes_cdk_nag_with_prefixes_acknowledged(
    tmp_path: Path, registry_id: str | None
) -> None:
    from aws_cdk import Validations
    from cdk_nag import AwsSolutionsChecks

    app = App(outdir=str(tmp_path / "out"))
    EcrImageWaiterProviderStack(
        app,
        "P",
        env=ENV if registry_id else None,
        repository_names=["text-generation"],
        repository_prefixes=["team/", "app-"],
        registry_id=registry_id,
        codebuild_projects=["image-build"],
        pipelines=["image-pipeline"],
        allow_start=True,
    )
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    app.synth()  # raises ValidationFailed on any unacknowledged finding
    report = json.loads((tmp_path / "out" / "validation-report.json").read_text())
    assert all(not plugin.get("violations") for plugin in report["pluginReports"])


# --- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "read no repository"),
        (["--repository", "Bad_Name"], "not valid"),
        (["--repository-prefix", ""], "every repository"),
        (["--repository-prefix=-x"], "starts no valid repository name"),
        (["--repository", "a1", "--export-name", "has space"], "not a CloudFormation export"),
        (["--repository", "a1", "--allow-start"], "nothing to start"),
        (["--repository", "a1", "--codebuild-project", "x"], "CodeBuild project name"),
        (["--repository", "a1", "--log-retention-days", "31"], "1, 3, 5, 7, 14, 30"),
        (["--repository", "a1", "--stack-name", "9lives"], "stack name"),
        (["--repository", "a1", "--registry-id", "12"], "12"),
    ],
)
def test_provider_synth_refuses_bad_options_with_exit_2(
    tmp_path: Path, extra: list[str], message: str
) -> None:
    status, out, err = run_cli(["provider", "synth", "-o", str(tmp_path / "out"), *extra])
    assert status == ExitStatus.USAGE, err
    assert out == ""
    assert err.startswith("ecr-image-waiter: error: "), err
    assert message in err
    assert "Traceback" not in err


def test_provider_synth_without_the_cdk_extra_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "aws_cdk", None)  # import aws_cdk now raises ImportError
    status, out, err = run_cli(["provider", "synth", "-o", str(tmp_path), "--repository", "a1"])
    assert status == ExitStatus.USAGE
    assert out == ""
    assert err.count("\n") == 1
    assert "pip install 'ecr-image-waiter[cdk]'" in err
    assert "Traceback" not in err


def test_the_cli_imports_without_aws_cdk() -> None:
    code = (
        "import sys\n"
        "sys.modules['aws_cdk'] = None\n"
        "from ecr_image_waiter.cli.main import main\n"
        "assert main(['--help']) == 0\n"
        "assert 'constructs' not in sys.modules\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "provider" in result.stdout


def test_allow_repositories_refuses_invalid_names() -> None:
    provider = EcrImageWaiterProvider.of(Stack(App(), "S"))
    with pytest.raises(InvalidInputError, match="not valid"):
        provider.allow_repositories(names=["UPPER"])
    with pytest.raises(InvalidInputError, match="every repository"):
        provider.allow_repositories(prefixes=[""])
    with pytest.raises(InvalidInputError):
        provider.allow_repositories(names=["ok"], registry_id="abc")


def test_retention_days_maps_days_to_the_cdk_member() -> None:
    assert retention_days(7) == logs.RetentionDays.ONE_WEEK
    assert retention_days(3653) == logs.RetentionDays.TEN_YEARS


# --- the Python construct with an imported provider -------------------------------------------


def test_waiter_with_an_imported_service_token_creates_no_provider_and_grants_nothing() -> None:
    stack = Stack(App(), "Api", env=ENV)
    repo = ecr.Repository.from_repository_name(stack, "Repo", "text-generation")
    project = codebuild.Project.from_project_name(stack, "Build", "image-build")
    token = Fn.import_value(names.PROVIDER_EXPORT_NAME)
    waiter = EcrImageWaiter(
        stack,
        "Waiter",
        repository=repo,
        service_token=token,
        codebuild_project=project,
        trigger_build_on_missing=True,
    )
    assert waiter.provider is None
    assert stack.node.try_find_child(EcrImageWaiterProvider.CONSTRUCT_ID) is None
    template = Template.from_stack(stack).to_json()
    kinds = {r["Type"] for r in template["Resources"].values()}
    assert kinds == {names.RESOURCE_TYPE}
    (waiter_resource,) = template["Resources"].values()
    props = waiter_resource["Properties"]
    assert props[names.PROP_SERVICE_TOKEN] == {"Fn::ImportValue": names.PROVIDER_EXPORT_NAME}
    assert props[names.PROP_CODEBUILD_PROJECT_NAME] == "image-build"
    assert props[names.PROP_TRIGGER_BUILD_ON_MISSING] == "true"


def test_waiter_with_a_service_token_refuses_a_log_retention() -> None:
    stack = Stack(App(), "Api", env=ENV)
    repo = ecr.Repository.from_repository_name(stack, "Repo", "text-generation")
    with pytest.raises(InvalidInputError, match="log_retention=ONE_MONTH was given with"):
        EcrImageWaiter(
            stack,
            "Waiter",
            repository=repo,
            service_token=Fn.import_value(names.PROVIDER_EXPORT_NAME),
            log_retention=logs.RetentionDays.ONE_MONTH,
        )
