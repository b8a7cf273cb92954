"""The Lambda asset: only the code the custom resource runs, copied from the installed package.

The asset holds ``ecr_image_waiter/`` with ``__init__.py``, ``names.py``, ``errors.py``,
``py.typed``, ``engine/*.py`` and ``custom_resource/*.py`` — no construct code, no CLI, no
``__pycache__`` — so the Lambda imports with only the standard library and boto3. The files
are located from the imported package (``ecr_image_waiter.__file__``), so the asset is the same
whether the package runs from a source checkout or from site-packages.

The staging directory is built once per process, on first use, from file contents only (fixed
file modes, sorted order), so the asset hash depends on nothing but the code.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

import ecr_image_waiter
from ecr_image_waiter import names

#: Top-level files of the package that the Lambda code needs.
TOP_LEVEL_FILES: tuple[str, ...] = ("__init__.py", "names.py", "errors.py", "py.typed")
#: Sub-packages whose ``*.py`` files the Lambda code needs.
SUB_PACKAGES: tuple[str, ...] = ("engine", "custom_resource")


def package_dir() -> Path:
    """The directory of the imported ``ecr_image_waiter`` package."""
    return Path(ecr_image_waiter.__file__).resolve().parent


def asset_files(source: Path | None = None) -> list[str]:
    """The asset's files, as sorted POSIX paths relative to the asset root."""
    root = source if source is not None else package_dir()
    files = [f"{names.PACKAGE}/{name}" for name in TOP_LEVEL_FILES if (root / name).is_file()]
    for sub in SUB_PACKAGES:
        files.extend(
            f"{names.PACKAGE}/{sub}/{path.name}"
            for path in sorted((root / sub).glob("*.py"))
            if path.is_file()
        )
    return sorted(files)


def stage_into(target: Path, source: Path | None = None) -> Path:
    """Copy the asset's files from ``source`` (the installed package) into ``target``."""
    root = source if source is not None else package_dir()
    for relative in asset_files(root):
        inside = Path(relative).relative_to(names.PACKAGE)
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / inside, destination)
        destination.chmod(0o644)
    return target


@functools.cache
def staged_asset_dir() -> Path:
    """A directory holding the Lambda asset, built once per process and removed at exit."""
    staging = Path(tempfile.mkdtemp(prefix="ecr-image-waiter-asset-"))
    atexit.register(shutil.rmtree, staging, ignore_errors=True)
    return stage_into(staging)
