"""The package's layout rules, read from the source: AWS clients are made in one module,
modules stay small, and the scripts and examples stand on the package, not on the tests."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SRC = REPO_ROOT / "src" / "ecr_image_waiter"
#: The one module that may import boto3 or botocore and make clients or sessions.
AWS_MODULE = SRC / "engine" / "aws.py"
#: The local Lambda runtime: it plays the part of AWS's runtime, outside the package, and
#: must not import ``ecr_image_waiter`` before the function's asset directory is on the path;
#: it only hooks a call counter onto boto3's default session (no client of its own).
RUNTIME_STAND_IN = SRC / "local" / "worker.py"
#: Calls that make a client, a resource or a session, whatever they are called on.
MAKING_CALLS = frozenset({"Session", "get_session", "setup_default_session", "resource"})


#: Folders under scripts/ and examples/ that hold no code of this project.
NOT_OURS = frozenset({".venv", "node_modules", "cdk.out", "__pycache__"})


def _modules(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*.py") if NOT_OURS.isdisjoint(path.parts))


def _sdk_uses(path: Path) -> list[str]:
    """Where ``path`` imports boto3/botocore or makes a client or session (line: what)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            func = node.func
            receiver = func.value.id if isinstance(func.value, ast.Name) else ""
            if func.attr in MAKING_CALLS or (
                func.attr == "client" and receiver in {"boto3", "session", "botocore"}
            ):
                found.append(f"{node.lineno}: {receiver}.{func.attr}()")
            continue
        else:
            continue
        found += [
            f"{node.lineno}: import {name}"
            for name in names
            if name.split(".")[0] in {"boto3", "botocore"}
        ]
    return found


def test_aws_clients_and_sessions_are_made_in_engine_aws_only() -> None:
    offenders = {
        str(path.relative_to(REPO_ROOT)): uses
        for path in _modules(SRC)
        if path not in (AWS_MODULE, RUNTIME_STAND_IN) and (uses := _sdk_uses(path))
    }
    assert offenders == {}
    assert all("client" not in use for use in _sdk_uses(RUNTIME_STAND_IN))
    assert _sdk_uses(AWS_MODULE), "engine/aws.py makes the clients"


def test_the_layout_check_sees_a_client_made_elsewhere(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "def f(session):\n"
        "    import boto3\n"
        "    boto3.client('ecr')\n"
        "    session.client('sts')\n"
        "    boto3.session.Session()\n"
    )
    assert _sdk_uses(sample) == [
        "2: import boto3",
        "3: boto3.client()",
        "4: session.client()",
        "5: .Session()",
    ]


@pytest.mark.parametrize("folder", ["scripts", "examples"])
def test_scripts_and_examples_do_not_import_the_tests(folder: str) -> None:
    offenders = []
    for path in _modules(REPO_ROOT / folder):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""] if node.level == 0 else []
            else:
                continue
            offenders += [
                f"{path.relative_to(REPO_ROOT)}:{node.lineno}"
                for name in names
                if name.split(".")[0] == "tests"
            ]
    assert offenders == []


#: The most lines a module under src/ may have, and its docstring.
MAX_MODULE_LINES = 400
MAX_DOCSTRING_LINES = 12


def _docstring_lines(path: Path) -> int:
    tree = ast.parse(path.read_text(), str(path))
    first = tree.body[0] if tree.body else None
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        return (first.end_lineno or first.lineno) - first.lineno + 1
    return 0


def test_no_module_is_over_400_lines() -> None:
    sizes = {
        str(path.relative_to(REPO_ROOT)): len(path.read_text().splitlines())
        for path in _modules(SRC)
    }
    assert {path: n for path, n in sizes.items() if n > MAX_MODULE_LINES} == {}


def test_module_docstrings_say_what_a_module_is_for_in_a_few_lines() -> None:
    lengths = {str(path.relative_to(REPO_ROOT)): _docstring_lines(path) for path in _modules(SRC)}
    assert {path: n for path, n in lengths.items() if n > MAX_DOCSTRING_LINES} == {}
    assert lengths["src/ecr_image_waiter/engine/aws.py"] > 0
