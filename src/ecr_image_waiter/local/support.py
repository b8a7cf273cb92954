"""Shared pieces for the tests, the scripts and the demo: a fake clock, a free local port,
a moto server's reset, and moto's missing GetDownloadUrlForLayer. Nothing here is used by
the Lambda code or the CLI; moto is imported only when :func:`layer_download_urls` is called.
"""

from __future__ import annotations

import socket
import threading
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any


class FakeClock:
    """Seconds that move only when told to (:meth:`advance`, :meth:`sleep`); :meth:`at` runs
    an action once its time (``offset`` seconds after ``start``) is reached. Call it, or its
    :meth:`clock`, for the time; it is safe to read from several threads."""

    def __init__(self, start: float = 1000.0) -> None:
        self.start = start
        self.now = start
        self.sleeps: list[float] = []
        self._actions: list[tuple[float, Callable[[], None]]] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def clock(self) -> float:
        return self()

    def at(self, offset: float, action: Callable[[], None]) -> None:
        self._actions.append((self.start + offset, action))
        self._actions.sort(key=lambda item: item[0])

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"a fake clock does not go back ({seconds} s)")
        with self._lock:
            self.now += seconds
        while self._actions and self._actions[0][0] <= self.now:
            self._actions.pop(0)[1]()

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)

    @property
    def elapsed(self) -> float:
        return self.now - self.start


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def reset_moto(endpoint: str) -> None:
    """Empty the moto server at ``endpoint`` (every service, every region)."""
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")  # noqa: S310
    urllib.request.urlopen(request, timeout=10).close()  # noqa: S310 (a local server's URL)


#: What the stand-in says of a blob it has no URL for (ECR's words).
MISSING_LAYER = "The specified layer {digest} does not exist in repository {repository}"


def layer_download_urls(
    urls: Mapping[tuple[str, str], str], *, missing: str = MISSING_LAYER
) -> Callable[[Any], Any]:
    """moto's ECR ``GetDownloadUrlForLayer``, which moto 5.2.5 lacks (NotImplementedError in
    process, an HTTP 500 botocore retries from its server; it keeps no blobs either): the URL
    in ``urls`` for (repository, blob digest), else ``LayersNotFoundException`` as ECR
    answers for a blob it does not hold (``missing``, formatted with ``digest`` and
    ``repository``). Set it as
    ``moto.ecr.responses.ECRResponse.get_download_url_for_layer``."""
    from moto.core.exceptions import ServiceException
    from moto.core.responses import ActionResult

    class LayersNotFoundException(ServiceException):
        code = "LayersNotFoundException"

    def get_download_url_for_layer(self: Any) -> Any:
        repository = self._get_param("repositoryName")
        digest = self._get_param("layerDigest")
        url = urls.get((repository, digest))
        if url is None:
            raise LayersNotFoundException(missing.format(digest=digest, repository=repository))
        return ActionResult({"downloadUrl": url, "layerDigest": digest})

    return get_download_url_for_layer
