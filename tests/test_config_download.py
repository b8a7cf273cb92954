"""The config download: one deadline for the whole exchange, and only ECR/S3 hosts.

A server that trickles its status line, its headers, its chunk-size lines or its redirects
one byte at a time must not stretch a look past the download's own bound (here lowered to
1 s, as tests/test_config_architecture.py does; the bound is read at each download). The
figures measured are printed (``pytest -s``) and checked against bounds a loaded 2-core
machine meets.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from ecr_image_waiter.cli.main import ExitStatus, main
from ecr_image_waiter.engine import EcrLookup, LambdaImageInspector, Verdict, parse_reference
from ecr_image_waiter.engine import config_platform as manifest_module
from ecr_image_waiter.engine.download import MAX_REDIRECTS, url_problem
from tests.blobs import config_manifest, image_config
from tests.faultproxy import record
from tests.hostile import (
    FakeEcr,
    RawServer,
    assert_safe,
    at_once,
    chunked,
    ok,
    redirect,
    self_signed,
    sha,
    then_trickle,
    trickle,
)
from tests.images import DOCKER_V2

BOUND = 1.0
#: What a loaded 2-core machine may add to a bound (thread start, scheduling, ECR calls).
MARGIN = 2.5
CONFIG = image_config("amd64")
REPO = "app/fn"


@pytest.fixture
def server() -> Iterator[RawServer]:
    raw = RawServer()
    yield raw
    raw.close()


@pytest.fixture
def bound(monkeypatch: pytest.MonkeyPatch) -> float:
    monkeypatch.setattr(manifest_module, "CONFIG_TIMEOUT_SECONDS", BOUND)
    return BOUND


def local_ecr(url: str) -> FakeEcr:
    """An image whose config is served at ``url``, behind a loopback ECR endpoint."""
    ecr = FakeEcr(endpoint="http://127.0.0.1:9")
    ecr.put(config_manifest(CONFIG), DOCKER_V2, tag="v1")
    ecr.urls[sha(CONFIG)] = url
    return ecr


def look(ecr: FakeEcr) -> tuple[Any, float]:
    lookup = EcrLookup(ecr.client, inspector=LambdaImageInspector("x86_64"))
    start = time.monotonic()
    observation = lookup.look(parse_reference(f"{REPO}:v1", region="us-east-1"))
    return observation, time.monotonic() - start


# --- Trickling servers: one deadline -----------------------------------------------------------

HEADERS = ok(CONFIG)
SPLIT = HEADERS.index(b"\r\n\r\n") + 4


@pytest.mark.parametrize(
    ("name", "plan"),
    [
        ("status line and headers", trickle(HEADERS, 0.05)),
        ("headers after the status line", then_trickle(HEADERS[:17], HEADERS[17:], 0.05)),
        ("chunk-size lines", then_trickle(*chunked(CONFIG), 0.02)),
        ("body", then_trickle(HEADERS[:SPLIT], HEADERS[SPLIT:], 0.02)),
    ],
)
def test_a_trickling_server_is_given_up_at_the_bound(
    server: RawServer, bound: float, name: str, plan: Any
) -> None:
    server.plans["/config"] = plan
    observation, seconds = look(local_ecr(server.url("/config")))
    print(f"trickled {name}: look ended after {seconds:.2f} s (bound {bound} s)")
    assert observation.verdict is Verdict.READY, observation.summary
    assert observation.image.architecture is None
    assert f"no complete answer within {bound:g} s" in observation.image.architecture_unknown_reason
    assert seconds < bound + MARGIN
    assert "SECRETSIGNATURE" not in str(observation)


def test_trickled_redirects_share_the_one_deadline(server: RawServer, bound: float) -> None:
    # Each hop alone would fit the bound; together they must not exceed it.
    hop = redirect(server.url("/b"))
    server.plans["/a"] = trickle(hop, 0.6 * bound / len(hop))
    server.plans["/b"] = trickle(redirect(server.url("/c")), 0.6 * bound / len(hop))
    server.plans["/c"] = at_once(ok(CONFIG))
    observation, seconds = look(local_ecr(server.url("/a")))
    print(f"trickled redirects: look ended after {seconds:.2f} s (bound {bound} s)")
    assert "no complete answer within" in observation.image.architecture_unknown_reason
    assert seconds < bound + MARGIN


def test_redirects_are_limited(server: RawServer) -> None:
    server.plans["/loop"] = at_once(redirect(server.url("/loop")))
    observation, _ = look(local_ecr(server.url("/loop")))
    assert f"more than {MAX_REDIRECTS} redirects" in observation.image.architecture_unknown_reason
    assert server.requests == ["/loop"] * (MAX_REDIRECTS + 1)


def test_two_redirects_are_followed(server: RawServer) -> None:
    server.plans["/one"] = at_once(redirect(server.url("/two")))
    server.plans["/two"] = at_once(redirect("/three"))  # a relative Location too
    server.plans["/three"] = at_once(ok(CONFIG))
    observation, _ = look(local_ecr(server.url("/one")))
    assert observation.image.architecture == "x86_64", observation.summary


def test_a_chunked_config_is_read(server: RawServer) -> None:
    server.plans["/config"] = at_once(b"".join(chunked(CONFIG)))
    observation, _ = look(local_ecr(server.url("/config")))
    assert observation.image.architecture == "x86_64", observation.summary


def test_wait_timeout_2_ends_within_2_s_and_one_look(server: RawServer, bound: float) -> None:
    """The acceptance figure: `wait --timeout 2` against a trickling config server."""
    server.plans["/config"] = trickle(HEADERS, 0.05)  # ~20 s if every read had its own timeout
    ecr = local_ecr(server.url("/config"))
    out, err = io.StringIO(), io.StringIO()
    start = time.monotonic()
    status = main(
        ["wait", f"{REPO}:v1", "--timeout", "2", "--lambda", "--json", "--region", "us-east-1"],
        stdout=out,
        stderr=err,
        env={},
        lookup_factory=lambda ref: EcrLookup(ecr.client, inspector=LambdaImageInspector()),
    )
    seconds = time.monotonic() - start
    print(f"wait --timeout 2 against a trickling config server: {seconds:.2f} s")
    record("figure", name="trickle_wait_seconds", value=round(seconds, 2), bound=bound)
    assert status == ExitStatus.OK, err.getvalue()
    assert seconds < 2 + bound + MARGIN
    answer = json.loads(out.getvalue())
    assert "no complete answer within" in answer["architectureUnknownReason"]
    assert_safe(out.getvalue(), err.getvalue())


@pytest.mark.slow
def test_the_default_bound_holds_against_a_trickling_server(server: RawServer) -> None:
    server.plans["/config"] = trickle(HEADERS, 0.2)  # ~40 s if unbounded
    observation, seconds = look(local_ecr(server.url("/config")))
    print(f"default bound: look ended after {seconds:.2f} s")
    assert "no complete answer within 10 s" in observation.image.architecture_unknown_reason
    assert seconds < manifest_module.CONFIG_TIMEOUT_SECONDS + MARGIN


# --- Which URLs are fetched --------------------------------------------------------------------

ALLOWED = [
    ("https://prod-us-east-1-starport-layer-bucket.s3.us-east-1.amazonaws.com/x?sig", "aws"),
    ("https://prod-us-east-1-starport-layer-bucket.s3.amazonaws.com/x", "aws"),
    ("https://bucket.s3-us-west-2.amazonaws.com/x", "aws"),
    ("https://bucket.s3.dualstack.eu-west-1.amazonaws.com/x", "aws"),
    ("https://bucket.s3-fips.us-gov-west-1.amazonaws.com/x", "aws-us-gov"),
    ("https://123456789012.dkr.ecr.us-east-1.amazonaws.com/v2/x/blobs/sha256:0", "aws"),
    ("https://prod-cn-north-1-starport-layer-bucket.s3.cn-north-1.amazonaws.com.cn/x", "aws-cn"),
    ("https://BUCKET.S3.US-EAST-1.AMAZONAWS.COM/x", "aws"),
]
REFUSED = [
    ("http://bucket.s3.us-east-1.amazonaws.com/x", "aws", "is not HTTPS"),
    ("ftp://bucket.s3.us-east-1.amazonaws.com/x", "aws", "is not HTTPS"),
    ("https://10.0.0.5/x", "aws", "names an IP address (10.0.0.5)"),
    ("https://169.254.169.254/latest/meta-data/", "aws", "names an IP address (169.254.169.254)"),
    ("https://[fd00:ec2::254]/latest", "aws", "names an IP address"),
    ("https://2130706433/x", "aws", "names an IP address"),
    ("https://127.1/x", "aws", "names an IP address"),
    ("https://evil.example.com/x", "aws", "not an ECR or S3 host of partition aws"),
    ("https://s3.us-east-1.amazonaws.com.evil.example/x", "aws", "not an ECR or S3 host"),
    ("https://evil.amazonaws.com/x", "aws", "not an ECR or S3 host"),
    ("https://bucket.s3.cn-north-1.amazonaws.com.cn/x", "aws", "not an ECR or S3 host"),
    ("https://bucket.s3.us-east-1.amazonaws.com/x", "aws-cn", "of partition aws-cn"),
    ("https://bucket.s3.us-east-1.amazonaws.com:8443/x", "aws", "names port 8443, not 443"),
    ("https://user:pw@bucket.s3.us-east-1.amazonaws.com/x", "aws", "carries a user name"),
    ("https://", "aws", "names no host"),
    ("https://[::1/x", "aws", "is not a valid URL"),
    ("http://127.0.0.1:5000/x", "aws", "is not HTTPS"),
]


@pytest.mark.parametrize(("url", "partition"), ALLOWED)
def test_ecr_and_s3_hosts_of_the_partition_are_fetched(url: str, partition: str) -> None:
    assert url_problem(url, local=False, partition=partition) is None


@pytest.mark.parametrize(("url", "partition", "rule"), REFUSED)
def test_other_urls_are_refused_naming_the_rule(url: str, partition: str, rule: str) -> None:
    problem = url_problem(url, local=False, partition=partition)
    assert problem is not None
    assert rule in problem
    assert "sig" not in problem.split("(")[0]


def test_local_mode_takes_loopback_http_only() -> None:
    assert url_problem("http://127.0.0.1:5000/x", local=True, partition="aws") is None
    assert url_problem("http://localhost:5000/x", local=True, partition="aws") is None
    assert "is not HTTPS" in str(url_problem("http://10.0.0.5/x", local=True, partition="aws"))


@pytest.mark.parametrize(
    "url", ["https://169.254.169.254/latest/meta-data/", "https://10.0.0.5/", "http://[::1]:80/"]
)
def test_an_ip_url_from_ecr_is_never_fetched_and_the_reason_says_why(url: str) -> None:
    ecr = FakeEcr()  # ECR's real endpoint: not local mode
    ecr.put(config_manifest(CONFIG), DOCKER_V2, tag="v1")
    ecr.urls[sha(CONFIG)] = url
    observation, seconds = look(ecr)
    assert observation.verdict is Verdict.READY
    reason = observation.image.architecture_unknown_reason
    assert "was not downloaded: the download URL" in reason
    assert "IP address" in reason or "is not HTTPS" in reason
    assert seconds < MARGIN  # refused before any connection


# --- Over TLS: the deadline holds through the handshake and the encrypted reads ------------------


@pytest.fixture
def tls_server(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[RawServer]:
    import ssl

    pytest.importorskip("cryptography")
    cert, key = self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    # ssl.create_default_context() loads OpenSSL's default paths, which SSL_CERT_FILE names.
    monkeypatch.setenv("SSL_CERT_FILE", cert)
    raw = RawServer(tls=context)
    yield raw
    raw.close()


def test_a_config_over_https_is_read(tls_server: RawServer) -> None:
    tls_server.plans["/config"] = at_once(b"".join(chunked(CONFIG)))
    observation, _ = look(local_ecr(tls_server.url("/config")))
    assert observation.image.architecture == "x86_64", observation.summary


def test_a_certificate_not_trusted_is_unknown(tls_server: RawServer, monkeypatch: Any) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", "/nonexistent")
    tls_server.plans["/config"] = at_once(ok(CONFIG))
    observation, _ = look(local_ecr(tls_server.url("/config")))
    assert observation.verdict is Verdict.READY
    assert "SSLCertVerificationError" in observation.image.architecture_unknown_reason


def test_a_trickle_over_https_is_given_up_at_the_bound(tls_server: RawServer, bound: float) -> None:
    tls_server.plans["/config"] = trickle(HEADERS, 0.05)
    observation, seconds = look(local_ecr(tls_server.url("/config")))
    print(f"trickle over TLS: look ended after {seconds:.2f} s (bound {bound} s)")
    assert "no complete answer within" in observation.image.architecture_unknown_reason
    assert seconds < bound + MARGIN


@pytest.mark.parametrize("address", ["169.254.169.254", "127.0.0.1", "::ffff:169.254.169.254"])
def test_an_s3_name_resolving_to_metadata_or_loopback_is_refused(
    monkeypatch: pytest.MonkeyPatch, address: str
) -> None:
    import socket

    from ecr_image_waiter.engine.download import Refused, download

    family = socket.AF_INET6 if ":" in address else socket.AF_INET

    def resolve(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        return [(family, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    with pytest.raises(Refused) as info:
        download("https://b.s3.us-east-1.amazonaws.com/x?sig", local=False, partition="aws")
    assert "resolves to a loopback, link-local" in str(info.value)
