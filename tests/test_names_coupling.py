"""The construct and the Lambda code agree through names.py, and the asset holds only the
Lambda code: checked on a real synth (the construct tests' app, synthesized once here)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import ecr_image_waiter
from ecr_image_waiter import names
from tests.test_construct import build

pytestmark = pytest.mark.synth

PACKAGE_DIR = Path(ecr_image_waiter.__file__).resolve().parent
#: What the Lambda code may import: the standard library, the AWS SDK, itself.
ALLOWED_TOP_LEVEL = set(sys.stdlib_module_names) | {"boto3", "botocore", names.PACKAGE}


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    outdir = tmp_path_factory.mktemp("coupling") / "cdk.out"
    return outdir, build(outdir)["templates"]


def our_functions(template: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        f["Properties"]
        for f in template["Resources"].values()
        if f["Type"] == "AWS::Lambda::Function"
        and f["Properties"].get("Runtime", "").startswith("python")
    ]


def getatts(node: Any) -> list[list[Any]]:
    if isinstance(node, dict):
        found = [node["Fn::GetAtt"]] if "Fn::GetAtt" in node else []
        for value in node.values():
            found += getatts(value)
        return found
    if isinstance(node, list):
        return [g for value in node for g in getatts(value)]
    return []


def asset_dir(outdir: Path, templates: dict[str, Any]) -> Path:
    keys = {f["Code"]["S3Key"] for t in templates.values() for f in our_functions(t)}
    assert len(keys) == 1, keys  # one asset for every stack
    path = outdir / f"asset.{keys.pop().removesuffix('.zip')}"
    assert path.is_dir()
    return path


def expected_asset_files() -> set[str]:
    """Listed from the package directory independently of the construct's own listing."""
    files = {f"{names.PACKAGE}/{n}" for n in ("__init__.py", "names.py", "errors.py", "py.typed")}
    for sub in ("engine", "custom_resource"):
        files |= {f"{names.PACKAGE}/{sub}/{p.name}" for p in (PACKAGE_DIR / sub).glob("*.py")}
    return files


def test_property_keys_are_names_properties(synthesized: tuple[Path, dict[str, Any]]) -> None:
    _, templates = synthesized
    seen: set[str] = set()
    for template in templates.values():
        for resource in template["Resources"].values():
            if resource["Type"] == names.RESOURCE_TYPE:
                keys = set(resource["Properties"])
                assert keys <= names.ALL_PROPERTIES, keys - names.ALL_PROPERTIES
                seen |= keys
    # The app exercises the construct's options: most property names appear.
    assert {
        names.PROP_IMAGE_TAG,
        names.PROP_IMAGE_DIGEST,
        names.PROP_REGISTRY_ID,
        names.PROP_CODEBUILD_PROJECT_NAME,
        names.PROP_PIPELINE_NAME,
        names.PROP_TRIGGER_BUILD_ON_MISSING,
        names.PROP_ARCHITECTURE,
    } <= seen


def test_every_getatt_on_a_waiter_is_a_names_attribute(
    synthesized: tuple[Path, dict[str, Any]],
) -> None:
    _, templates = synthesized
    used = set()
    for template in templates.values():
        waiters = {k for k, v in template["Resources"].items() if v["Type"] == names.RESOURCE_TYPE}
        for target, attribute in getatts(template):
            if target in waiters:
                used.add(attribute)
    assert used
    assert used <= set(names.ALL_ATTRIBUTES), used - set(names.ALL_ATTRIBUTES)


def test_handler_strings_are_names_and_exist_in_the_asset(
    synthesized: tuple[Path, dict[str, Any]],
) -> None:
    outdir, templates = synthesized
    for template in templates.values():
        assert [f["Handler"] for f in our_functions(template)] == [names.HANDLER]
    root = asset_dir(outdir, templates)
    for handler in (names.HANDLER,):
        module, function = handler.rsplit(".", 1)
        source = root / (module.replace(".", "/") + ".py")
        assert source.is_file(), source
        tree = ast.parse(source.read_text())
        defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        defined |= {
            t.id
            for n in tree.body
            if isinstance(n, ast.Assign)
            for t in n.targets
            if isinstance(t, ast.Name)
        }
        assert function in defined, (source, function)


def test_asset_holds_exactly_the_lambda_code(synthesized: tuple[Path, dict[str, Any]]) -> None:
    outdir, templates = synthesized
    root = asset_dir(outdir, templates)
    files = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    assert files == expected_asset_files()
    assert f"{names.PACKAGE}/custom_resource/handler.py" in files
    assert not any(
        part in f for f in files for part in ("__pycache__", "/construct/", "/cli/", "/local/")
    )


def test_asset_imports_only_stdlib_boto3_and_itself(
    synthesized: tuple[Path, dict[str, Any]],
) -> None:
    outdir, templates = synthesized
    root = asset_dir(outdir, templates)
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text())
        # Imports under ``if TYPE_CHECKING:`` never run (type stubs such as mypy_boto3_ecr).
        typing_only = {
            id(inner)
            for node in ast.walk(tree)
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            for statement in node.body
            for inner in ast.walk(statement)
        }
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            modules: list[str] = []
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            for module in modules:
                assert module.split(".")[0] in ALLOWED_TOP_LEVEL, (path, module)


def test_asset_handler_imports_from_the_asset_without_the_cdk(
    synthesized: tuple[Path, dict[str, Any]],
) -> None:
    outdir, templates = synthesized
    root = asset_dir(outdir, templates)
    module = names.HANDLER.rsplit(".", 1)[0]
    script = (
        "import json, sys\n"
        f"sys.path.insert(0, {str(root)!r})\n"
        f"import {module} as handler\n"
        "print(json.dumps({'file': handler.__file__, 'cdk': sorted(m for m in sys.modules "
        "if m.split('.')[0] in ('aws_cdk', 'constructs', 'jsii'))}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["file"].startswith(str(root))
    assert report["cdk"] == []


def concrete(key: str, value: Any) -> str:
    """A deploy-time value (Ref, GetAtt, Join) as CloudFormation would pass it: a string."""
    if isinstance(value, str):
        return value
    stand_ins = {
        names.PROP_SERVICE_TOKEN: "arn:aws:lambda:us-east-1:123456789012:function:provider",
        names.PROP_REPOSITORY_NAME: "team/app",
        names.PROP_CODEBUILD_PROJECT_NAME: "image-build",
        names.PROP_PIPELINE_NAME: "image-pipeline",
    }
    return stand_ins[key]


def test_the_lambda_code_accepts_every_resource_the_construct_emits(
    synthesized: tuple[Path, dict[str, Any]],
) -> None:
    from ecr_image_waiter.custom_resource.properties import parse_properties

    _, templates = synthesized
    checked = 0
    for template in templates.values():
        for resource in template["Resources"].values():
            if resource["Type"] != names.RESOURCE_TYPE:
                continue
            props = {k: concrete(k, v) for k, v in resource["Properties"].items()}
            settings = parse_properties(props)
            assert settings.timeout_seconds == int(props[names.PROP_TIMEOUT_SECONDS])
            # The ServiceTimeout leaves the sweep's lag after the deadline.
            assert int(props[names.PROP_SERVICE_TIMEOUT]) == min(
                names.CLOUDFORMATION_MAX_SECONDS,
                settings.timeout_seconds + names.DEADLINE_HEADROOM_SECONDS,
            )
            assert settings.interval_seconds == int(props[names.PROP_INTERVAL_SECONDS])
            assert settings.architecture == props[names.PROP_ARCHITECTURE]
            assert settings.reference.reference == props.get(
                names.PROP_IMAGE_DIGEST, props.get(names.PROP_IMAGE_TAG)
            )
            assert settings.trigger_build_on_missing == (
                props.get(names.PROP_TRIGGER_BUILD_ON_MISSING) == "true"
            )
            checked += 1
    assert checked == 6


def test_the_function_environment_and_rules_use_the_names_the_lambda_code_reads(
    synthesized: tuple[Path, dict[str, Any]],
) -> None:
    _, templates = synthesized
    for template in templates.values():
        (function,) = our_functions(template)
        assert set(function["Environment"]["Variables"]) == {
            names.ENV_TABLE_NAME,
            names.ENV_SWEEP_RULE_NAME,
        }
        (table,) = [
            r["Properties"]
            for r in template["Resources"].values()
            if r["Type"] == "AWS::DynamoDB::Table"
        ]
        assert table["KeySchema"] == [
            {"AttributeName": names.TABLE_PARTITION_KEY, "KeyType": "HASH"},
            {"AttributeName": names.TABLE_SORT_KEY, "KeyType": "RANGE"},
        ]
        sources = {
            (
                r["Properties"]["EventPattern"]["source"][0],
                r["Properties"]["EventPattern"]["detail-type"][0],
            )
            for r in template["Resources"].values()
            if r["Type"] == "AWS::Events::Rule" and "EventPattern" in r["Properties"]
        }
        known = {
            (names.ECR_EVENT_SOURCE, names.ECR_EVENT_DETAIL_TYPE),
            (names.CODEBUILD_EVENT_SOURCE, names.CODEBUILD_EVENT_DETAIL_TYPE),
            (names.CODEPIPELINE_EVENT_SOURCE, names.CODEPIPELINE_EVENT_DETAIL_TYPE),
        }
        assert (names.ECR_EVENT_SOURCE, names.ECR_EVENT_DETAIL_TYPE) in sources
        assert sources <= known
