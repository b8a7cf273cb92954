"""What the benchmark needs around AWS: the moto server, test images, a throttling proxy.

The proxy (its forwarding is :mod:`ecr_image_waiter.local.proxy`, as for the tests' fault
proxy) sits in front of the moto server and answers a seeded share of the requests whose
``X-Amz-Target`` names a chosen service with the AWS JSON error ``ThrottlingException``
(HTTP 400), which botocore's standard retry mode retries.
"""

from __future__ import annotations

import contextlib
import json
import math
import queue
import random
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from ecr_image_waiter.local.ecr import image_manifest, put_manifest
from ecr_image_waiter.local.proxy import LocalServer, answer, forward, read_body, upstream_of
from ecr_image_waiter.local.support import free_port, reset_moto

JSON_11 = "application/x-amz-json-1.1"
REGION = "us-east-1"
ACCOUNT = "123456789012"


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
        reset_moto(self.url)

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


def push(ecr: Any, repository: str, tag: str) -> str:
    """Put an image into ``repository:tag`` with its true sha256 digest, no event; returns
    the digest."""
    return put_manifest(ecr, repository, image_manifest(f"{repository}:{tag}"), tag)


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
        self.upstream = upstream_of(upstream)
        self.share, self.targets = share, targets
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.seen: Counter[str] = Counter()
        self.throttled: Counter[str] = Counter()
        self._server = LocalServer(self.handle)

    @property
    def url(self) -> str:
        return self._server.url

    def __enter__(self) -> ThrottlingProxy:
        self._server.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.stop()

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

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        body = read_body(handler)
        if self.decide(handler.headers.get("X-Amz-Target") or ""):
            status = 400
            headers = {"x-amzn-ErrorType": "ThrottlingException"}
            payload = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"})
            reply = payload.encode()
        else:
            status, headers, reply = forward(self.upstream, handler, body)
        answer(handler, status, headers, reply, defaults={"Content-Type": JSON_11})
