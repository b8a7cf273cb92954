"""Generated custom-resource properties: the validator the provider runs on every request
accepts valid input or raises InvalidPropertyError naming the property — never another
exception, never a success for invalid input — and whatever the request, the one answer
the provider sends CloudFormation stays under 4096 bytes and no log line carries the
ResponseURL or the credentials.
"""

from __future__ import annotations

import json
import logging
import string
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecr_image_waiter import names
from ecr_image_waiter.custom_resource.properties import Settings, parse_properties
from ecr_image_waiter.engine import EcrLookup
from ecr_image_waiter.errors import InvalidPropertyError
from tests.faultproxy import Decision, Fault, FaultProxy, Tally, pass_all, scale, waiter_client
from tests.images import push, single_manifest
from tests.provider_support import FakeClock, RecordingPut, create_resources, request, service
from tests.test_fuzz_references import digest, invalid_reference, repository, tag

TALLY = Tally("custom resource properties")
SECRET = "props-fuzz-secret-5d0e"
TOKEN = "props-fuzz-token-a41c"
PRESENT = "present"
MAX_TIMEOUT = names.MAX_TIMEOUT_SECONDS


@pytest.fixture(autouse=True, scope="module")
def _flush_tally() -> Iterator[None]:
    yield
    TALLY.flush()


def fuzz_settings(examples: int) -> settings:
    return settings(
        derandomize=True,
        max_examples=examples * scale(),
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


# --- valid properties, by construction -----------------------------------------------------

whole = st.integers(min_value=1, max_value=MAX_TIMEOUT)
interval = st.integers(min_value=names.MIN_INTERVAL_SECONDS, max_value=MAX_TIMEOUT)
flag = st.sampled_from(["true", "false", "TRUE", "False"])


@st.composite
def valid_properties(draw: st.DrawFn, repo: st.SearchStrategy[str] = repository) -> dict[str, str]:
    props = {names.PROP_REPOSITORY_NAME: draw(repo)}
    which = draw(st.sampled_from(["tag", "digest", "neither"]))
    if which == "tag":
        props[names.PROP_IMAGE_TAG] = draw(tag)
    elif which == "digest":
        props[names.PROP_IMAGE_DIGEST] = draw(digest)
    deadline = draw(st.sampled_from(["timeout", "retries", "defaults"]))
    if deadline == "timeout":
        props[names.PROP_TIMEOUT_SECONDS] = str(draw(whole))
    elif deadline == "retries":
        retries = draw(st.integers(1, 120))
        delay = draw(st.integers(1, MAX_TIMEOUT // retries))
        props[names.PROP_MAX_RETRIES] = str(retries)
        props[names.PROP_RETRY_DELAY_SECONDS] = str(delay)
    optional = {
        names.PROP_REGISTRY_ID: st.just("123456789012"),
        names.PROP_INTERVAL_SECONDS: interval.map(str),
        names.PROP_WAIT_FOR_REPOSITORY: flag,
        names.PROP_ARCHITECTURE: st.sampled_from(list(names.ARCHITECTURES)),
        names.PROP_LAMBDA_COMPATIBLE: flag,
        names.PROP_RESOLVE_NONCE: st.text(max_size=40),
        names.PROP_SERVICE_TIMEOUT: st.just("3600"),
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            props[key] = draw(strategy)
    return props


# --- invalid properties, each breaking one rule ---------------------------------------------

BAD_NUMBERS = st.sampled_from(
    ["", " ", "-1", "-30", "0", "3.5", "1e3", "thirty", "30s", " 30", "0x1e", "١٢", "∞", "NaN"]
) | st.integers(min_value=10**9, max_value=10**30).map(str)
WRONG_TYPES = st.one_of(
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True),
    st.booleans(),
    st.none(),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
)


@st.composite
def invalid_properties(draw: st.DrawFn) -> tuple[str, str, dict[str, Any]]:
    """(label, the property the error must name, properties)."""
    props: dict[str, Any] = draw(valid_properties())
    label = draw(
        st.sampled_from(
            [
                "missing-repository",
                "bad-repository",
                "huge-repository",
                "tag-and-digest",
                "bad-tag",
                "bad-digest",
                "bad-number",
                "too-long",
                "timeout-and-retries",
                "wrong-type",
                "unknown-key",
                "bad-flag",
                "bad-architecture",
                "bad-registry-id",
                "trigger-without-build",
            ]
        )
    )
    repo_key = names.PROP_REPOSITORY_NAME
    if label == "missing-repository":
        del props[repo_key]
        return label, repo_key, props
    if label == "bad-repository":
        rules = ("repo-", "empty", "blank", "padded")
        _rule, text = draw(invalid_reference().filter(lambda case: case[0].startswith(rules)))
        props[repo_key] = text.removesuffix(":v1")
        return label, repo_key, props
    if label == "huge-repository":
        props[repo_key] = draw(st.sampled_from(["a", "é", "日本"])) * draw(st.integers(257, 20000))
        return label, repo_key, props
    if label == "tag-and-digest":
        props.pop(names.PROP_IMAGE_TAG, None)
        props[names.PROP_IMAGE_TAG] = draw(tag)
        props[names.PROP_IMAGE_DIGEST] = draw(digest)
        return label, names.PROP_IMAGE_DIGEST, props
    if label == "bad-tag":
        props.pop(names.PROP_IMAGE_DIGEST, None)
        _rule, text = draw(invalid_reference().filter(lambda case: case[0].startswith("tag-")))
        props[names.PROP_IMAGE_TAG] = text.split(":", 1)[1]
        return label, names.PROP_IMAGE_TAG, props
    if label == "bad-digest":
        props.pop(names.PROP_IMAGE_TAG, None)
        props[names.PROP_IMAGE_DIGEST] = draw(
            st.sampled_from(["sha256:", "sha256:XYZ", "md5:abc", "latest", ""])
            | digest.map(lambda d: d.upper())
        )
        return label, names.PROP_IMAGE_DIGEST, props
    if label == "bad-number":
        key = draw(
            st.sampled_from(
                [
                    names.PROP_TIMEOUT_SECONDS,
                    names.PROP_INTERVAL_SECONDS,
                    names.PROP_MAX_RETRIES,
                    names.PROP_RETRY_DELAY_SECONDS,
                    names.PROP_SERVICE_TIMEOUT,
                ]
            )
        )
        for other in (
            names.PROP_TIMEOUT_SECONDS,
            names.PROP_MAX_RETRIES,
            names.PROP_RETRY_DELAY_SECONDS,
        ):
            props.pop(other, None)
        props[key] = draw(BAD_NUMBERS)
        return label, key, props
    if label == "too-long":
        for other in (
            names.PROP_TIMEOUT_SECONDS,
            names.PROP_MAX_RETRIES,
            names.PROP_RETRY_DELAY_SECONDS,
            names.PROP_SERVICE_TIMEOUT,
        ):
            props.pop(other, None)
        if draw(st.booleans()):
            props[names.PROP_TIMEOUT_SECONDS] = str(draw(st.integers(MAX_TIMEOUT + 1, 10**9 - 1)))
            return label, names.PROP_TIMEOUT_SECONDS, props
        retries = draw(st.integers(1, 10**4))
        delay = draw(st.integers(MAX_TIMEOUT // retries + 1, 10**5))
        props[names.PROP_MAX_RETRIES] = str(retries)
        props[names.PROP_RETRY_DELAY_SECONDS] = str(delay)
        return label, names.PROP_MAX_RETRIES, props
    if label == "timeout-and-retries":
        props[names.PROP_TIMEOUT_SECONDS] = "60"
        other = draw(st.sampled_from([names.PROP_MAX_RETRIES, names.PROP_RETRY_DELAY_SECONDS]))
        props[other] = "2"
        return label, names.PROP_TIMEOUT_SECONDS, props
    if label == "wrong-type":
        key = draw(st.sampled_from(sorted(props)))
        props[key] = draw(WRONG_TYPES)
        return label, key, props
    if label == "unknown-key":
        key = draw(
            st.text(string.ascii_letters, min_size=1, max_size=30).filter(
                lambda k: k not in names.ALL_PROPERTIES
            )
            | st.sampled_from(["repositoryName", "ImageTags", "Timeout", "TriggerBuild", ""])
        )
        props[key] = draw(st.text(max_size=10))
        return label, key, props
    if label == "bad-flag":
        key = draw(st.sampled_from([names.PROP_WAIT_FOR_REPOSITORY, names.PROP_LAMBDA_COMPATIBLE]))
        props[key] = draw(st.sampled_from(["yes", "1", "0", "", "t", "truee", "on"]))
        return label, key, props
    if label == "bad-architecture":
        props[names.PROP_ARCHITECTURE] = draw(
            st.sampled_from(["x86", "amd64", "ARM64", "aarch64", "", "x86_64 "])
        )
        return label, names.PROP_ARCHITECTURE, props
    if label == "bad-registry-id":
        props[names.PROP_REGISTRY_ID] = draw(
            st.text(string.digits, max_size=11) | st.sampled_from(["12345678901a", "1" * 13])
        )
        return label, names.PROP_REGISTRY_ID, props
    assert label == "trigger-without-build"
    props[names.PROP_TRIGGER_BUILD_ON_MISSING] = "true"
    return label, names.PROP_TRIGGER_BUILD_ON_MISSING, props


def accepted(settings: Settings) -> bool:
    """What an accepted request must hold: a physical id CloudFormation takes, a deadline the
    provider can keep, an interval no shorter than the sweep's period."""
    return (
        0 < len(settings.physical_id.encode()) <= names.PHYSICAL_ID_MAX_BYTES
        and 0 < settings.timeout_seconds <= MAX_TIMEOUT
        and (settings.interval_seconds is None or settings.interval_seconds >= 60)
    )


@given(valid_properties())
@fuzz_settings(300)
def test_valid_properties_start_the_wait(props: dict[str, str]) -> None:
    try:
        settings = parse_properties(props)
    except InvalidPropertyError as error:
        TALLY.add("valid", ok=False)
        raise AssertionError(f"valid properties refused: {error}") from error
    assert TALLY.add("valid", ok=accepted(settings)), settings


@given(invalid_properties())
@fuzz_settings(500)
def test_invalid_properties_are_refused_naming_the_property(
    case: tuple[str, str, dict[str, Any]],
) -> None:
    label, prop, props = case
    try:
        result = parse_properties(props)
    except InvalidPropertyError as error:
        message = str(error)
        ok = prop[:50] in message and len(message.encode()) < 1500 and "\n" not in message
        assert TALLY.add(label, ok=ok), (label, prop, message)
        return
    TALLY.add(label, ok=False)
    raise AssertionError(f"{label}: {props!r} was accepted: {result!r}")


anything = st.one_of(
    st.text(max_size=50),
    st.integers(),
    st.floats(),
    st.none(),
    st.booleans(),
    st.lists(st.integers(), max_size=3),
)


@given(
    st.dictionaries(
        st.sampled_from(sorted(names.ALL_PROPERTIES)) | st.text(max_size=20), anything, max_size=8
    )
    | st.one_of(st.none(), st.text(max_size=20), st.lists(st.text(max_size=5), max_size=3))
)
@fuzz_settings(300)
def test_any_properties_start_the_wait_or_raise_invalid_property_error(props: Any) -> None:
    try:
        settings = parse_properties(props)
    except InvalidPropertyError:
        TALLY.add("any-refused", ok=True)
        return
    except Exception as error:
        TALLY.add("any-crashed", ok=False)
        raise AssertionError(f"{props!r} raised {type(error).__name__}: {error}") from error
    # Accepted: only string properties naming a repository, and settings a wait can keep.
    ok = (
        isinstance(props, dict)
        and all(isinstance(value, str) for value in props.values())
        and names.PROP_REPOSITORY_NAME in props
        and settings.physical_id.endswith(props.get(names.PROP_IMAGE_TAG, ""))
        and accepted(settings)
    )
    assert TALLY.add("any-accepted", ok=ok), (props, settings)


# --- through the provider: the answer and the logs -------------------------------------------


@pytest.fixture
def cfn(
    server_ecr: Any,
    moto_server_url: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> Iterator[tuple[FaultProxy, Callable[[dict[str, Any]], list[tuple[str, str]]]]]:
    """Deliver requests to the provider's service, ECR behind a proxy, the table on the
    server; each run gives the (url, body) pairs it sent."""
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", TOKEN)
    server_ecr.create_repository(repositoryName=PRESENT)
    push(server_ecr, PRESENT, single_manifest("props"), tag="v1")
    create_resources(endpoint=moto_server_url)
    caplog.set_level(logging.INFO)
    with FaultProxy(moto_server_url, pass_all) as proxy:

        def lookup(settings: Settings) -> EcrLookup:
            client = waiter_client(proxy.url, total_attempts=1)
            return EcrLookup(client, wait_for_repository=False)

        def run(req: dict[str, Any]) -> list[tuple[str, str]]:
            put = RecordingPut()
            provider = service(
                FakeClock(),
                put,
                lookup_factory=lookup,
                dynamodb=boto3.client("dynamodb", endpoint_url=moto_server_url),
                events=boto3.client("events", endpoint_url=moto_server_url),
            )
            provider.on_request(req)
            return put.calls

        yield proxy, run


@st.composite
def cfn_case(draw: st.DrawFn) -> tuple[str, dict[str, Any], Decision]:
    """(label, request, what ECR answers). Valid requests end at the first look: the image
    is there, the repository is missing, or ECR answers an error with a long message."""
    kind = draw(st.sampled_from(["present", "missing", "long-ecr-message", "invalid", "delete"]))
    answer = Decision(Fault.PASS)
    if kind == "present":
        props: dict[str, Any] = {names.PROP_REPOSITORY_NAME: PRESENT, names.PROP_IMAGE_TAG: "v1"}
        if draw(st.booleans()):
            props[names.PROP_RESOLVE_NONCE] = draw(st.text(max_size=200))
    elif kind == "invalid":
        _label, _prop, props = draw(invalid_properties())
    else:
        props = draw(valid_properties(repository.filter(lambda r: r != PRESENT)))
        props.pop(names.PROP_WAIT_FOR_REPOSITORY, None)
    if kind == "long-ecr-message":
        text = draw(st.sampled_from(["x", "é", "日", "\u200b", "\\"])) * draw(st.integers(1, 20000))
        code = draw(st.sampled_from(["SomethingNobodyExpected", "LimitExceededException"]))
        answer = Decision(Fault.CUSTOM, answer=(400, code, text))
    physical = f"default/{props.get(names.PROP_REPOSITORY_NAME, 'x')!s}:v1"[:1000]
    req = request("Delete", physical_id=physical) if kind == "delete" else request()
    req["ResourceProperties"] = {names.PROP_SERVICE_TOKEN: req["ServiceToken"], **props}
    return kind, req, answer


@given(cfn_case())
@fuzz_settings(120)
def test_the_response_to_cloudformation_stays_under_4096_bytes_and_logs_stay_clean(
    cfn: tuple[FaultProxy, Callable[[dict[str, Any]], list[tuple[str, str]]]],
    caplog: pytest.LogCaptureFixture,
    case: tuple[str, dict[str, Any], Decision],
) -> None:
    proxy, run = cfn
    kind, req, answer = case
    proxy.set_plan(lambda _n, _t, _op: answer)
    caplog.clear()
    sent = run(req)
    expected = "SUCCESS" if kind in ("present", "delete") else "FAILED"
    logs = caplog.text
    bodies = [text for _url, text in sent]
    leaks = [
        s for s in (req["ResponseURL"], SECRET, TOKEN) if s in logs or any(s in b for b in bodies)
    ]
    status = json.loads(bodies[0])["Status"] if len(bodies) == 1 else f"{len(bodies)} answers"
    ok = (
        status == expected
        and all(url == req["ResponseURL"] for url, _text in sent)
        and all(len(b.encode()) <= names.CLOUDFORMATION_RESPONSE_MAX_BYTES for b in bodies)
        and not leaks
    )
    assert TALLY.add(f"cfn-{kind}", ok=ok), (
        kind,
        status,
        [len(b.encode()) for b in bodies],
        leaks,
        bodies[:1],
    )
