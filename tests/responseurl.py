"""A stand-in for the S3 behind CloudFormation's ResponseURL that fails on purpose.

:class:`ResponseUrlProxy` listens on 127.0.0.1 and forwards every request to the moto
server's S3. A client made with its :attr:`~ResponseUrlProxy.url` as endpoint presigns URLs
that point here (moto does not check the signature), so the local CloudFormation's
ResponseURLs and its reads of the answers both pass through it. For a PUT to a key (or a
key prefix) marked with :meth:`~ResponseUrlProxy.fail` it answers HTTP 500 (S3's
``InternalError``) that many times, then forwards: a URL failing then recovering. A key
marked with :meth:`~ResponseUrlProxy.expire` is answered 403 (``AccessDenied``, "Request
has expired") on every PUT, as S3 answers a presigned URL past its expiry. Every PUT is
recorded with the time.monotonic() it was answered and the status sent, so a test knows
when an answer reached CloudFormation and how many tries it took.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from urllib.parse import unquote, urlsplit

from ecr_image_waiter.local.proxy import LocalServer, answer, forward, read_body, upstream_of

_INTERNAL_ERROR = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InternalError</Code>'
    b"<Message>We encountered an internal error. Please try again.</Message></Error>"
)
_EXPIRED = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
    b"<Message>Request has expired</Message></Error>"
)


@dataclass(frozen=True)
class Put:
    """One PUT the proxy answered."""

    key: str
    at: float
    status: int


class ResponseUrlProxy:
    """S3 on the moto server, behind a proxy that fails chosen ResponseURLs."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream_of(upstream)
        self._lock = threading.Lock()
        self._failures: dict[str, int] = {}
        self._expired: set[str] = set()
        self.puts: list[Put] = []
        self._server = LocalServer(self.handle)

    @property
    def url(self) -> str:
        return self._server.url

    def start(self) -> ResponseUrlProxy:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> ResponseUrlProxy:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # --- what to do with a key ---------------------------------------------------------------

    def fail(self, prefix: str, times: int) -> None:
        """Answer the next ``times`` PUTs to keys (``bucket/object``) starting with ``prefix``
        with a 500. A prefix lets a test mark a request before it is sent, when only its
        resource's part of the key is known."""
        with self._lock:
            self._failures[prefix] = times

    def expire(self, prefix: str) -> None:
        """Answer every PUT to keys starting with ``prefix`` with a 403, as S3 answers an
        expired presigned URL."""
        with self._lock:
            self._expired.add(prefix)

    def puts_to(self, key: str) -> list[Put]:
        with self._lock:
            return [put for put in self.puts if put.key == key]

    def delivered_at(self, key: str) -> float | None:
        """When the first PUT to ``key`` got through (time.monotonic()), or None."""
        return next((put.at for put in self.puts_to(key) if put.status == 200), None)

    def counts(self) -> dict[str, int]:
        """PUTs answered by status class: ``failed`` (500), ``refused`` (403), ``sent``."""
        with self._lock:
            statuses = [put.status for put in self.puts]
        return {
            "sent": sum(1 for s in statuses if s == 200),
            "failed": sum(1 for s in statuses if s >= 500),
            "refused": sum(1 for s in statuses if 400 <= s < 500),
        }

    # --- requests ----------------------------------------------------------------------------

    def _decide(self, key: str) -> int:
        """The status to answer a PUT to ``key`` with, 0 to forward it."""
        with self._lock:
            if any(key.startswith(prefix) for prefix in self._expired):
                return 403
            for prefix, left in self._failures.items():
                if left > 0 and key.startswith(prefix):
                    self._failures[prefix] = left - 1
                    return 500
            return 0

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        body = read_body(handler)
        key = unquote(urlsplit(handler.path).path.lstrip("/"))
        status = self._decide(key) if handler.command == "PUT" else 0
        if status:
            payload = _EXPIRED if status == 403 else _INTERNAL_ERROR
            answer(handler, status, {"Content-Type": "application/xml"}, payload)
        else:
            status, headers, payload = forward(self.upstream, handler, body)
            answer(handler, status, headers, payload)
        if handler.command == "PUT":
            with self._lock:
                self.puts.append(Put(key, time.monotonic(), status))
