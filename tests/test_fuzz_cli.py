"""Generated command lines: main(argv) with injected streams, against the local ECR.

Every case knows its expected exit status by construction: 2 with one
``ecr-image-waiter: error:`` line for invalid input (nothing asked of ECR, nothing on
stdout); for valid input 0 only when every image is there, 1 when one is not there yet, 3
when a repository is missing. Never a traceback, never an "unexpected" error.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecr_image_waiter.cli.main import main
from tests.conftest import ACCOUNT, REGION
from tests.faultproxy import Tally, scale
from tests.images import push, single_manifest
from tests.test_fuzz_references import invalid_reference, repository, tag

PROG_ERROR = "ecr-image-waiter: error:"
ENV = {"AWS_REGION": REGION}
PRESENT = "present"

TALLY = Tally("cli")


@pytest.fixture(autouse=True, scope="module")
def _flush_tally() -> Iterator[None]:
    yield
    TALLY.flush()


@pytest.fixture
def present_image(server_ecr: Any) -> str:
    """One repository with one image on the local ECR (reached via AWS_ENDPOINT_URL_ECR)."""
    server_ecr.create_repository(repositoryName=PRESENT)
    return push(server_ecr, PRESENT, single_manifest("fuzz-cli"), tag="v1")


def fuzz_settings(examples: int) -> settings:
    return settings(
        derandomize=True,
        max_examples=examples * scale(),
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


# --- valid command lines ------------------------------------------------------------------------

OK, NOT_YET, MISSING = 0, 1, 3


@st.composite
def valid_image(draw: st.DrawFn) -> tuple[str, int, bool]:
    """(IMAGE, exit status when looked at, whether a missing repository is the reason)."""
    kind = draw(st.sampled_from(["present", "present-uri", "absent-tag", "missing-repo"]))
    if kind == "present":
        return f"{PRESENT}:v1", OK, False
    if kind == "present-uri":
        return f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{PRESENT}:v1", OK, False
    if kind == "absent-tag":
        return f"{PRESENT}:{draw(tag.filter(lambda t: t != 'v1'))}", NOT_YET, False
    repo = draw(repository.filter(lambda r: r != PRESENT and "." not in r.split("/", 1)[0]))
    return f"{repo}:{draw(tag)}", MISSING, True


@st.composite
def valid_command(draw: st.DrawFn) -> tuple[list[str], int, int]:
    """(argv, expected exit status, number of images)."""
    images = draw(st.lists(valid_image(), min_size=1, max_size=3))
    wait_for_repo = draw(st.booleans())
    argv: list[str] = [draw(st.sampled_from(["check", "wait"]))]
    argv += [image for image, _status, _missing in images]
    if argv[0] == "wait":
        argv += ["--timeout", draw(st.sampled_from(["0", "0s", "0m", "0.0", "0h"]))]
        argv += ["--interval", draw(st.sampled_from(["1", "1s", "0.5", "2m", "1h", "1m30s"]))]
        if draw(st.booleans()):
            argv.append(draw(st.sampled_from(["--quiet", "-q"])))
    if wait_for_repo:
        argv.append("--wait-for-repository")
    if draw(st.booleans()):
        argv.append("--json")
    if draw(st.booleans()):
        argv += ["--region", REGION]
    if draw(st.booleans()):
        argv += ["--registry-id", ACCOUNT]
    statuses = [
        NOT_YET if missing and wait_for_repo else status for _image, status, missing in images
    ]
    return argv, max(statuses), len(images)


# --- invalid command lines ----------------------------------------------------------------------

BAD_DURATIONS = st.sampled_from(
    ["-1", "-5m", "abc", "1x", "", " ", "1h1h", "inf", "nan", "1e3", "--", "١٢", "9" * 400, "1 m"]
)


@st.composite
def invalid_command(draw: st.DrawFn) -> tuple[str, list[str]]:
    """(label, argv) breaking exactly one rule; the rest is valid."""
    base = [f"{PRESENT}:v1"]
    label = draw(
        st.sampled_from(
            [
                "bad-image",
                "bad-image-among-good",
                "bad-timeout",
                "bad-interval",
                "zero-interval",
                "bad-region",
                "bad-registry-id",
                "unknown-option",
                "unknown-command",
                "no-command",
                "no-image",
                "missing-value",
                "uri-region-conflict",
            ]
        )
    )
    command = draw(st.sampled_from(["check", "wait"]))
    if label == "bad-image":
        _rule, image = draw(invalid_reference())
        return label, [command, "--", image]
    if label == "bad-image-among-good":
        _rule, image = draw(invalid_reference())
        return label, ["check", *base, "--", image]
    if label == "bad-timeout":
        return label, ["wait", *base, "--timeout", draw(BAD_DURATIONS)]
    if label == "bad-interval":
        return label, ["wait", *base, "--timeout", "0", "--interval", draw(BAD_DURATIONS)]
    if label == "zero-interval":
        return label, ["wait", *base, "--interval", draw(st.sampled_from(["0", "0s", "0m0s"]))]
    if label == "bad-region":
        bad = draw(st.sampled_from(["US-EAST-1", "moon", "", "us_east_1", "us-east-1 ", "é"]))
        return label, [command, *base, "--region", bad]
    if label == "bad-registry-id":
        bad = draw(st.text("0123456789", max_size=11) | st.sampled_from(["abcdefghijkl", "1" * 13]))
        return label, [command, *base, "--registry-id", bad]
    if label == "unknown-option":
        option = "--" + draw(st.sampled_from(["frobnicate", "timeoutx", "jsonn", "retries"]))
        return label, [command, *base, option]
    if label == "unknown-command":
        return label, [draw(st.sampled_from(["wiat", "list", "push", "WAIT", "describe"])), *base]
    if label == "no-command":
        return label, draw(st.sampled_from([[], ["--json"], ["--region", REGION]]))
    if label == "no-image":
        return label, [command]
    if label == "missing-value":
        option = draw(st.sampled_from(["--region", "--registry-id"]))
        return label, [command, *base, option]
    assert label == "uri-region-conflict"
    uri = f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/{PRESENT}:v1"
    return label, [command, uri, "--region", REGION]


def run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(argv, stdout=out, stderr=err, env=ENV)
    return int(status), out.getvalue(), err.getvalue()


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith(PROG_ERROR)]


def sane(stderr: str) -> bool:
    return "Traceback" not in stderr and "unexpected" not in stderr


@given(valid_command())
@fuzz_settings(60)
def test_valid_command_lines_end_as_ecr_says(
    present_image: str, case: tuple[list[str], int, int]
) -> None:
    argv, expected, images = case
    status, out, err = run(argv)
    ok = status == expected and sane(err)
    if status == OK:
        lines = out.splitlines()
        ok = ok and len(lines) == images
        for line in lines:
            uri = json.loads(line)["imageUri"] if "--json" in argv else line
            ok = ok and uri.endswith(f"/{PRESENT}@{present_image}")
    else:
        ok = ok and out == "" and len(error_lines(err)) >= 1
    assert TALLY.add("valid", ok=ok), (argv, status, out, err)


@given(invalid_command())
@fuzz_settings(150)
def test_invalid_command_lines_exit_2_with_one_error_line(
    present_image: str, case: tuple[str, list[str]]
) -> None:
    label, argv = case
    status, out, err = run(argv)
    lines = error_lines(err)
    ok = status == 2 and out == "" and len(lines) == 1 and sane(err)
    assert TALLY.add(label, ok=ok), (label, argv, status, out, err)


junk_word = st.text(max_size=30) | st.sampled_from(
    ["check", "--json", "--region", "--registry-id", "--timeout", "--", "-q", "present:v1", "-"]
)


@given(st.lists(junk_word, max_size=6).filter(lambda words: "wait" not in words))
@fuzz_settings(150)
def test_any_command_line_ends_with_a_status_and_never_a_traceback(
    present_image: str, argv: list[str]
) -> None:
    status, _out, err = run(argv)
    ok = status in {0, 1, 2, 3} and sane(err) and (status == 0 or len(error_lines(err)) >= 1)
    assert TALLY.add("any", ok=ok), (argv, status, err)
