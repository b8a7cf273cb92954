"""`make demo` as a newcomer runs it: a real process, a real synth, the moto server over HTTP.

The demo must end 0 within a minute, show Lambda refusing the functions without the waiter,
run the provider from the synthesized asset directory, end each first-deploy wait after its
push with the digest the simulated build pushed, answer the second deploy with one invocation
per waiter, and catch the lost push event with the sweep. With an image that never comes it
ends 1 with the waiter's own reason.
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
URI = r"\d{12}\.dkr\.ecr\.us-east-1\.amazonaws\.com/"


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


def run_demo(outdir: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    completed = subprocess.run(
        [sys.executable, str(DEMO), "--outdir", str(outdir), *args],
        env=demo_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return completed, time.monotonic() - started


@pytest.fixture(scope="module")
def demo_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[subprocess.CompletedProcess[str], Path, float]:
    outdir = tmp_path_factory.mktemp("demo") / "cdk.out"
    completed, took = run_demo(outdir)
    return completed, outdir, took


pytestmark = [pytest.mark.synth, pytest.mark.timeout(300)]


def test_demo_succeeds_within_a_minute(
    demo_run: tuple[subprocess.CompletedProcess[str], Path, float],
) -> None:
    completed, _, took = demo_run
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert completed.stderr.strip() == ""
    assert "Traceback" not in completed.stdout
    assert took < DEMO_SECONDS, f"the demo took {took:.1f} s"
    assert completed.stdout.rstrip().splitlines()[-2].startswith("Done in")


def test_no_response_url_is_printed(
    demo_run: tuple[subprocess.CompletedProcess[str], Path, float],
) -> None:
    completed, _, _ = demo_run
    for secret in ("Signature=", "X-Amz-Signature", "AWSAccessKeyId=", 'ResponseURL":'):
        assert secret not in completed.stdout + completed.stderr


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
            r"^\s+Code\.ImageUri = " + URI + r"(\S+)@(sha256:[0-9a-f]{64})$",
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


def test_the_provider_runs_from_the_synthesized_asset(
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
    # The table and the three rules of the template were created.
    assert re.search(r"^\S+\s+\S+\s+table\s+\S+Waits", completed.stdout, re.MULTILINE)
    rules = re.findall(r"rule\s+(\w+): .*\((ENABLED|DISABLED)\)$", completed.stdout, re.MULTILINE)
    assert {name for name, _ in rules} == {"CodeBuildEnded", "EcrPush", "Sweep"}


def test_each_first_deploy_wait_ends_after_its_push(
    demo_run: tuple[subprocess.CompletedProcess[str], Path, float],
) -> None:
    completed, _, _ = demo_run
    out = completed.stdout
    first = out.split("A second deploy")[0]
    assert first.count("pending, stored in the wait table") == 2, out
    assert first.count("not there yet (ImageNotFoundException)") >= 2, out
    pushes = {
        m["repo"]: float(m["at"])
        for m in re.finditer(STAMP + r"build\s+pushed (?P<repo>\S+):latest", first, re.MULTILINE)
    }
    found = {
        m["repo"]: float(m["at"])
        for m in re.finditer(
            STAMP + r"\s+\S+\s+\w[\w ]*: looked, found it -> " + URI + r"(?P<repo>[^@]+)@sha256:",
            first,
            re.MULTILINE,
        )
    }
    assert set(found) == set(pushes) == {"text-generation", "practice-material"}, out
    for repo, at in found.items():
        assert at >= pushes[repo], out
    assert re.search(r"Create: SUCCESS", first), out
    assert first.count("Create: SUCCESS") == 2, out
    latencies = re.findall(r"^  (\w+): (\d+\.\d\d) s, answered on ", first, re.MULTILINE)
    assert {name for name, _ in latencies} == {"TextGeneration", "PracticeMaterial"}, out


def test_the_second_deploy_is_one_invocation_per_waiter(
    demo_run: tuple[subprocess.CompletedProcess[str], Path, float],
) -> None:
    out = demo_run[0].stdout
    second = out.split("A second deploy")[1].split("whose push event is lost")[0]
    assert second.count("Update: SUCCESS") == 2, out
    assert second.count(": 1 invocation, 1 answer") == 2, out


def test_a_lost_push_event_is_caught_by_the_sweep(
    demo_run: tuple[subprocess.CompletedProcess[str], Path, float],
) -> None:
    out = demo_run[0].stdout
    last = out.split("whose push event is lost")[1]
    assert "1 push event lost: nothing wakes the wait" in last, out
    assert re.search(r"sweep: looked, found it -> " + URI + r"text-generation@sha256:", last), out
    assert "TextGeneration Update: SUCCESS" in last, out
    assert re.search(r"on the Lambda's clock", last), out


@pytest.fixture(scope="module")
def demo_without_second_push(
    tmp_path_factory: pytest.TempPathFactory,
) -> subprocess.CompletedProcess[str]:
    """The build pushes only the first image; the waiters' deadline is 4 Lambda minutes."""
    outdir = tmp_path_factory.mktemp("demo-fail") / "cdk.out"
    completed, _ = run_demo(outdir, "--push-after", "1", "--timeout", "240")
    return completed


def test_a_missing_image_fails_the_demo_with_the_waiters_reason(
    demo_without_second_push: subprocess.CompletedProcess[str],
) -> None:
    completed = demo_without_second_push
    out = completed.stdout
    assert completed.returncode == 1, out + completed.stderr
    assert "Traceback" not in out + completed.stderr
    assert out.count("Create: SUCCESS") == 1, out
    failed = re.search(r"^\[.*TextGeneration Create: FAILED: .*$", out, flags=re.MULTILINE)
    assert failed, out
    # The waiter's own reason, not CloudFormation giving up without one.
    assert re.search(
        r"timed out after \d+\.\d s waiting for image text-generation:latest", failed[0]
    ), out
    assert "did not receive a response" not in out
    assert "TextGenerationFunction756C6D59: none: its waiter failed" in out
    assert out.rstrip().splitlines()[-1].startswith("FAILED after")
