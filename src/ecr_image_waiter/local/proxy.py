"""What every local HTTP proxy here shares: a threaded server on 127.0.0.1, reading a
request, forwarding it to the local server behind, and answering. Used by the tests' fault
proxy and ResponseURL stand-in and by the benchmark's throttling proxy, each of which
decides what to answer on its own.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

#: Headers that belong to one connection and are never passed on.
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "transfer-encoding"})
_NOT_COPIED_BACK = _HOP_BY_HOP | {"content-length", "server", "date"}


def upstream_of(url: str) -> tuple[str, int]:
    """(host, port) of ``url``; a ValueError naming it if either is missing."""
    parts = urlsplit(url)
    if parts.hostname is None or parts.port is None:
        raise ValueError(f"upstream {url!r} needs a host and a port")
    return parts.hostname, parts.port


def read_body(handler: BaseHTTPRequestHandler) -> bytes:
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length else b""


def forward(
    upstream: tuple[str, int], handler: BaseHTTPRequestHandler, body: bytes
) -> tuple[int, dict[str, str], bytes]:
    """Send the handler's request (with ``body``) to ``upstream``; its status, the headers to
    copy back and the body."""
    connection = http.client.HTTPConnection(*upstream, timeout=30)
    try:
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in _HOP_BY_HOP}
        connection.request(handler.command, handler.path, body=body, headers=headers)
        response = connection.getresponse()
        payload = response.read()
        kept = {k: v for k, v in response.getheaders() if k.lower() not in _NOT_COPIED_BACK}
        return response.status, kept, payload
    finally:
        connection.close()


def answer(
    handler: BaseHTTPRequestHandler,
    status: int,
    headers: Mapping[str, str],
    payload: bytes,
    *,
    defaults: Mapping[str, str] | None = None,
) -> bool:
    """Answer with ``headers`` plus those of ``defaults`` they lack; False (and the
    connection marked to close) if the client is gone."""
    try:
        handler.send_response(status)
        given = {k.lower() for k in headers}
        for key, value in headers.items():
            handler.send_header(key, value)
        for key, value in (defaults or {}).items():
            if key.lower() not in given:
                handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(payload)
        handler.wfile.flush()
    except OSError:
        handler.close_connection = True
        return False
    return True


Handle = Callable[[BaseHTTPRequestHandler], None]
Track = Callable[[socket.socket, bool], None]


class LocalServer:
    """A threaded HTTP/1.1 server on a free port of 127.0.0.1 that gives every request to
    ``handle``, and tells ``track`` of each connection opened (True) and closed (False). It
    logs nothing: request lines can hold presigned URLs."""

    def __init__(self, handle: Handle, track: Track | None = None) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.handle_request_with = handle
        self._server.track = track
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting and close the listener; open connections are the owner's."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    handle_request_with: Handle
    track: Track | None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        if self.server.track is not None:
            self.server.track(self.connection, True)

    def finish(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            super().finish()
        if self.server.track is not None:
            self.server.track(self.connection, False)

    def _handle(self) -> None:
        self.server.handle_request_with(self)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _handle

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""
