"""Shared fixtures: fake AWS credentials, moto in process, and the moto server over HTTP."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from ecr_image_waiter.local.support import free_port, layer_download_urls, reset_moto

if TYPE_CHECKING:
    from tests.faultproxy import FaultProxy, Plan

REGION = "us-east-1"
ACCOUNT = "123456789012"


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and a region; nothing may reach real AWS."""
    for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_ECR", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def moto_ecr(aws_env: None) -> Iterator[Any]:
    """moto in process; yields a boto3 ECR client for arranging repositories and images."""
    from moto import mock_aws

    with mock_aws():
        yield boto3.client("ecr", region_name=REGION)


@pytest.fixture(autouse=True)
def ecr_blob_urls(monkeypatch: pytest.MonkeyPatch) -> dict[tuple[str, str], str]:
    """The local ECR's GetDownloadUrlForLayer: (repository, blob digest) -> download URL.

    moto 5.2.5 does not implement GetDownloadUrlForLayer (NotImplementedError in process, an
    HTTP 500 that botocore retries from its server) and keeps no blobs: put_image stores the
    manifest only. This answers as ECR does for a blob it does not hold,
    LayersNotFoundException, unless a test put a URL here for the blob (tests.blobs serves
    config blobs on 127.0.0.1). Applies to moto in process and to the session's server.
    """
    from moto.ecr.responses import ECRResponse

    urls: dict[tuple[str, str], str] = {}
    get_download_url_for_layer = layer_download_urls(urls)
    monkeypatch.setattr(ECRResponse, "get_download_url_for_layer", get_download_url_for_layer)
    return urls


@pytest.fixture(scope="session")
def moto_server_url() -> Iterator[str]:
    """One moto server on 127.0.0.1 for the session (state is reset per test)."""
    from moto.server import ThreadedMotoServer

    # The server's request log would carry the presigned ResponseURLs: keep it quiet.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def server_ecr(moto_server_url: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """An ECR client on the moto server; AWS_ENDPOINT_URL_ECR points everything else at it."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_ECR", moto_server_url)
    reset_moto(moto_server_url)
    return boto3.client("ecr", region_name=REGION, endpoint_url=moto_server_url)


@pytest.fixture
def proxies(moto_server_url: str, server_ecr: Any) -> Iterator[Callable[[Plan], FaultProxy]]:
    """Start tests.faultproxy proxies in front of the (freshly reset) moto server; all stop
    at teardown."""
    from tests.faultproxy import FaultProxy

    started: list[FaultProxy] = []

    def start(plan: Plan) -> FaultProxy:
        proxy = FaultProxy(moto_server_url, plan).start()
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()


@pytest.fixture(scope="session")
def _blob_server() -> Iterator[Any]:
    from tests.blobs import BlobServer

    server = BlobServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def blob_server(_blob_server: Any) -> Any:
    """A tests.blobs.BlobServer on 127.0.0.1, emptied for each test."""
    _blob_server.bodies.clear()
    _blob_server.drip.clear()
    _blob_server.requests.clear()
    return _blob_server


@pytest.fixture(scope="session")
def cdk_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example app (examples/app.py) synthesized once per session, in its own process (a
    node process, ~540 MB), for the suites that deploy it on the local AWS side."""
    root = Path(__file__).resolve().parents[1]
    outdir = tmp_path_factory.mktemp("example") / "cdk.out"
    env = {
        "PATH": "/usr/bin:/bin",
        "JSII_NODE": str(root / ".venv" / "node"),
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    code = f"from examples.app import build_app; build_app({str(outdir)!r}).synth()"
    subprocess.run([sys.executable, "-c", code], cwd=root, env=env, check=True, timeout=180)
    return outdir
