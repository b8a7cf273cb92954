"""Generated image references: parse_reference returns the parts or raises InvalidReferenceError.

The generators build references from the documented rules (ECR CreateRepository
``repositoryName``, the Docker reference grammar for tags, OCI digests), independently of the
parser's own regular expressions, so each generated case knows whether it is valid. Invalid
cases break exactly one rule. Arbitrary text must end in one of the two outcomes only.
"""

from __future__ import annotations

import string
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecr_image_waiter.engine import ImageReference, parse_reference
from ecr_image_waiter.errors import InvalidReferenceError
from tests.faultproxy import Tally, scale

LOWER_ALNUM = string.ascii_lowercase + string.digits
TAG_FIRST = string.ascii_letters + string.digits + "_"
TAG_REST = TAG_FIRST + ".-"
HEX = "0123456789abcdef"

TALLY = Tally("references")


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
        suppress_health_check=[HealthCheck.too_slow],
    )


# --- valid parts, from the documented rules ------------------------------------------------

component = st.text(LOWER_ALNUM, min_size=1, max_size=8)
# A path part: components joined by one of '.', '_' or '-'.
path_part = st.builds(
    lambda first, rest: first + "".join(sep + comp for sep, comp in rest),
    component,
    st.lists(st.tuples(st.sampled_from("._-"), component), max_size=3),
)
repository = (
    st.lists(path_part, min_size=1, max_size=4)
    .map("/".join)
    .filter(lambda name: 2 <= len(name) <= 256)
)
tag = st.builds(
    lambda first, rest: first + rest,
    st.sampled_from(TAG_FIRST),
    st.text(TAG_REST, max_size=127),
)
digest = st.text(HEX, min_size=64, max_size=64).map(lambda h: "sha256:" + h)
account = st.text(string.digits, min_size=12, max_size=12)
region = st.sampled_from(
    ["us-east-1", "eu-west-3", "ap-southeast-2", "us-gov-west-1", "cn-north-1", "il-central-1"]
)


@st.composite
def valid_reference(draw: st.DrawFn) -> tuple[str, ImageReference]:
    """A valid reference text and the reference it must parse to."""
    repo = draw(repository)
    form = draw(st.sampled_from(["bare", "tag", "digest"]))
    ref_tag, ref_digest = None, None
    text = repo
    if form == "bare":
        ref_tag = "latest"
    elif form == "tag":
        ref_tag = draw(tag)
        text = f"{repo}:{ref_tag}"
    else:
        ref_digest = draw(digest)
        text = f"{repo}@{ref_digest}"
    registry, where = None, None
    # Like Docker's reference grammar, a short reference whose first path part has a '.'
    # names another registry ("my.team/app" reads as host "my.team"): such ECR repositories
    # are reached through the full URI.
    dotted_host = "/" in repo and "." in repo.split("/", 1)[0]
    if dotted_host or draw(st.booleans()):
        registry, where = draw(account), draw(region)
        host_suffix = "amazonaws.com.cn" if where.startswith("cn-") else "amazonaws.com"
        text = f"{registry}.dkr.ecr.{where}.{host_suffix}/{text}"
    return text, ImageReference(repo, ref_tag, ref_digest, registry, where)


# --- invalid references, each breaking one rule ----------------------------------------------


def _insert(base: str, position: int, piece: str) -> str:
    position = position % (len(base) + 1)
    return base[:position] + piece + base[position:]


BAD_REPO_CHARS = st.sampled_from(
    [*string.ascii_uppercase, *" !#$%&*+,;<=>?[]^`{|}~\"'", "é", "ß", "\u200b", "\n", "\t", "\x00"]
)
BAD_TAG_CHARS = st.sampled_from([*" !#$%&*+,/;<=>?[]^`{|}~\"'@", "é", "日", "\u200b", "\x7f"])


@st.composite
def invalid_reference(draw: st.DrawFn) -> tuple[str, str]:
    """(label, text) for a reference that breaks exactly the rule named by label."""
    repo = draw(repository)
    label = draw(
        st.sampled_from(
            [
                "empty",
                "blank",
                "padded",
                "repo-bad-char",
                "repo-too-short",
                "repo-too-long",
                "repo-bad-separator",
                "tag-bad-char",
                "tag-too-long",
                "tag-bad-start",
                "tag-empty",
                "digest-bad",
                "tag-and-digest",
                "foreign-registry",
                "dotted-first-part-short",
                "uri-bad-account",
                "uri-bad-region",
            ]
        )
    )
    if label == "empty":
        return label, ""
    if label == "blank":
        return label, draw(st.text(" \t\n\r", min_size=1, max_size=5))
    if label == "padded":
        return label, draw(st.sampled_from([" ", "\t", "\n"])) + repo
    if label == "repo-bad-char":
        bad = draw(BAD_REPO_CHARS)
        return label, _insert(repo, draw(st.integers(0, 300)), bad) + ":v1"
    if label == "repo-too-short":
        return label, draw(st.sampled_from(LOWER_ALNUM)) + ":v1"
    if label == "repo-too-long":
        size = draw(st.integers(257, 600))
        return label, ("a" * size) + ":v1"
    if label == "repo-bad-separator":
        # Every separator ('.', '_', '-', '/') sits between two lowercase letters or digits.
        sep, sep2 = draw(st.sampled_from("._-/")), draw(st.sampled_from("._-/"))
        where = draw(st.sampled_from(["start", "end", "double"]))
        text = {"start": sep + repo, "end": repo + sep, "double": repo[:1] + sep + sep2 + repo[1:]}
        return label, text[where] + ":v1"
    if label == "tag-bad-char":
        good = draw(tag)
        return label, f"{repo}:" + _insert(good, draw(st.integers(1, 200)), draw(BAD_TAG_CHARS))
    if label == "tag-too-long":
        return label, f"{repo}:" + "t" * draw(st.integers(129, 400))
    if label == "tag-bad-start":
        return label, f"{repo}:" + draw(st.sampled_from([".", "-"])) + draw(tag)
    if label == "tag-empty":
        return label, f"{repo}:"
    if label == "digest-bad":
        hexpart = draw(st.text(HEX, min_size=64, max_size=64))
        bad = draw(
            st.sampled_from(
                [
                    "sha256:" + hexpart.upper() + "A",
                    "sha256:" + hexpart[:-1],
                    "sha256:" + hexpart + "0",
                    "sha512:" + hexpart,
                    "sha256:" + hexpart[:-1] + "g",
                    hexpart,
                    "",
                ]
            )
        )
        return label, f"{repo}@{bad}"
    if label == "tag-and-digest":
        return label, f"{repo}:{draw(tag)}@{draw(digest)}"
    if label == "foreign-registry":
        host = draw(st.sampled_from(["docker.io", "ghcr.io", "quay.io", "localhost.localdomain"]))
        return label, f"{host}/{repo}:v1"
    if label == "dotted-first-part-short":
        first = draw(component) + "." + draw(component)
        return label, f"{first}/{repo}:v1"
    if label == "uri-bad-account":
        bad = draw(st.text(string.digits, min_size=1, max_size=11) | st.just("12345678901a"))
        return label, f"{bad}.dkr.ecr.us-east-1.amazonaws.com/{repo}:v1"
    assert label == "uri-bad-region"
    bad = draw(st.sampled_from(["US-EAST-1", "useast1", "us-east", "mars", "us-east-1a"]))
    return label, f"{draw(account)}.dkr.ecr.{bad}.amazonaws.com/{repo}:v1"


@given(valid_reference())
@fuzz_settings(300)
def test_valid_references_parse_to_their_parts(case: tuple[str, ImageReference]) -> None:
    text, expected = case
    try:
        parsed = parse_reference(text)
    except InvalidReferenceError as error:
        TALLY.add("valid", ok=False)
        raise AssertionError(f"valid reference {text!r} refused: {error}") from error
    assert TALLY.add("valid", ok=parsed == expected), (text, parsed, expected)


@given(invalid_reference())
@fuzz_settings(400)
def test_invalid_references_are_refused_naming_the_rule(case: tuple[str, str]) -> None:
    label, text = case
    try:
        parsed = parse_reference(text)
    except InvalidReferenceError as error:
        message = str(error)
        ok = "\n" not in message and len(message) < 600
        assert TALLY.add(label, ok=ok), f"not one short line: {message!r}"
        return
    TALLY.add(label, ok=False)
    raise AssertionError(f"{label}: {text!r} was accepted as {parsed!r}")


@given(st.text(max_size=300) | st.binary(max_size=50).map(lambda b: b.decode("latin-1")))
@fuzz_settings(400)
def test_any_text_is_a_reference_or_an_invalid_reference_error(text: str) -> None:
    try:
        parsed = parse_reference(text)
    except InvalidReferenceError:
        TALLY.add("any-refused", ok=True)
        return
    except Exception as error:
        TALLY.add("any-crashed", ok=False)
        raise AssertionError(f"{text!r} raised {type(error).__name__}: {error}") from error
    # Whatever was accepted round-trips and names a valid repository.
    again = parse_reference(str(parsed), registry_id=parsed.registry_id, region=parsed.region)
    assert TALLY.add("any-accepted", ok=again == parsed), (text, parsed, again)
