"""Image references: examples of each form, each rule named, and property-based tests."""

from __future__ import annotations

import string

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ecr_image_waiter.engine import ImageReference, parse_reference
from ecr_image_waiter.engine.reference import (
    REPOSITORY_MAX_LENGTH,
    registry_host,
    validate_digest,
    validate_region,
    validate_registry_id,
    validate_repository,
    validate_tag,
)
from ecr_image_waiter.errors import InvalidReferenceError

DIGEST = "sha256:" + "0123456789abcdef" * 4
ACCOUNT = "123456789012"
PROPERTY = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

# --- Examples -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("app", ImageReference("app", tag="latest")),
        ("app:v1", ImageReference("app", tag="v1")),
        ("team/app:1.2.3-rc_1", ImageReference("team/app", tag="1.2.3-rc_1")),
        ("a-b_c/d.e_f:_x", ImageReference("a-b_c/d.e_f", tag="_x")),
        (f"app@{DIGEST}", ImageReference("app", digest=DIGEST)),
        (
            f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/team/app:v2",
            ImageReference("team/app", tag="v2", registry_id=ACCOUNT, region="eu-west-1"),
        ),
        (
            f"{ACCOUNT}.dkr.ecr.us-gov-west-1.amazonaws.com/app@{DIGEST}",
            ImageReference("app", digest=DIGEST, registry_id=ACCOUNT, region="us-gov-west-1"),
        ),
        (
            f"{ACCOUNT}.dkr.ecr.cn-north-1.amazonaws.com.cn/app",
            ImageReference("app", tag="latest", registry_id=ACCOUNT, region="cn-north-1"),
        ),
    ],
)
def test_accepted_forms(text: str, expected: ImageReference) -> None:
    assert parse_reference(text) == expected


def test_explicit_registry_and_region_apply_to_short_references() -> None:
    ref = parse_reference("app:v1", registry_id=ACCOUNT, region="ap-south-1")
    assert (ref.registry_id, ref.region) == (ACCOUNT, "ap-south-1")
    same = parse_reference(
        f"{ACCOUNT}.dkr.ecr.ap-south-1.amazonaws.com/app:v1", region="ap-south-1"
    )
    assert same == ref


def test_image_id_and_reference() -> None:
    assert parse_reference("app:v1").image_id() == {"imageTag": "v1"}
    assert parse_reference(f"app@{DIGEST}").image_id() == {"imageDigest": DIGEST}
    assert parse_reference(f"app@{DIGEST}").reference == DIGEST


def test_registry_host() -> None:
    assert registry_host(ACCOUNT, "us-east-1") == f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com"
    assert registry_host(ACCOUNT, "cn-north-1") == f"{ACCOUNT}.dkr.ecr.cn-north-1.amazonaws.com.cn"


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("", "image reference is empty"),
        ("   ", "image reference is empty"),
        (" app", "leading or trailing whitespace"),
        ("app:bad tag!", "image tag 'bad tag!' is not valid: a tag is letters, digits"),
        ("app:", "image tag is empty"),
        ("app:-x", "does not start with '.' or '-'"),
        ("app:" + "t" * 129, "has 129 characters: an image tag has at most 128"),
        ("App", "ECR repository names are lowercase"),
        ("a", "has 1 characters: ECR repository names have 2 to 256"),
        ("x" * 257, "has 257 characters"),
        ("app//x", "repository name 'app//x' is not valid"),
        ("app/", "repository name 'app/' is not valid"),
        ("ap--p", "repository name 'ap--p' is not valid"),
        ("app@sha256:xyz", "a digest is 'sha256:' followed by 64 lowercase hex"),
        ("app@" + DIGEST.upper(), "a digest is 'sha256:' followed by 64 lowercase hex"),
        (f"app:v1@{DIGEST}", "gives both a tag and a digest"),
        ("docker.io/library/app:v1", "names a registry that is not Amazon ECR"),
        ("localhost:5000/app", "is not valid"),
        ("12.dkr.ecr.us-east-1.amazonaws.com/app", "registry id '12' is not valid"),
        (f"{ACCOUNT}.dkr.ecr.moon.amazonaws.com/app", "region 'moon' is not valid"),
    ],
)
def test_refused_references_name_the_rule(text: str, rule: str) -> None:
    with pytest.raises(InvalidReferenceError) as info:
        parse_reference(text)
    assert rule in str(info.value)


def test_conflicting_registry_or_region_is_refused() -> None:
    uri = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/app"
    with pytest.raises(InvalidReferenceError, match="give one or the other"):
        parse_reference(uri, registry_id="210987654321")
    with pytest.raises(InvalidReferenceError, match="give one or the other"):
        parse_reference(uri, region="us-west-2")
    with pytest.raises(InvalidReferenceError, match="registry id 'abc'"):
        parse_reference("app", registry_id="abc")


def test_reference_needs_exactly_one_of_tag_and_digest() -> None:
    with pytest.raises(InvalidReferenceError, match="exactly one of a tag or a digest"):
        ImageReference("app")
    with pytest.raises(InvalidReferenceError, match="exactly one of a tag or a digest"):
        ImageReference("app", tag="v1", digest=DIGEST)


def test_dotted_first_part_of_a_short_reference_names_a_registry() -> None:
    """Docker's reference grammar: such repositories are reached through their full URI."""
    with pytest.raises(InvalidReferenceError, match="not Amazon ECR"):
        parse_reference("my.team/app:v1")
    uri = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/my.team/app:v1"
    assert parse_reference(uri).repository == "my.team/app"


def test_long_values_are_shortened_in_messages() -> None:
    with pytest.raises(InvalidReferenceError) as info:
        parse_reference("app:" + "!" * 500)
    assert len(str(info.value)) < 400


# --- Properties ------------------------------------------------------------------------------

_alnum = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8)


@st.composite
def _component(draw: st.DrawFn, *, dots: bool = True) -> str:
    parts = draw(st.lists(_alnum, min_size=1, max_size=3))
    seps = draw(st.lists(st.sampled_from("._-" if dots else "_-"), min_size=2, max_size=2))
    return parts[0] + "".join(sep + part for sep, part in zip(seps, parts[1:], strict=False))


@st.composite
def _repository(draw: st.DrawFn) -> str:
    """A valid ECR repository name. In a short reference a first part with a '.' names a
    registry (the Docker reference grammar), so only later parts have dots here."""
    rest = draw(st.lists(_component(), max_size=3))
    name = "/".join([draw(_component(dots=not rest)), *rest])
    assume(2 <= len(name) <= REPOSITORY_MAX_LENGTH)
    return name


repositories = _repository()
_TAG_FIRST = string.ascii_letters + string.digits + "_"
tags = st.builds(
    lambda first, rest: first + rest,
    st.sampled_from(_TAG_FIRST),
    st.text(_TAG_FIRST + ".-", max_size=127),
)
digests = st.text("0123456789abcdef", min_size=64, max_size=64).map(lambda h: f"sha256:{h}")
accounts = st.text(string.digits, min_size=12, max_size=12)
regions = st.sampled_from(["us-east-1", "eu-central-2", "ap-southeast-4", "us-gov-west-1"])


@PROPERTY
@given(repository=repositories, tag=tags)
def test_tagged_references_round_trip(repository: str, tag: str) -> None:
    text = f"{repository}:{tag}"
    ref = parse_reference(text)
    assert str(ref) == text
    assert (ref.repository, ref.tag, ref.digest) == (repository, tag, None)


@PROPERTY
@given(repository=repositories, digest=digests)
def test_digest_references_round_trip(repository: str, digest: str) -> None:
    text = f"{repository}@{digest}"
    assert str(parse_reference(text)) == text


@PROPERTY
@given(repository=repositories)
def test_bare_repository_means_latest(repository: str) -> None:
    assert str(parse_reference(repository)) == f"{repository}:latest"


@PROPERTY
@given(
    account=accounts,
    region=regions,
    repository=repositories,
    suffix=st.one_of(tags.map(lambda t: f":{t}"), digests.map(lambda d: f"@{d}")),
)
def test_full_uris_carry_account_and_region(
    account: str, region: str, repository: str, suffix: str
) -> None:
    ref = parse_reference(f"{registry_host(account, region)}/{repository}{suffix}")
    assert (ref.registry_id, ref.region) == (account, region)
    assert f"{ref.repository}{suffix}" == str(ref)
    assert str(ref) == f"{repository}{suffix}"


def _assert_valid(ref: ImageReference) -> None:
    validate_repository(ref.repository)
    if ref.tag is not None:
        validate_tag(ref.tag)
    if ref.digest is not None:
        validate_digest(ref.digest)
    if ref.registry_id is not None:
        validate_registry_id(ref.registry_id)
    if ref.region is not None:
        validate_region(ref.region)
    assert (ref.tag is None) != (ref.digest is None)


_reference_alphabet = st.sampled_from([*"abcz09AZ:/@._- !\t\n#é", "sha256:", ".dkr.ecr."])


@PROPERTY
@given(text=st.one_of(st.text(max_size=300), st.lists(_reference_alphabet).map("".join)))
def test_any_text_parses_to_something_valid_or_raises_the_named_error(text: str) -> None:
    try:
        ref = parse_reference(text)
    except InvalidReferenceError:
        return  # the one error it may raise; any other exception fails the test
    _assert_valid(ref)
    # What parsed is a reference of one of the documented forms, and says so again.
    assert parse_reference(str(ref), registry_id=ref.registry_id, region=ref.region) == ref


@PROPERTY
@given(repository=repositories, tag=tags, noise=st.sampled_from([" ", "!", "$", "é", "/", "*"]))
def test_a_tag_with_a_foreign_character_is_refused(repository: str, tag: str, noise: str) -> None:
    bad = noise + tag
    assume(len(bad) <= 128)
    # "0.0:/a" is refused too, but as a non-ECR registry host ("0.0:" + "/a"), not as a tag.
    assume(noise != "/" or "." not in repository.split("/", 1)[0])
    with pytest.raises(InvalidReferenceError, match="image tag"):
        parse_reference(f"{repository}:{bad}")
