"""The Lambda code imports only the standard library (boto3 on first use) and does no work
at import time."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import ecr_image_waiter

PACKAGE = Path(ecr_image_waiter.__file__).parent
SRC = PACKAGE.parent
#: What the Lambda asset holds: the handler package, the engine and the shared modules.
LAMBDA_CODE = [
    *sorted((PACKAGE / "custom_resource").glob("*.py")),
    *sorted((PACKAGE / "engine").glob("*.py")),
    # The package's __init__ is left out here: its one import of the construct is lazy
    # (inside __getattr__); the sys.modules checks below cover what importing it loads.
    PACKAGE / "names.py",
    PACKAGE / "errors.py",
]
ALLOWED_THIRD_PARTY = {"boto3", "botocore", "mypy_boto3_ecr"}
ALLOWED_OWN = {
    "ecr_image_waiter.names",
    "ecr_image_waiter.errors",
    "ecr_image_waiter.engine",
    "ecr_image_waiter.custom_resource",
}


def run_isolated(code: str, *, site: bool = True) -> str:
    """Run ``code`` in a fresh interpreter that sees the source tree first."""
    flags = ["-I"] if site else ["-I", "-S"]
    prelude = f"import sys; sys.path.insert(0, {str(SRC)!r}); "
    done = subprocess.run(
        [sys.executable, *flags, "-c", prelude + code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_lambda_code_names_only_the_standard_library_boto3_and_itself() -> None:
    for path in LAMBDA_CODE:
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module == "ecr_image_waiter":
                modules = [f"ecr_image_waiter.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules = [node.module]
            else:
                continue
            for module in modules:
                root = module.split(".")[0]
                if root == "ecr_image_waiter":
                    assert any(
                        module == own or module.startswith(own + ".") for own in ALLOWED_OWN
                    ), f"{path.name} imports {module}"
                else:
                    assert root in sys.stdlib_module_names or root in ALLOWED_THIRD_PARTY, (
                        f"{path.name} imports {module}"
                    )


def test_importing_the_handler_loads_no_third_party_module() -> None:
    out = run_isolated(
        "import json; import ecr_image_waiter.custom_resource.handler as h; "
        "print(json.dumps(sorted(sys.modules)))"
    )
    loaded = set(json.loads(out))
    for banned in ("boto3", "botocore", "aws_cdk", "jsii", "constructs", "moto", "pytest"):
        assert banned not in loaded, banned
    assert "hypothesis" not in loaded
    third_party = {
        name.split(".")[0]
        for name in loaded
        if name.split(".")[0] not in sys.stdlib_module_names and not name.startswith("_")
    }
    assert third_party == {"ecr_image_waiter"}


def test_the_handler_runs_without_site_packages_until_it_must_call_aws() -> None:
    """Without site-packages (no boto3 at all) the handler imports, ignores events it does
    not handle, says which setting is missing, validates properties and renders an answer:
    boto3 is imported only when the first AWS client is made."""
    code = """
import json, os
from ecr_image_waiter.custom_resource import handler, response
from ecr_image_waiter.custom_resource.properties import parse_properties
from ecr_image_waiter.errors import InvalidInputError, InvalidPropertyError
create = {"RequestType": "Create", "RequestId": "r", "LogicalResourceId": "W",
          "ResponseURL": "https://example.invalid/x",
          "ResourceProperties": {"RepositoryName": "app", "ImageTag": "v1"}}
handler.handler({"source": "aws.s3", "detail-type": "Object Created"})
try:
    handler.handler(create)
except InvalidInputError as error:
    missing = str(error)
settings = parse_properties(create["ResourceProperties"])
try:
    parse_properties({"RepositoryName": "app", "X": "1"})
except InvalidPropertyError as error:
    invalid = str(error)
body = json.loads(response.body(create, status="SUCCESS", physical_id=settings.physical_id))
before = "boto3" in sys.modules
os.environ.update(ECR_IMAGE_WAITER_TABLE="t", ECR_IMAGE_WAITER_SWEEP_RULE="r")
try:
    handler.handler(create)
except ModuleNotFoundError as error:
    first_use = error.name
print(json.dumps([missing, settings.physical_id, invalid, body, before, first_use]))
"""
    missing, physical_id, invalid, body, boto3_before, first_use = json.loads(
        run_isolated(code, site=False)
    )
    assert "ECR_IMAGE_WAITER_TABLE is not set" in missing
    assert physical_id == "default/app:v1"
    assert invalid.startswith("property X: is not a property")
    assert body["Status"] == "SUCCESS"
    assert body["PhysicalResourceId"] == "default/app:v1"
    assert boto3_before is False
    assert first_use in {"boto3", "botocore"}
