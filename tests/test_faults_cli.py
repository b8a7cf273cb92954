"""The ``ecr-image-waiter`` command as a real process, pointed at the proxy by
``AWS_ENDPOINT_URL_ECR``, with its own default client (botocore standard retries)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from tests.faultproxy import (
    DROP,
    READY,
    TIMEOUT,
    Cycle,
    FaultProxy,
    Outcome,
    Plan,
    held_digest,
    judge,
)
from tests.faultproxy import ERROR_500 as E500
from tests.faultproxy import PASS as OK
from tests.faultproxy import THROTTLE as T
from tests.images import digest_of, push, single_manifest

SECRET = "cli-fault-secret-b9f1"
TOKEN = "cli-fault-session-token-77c2"


def run_cli(endpoint: str, *args: str) -> tuple[int, str, str, float]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("AWS_") and key != "PYTHONPATH"
    }
    env.update(
        AWS_ENDPOINT_URL_ECR=endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY=SECRET,
        AWS_SESSION_TOKEN=TOKEN,
        AWS_REGION="us-east-1",
        AWS_CONFIG_FILE="/dev/null",
        AWS_SHARED_CREDENTIALS_FILE="/dev/null",
        AWS_EC2_METADATA_DISABLED="true",
    )
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "ecr_image_waiter", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    return done.returncode, done.stdout, done.stderr, time.monotonic() - start


def test_cli_wait_rides_out_throttling_5xx_and_drops(
    server_ecr: Any, proxies: Callable[[Plan], FaultProxy]
) -> None:
    proxy = proxies(Cycle([T, E500, DROP, OK], end=3.0))
    server_ecr.create_repository(repositoryName="app")
    manifest = single_manifest("cli-faults")
    timer = threading.Timer(1.0, push, (server_ecr, "app", manifest), {"tag": "v1"})
    timer.start()
    status, out, err, elapsed = run_cli(
        proxy.url, "wait", "app:v1", "--interval", "0.3", "--timeout", "40"
    )
    timer.join()
    digest = out.strip().rsplit("@", 1)[-1] if status == 0 else None
    verdict = judge(
        "cli-mixed-burst",
        READY,
        Outcome(READY if status == 0 else f"exit {status}", digest=digest, elapsed=elapsed),
        proxy=proxy,
        true_digest=digest_of(manifest),
        held=held_digest(server_ecr, "app", "v1"),
        read_timeout=15.0,
        surface="cli",
    )
    assert verdict.correct, (verdict.explain(), err)
    assert out.strip().endswith(f"/app@{digest_of(manifest)}")
    assert SECRET not in err + out
    assert TOKEN not in err + out
    assert sum(verdict.faults.values()) >= 3


def test_cli_wait_times_out_with_exit_1_under_faults(
    server_ecr: Any, proxies: Callable[[Plan], FaultProxy]
) -> None:
    proxy = proxies(Cycle([T, OK, E500]))
    server_ecr.create_repository(repositoryName="app")
    status, out, err, elapsed = run_cli(
        proxy.url, "wait", "app:v1", "--interval", "0.5", "--timeout", "2"
    )
    verdict = judge(
        "cli-timeout",
        TIMEOUT,
        Outcome(TIMEOUT if status == 1 else f"exit {status}", elapsed=elapsed),
        proxy=proxy,
        true_digest=None,
        held=None,
        read_timeout=15.0,
        surface="cli",
    )
    assert verdict.correct, (verdict.explain(), err)
    assert out == ""
    errors = [line for line in err.splitlines() if line.startswith("ecr-image-waiter: error:")]
    assert len(errors) == 1
    assert "timed out" in errors[0]
    assert "app:v1" in errors[0]
    assert "Traceback" not in err
