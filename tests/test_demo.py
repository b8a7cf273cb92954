"""`make demo` as a newcomer runs it: a real process, a real synth, the moto server over HTTP.

The demo must end 0, show Lambda refusing the functions without the waiter, run the handler
code from the synthesized asset directory, and give each function the URI of the digest the
simulated build pushed, in under a minute.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "examples" / "demo.py"
#: The issue's figure: the demo finishes in under a minute.
DEMO_SECONDS = 60
STAMP = r"^\[\+\s*(?P<at>\d+\.\d)s\] "


def demo_env() -> dict[str, str]:
    """The environment without AWS settings, with the JSII settings the Makefile exports."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "JSII_", "MOTO_"))
    }
    env["JSII_NODE"] = str(ROOT / ".venv" / "node")
    env["JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"] = "20"
    env["JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


@pytest.fixture(scope="module")
def demo_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[subprocess.CompletedProcess[str], Path, float]:
    outdir = tmp_path_factory.mktemp("demo") / "cdk.out"
    started = time.monotonic()
    completed = subprocess.run(
        [sys.executable, str(DEMO), "--outdir", str(outdir)],
        env=demo_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return completed, outdir, time.monotonic() - started


pytestmark = [pytest.mark.synth, pytest.mark.timeout(180)]


def test_demo_succeeds_within_a_minute(
    demo_run: tuple[subprocess.CompletedProcess[str], Path, float],
) -> None:
    completed, _, took = demo_run
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert completed.stderr.strip() == ""
    assert "Traceback" not in completed.stdout
    assert took < DEMO_SECONDS, f"the demo took {took:.1f} s"


def test_functions_get_the_pushed_digests(
    demo_run: tuple[subprocess.CompletedProcess[str], Path, float],
) -> None:
    completed, _, _ = demo_run
    out = completed.stdout
    pushed = dict(
        re.findall(r"\bpushed (\S+):latest (sha256:[0-9a-f]{64})$", out, flags=re.MULTILINE)
    )
    pinned = dict(
        re.findall(
            r"^\s+Code\.ImageUri = \d{12}\.dkr\.ecr\.us-east-1\.amazonaws\.com/"
            r"(\S+)@(sha256:[0-9a-f]{64})$",
            out,
            flags=re.MULTILINE,
        )
    )
    assert len(pushed) == 2, out
    assert pinned == pushed, out
    assert out.count("CodeSha256 matches") == 2, out


def test_without_the_waiter_lambda_refuses_the_functions(
    demo_run: tuple[subprocess.CompletedProcess[str], Path, float],
) -> None:
    completed, _, _ = demo_run
    out = completed.stdout
    refused = re.findall(
        r"Source image (\S+):latest does not exist\. Provide a valid source image\.$",
        out,
        flags=re.MULTILINE,
    )
    assert len(refused) == 2, out
    assert out.count("refused: ImageNotFoundException") == 2, out
    # Refused before anything was pushed: that is the race.
    first_push = min(
        float(m["at"]) for m in re.finditer(STAMP + r"build\s+pushed", out, re.MULTILINE)
    )
    refusals = [
        float(m["at"]) for m in re.finditer(STAMP + r"\s+local Lambda\s+refused", out, re.MULTILINE)
    ]
    assert len(refusals) == 2, out
    assert max(refusals) <= first_push, out


def test_handlers_come_from_the_synthesized_asset(
    demo_run: tuple[subprocess.CompletedProcess[str], Path, float],
) -> None:
    completed, outdir, _ = demo_run
    match = re.search(r"handler code loaded from (\S+)$", completed.stdout, flags=re.MULTILINE)
    assert match, completed.stdout
    loaded = Path(match[1])
    api_template = json.loads((outdir / "EcrImageWaiterExample-Api.template.json").read_text())
    keys = {
        resource["Properties"]["Code"]["S3Key"]
        for resource in api_template["Resources"].values()
        if resource["Type"] == "AWS::Lambda::Function"
        and resource["Properties"].get("Handler", "").startswith("ecr_image_waiter.")
    }
    assert len(keys) == 1
    asset = outdir / ("asset." + keys.pop().removesuffix(".zip"))
    assert loaded == asset / "ecr_image_waiter" / "custom_resource" / "handler.py"
    assert loaded.is_file()
    assert ROOT / "src" not in loaded.parents
    # The asset stays as synthesized: nothing compiled into it.
    assert not list(asset.rglob("__pycache__"))


def test_each_waiter_answers_after_its_push(
    demo_run: tuple[subprocess.CompletedProcess[str], Path, float],
) -> None:
    completed, _, _ = demo_run
    out = completed.stdout
    pushes = {
        m["repo"]: float(m["at"])
        for m in re.finditer(STAMP + r"build\s+pushed (?P<repo>\S+):latest", out, re.MULTILINE)
    }
    found = {
        m["repo"]: float(m["at"])
        for m in re.finditer(
            STAMP + r"\S+\s+is_complete: found it -> \S+?/(?P<repo>[^/@]+)@sha256:",
            out,
            re.MULTILINE,
        )
    }
    assert len(found) == 2, out
    assert set(found) == set(pushes), out
    for repo, at in found.items():
        assert at >= pushes[repo], out
    assert out.count("is_complete: not yet") >= 2, out
    assert out.count("CloudFormation gets SUCCESS") == 2, out


@pytest.fixture(scope="module")
def demo_without_second_push(
    tmp_path_factory: pytest.TempPathFactory,
) -> subprocess.CompletedProcess[str]:
    """The build pushes only the first image; the waiters' deadline is 4 s."""
    outdir = tmp_path_factory.mktemp("demo-fail") / "cdk.out"
    return subprocess.run(
        [sys.executable, str(DEMO), "--outdir", str(outdir), "--push-after", "1", "--timeout", "4"],
        env=demo_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_missing_image_fails_the_demo_with_the_waiters_reason(
    demo_without_second_push: subprocess.CompletedProcess[str],
) -> None:
    completed = demo_without_second_push
    out = completed.stdout
    assert completed.returncode == 1, out + completed.stderr
    assert "Traceback" not in out + completed.stderr
    assert out.count("CloudFormation gets SUCCESS") == 1, out
    failed = re.search(r"^\[.*CloudFormation gets FAILED after .*$", out, flags=re.MULTILINE)
    assert failed, out
    # The waiter's own reason, before the framework's bare "Operation timed out".
    assert re.search(
        r"timed out after \d+\.\d s waiting for image text-generation:latest", failed[0]
    ), out
    assert "Operation timed out" not in out
    assert "TextGenerationFunction756C6D59: none: its waiter failed" in out
    assert out.rstrip().splitlines()[-1].startswith("FAILED after")
