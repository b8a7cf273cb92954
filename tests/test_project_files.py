"""The files people read before adopting the tool agree with the code: the licence, the
changelog, the contributing guide's make targets, the CI workflow, the examples' cdk.json."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import yaml

import ecr_image_waiter

REPO_ROOT = Path(__file__).resolve().parent.parent


def test_license_is_the_apache_2_text_that_pyproject_declares() -> None:
    text = (REPO_ROOT / "LICENSE").read_text()
    assert "Apache License\n                           Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text
    assert len(re.findall(r"^   \d\. ", text, flags=re.M)) == 9
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0"


def test_versions_agree_and_the_changelog_has_this_version() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    assert project["version"] == ecr_image_waiter.__version__
    changelog = (REPO_ROOT / "CHANGELOG.md").read_text()
    assert f"\n## {ecr_image_waiter.__version__}\n" in changelog


def test_every_make_target_in_contributing_exists() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, flags=re.M))
    named = set(re.findall(r"`make ([a-z-]+)`", (REPO_ROOT / "CONTRIBUTING.md").read_text()))
    assert {"test", "integ", "cdk-range", "examples"} <= named
    assert named <= targets, named - targets


def test_ci_runs_the_readmes_test_command() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    assert "make test   #" in readme.split("\n\n", 2)[1]
    workflow = yaml.safe_load((REPO_ROOT / ".github" / "workflows" / "ci.yml").read_text())
    runs = [step.get("run") for job in workflow["jobs"].values() for step in job["steps"]]
    assert "make test" in runs
    assert "make test" in (REPO_ROOT / ".ci" / "run").read_text()


def test_each_cdk_json_app_names_a_file_that_exists() -> None:
    for folder, entry in [("examples", "app.py"), ("examples/typescript", "bin/app.ts")]:
        config = json.loads((REPO_ROOT / folder / "cdk.json").read_text())
        assert config["app"].split()[-1] == entry
        assert (REPO_ROOT / folder / entry).is_file()
