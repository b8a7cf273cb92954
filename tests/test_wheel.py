"""The built wheel, installed in a fresh venv outside the source tree, synthesizes the example,
and the Lambda asset comes from the installed package (site-packages), not from ``src/``.

Offline: the wheel is built without build isolation, and the fresh venv reaches the CDK's
packages (aws-cdk-lib, constructs, jsii; ~100 MB) through a ``.pth`` line naming this venv's
site-packages directory. A ``.pth`` path line adds only that directory: this venv's editable
install of the project (its own ``.pth``) is not processed, so ``ecr_image_waiter`` can only
come from the wheel.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from ecr_image_waiter import names

pytestmark = pytest.mark.synth

REPO_ROOT = Path(__file__).resolve().parent.parent
PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check"]


def run(
    cmd: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        cmd, capture_output=True, text=True, timeout=300, check=False, cwd=cwd, env=env
    )
    assert result.returncode == 0, f"{cmd}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the wheel from a copy of the project (the source tree is left untouched)."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO_ROOT / name, source / name)
    shutil.copytree(
        REPO_ROOT / "src",
        source / "src",
        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"),
    )
    dist = tmp_path_factory.mktemp("dist")
    run(
        [
            *PIP,
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            str(dist),
            str(source),
        ]
    )
    (built,) = dist.glob("ecr_image_waiter-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Path:
    """A fresh venv with the wheel installed and the CDK's packages reachable."""
    root = tmp_path_factory.mktemp("venv") / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(root)])
    python = root / "bin" / "python"
    run([*PIP, "--python", str(python), "install", "-q", "--no-deps", "--no-index", str(wheel)])
    site = Path(
        run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]
        ).stdout.strip()
    )
    (site / "zz_dev_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return root


def test_wheel_declares_the_cdk_extra_and_ships_the_package(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        members = set(archive.namelist())
        metadata_name = next(n for n in members if n.endswith(".dist-info/METADATA"))
        metadata = archive.read(metadata_name).decode()
    assert "Provides-Extra: cdk" in metadata
    assert any(
        line.startswith("Requires-Dist: aws-cdk-lib") and 'extra == "cdk"' in line
        for line in metadata.splitlines()
    )
    for member in (
        "ecr_image_waiter/py.typed",
        "ecr_image_waiter/names.py",
        "ecr_image_waiter/construct/asset.py",
        "ecr_image_waiter/custom_resource/handler.py",
        "ecr_image_waiter/engine/lookup.py",
    ):
        assert member in members


def test_installed_wheel_synthesizes_the_example_from_site_packages(
    venv: Path, tmp_path: Path
) -> None:
    python = venv / "bin" / "python"
    workdir = tmp_path / "app"
    workdir.mkdir()
    shutil.copy(REPO_ROOT / "examples" / "app.py", workdir / "app.py")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.setdefault("JSII_NODE", str(REPO_ROOT / ".venv" / "node"))
    env.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

    where = run(
        [
            str(python),
            "-c",
            "import json, sys, ecr_image_waiter; "
            "print(json.dumps({'file': ecr_image_waiter.__file__, 'path': sys.path}))",
        ],
        cwd=workdir,
        env=env,
    )
    report = json.loads(where.stdout)
    assert report["file"].startswith(str(venv)), report["file"]
    assert str(REPO_ROOT / "src") not in report["path"]

    outdir = workdir / "cdk.out"
    run([str(python), "app.py", str(outdir)], cwd=workdir, env=env)

    handler = f"{names.PACKAGE}/custom_resource/handler.py"
    assets = [p for p in outdir.glob("asset.*") if (p / handler).is_file()]
    assert len(assets) == 1
    files = {p.relative_to(assets[0]).as_posix() for p in assets[0].rglob("*") if p.is_file()}
    installed = Path(report["file"]).parent
    expected = {
        f"{names.PACKAGE}/{n}" for n in ("__init__.py", "names.py", "errors.py", "py.typed")
    }
    for sub in ("engine", "custom_resource"):
        expected |= {f"{names.PACKAGE}/{sub}/{p.name}" for p in (installed / sub).glob("*.py")}
    assert files == expected
    # Same bytes as the installed package, so the same asset hash as a synth from the source.
    for relative in files:
        inside = Path(relative).relative_to(names.PACKAGE)
        assert (assets[0] / relative).read_bytes() == (installed / inside).read_bytes()
    api = json.loads((outdir / "EcrImageWaiterExample-Api.template.json").read_text())
    handlers = {
        r["Properties"].get("Handler")
        for r in api["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function"
    }
    assert names.HANDLER in handlers
