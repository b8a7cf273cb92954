"""The CLI in process, through main() with injected streams, against moto in process."""

from __future__ import annotations

import io
import json
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from ecr_image_waiter.cli.main import ExitStatus, main
from ecr_image_waiter.errors import InvalidReferenceError
from ecr_image_waiter.local.support import FakeClock
from tests.conftest import ACCOUNT, REGION
from tests.images import DOCKER_V2, push, single_manifest

REGISTRY = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
JSON_KEYS = {
    "repository",
    "tag",
    "digest",
    "imageUri",
    "mediaType",
    "pushedAt",
    "attempts",
    "waitedSeconds",
}


@dataclass
class Run:
    status: ExitStatus
    stdout: str
    stderr: str

    @property
    def lines(self) -> list[str]:
        return self.stdout.splitlines()


class TtyStream(io.StringIO):
    def isatty(self) -> bool:
        return True


def run_cli(*argv: str, stderr: io.StringIO | None = None, **kwargs: Any) -> Run:
    out, err = io.StringIO(), stderr if stderr is not None else io.StringIO()
    status = main(list(argv), stdout=out, stderr=err, **kwargs)
    return Run(status, out.getvalue(), err.getvalue())


def assert_one_error_line(run: Run) -> str:
    errors = [line for line in run.stderr.splitlines() if line.startswith("ecr-image-waiter:")]
    assert "Traceback" not in run.stderr
    assert errors, run.stderr
    assert errors[-1].startswith("ecr-image-waiter: error: ")
    return errors[-1]


# --- wait: ready --------------------------------------------------------------------------


def test_image_already_there_is_found_on_the_first_check(moto_ecr: Any) -> None:
    moto_ecr.create_repository(repositoryName="app")
    digest = push(moto_ecr, "app", single_manifest("first"), tag="v1")
    fake = FakeClock()
    run = run_cli("wait", "app:v1", "--json", clock=fake.clock, sleep=fake.sleep)
    assert run.status is ExitStatus.OK
    (record,) = [json.loads(line) for line in run.lines]
    assert record["attempts"] == 1
    assert record["digest"] == digest
    assert fake.sleeps == []


def test_json_lines_carry_the_documented_keys(moto_ecr: Any) -> None:
    moto_ecr.create_repository(repositoryName="team/api")
    digest = push(moto_ecr, "team/api", single_manifest("json"), tag="1.2.3")
    run = run_cli("wait", "team/api:1.2.3", "--json", "--quiet")
    assert run.status is ExitStatus.OK, run.stderr
    assert run.stderr == ""
    (line,) = run.lines
    record = json.loads(line)
    assert set(record) >= JSON_KEYS
    assert record["repository"] == "team/api"
    assert record["tag"] == "1.2.3"
    assert record["digest"] == digest
    assert record["imageUri"] == f"{REGISTRY}/team/api@{digest}"
    assert record["mediaType"] == DOCKER_V2
    assert re.match(r"\d{4}-\d\d-\d\dT", record["pushedAt"])
    assert isinstance(record["waitedSeconds"], float)


def test_image_pushed_during_the_wait_is_found_within_one_interval(moto_ecr: Any) -> None:
    moto_ecr.create_repository(repositoryName="app")
    fake = FakeClock()
    pushed: list[str] = []
    fake.at(2.5, lambda: pushed.append(push(moto_ecr, "app", single_manifest("late"), "v2")))
    run = run_cli(
        "wait", "app:v2", "--interval", "1", "--timeout", "30", clock=fake.clock, sleep=fake.sleep
    )
    assert run.status is ExitStatus.OK, run.stderr
    assert run.lines == [f"{REGISTRY}/app@{pushed[0]}"]
    # Looks at 0, 1, 2, 3: the push at 2.5 is seen at 3, within one interval.
    assert fake.sleeps == [1.0, 1.0, 1.0]
    assert run.stderr.count("not yet (ImageNotFoundException)") == 3


def test_several_images_are_printed_in_argument_order(moto_ecr: Any) -> None:
    moto_ecr.create_repository(repositoryName="one")
    moto_ecr.create_repository(repositoryName="two")
    digests = {
        "two:b": push(moto_ecr, "two", single_manifest("b"), "b"),
        "one:a": push(moto_ecr, "one", single_manifest("a"), "a"),
        "one:c": push(moto_ecr, "one", single_manifest("c"), "c"),
    }
    run = run_cli("wait", "one:c", "two:b", "one:a", "--quiet", "--interval", "1")
    assert run.status is ExitStatus.OK, run.stderr
    assert run.lines == [
        f"{REGISTRY}/one@{digests['one:c']}",
        f"{REGISTRY}/two@{digests['two:b']}",
        f"{REGISTRY}/one@{digests['one:a']}",
    ]


def test_several_images_wait_concurrently_until_the_last_is_pushed(moto_ecr: Any) -> None:
    moto_ecr.create_repository(repositoryName="one")
    moto_ecr.create_repository(repositoryName="two")
    first = push(moto_ecr, "one", single_manifest("x"), "x")
    later: list[str] = []
    err = io.StringIO()

    def push_later() -> None:
        # Push once the wait has missed two:y (its progress line says so), however slow the
        # machine is to get there: the second image is found by a later look.
        deadline = time.monotonic() + 30
        while "two:y: not yet" not in err.getvalue() and time.monotonic() < deadline:
            time.sleep(0.05)
        later.append(push(moto_ecr, "two", single_manifest("y"), "y"))

    pusher = threading.Thread(target=push_later)
    pusher.start()
    run = run_cli(
        "wait", "one:x", "two:y", "--json", "--interval", "1", "--timeout", "60", stderr=err
    )
    pusher.join()
    assert run.status is ExitStatus.OK, run.stderr
    records = [json.loads(line) for line in run.lines]
    assert [r["digest"] for r in records] == [first, later[0]]
    assert records[0]["attempts"] == 1
    assert records[1]["attempts"] >= 2


def test_digest_reference_and_full_uri(moto_ecr: Any) -> None:
    moto_ecr.create_repository(repositoryName="app")
    digest = push(moto_ecr, "app", single_manifest("d"), "v1")
    run = run_cli("check", f"app@{digest}", f"{REGISTRY}/app:v1")
    assert run.status is ExitStatus.OK, run.stderr
    assert run.lines == [f"{REGISTRY}/app@{digest}"] * 2


def test_full_uri_brings_its_own_region(moto_ecr: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    west = boto3.client("ecr", region_name="us-west-2")
    west.create_repository(repositoryName="app")
    digest = push(west, "app", single_manifest("west"), "v1")
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    uri = f"{ACCOUNT}.dkr.ecr.us-west-2.amazonaws.com/app:v1"
    run = run_cli("check", uri, env={})
    assert run.status is ExitStatus.OK, run.stderr
    assert run.lines == [f"{ACCOUNT}.dkr.ecr.us-west-2.amazonaws.com/app@{digest}"]


def test_region_flag_selects_the_region(moto_ecr: Any) -> None:
    west = boto3.client("ecr", region_name="eu-west-1")
    west.create_repository(repositoryName="app")
    digest = push(west, "app", single_manifest("eu"), "v1")
    run = run_cli("check", "app:v1", "--region", "eu-west-1")
    assert run.status is ExitStatus.OK, run.stderr
    assert run.lines == [f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/app@{digest}"]
    # In us-east-1 (the environment's region) the repository does not exist.
    assert run_cli("check", "app:v1").status is ExitStatus.NEVER


def test_wait_for_repository_turns_a_missing_repository_into_not_yet(moto_ecr: Any) -> None:
    fake = FakeClock()
    pushed: list[str] = []

    def create_and_push() -> None:
        moto_ecr.create_repository(repositoryName="fresh")
        pushed.append(push(moto_ecr, "fresh", single_manifest("f"), "v1"))

    fake.at(4, create_and_push)
    argv = ["wait", "fresh:v1", "--interval", "2", "--wait-for-repository"]
    run = run_cli(*argv, clock=fake.clock, sleep=fake.sleep)
    assert run.status is ExitStatus.OK, run.stderr
    assert run.lines == [f"{REGISTRY}/fresh@{pushed[0]}"]
    assert "not yet (RepositoryNotFoundException)" in run.stderr


# --- wait: timeout and never --------------------------------------------------------------


def test_absent_tag_times_out_at_the_deadline_with_exit_1(moto_ecr: Any) -> None:
    moto_ecr.create_repository(repositoryName="app")
    fake = FakeClock()
    run = run_cli(
        "wait", "app:v9", "--timeout", "25s", "--interval", "10", clock=fake.clock, sleep=fake.sleep
    )
    assert run.status is ExitStatus.TIMEOUT
    assert run.stdout == ""
    assert fake.sleeps == [10.0, 10.0, 5.0]
    line = assert_one_error_line(run)
    assert "timed out after 25.0 s" in line
    assert "app:v9" in line
    assert "ImageNotFoundException" in line


def test_timeout_zero_is_one_check(moto_ecr: Any) -> None:
    moto_ecr.create_repository(repositoryName="app")
    fake = FakeClock()
    run = run_cli("wait", "app:nope", "--timeout", "0", clock=fake.clock, sleep=fake.sleep)
    assert run.status is ExitStatus.TIMEOUT
    assert fake.sleeps == []
    assert "(1 checks)" in assert_one_error_line(run)


def test_missing_repository_exits_3_at_once(moto_ecr: Any) -> None:
    fake = FakeClock()
    run = run_cli("wait", "ghost:v1", clock=fake.clock, sleep=fake.sleep)
    assert run.status is ExitStatus.NEVER
    assert fake.sleeps == []
    line = assert_one_error_line(run)
    assert "ghost:v1" in line
    assert "RepositoryNotFoundException" in line
    assert "create the repository" in line


def test_access_denied_exits_3_naming_the_iam_action(
    moto_ecr: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """moto's IAM enforcement: a user without any policy is refused ecr:DescribeImages."""
    from moto.core import set_initial_no_auth_action_count

    @set_initial_no_auth_action_count(3)
    def scenario() -> Run:
        iam = boto3.client("iam", region_name=REGION)
        moto_ecr.create_repository(repositoryName="secret")
        iam.create_user(UserName="nobody")
        key = iam.create_access_key(UserName="nobody")["AccessKey"]
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
        return run_cli("wait", "secret:v1", "--interval", "1")

    run = scenario()
    assert run.status is ExitStatus.NEVER, run.stderr
    line = assert_one_error_line(run)
    assert "access denied to ecr:DescribeImages" in line
    assert "secret:v1" in line


def test_first_never_cancels_the_other_waits(moto_ecr: Any) -> None:
    moto_ecr.create_repository(repositoryName="app")
    started = time.monotonic()
    run = run_cli("wait", "app:later", "ghost:v1", "--interval", "1", "--timeout", "120")
    took = time.monotonic() - started
    assert run.status is ExitStatus.NEVER
    assert run.stdout == ""
    # Generous bound: the point is not waiting 120 s for app:later.
    assert took < 60
    errors = [line for line in run.stderr.splitlines() if ": error: " in line]
    assert len(errors) == 1
    assert "ghost:v1" in errors[0]


def test_each_failed_image_is_named(moto_ecr: Any) -> None:
    moto_ecr.create_repository(repositoryName="app")
    run = run_cli("check", "ghost:v1", "app:v1", "phantom:v2")
    assert run.status is ExitStatus.NEVER
    errors = [
        line for line in run.stderr.splitlines() if line.startswith("ecr-image-waiter: error")
    ]
    assert len(errors) == 3
    assert "ghost:v1" in errors[0]
    assert "RepositoryNotFoundException" in errors[0]
    assert "app:v1 is not in ECR" in errors[1]
    assert "phantom:v2" in errors[2]


# --- check ------------------------------------------------------------------------------------


def test_check_present_absent_and_missing_repository(moto_ecr: Any) -> None:
    moto_ecr.create_repository(repositoryName="app")
    digest = push(moto_ecr, "app", single_manifest("c"), "v1")
    ok = run_cli("check", "app:v1", "--json")
    assert ok.status is ExitStatus.OK
    record = json.loads(ok.stdout)
    assert record["digest"] == digest
    assert record["attempts"] == 1
    assert ok.stderr == ""

    absent = run_cli("check", "app:v2")
    assert absent.status is ExitStatus.TIMEOUT
    assert "app:v2 is not in ECR: ImageNotFoundException" in assert_one_error_line(absent)

    missing = run_cli("check", "nope:v1")
    assert missing.status is ExitStatus.NEVER
    assert "RepositoryNotFoundException" in assert_one_error_line(missing)

    waiting = run_cli("check", "nope:v1", "--wait-for-repository")
    assert waiting.status is ExitStatus.TIMEOUT


# --- invalid input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["wait", "app:bad tag!"], "image tag 'bad tag!' is not valid"),
        (["wait", "App:v1"], "repository name 'App' is not valid"),
        (["wait", "app@sha256:abc"], "image digest 'sha256:abc' is not valid"),
        (["check", "docker.io/library/app:v1"], "not Amazon ECR"),
        (["wait", "app", "--registry-id", "12"], "registry id '12' is not valid"),
        (["wait", "app", "--region", "mars"], "region 'mars' is not valid"),
        (["wait", "app", "--timeout", "soon"], "argument --timeout: timeout 'soon'"),
        (["wait", "app", "--interval", "0"], "interval '0' is zero"),
        (["wait", "app", "--interval=-5s"], "interval '-5s' is negative"),
        (["wait", "app", "--interval", "-5s"], "argument --interval: expected one argument"),
        (["wait", "app", "--timeout", "inf"], "timeout 'inf' is not a duration"),
        (
            ["wait", "app", "--timeout", "99999999999999999999h", "--interval", "9999999999h"],
            "timeout '99999999999999999999h' is too large: give at most 8760h",
        ),
        (["wait"], "the following arguments are required: IMAGE"),
        ([], "the following arguments are required: COMMAND"),
        (["fetch", "app"], "invalid choice: 'fetch'"),
        (["check", "app", "--timeout", "3"], "unrecognized arguments: --timeout"),
        (
            ["check", f"{REGISTRY}/app:v1", "--region", "eu-west-1"],
            "names region us-east-1 but region eu-west-1 was also given",
        ),
    ],
)
def test_invalid_input_exits_2_with_the_rule_named(argv: list[str], expected: str) -> None:
    run = run_cli(*argv)
    assert run.status is ExitStatus.USAGE
    assert run.stdout == ""
    line = assert_one_error_line(run)
    assert expected in line


def test_bad_tag_error_names_the_rule() -> None:
    run = run_cli("wait", "repo:bad tag!")
    assert run.status == 2
    line = assert_one_error_line(run)
    assert "pattern [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}" in line


def test_no_region_anywhere_exits_2_with_a_remedy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    run = run_cli("wait", "app:v1", env={})
    assert run.status is ExitStatus.USAGE
    line = assert_one_error_line(run)
    assert "no AWS region for image 'app:v1'" in line
    assert "--region" in line


@pytest.mark.parametrize(
    ("variable", "value", "argv", "expected"),
    [
        (
            "AWS_PROFILE",
            "no-such-profile",
            ["check", "app:v1"],
            "cannot set up the ECR client from the AWS configuration: ProfileNotFound",
        ),
        (
            "AWS_ENDPOINT_URL_ECR",
            "not a url",
            ["wait", "app:v1"],
            "cannot set up the ECR client from the AWS configuration: ValueError",
        ),
        (
            "AWS_ENDPOINT_URL_CODEBUILD",
            "not a url",
            ["wait", "app:v1", "--codebuild-project", "app-image"],
            "cannot set up the CodeBuild client from the AWS configuration: ValueError",
        ),
    ],
)
def test_a_broken_aws_configuration_exits_2_naming_the_cause(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, argv: list[str], expected: str
) -> None:
    monkeypatch.setenv(variable, value)
    run = run_cli(*argv)
    assert run.status is ExitStatus.USAGE, run.stderr
    assert run.stdout == ""
    line = assert_one_error_line(run)
    assert expected in line
    assert "check AWS_PROFILE" in line
    assert "unexpected" not in line


def test_a_broken_aws_profile_without_a_region_exits_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    run = run_cli("check", "app:v1", env={})
    assert run.status is ExitStatus.USAGE, run.stderr
    line = assert_one_error_line(run)
    assert "cannot set up the region from the AWS configuration: ProfileNotFound" in line


def test_region_from_the_env_mapping(moto_ecr: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    moto_ecr.create_repository(repositoryName="app")
    digest = push(moto_ecr, "app", single_manifest("env"), "v1")
    run = run_cli("check", "app:v1", env={"AWS_REGION": REGION})
    assert run.status is ExitStatus.OK, run.stderr
    assert run.lines == [f"{REGISTRY}/app@{digest}"]


def test_traceback_flag_reraises() -> None:
    with pytest.raises(InvalidReferenceError, match="bad tag!"):
        run_cli("wait", "app:bad tag!", "--traceback")


def test_help_and_version_exit_0() -> None:
    run = run_cli("--help")
    assert run.status is ExitStatus.OK
    assert "wait" in run.stdout
    assert "check" in run.stdout
    wait_help = run_cli("wait", "--help")
    assert wait_help.status is ExitStatus.OK
    assert "--timeout D" in wait_help.stdout
    version = run_cli("--version")
    assert version.status is ExitStatus.OK
    assert re.fullmatch(r"ecr-image-waiter \d+\.\d+\.\d+\n", version.stdout)


def test_keyboard_interrupt_exits_130_with_one_line(moto_ecr: Any) -> None:
    moto_ecr.create_repository(repositoryName="app")

    def interrupted(seconds: float) -> None:
        raise KeyboardInterrupt

    run = run_cli("wait", "app:v1", "--quiet", sleep=interrupted)
    assert run.status == 130
    assert run.stderr.strip() == "ecr-image-waiter: interrupted"


# --- progress -----------------------------------------------------------------------------------


def test_plain_progress_is_one_line_per_attempt(moto_ecr: Any) -> None:
    moto_ecr.create_repository(repositoryName="app")
    fake = FakeClock()
    fake.at(15, lambda: push(moto_ecr, "app", single_manifest("p"), "v1"))
    run = run_cli("wait", "app:v1", "--interval", "10", clock=fake.clock, sleep=fake.sleep)
    assert run.status is ExitStatus.OK
    assert run.stderr.splitlines()[:2] == [
        "ecr-image-waiter: app:v1: not yet (ImageNotFoundException), attempt 1, 0.0s elapsed, "
        "next check in 10.0s",
        "ecr-image-waiter: app:v1: not yet (ImageNotFoundException), attempt 2, 10.0s elapsed, "
        "next check in 10.0s",
    ]
    third = run.stderr.splitlines()[2]
    assert re.fullmatch(
        r"ecr-image-waiter: app:v1: ready \(sha256:[0-9a-f]{64}\), attempt 3, 20\.0s elapsed",
        third,
    )
    assert len(run.stderr.splitlines()) == 3


def test_quiet_silences_progress(moto_ecr: Any) -> None:
    moto_ecr.create_repository(repositoryName="app")
    fake = FakeClock()
    fake.at(5, lambda: push(moto_ecr, "app", single_manifest("q"), "v1"))
    err = TtyStream()
    run = run_cli("wait", "app:v1", "-q", clock=fake.clock, sleep=fake.sleep, stderr=err)
    assert run.status is ExitStatus.OK
    assert run.stderr == ""


def test_live_progress_on_a_terminal_redraws_one_line_per_image(moto_ecr: Any) -> None:
    moto_ecr.create_repository(repositoryName="app")
    push(moto_ecr, "app", single_manifest("live"), "a")
    fake = FakeClock()
    fake.at(3, lambda: push(moto_ecr, "app", single_manifest("live2"), "b"))
    err = TtyStream()
    run = run_cli(
        "wait", "app:a", "app:b", "--interval", "2", clock=fake.clock, sleep=fake.sleep, stderr=err
    )
    assert run.status is ExitStatus.OK, run.stderr
    assert "\x1b[2F" in run.stderr  # cursor back up over the two lines
    assert "\x1b[2K" in run.stderr  # each line erased before it is redrawn
    final = run.stderr.rsplit("\x1b[2F", 1)[1]
    rows = [row.removeprefix("\x1b[2K") for row in final.splitlines()]
    assert len(rows) == 2
    assert rows[0].startswith("app:a  ready (sha256:")
    assert rows[1].startswith("app:b  ready (sha256:")
    assert "1 checks" in rows[0]
    assert "3 checks" in rows[1]


def test_live_progress_shows_the_countdown(moto_ecr: Any) -> None:
    moto_ecr.create_repository(repositoryName="app")
    fake = FakeClock()
    err = TtyStream()
    run = run_cli(
        "wait", "app:v1", "--interval", "7", "--timeout", "7",
        clock=fake.clock, sleep=fake.sleep, stderr=err,
    )  # fmt: skip
    assert run.status is ExitStatus.TIMEOUT
    assert (
        "not yet (ImageNotFoundException), 1 checks, 0.0s elapsed, next check in 7.0s" in run.stderr
    )
