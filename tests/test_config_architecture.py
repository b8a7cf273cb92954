"""The architecture of a single-platform image, read from its image config blob.

The manifest is in the local ECR (the moto server over HTTP); GetDownloadUrlForLayer hands out
a URL on a local HTTP server serving the config JSON under its true sha256 (moto does not
implement the call: see the ``ecr_blob_urls`` fixture). Every front end is covered: the
engine's EcrLookup and the CLI's main() (the custom resource's handler:
tests/test_acceptance_lambda_ready.py). The presigned URL's fake signature must show up nowhere.
"""

from __future__ import annotations

import io
import json
import logging
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders

from ecr_image_waiter.cli.main import ExitStatus, main
from ecr_image_waiter.engine import (
    EcrLookup,
    NeverReason,
    Verdict,
    WaitPolicy,
    config_platform,
    parse_reference,
    wait_until_ready,
)
from ecr_image_waiter.engine.lookup import make_client
from ecr_image_waiter.engine.manifest import CONFIG_MAX_BYTES, LambdaImageInspector
from ecr_image_waiter.errors import UnusableImageError
from tests.blobs import CREDENTIAL, SIGNATURE, config_manifest, image_config, sha256_of
from tests.images import DOCKER_V2, OCI_MANIFEST, push

REPO = "app/fn"
EVENTS = Path(__file__).parent / "events"
AMD64 = image_config("amd64")
ARM64 = image_config("arm64", variant="v8")


def no_sleep(seconds: float) -> None:
    pytest.fail(f"a never-case must end the wait without a pause ({seconds} s asked)")


def watch_logs(caplog: pytest.LogCaptureFixture) -> None:
    """Everything the project logs, and every INFO line of the libraries (botocore's DEBUG wire
    log prints every response body, as for any AWS answer: it is off unless asked for)."""
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="ecr_image_waiter")


def assert_no_url(*texts: object) -> None:
    for text in texts:
        assert SIGNATURE not in str(text)
        assert CREDENTIAL not in str(text)
        assert "127.0.0.1:" not in str(text) or "/blobs/" not in str(text)


@pytest.fixture
def ecr(server_ecr: Any) -> Any:
    server_ecr.create_repository(repositoryName=REPO)
    return server_ecr


def arrange(
    ecr: Any,
    blob_server: Any,
    urls: dict[tuple[str, str], str],
    config: bytes,
    *,
    tag: str = "v1",
    media_type: str = DOCKER_V2,
    served: bytes | None = None,
    status: int = 200,
) -> str:
    """Push a manifest naming ``config`` and serve ``served`` (default: the config) for it."""
    manifest = config_manifest(config, media_type)
    blob_server.offer(urls, REPO, sha256_of(config), config if served is None else served, status)
    return push(ecr, REPO, manifest, tag=tag)


def look(architecture: str, client: Any = None, *, lambda_compatible: bool = True) -> Any:
    inspector = LambdaImageInspector(architecture, lambda_compatible=lambda_compatible)
    return EcrLookup(client, inspector=inspector).look(parse_reference(f"{REPO}:v1"))


# --- The config names the architecture -------------------------------------------------------


@pytest.mark.parametrize("media_type", [DOCKER_V2, OCI_MANIFEST])
@pytest.mark.parametrize(("architecture", "config"), [("x86_64", AMD64), ("arm64", ARM64)])
def test_matching_config_sets_the_architecture(  # noqa: PLR0917  (fixtures + parameters)
    ecr: Any,
    blob_server: Any,
    ecr_blob_urls: Any,
    media_type: str,
    architecture: str,
    config: bytes,
) -> None:
    digest = arrange(ecr, blob_server, ecr_blob_urls, config, media_type=media_type)
    observation = look(architecture)
    assert observation.verdict is Verdict.READY, observation.summary
    assert observation.image.digest == digest
    assert observation.image.architecture == architecture
    assert observation.image.architecture_unknown_reason is None
    assert observation.image.to_dict()["architectureUnknownReason"] is None
    assert len(blob_server.requests) == 1
    assert_no_url(observation, observation.image.to_dict())


@pytest.mark.parametrize("variant", ["v2", "v3"])
def test_amd64_with_a_microarchitecture_level_is_x86_64(
    ecr: Any, blob_server: Any, ecr_blob_urls: Any, variant: str
) -> None:
    config = image_config("amd64", variant=variant)
    digest = arrange(ecr, blob_server, ecr_blob_urls, config)
    observation = look("x86_64")
    assert observation.verdict is Verdict.READY, observation.summary
    assert observation.image.digest == digest
    assert observation.image.architecture == "x86_64"
    arm = look("arm64")
    assert arm.verdict is Verdict.NEVER
    assert f"linux/amd64/{variant}" in arm.message


def test_amd64_image_for_arm64_is_never_naming_both(
    ecr: Any, blob_server: Any, ecr_blob_urls: Any
) -> None:
    arrange(ecr, blob_server, ecr_blob_urls, AMD64)
    observation = look("arm64")
    assert observation.verdict is Verdict.NEVER
    assert observation.kind is NeverReason.UNUSABLE_IMAGE
    assert observation.code == "ArchitectureMismatch"
    for text in ("linux/amd64", "Lambda architecture x86_64", "architecture arm64", "exec format"):
        assert text in observation.message
    assert "--platform linux/arm64" in observation.remedy
    assert "give the waiter and the function architecture x86_64" in observation.remedy
    ref = parse_reference(f"{REPO}:v1")
    lookup = EcrLookup(inspector=LambdaImageInspector("arm64"))
    with pytest.raises(UnusableImageError) as info:
        wait_until_ready(lambda: lookup.look(ref), WaitPolicy(60, 5), ref, sleep=no_sleep)
    assert "linux/amd64" in str(info.value)
    assert_no_url(observation, info.value)


def test_platform_lambda_does_not_run_has_no_architecture_to_switch_to(
    ecr: Any, blob_server: Any, ecr_blob_urls: Any
) -> None:
    arrange(ecr, blob_server, ecr_blob_urls, image_config("arm", variant="v7"))
    observation = look("x86_64")
    assert observation.code == "ArchitectureMismatch"
    assert "linux/arm/v7 (an architecture Lambda does not run)" in observation.message
    assert "give the waiter" not in observation.remedy


def test_without_lambda_checks_the_config_is_not_read(
    ecr: Any, blob_server: Any, ecr_blob_urls: Any
) -> None:
    arrange(ecr, blob_server, ecr_blob_urls, AMD64)
    observation = look("arm64", lambda_compatible=False)
    assert observation.verdict is Verdict.READY
    assert observation.image.architecture is None
    assert observation.image.architecture_unknown_reason is None
    assert blob_server.requests == []


# --- The config cannot be read: ready, with the reason ----------------------------------------


def test_config_not_matching_its_digest_is_unknown(
    ecr: Any, blob_server: Any, ecr_blob_urls: Any
) -> None:
    arrange(ecr, blob_server, ecr_blob_urls, ARM64, served=AMD64)
    observation = look("x86_64")  # the tampered bytes would have matched: they must not count
    assert observation.verdict is Verdict.READY
    assert observation.image.architecture is None
    assert "does not hash to its digest" in observation.image.architecture_unknown_reason
    assert "architecture unknown: the downloaded config" in observation.message
    assert len(blob_server.requests) == 1


@pytest.mark.parametrize(
    ("served", "status", "reason"),
    [
        (b"<Error>NoSuchKey</Error>", 404, "HTTP 404"),
        (b"\xff not json", 200, "is not JSON"),
        (b'{"os": "linux"}', 200, "names no architecture"),
        (b"x" * (CONFIG_MAX_BYTES + 1), 200, f"larger than {CONFIG_MAX_BYTES} bytes"),
    ],
)
def test_unreadable_config_is_unknown_and_ready(  # noqa: PLR0917  (fixtures + parameters)
    ecr: Any, blob_server: Any, ecr_blob_urls: Any, served: bytes, status: int, reason: str
) -> None:
    # The manifest names the served bytes' true digest, so only the named problem is left.
    blob_server.offer(ecr_blob_urls, REPO, sha256_of(served), served, status)
    push(ecr, REPO, config_manifest(served), tag="v1")
    observation = look("arm64")
    assert observation.verdict is Verdict.READY, observation.summary
    assert observation.image.architecture is None
    assert reason in observation.image.architecture_unknown_reason
    assert reason in observation.message
    assert_no_url(observation, observation.image.to_dict())


def test_layer_not_in_the_repository_is_unknown(ecr: Any, blob_server: Any) -> None:
    push(ecr, REPO, config_manifest(AMD64), tag="v1")  # no URL offered: LayersNotFound
    observation = look("arm64")
    assert observation.verdict is Verdict.READY
    assert "LayersNotFoundException" in observation.image.architecture_unknown_reason
    assert blob_server.requests == []


def refuse_download_url(code: str, message: str, status: int = 400) -> Any:
    def answer(request: Any, **_: Any) -> AWSResponse:
        body = json.dumps({"__type": code, "message": message}).encode()
        return AWSResponse(request.url, status, HTTPHeaders(), _Raw(body))

    return answer


class _Raw:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Any:
        yield self._data


def test_download_url_refused_is_unknown_naming_the_action(
    ecr: Any, blob_server: Any, ecr_blob_urls: Any
) -> None:
    arrange(ecr, blob_server, ecr_blob_urls, AMD64)
    client = make_client(max_attempts=1)
    client.meta.events.register(
        "before-send.ecr.GetDownloadUrlForLayer",
        refuse_download_url("AccessDeniedException", "not authorized: ecr:GetDownloadUrlForLayer"),
    )
    observation = look("arm64", client)
    assert observation.verdict is Verdict.READY  # not a never-case: the image is there
    assert "ecr:GetDownloadUrlForLayer" in observation.image.architecture_unknown_reason
    assert "was refused" in observation.image.architecture_unknown_reason
    assert blob_server.requests == []


def test_throttled_download_url_is_unknown_not_never(
    ecr: Any, blob_server: Any, ecr_blob_urls: Any
) -> None:
    arrange(ecr, blob_server, ecr_blob_urls, AMD64)
    client = make_client(max_attempts=1)
    client.meta.events.register(
        "before-send.ecr.GetDownloadUrlForLayer",
        refuse_download_url("ThrottlingException", "Rate exceeded"),
    )
    observation = look("arm64", client)
    assert observation.verdict is Verdict.READY
    assert "ThrottlingException" in observation.image.architecture_unknown_reason


def test_plain_http_url_from_a_remote_ecr_is_not_fetched(
    moto_ecr: Any, blob_server: Any, ecr_blob_urls: Any
) -> None:
    # moto in process answers at ECR's real https endpoint: a plain-http URL is refused.
    moto_ecr.create_repository(repositoryName=REPO)
    arrange(moto_ecr, blob_server, ecr_blob_urls, AMD64)
    observation = look("arm64")
    assert observation.verdict is Verdict.READY
    assert "was not downloaded: the download URL is not HTTPS" in (
        observation.image.architecture_unknown_reason
    )
    assert blob_server.requests == []
    assert_no_url(observation)


def test_redirect_to_plain_http_elsewhere_is_refused(
    ecr: Any, blob_server: Any, ecr_blob_urls: Any
) -> None:
    config = AMD64
    blob_server.offer(ecr_blob_urls, REPO, sha256_of(config), b"http://192.0.2.1/config", 302)
    push(ecr, REPO, config_manifest(config), tag="v1")
    observation = look("arm64")
    assert observation.verdict is Verdict.READY
    assert "redirected to a URL that is not HTTPS" in observation.image.architecture_unknown_reason


def test_trickling_config_is_abandoned_at_the_deadline(
    ecr: Any, blob_server: Any, ecr_blob_urls: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each byte comes well within the per-wait timeout, so only a deadline on the whole body
    # ends the read: without one, this config would arrive after ~10 s and count.
    monkeypatch.setattr(config_platform, "CONFIG_TIMEOUT_SECONDS", 1)
    url = blob_server.offer(ecr_blob_urls, REPO, sha256_of(AMD64), AMD64)
    blob_server.drip[urlsplit(url).path] = 0.05
    push(ecr, REPO, config_manifest(AMD64), tag="v1")
    observation = look("arm64")
    assert observation.verdict is Verdict.READY, observation.summary
    assert "no complete answer within 1 s" in observation.image.architecture_unknown_reason
    assert_no_url(observation, observation.image.to_dict())


# --- Through the CLI (the custom resource's leg: tests/test_acceptance_lambda_ready.py) ------


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(list(argv), stdout=out, stderr=err, env=os.environ)
    return int(status), out.getvalue(), err.getvalue()


def test_cli_exits_3_for_an_amd64_image_asked_for_arm64(
    ecr: Any, blob_server: Any, ecr_blob_urls: Any
) -> None:
    arrange(ecr, blob_server, ecr_blob_urls, AMD64)
    status, out, err = cli("wait", f"{REPO}:v1", "--architecture", "arm64", "--lambda")
    assert status == ExitStatus.NEVER
    assert out == ""
    for text in ("linux/amd64", "x86_64", "arm64", "--platform linux/arm64"):
        assert text in err
    assert_no_url(err)
    status, out, err = cli("wait", f"{REPO}:v1", "--lambda", "--json")
    assert status == ExitStatus.OK, err
    assert json.loads(out)["architecture"] == "x86_64"
    assert_no_url(out, err)


def test_cli_reports_why_the_architecture_is_unknown(
    ecr: Any, blob_server: Any, ecr_blob_urls: Any
) -> None:
    arrange(ecr, blob_server, ecr_blob_urls, AMD64, status=404, served=b"gone")
    status, out, err = cli("wait", f"{REPO}:v1", "--architecture", "arm64", "--lambda", "--json")
    assert status == ExitStatus.OK, err
    record = json.loads(out)
    assert record["architecture"] is None
    assert "HTTP 404" in record["architectureUnknownReason"]
    assert "architecture unknown: downloading the config" in err  # the progress line
    assert_no_url(out, err)
