"""What the benchmark needs around AWS: the moto server, test images, a throttling proxy.

The proxy is a small copy of the throttling part of ``tests/faultproxy.py`` (the benchmark
imports nothing from ``tests``): it sits in front of the moto server and answers a seeded
share of the requests whose ``X-Amz-Target`` names a chosen service with the AWS JSON error
``ThrottlingException`` (HTTP 400), which botocore's standard retry mode retries.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import math
import queue
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

REGION = "us-east-1"
ACCOUNT = "123456789012"
DOCKER_V2 = "application/vnd.docker.distribution.manifest.v2+json"


def fake_aws_environment() -> dict[str, str]:
    """Fake credentials and a region; nothing read from the machine's AWS configuration."""
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MotoServer:
    """The moto server in its own process (so its work does not share our GIL), started by
    :mod:`.moto_main`; :meth:`ready` waits until it answers."""

    def __init__(self) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "scripts.bench.moto_main", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=Path(__file__).resolve().parent.parent.parent,
        )

    def ready(self) -> MotoServer:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{self.url}/moto-api/", timeout=2).close()
                return self
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise RuntimeError(f"the moto server did not start on {self.url}") from None
                time.sleep(0.1)

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        urllib.request.urlopen(request, timeout=10).close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


class MotoPool:
    """``size`` moto servers; :meth:`take` lends one (reset) to one run at a time, since a
    deploy of a stack gives its resources the same names every time."""

    def __init__(self, size: int) -> None:
        self.servers = [MotoServer() for _ in range(size)]
        self._free: queue.Queue[MotoServer] = queue.Queue()
        try:
            for server in self.servers:
                self._free.put(server.ready())
        except RuntimeError:
            self.stop()
            raise

    @contextlib.contextmanager
    def take(self) -> Iterator[str]:
        server = self._free.get()
        try:
            server.reset()
            yield server.url
        finally:
            self._free.put(server)

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


def manifest(seed: str) -> str:
    """A single-platform Docker image manifest; ``seed`` makes its digest unique."""

    def blob(kind: str) -> str:
        return "sha256:" + hashlib.sha256(f"{kind}-{seed}".encode()).hexdigest()

    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": DOCKER_V2,
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": 1234,
                "digest": blob("config"),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": 5678,
                    "digest": blob("layer"),
                }
            ],
        },
        sort_keys=True,
    )


def push(ecr: Any, repository: str, tag: str) -> str:
    """Put an image into ``repository:tag`` with its true sha256 digest (moto does not
    compute it); returns the digest."""
    text = manifest(repository + ":" + tag)
    digest = "sha256:" + hashlib.sha256(text.encode()).hexdigest()
    ecr.put_image(
        repositoryName=repository,
        imageManifest=text,
        imageTag=tag,
        imageDigest=digest,
        imageManifestMediaType=DOCKER_V2,
    )
    return digest


def percentiles(values: list[float]) -> dict[str, float]:
    """n, p50, p90, p99 (linear interpolation between closest ranks), max and mean."""
    if not values:
        return {"n": 0}
    ordered = sorted(values)

    def rank(q: float) -> float:
        position = (len(ordered) - 1) * q
        low, high = math.floor(position), math.ceil(position)
        return ordered[low] + (ordered[high] - ordered[low]) * (position - low)

    return {
        "n": len(ordered),
        "p50": round(rank(0.50), 3),
        "p90": round(rank(0.90), 3),
        "p99": round(rank(0.99), 3),
        "max": round(ordered[-1], 3),
        "mean": round(statistics.fmean(ordered), 3),
    }


def say(text: str) -> None:
    print(text, flush=True)


class ThrottlingProxy:
    """An HTTP proxy on 127.0.0.1 before ``upstream`` that throttles a seeded ``share`` of
    the requests to the services whose X-Amz-Target prefix is in ``targets``."""

    def __init__(self, upstream: str, share: float, seed: int, targets: tuple[str, ...]) -> None:
        parts = urlsplit(upstream)
        assert parts.hostname is not None
        assert parts.port is not None
        self.host, self.port = parts.hostname, parts.port
        self.share, self.targets = share, targets
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.seen: Counter[str] = Counter()
        self.throttled: Counter[str] = Counter()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.proxy = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> ThrottlingProxy:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def decide(self, target: str) -> bool:
        """Count the request; True if it is to be throttled."""
        service, _, operation = target.partition(".")
        with self._lock:
            self.seen[operation or "other"] += 1
            targeted = any(service.startswith(t) for t in self.targets)
            if targeted and self._rng.random() < self.share:
                self.throttled[operation] += 1
                return True
        return False

    def forward(self, handler: _Handler, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        upstream = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            headers = {
                k: v
                for k, v in handler.headers.items()
                if k.lower() not in {"connection", "keep-alive", "proxy-connection"}
            }
            upstream.request(handler.command, handler.path, body=body, headers=headers)
            answer = upstream.getresponse()
            payload = answer.read()
            skip = {"connection", "transfer-encoding", "content-length", "server", "date"}
            kept = [(k, v) for k, v in answer.getheaders() if k.lower() not in skip]
            return answer.status, kept, payload
        finally:
            upstream.close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        proxy: ThrottlingProxy = self.server.proxy  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if proxy.decide(self.headers.get("X-Amz-Target") or ""):
            status = 400
            headers = [("x-amzn-ErrorType", "ThrottlingException")]
            payload = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"})
            answer = payload.encode()
        else:
            status, headers, answer = proxy.forward(self, body)
        with contextlib.suppress(OSError):
            self.send_response(status)
            names = {k.lower() for k, _ in headers}
            for key, value in headers:
                self.send_header(key, value)
            if "content-type" not in names:
                self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

    do_GET = do_POST
    do_PUT = do_POST

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""
