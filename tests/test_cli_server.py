"""The CLI as a real process against the moto server over HTTP: the acceptance figures.

The process finds the local ECR through the standard ``AWS_ENDPOINT_URL_ECR`` (set by the
``server_ecr`` fixture), exactly as it would find any other endpoint. The timing of each
path (when the looks happen, that nothing sleeps before a never) is checked on a fake clock,
in process, over the same HTTP; one wall-clock check per path stays, with an upper limit a
busy two-core machine meets.
"""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from ecr_image_waiter.cli.main import main
from ecr_image_waiter.local.support import FakeClock
from tests.conftest import ACCOUNT, REGION
from tests.images import push, single_manifest

REGISTRY = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
COMMAND = [sys.executable, "-m", "ecr_image_waiter"]


def start(*argv: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*COMMAND, *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )


def run(*argv: str, timeout: float = 60) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    done = subprocess.run(
        [*COMMAND, *argv],
        check=False,
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=timeout,
    )
    return done, time.monotonic() - started


def test_image_pushed_two_seconds_later_is_found_within_about_one_interval(
    server_ecr: Any,
) -> None:
    server_ecr.create_repository(repositoryName="repo")
    process = start("wait", "repo:tag", "--interval", "1", "--timeout", "30")
    began = time.monotonic()
    pushed: dict[str, Any] = {}
    lines: list[str] = []
    missed = threading.Event()

    def read_progress() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)
            if "not yet (ImageNotFoundException), attempt 1" in line:
                missed.set()
        missed.set()

    reader = threading.Thread(target=read_progress)
    reader.start()
    try:
        # Push two seconds in, and never before the process has looked once: a slow start
        # (a busy machine) must not turn this into an image that was already there.
        missed.wait(60)
        time.sleep(max(0.0, 2 - (time.monotonic() - began)))
        pushed["digest"] = push(server_ecr, "repo", single_manifest("acceptance"), "tag")
        pushed["at"] = time.monotonic()
        assert process.stdout is not None
        stdout = process.stdout.read()
        process.wait(timeout=60)
        exited = time.monotonic()
    finally:
        if process.poll() is None:
            process.kill()
        reader.join()
    stderr = "".join(lines)
    assert process.returncode == 0, stderr
    assert stdout == f"{REGISTRY}/repo@{pushed['digest']}\n"
    assert re.fullmatch(r".*@sha256:[0-9a-f]{64}\n", stdout)
    after_push = exited - pushed["at"]
    print(f"\nacceptance: found {after_push:.2f} s after the push (interval 1 s)")
    assert after_push < 1 + 4  # one interval, plus generous slack for a busy machine
    # Not a terminal: one plain line per look on stderr.
    assert "ecr-image-waiter: repo:tag: not yet (ImageNotFoundException), attempt 1" in stderr
    assert re.search(r"repo:tag: ready \(sha256:[0-9a-f]{64}\), attempt \d+", stderr)


def test_absent_tag_with_timeout_3_exits_1_after_about_3_seconds(server_ecr: Any) -> None:
    server_ecr.create_repository(repositoryName="repo")
    done, took = run("wait", "repo:absent", "--timeout", "3", "--interval", "1")
    print(f"\nacceptance: timeout 3 s exited {done.returncode} after {took:.2f} s")
    assert done.returncode == 1, done.stderr
    assert took >= 3
    assert took < 3 + 12
    assert done.stdout == ""
    last = done.stderr.splitlines()[-1]
    assert last.startswith("ecr-image-waiter: error: timed out after 3.0 s waiting for image")
    assert "ImageNotFoundException" in last


def in_process(*argv: str) -> tuple[int, str, str, FakeClock]:
    """The command in this process on a fake clock (its ECR calls still go over HTTP)."""
    fake, out, err = FakeClock(), io.StringIO(), io.StringIO()
    status = main(list(argv), stdout=out, stderr=err, clock=fake.clock, sleep=fake.sleep)
    return status, out.getvalue(), err.getvalue(), fake


def test_timeout_3_looks_each_second_until_the_deadline_then_exits_1(server_ecr: Any) -> None:
    server_ecr.create_repository(repositoryName="repo")
    status, stdout, stderr, fake = in_process(
        "wait", "repo:absent", "--timeout", "3", "--interval", "1"
    )
    assert status == 1, stderr
    assert fake.sleeps == [1.0, 1.0, 1.0]  # looks at 0, 1, 2 and 3 s: the last at the deadline
    assert fake.elapsed == 3.0
    assert stdout == ""
    last = stderr.splitlines()[-1]
    assert last.startswith("ecr-image-waiter: error: timed out after 3.0 s waiting for image")
    assert "ImageNotFoundException" in last


def test_missing_repository_ends_without_sleeping(server_ecr: Any) -> None:
    status, stdout, stderr, fake = in_process(
        "wait", "ghost:v1", "--interval", "1", "--timeout", "30"
    )
    assert status == 3, stderr
    assert fake.sleeps == []
    assert stdout == ""
    assert "RepositoryNotFoundException" in stderr


def test_missing_repository_exits_3_at_once(server_ecr: Any) -> None:
    done, took = run("wait", "ghost:v1", "--interval", "1", "--timeout", "30")
    print(f"\nacceptance: missing repository exited {done.returncode} after {took:.2f} s")
    assert done.returncode == 3, done.stderr
    assert took < 10  # the acceptance says < 2 s; the bound is generous for a busy machine
    assert "RepositoryNotFoundException" in done.stderr
    assert "Traceback" not in done.stderr


def test_bad_tag_exits_2_without_traceback(server_ecr: Any) -> None:
    done, took = run("wait", "repo:bad tag!")
    print(f"\nacceptance: bad tag exited {done.returncode} after {took:.2f} s")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        "ecr-image-waiter: error: image tag 'bad tag!' is not valid: a tag is letters, digits, "
        "'_', '.' and '-', and does not start with '.' or '-' (pattern "
        "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})"
    ]


def test_check_and_json_over_http(server_ecr: Any) -> None:
    server_ecr.create_repository(repositoryName="repo")
    digest = push(server_ecr, "repo", single_manifest("check"), "v1")
    done, _ = run("check", "repo:v1", "repo:v1", "--json")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 2
    assert f'"digest": "{digest}"' in lines[0]
    assert '"attempts": 1' in lines[0]
    absent, _ = run("check", "repo:v2")
    assert absent.returncode == 1


@pytest.mark.parametrize(
    "command",
    [
        COMMAND,
        [str(Path(sys.executable).with_name("ecr-image-waiter"))],
    ],
    ids=["python -m", "console script"],
)
def test_help_works_from_both_entry_points(command: list[str]) -> None:
    if not Path(command[0]).exists():
        pytest.fail(f"{command[0]} is not installed: run make test (it installs the package)")
    done = subprocess.run(
        [*command, "--help"], check=False, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: ecr-image-waiter")
    assert "wait" in done.stdout


def test_ctrl_c_exits_130_with_one_line(server_ecr: Any) -> None:
    server_ecr.create_repository(repositoryName="repo")
    process = start("wait", "repo:never", "--interval", "1", "--timeout", "60")
    # Interrupt once the process has made its first look (its first progress line).
    assert process.stderr is not None
    first = process.stderr.readline()
    assert "repo:never: not yet (ImageNotFoundException), attempt 1" in first
    process.send_signal(signal.SIGINT)
    _, rest = process.communicate(timeout=30)
    assert process.returncode == 130
    assert "Traceback" not in rest
    assert rest.strip().splitlines()[-1] == "ecr-image-waiter: interrupted"
