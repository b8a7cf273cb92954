"""Downloading an image config blob from the URL GetDownloadUrlForLayer hands out.

One deadline, set when :func:`download` begins, covers the whole exchange (connect, TLS,
request, headers, chunk sizes, body, each redirect): the socket's timeout is set to the time
left before every receive, so a server trickling one byte at a time cannot stretch a look.
:func:`url_problem` decides which URLs are fetched (docs/rules.md, "The config download");
the answer never carries the presigned URL.
"""

from __future__ import annotations

import functools
import ipaddress
import math
import re
import socket
import time
from typing import Any
from urllib.parse import SplitResult, urljoin, urlsplit

from ecr_image_waiter.engine.safe import safe_text

#: The download's whole time limit, and its size cap (a config is a few KiB; the cap only
#: stops a wrong URL from streaming a layer).
TIMEOUT_SECONDS = 10.0
MAX_BYTES = 1024 * 1024
#: Redirect hops followed (S3 answers a presigned GET directly; one hop covers a
#: regional redirect).
MAX_REDIRECTS = 2
#: Longest header section read, in bytes.
MAX_HEADER_BYTES = 64 * 1024
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

#: Partition -> DNS suffix (botocore ``data/partitions.json``, ``dnsSuffix``).
DNS_SUFFIXES = {
    "aws": "amazonaws.com",
    "aws-cn": "amazonaws.com.cn",
    "aws-us-gov": "amazonaws.com",
    "aws-iso": "c2s.ic.gov",
    "aws-iso-b": "sc2s.sgov.gov",
    "aws-iso-e": "cloud.adc-e.uk",
    "aws-iso-f": "csp.hci.ic.gov",
    "aws-eusc": "amazonaws.eu",
}
_REGION_RE = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}")
_LABEL_RE = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")


class Failure(Exception):
    """Why the download gave no body; the text is safe and names no URL."""


class Refused(Failure):
    """The URL (or a redirect) breaks a rule of :func:`url_problem`: nothing was fetched
    from it."""


def download(url: str, *, local: bool, partition: str, timeout: float | None = None) -> bytes:
    """The body at ``url`` (at most :data:`MAX_BYTES`); raises :class:`Failure` saying why not.

    ``local``: ECR is a loopback endpoint. ``partition``: the ECR client's partition (``aws``).
    """
    import http.client

    limit = TIMEOUT_SECONDS if timeout is None else timeout
    deadline = time.monotonic() + limit
    for hop in range(MAX_REDIRECTS + 1):
        problem = url_problem(url, local=local, partition=partition)
        if problem is not None:
            raise Refused(
                f"redirected to a URL that {problem}" if hop else f"the download URL {problem}"
            )
        parts = urlsplit(url)
        try:
            status, location, body = _get(parts, deadline, local=local)
        except Failure:
            raise
        except TimeoutError:
            raise Failure(f"no complete answer within {limit:g} s") from None
        except OSError as error:
            raise Failure(_os_error(error, limit)) from None
        except (http.client.HTTPException, ValueError, UnicodeError) as error:
            raise Failure(f"not a valid HTTP answer ({type(error).__name__})") from None
        if status in (301, 302, 303, 307, 308):
            if not location:
                raise Failure(f"HTTP {status} without a Location")
            url = urljoin(url, location)
            continue
        if status != 200:
            raise Failure(f"HTTP {status}")
        return body
    raise Failure(f"more than {MAX_REDIRECTS} redirects")


def url_problem(url: str, *, local: bool, partition: str) -> str | None:
    """Which rule ``url`` breaks, as a phrase ("is not HTTPS"), or None if it may be fetched.
    See the module docstring."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        return "is not a valid URL"
    if local and host in LOOPBACK_HOSTS and parts.scheme in ("http", "https"):
        return None
    if parts.scheme != "https":
        return "is not HTTPS"
    if not host:
        return "names no host"
    if parts.username is not None or parts.password is not None:
        return "carries a user name"
    if _is_ip(host):
        return f"names an IP address ({safe_text(host, 60)}), not an ECR or S3 host"
    if port not in (None, 443):
        return f"names port {port}, not 443"
    suffix = DNS_SUFFIXES.get(partition, "amazonaws.com")
    if not _is_aws_storage_host(host, suffix):
        return (
            f"names host {safe_text(host, 100)}, not an ECR or S3 host of partition "
            f"{safe_text(partition, 20)} (*.{suffix})"
        )
    return None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        # Forms inet_aton takes but ip_address does not ("10.1", "0x7f.1"): no letters-only
        # label is numeric, so a host whose last label is all digits/hex-ish is no name.
        last = host.rsplit(".", 1)[-1]
        return bool(last) and (last.isdigit() or last.startswith("0x"))
    return True


def _is_aws_storage_host(host: str, suffix: str) -> bool:
    if not host.endswith("." + suffix):
        return False
    labels = host[: -len(suffix) - 1].split(".")
    if not all(_LABEL_RE.fullmatch(label) for label in labels):
        return False
    if suffix == "amazonaws.com" and labels[-1] == "s3":
        return True  # s3.amazonaws.com and <bucket>.s3.amazonaws.com (the global endpoint)
    if len(labels) >= 1 and labels[-1].startswith("s3-") and _REGION_RE.fullmatch(labels[-1][3:]):
        return True  # s3-<region>: the legacy dash form
    if len(labels) < 2 or not _REGION_RE.fullmatch(labels[-1]):
        return False
    service = labels[-2]
    if service == "dualstack" and len(labels) >= 3:
        service = labels[-3]
    return service in ("s3", "s3-fips", "ecr", "ecr-fips")


def _get(parts: SplitResult, deadline: float, *, local: bool) -> tuple[int, str, bytes]:
    """(status, Location, body) for one GET; every wait ends by ``deadline``."""
    import http.client

    host = parts.hostname or ""
    tls = parts.scheme == "https"
    port = parts.port or (443 if tls else 80)
    sock = _connect(host, port, deadline, local=local)
    conn_sock: socket.socket = sock
    try:
        if tls:
            import ssl

            context = ssl.create_default_context()
            context.sslsocket_class = _ssl_socket_class()
            sock.settimeout(_left(deadline))
            wrapped = context.wrap_socket(sock, server_hostname=host)
            wrapped.deadline = deadline  # type: ignore[attr-defined]
            conn_sock = wrapped
        conn = http.client.HTTPConnection(host, port)
        conn.sock = conn_sock
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        conn.putrequest("GET", path, skip_accept_encoding=True)
        conn.putheader("Accept-Encoding", "identity")
        conn.endheaders()
        response = conn.getresponse()
        try:
            location = response.getheader("Location") or ""
            body = _read(response, deadline)
        finally:
            response.close()
        return response.status, location, body
    finally:
        sock.close()
        if conn_sock is not sock:
            conn_sock.close()


def _read(response: Any, deadline: float) -> bytes:
    """The body, at most MAX_BYTES (a larger one is a Failure)."""
    chunks: list[bytes] = []
    size = 0
    while size <= MAX_BYTES:
        _left(deadline)
        chunk: bytes = response.read1(MAX_BYTES + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > MAX_BYTES:
        raise Failure(f"larger than {MAX_BYTES} bytes")
    return b"".join(chunks)


def _connect(host: str, port: int, deadline: float, *, local: bool) -> socket.socket:
    last: OSError | None = None
    for family, kind, proto, _name, address in socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM
    ):
        if not local and _forbidden_address(str(address[0])):
            raise Refused(
                "the download URL's host resolves to a loopback, link-local, unspecified or "
                "multicast address"
            )
        sock = _DeadlineSocket(family, kind, proto)
        sock.deadline = deadline
        try:
            sock.settimeout(_left(deadline))
            sock.connect(address)
        except OSError as error:
            sock.close()
            last = error
            if isinstance(error, TimeoutError):
                raise
            continue
        return sock
    raise last if last is not None else OSError("no address")


def _forbidden_address(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return True
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:169.254.169.254 is the metadata service too
    return ip.is_loopback or ip.is_link_local or ip.is_unspecified or ip.is_multicast


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    return left


class _DeadlineSocket(socket.socket):
    """A socket whose every receive and send waits at most until ``deadline``."""

    deadline: float = math.inf

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        self.settimeout(_left(self.deadline))
        return super().recv_into(buffer, nbytes, flags)

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        self.settimeout(_left(self.deadline))
        return super().recv(bufsize, flags)

    def sendall(self, data: Any, flags: int = 0) -> None:
        self.settimeout(_left(self.deadline))
        super().sendall(data, flags)


@functools.cache
def _ssl_socket_class() -> type:
    """The TLS counterpart of :class:`_DeadlineSocket`, for ``SSLContext.sslsocket_class``
    (made on first use: ssl is imported only when a download happens)."""
    import ssl

    class DeadlineSSLSocket(ssl.SSLSocket):
        deadline: float = math.inf

        def recv_into(self, buffer: Any, nbytes: int | None = None, flags: int = 0) -> int:
            self.settimeout(_left(self.deadline))
            return super().recv_into(buffer, nbytes, flags)

        def recv(self, buflen: int = 1024, flags: int = 0) -> bytes:
            self.settimeout(_left(self.deadline))
            return super().recv(buflen, flags)

        def sendall(self, data: Any, flags: int = 0) -> None:
            self.settimeout(_left(self.deadline))
            super().sendall(data, flags)

    return DeadlineSSLSocket


def _os_error(error: OSError, limit: float) -> str:
    """A network error by kind (its text can carry the address, never needed here)."""
    if isinstance(error, TimeoutError):
        return f"no complete answer within {limit:g} s"
    strerror = getattr(error, "strerror", None)
    name = type(error).__name__
    return f"{name}: {safe_text(strerror, 80)}" if strerror else name
