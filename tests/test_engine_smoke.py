"""The engine against moto in process: the basic ready / not yet / never path."""

from __future__ import annotations

from typing import Any

import pytest

from ecr_image_waiter.engine import (
    Attempt,
    EcrLookup,
    Verdict,
    WaitPolicy,
    parse_reference,
    wait_until_ready,
)
from ecr_image_waiter.errors import RepositoryNotFoundError, WaitTimeoutError
from tests.images import push, single_manifest


def test_found_image_is_pinned_to_its_true_digest(moto_ecr: Any) -> None:
    moto_ecr.create_repository(repositoryName="app/api")
    digest = push(moto_ecr, "app/api", single_manifest("a"), tag="v1")
    observation = EcrLookup().look(parse_reference("app/api:v1"))
    assert observation.verdict is Verdict.READY
    assert observation.image is not None
    assert observation.image.digest == digest
    assert observation.image.image_uri == (
        f"123456789012.dkr.ecr.us-east-1.amazonaws.com/app/api@{digest}"
    )


def test_missing_repository_is_never(moto_ecr: Any) -> None:
    ref = parse_reference("nope:v1")
    lookup = EcrLookup()
    with pytest.raises(RepositoryNotFoundError) as info:
        wait_until_ready(lambda: lookup.look(ref), WaitPolicy(60, 5), ref, sleep=pytest.fail)
    assert info.value.attempts == 1
    assert info.value.last_code == "RepositoryNotFoundException"


def test_timeout_on_fake_clock_checks_at_the_deadline(moto_ecr: Any) -> None:
    moto_ecr.create_repository(repositoryName="app")
    ref = parse_reference("app:v9")
    lookup = EcrLookup()
    now = [0.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    with pytest.raises(WaitTimeoutError) as info:
        wait_until_ready(
            lambda: lookup.look(ref), WaitPolicy(10, 3), ref, clock=lambda: now[0], sleep=sleep
        )
    assert sleeps == [3, 3, 3, 1]
    assert info.value.attempts == 5
    assert "ImageNotFoundException" in str(info.value)
    assert "app:v9" in str(info.value)


def test_the_wait_loop_over_a_lookup_reports_each_attempt(moto_ecr: Any) -> None:
    moto_ecr.create_repository(repositoryName="app")
    digest = push(moto_ecr, "app", single_manifest("convenience"), tag="v1")
    attempts: list[Attempt] = []
    lookup = EcrLookup()
    ref = parse_reference("app:v1")
    result = wait_until_ready(
        lambda: lookup.look(ref), WaitPolicy(timeout=5, interval=1), ref, on_attempt=attempts.append
    )
    assert result.image.digest == digest
    assert result.attempts == 1
    assert [(a.number, a.observation.verdict, a.next_check_in) for a in attempts] == [
        (1, Verdict.READY, None)
    ]
    missing = parse_reference("nope:v1")
    with pytest.raises(RepositoryNotFoundError):
        wait_until_ready(lambda: lookup.look(missing), WaitPolicy(timeout=5, interval=1), missing)
