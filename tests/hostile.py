"""What a hostile pusher (or a broken server) can put in front of the engine, and how to tell
that none of it reached a terminal or a log.

* :data:`PAYLOAD`: terminal escapes (an OSC title, an erase-line CSI, a carriage return), a
  forged line, C1 controls and a right-to-left override, as one string;
* :func:`unsafe` lists the characters of a text that must never come from a server: C0
  controls but the newline ending a line, DEL and C1 controls, bidirectional controls;
* :class:`FakeEcr`: an ECR client (botocore's own, with its real parsing) whose answers are
  canned JSON, for documents no registry would store (moto refuses invalid JSON and crashes on
  some shapes): DescribeImages, BatchGetImage and GetDownloadUrlForLayer from dicts, errors on
  demand;
* :class:`RawServer`: an HTTP server on 127.0.0.1 written on plain sockets, which can trickle
  its status line, headers, chunk sizes or body one byte at a time, or redirect forever.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from botocore.awsrequest import AWSResponse, HTTPHeaders

from tests.conftest import ACCOUNT, REGION

FORGED = "ecr-image-waiter: all images ready"
PAYLOAD = f"\x1b]0;OWNED\x07\x1b[2K\rfake\n{FORGED}\u202e\x9b31m\x85\u2028\x00end"

BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def unsafe(text: str) -> list[str]:
    """The characters of ``text`` no server string may bring: every C0 control but a newline
    (which must end a line, never start a forged one), DEL, C1 controls, bidi controls, line
    and paragraph separators."""
    bad = [
        c
        for c in text
        if (ord(c) < 0x20 and c != "\n")
        or 0x7F <= ord(c) <= 0x9F
        or c in BIDI
        or c in "\u2028\u2029"
    ]
    bad += [f"forged line {line!r}" for line in text.split("\n") if line.startswith(FORGED)]
    return bad


def assert_safe(*texts: object) -> None:
    for text in texts:
        found = unsafe(str(text))
        assert not found, f"unsafe characters {found!r} in {str(text)[:300]!r}"


def sha(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return "sha256:" + hashlib.sha256(raw).hexdigest()


class _Raw:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Any:
        yield self._data


class FakeEcr:
    """Canned ECR answers behind a real botocore client (``client``).

    ``images``: tag or digest -> (manifest text, media type or None); the digest of a tag is
    the sha256 of its text unless ``digests`` names another. ``urls``: blob digest -> download
    URL. ``errors``: operation -> (code, message, HTTP status).
    """

    def __init__(self, endpoint: str | None = None) -> None:
        import boto3
        from botocore.config import Config

        self.images: dict[str, tuple[str, str | None]] = {}
        self.digests: dict[str, str] = {}
        self.urls: dict[str, str] = {}
        self.errors: dict[str, tuple[str, str, int]] = {}
        #: BatchGetImage answers ``failures[]`` with this (code, reason) for every digest.
        self.batch_failure: tuple[str, str] | None = None
        #: DescribeImages ``imageDetails[0]`` fields replaced by these.
        self.detail: dict[str, Any] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        # ``endpoint``: a loopback one makes the engine take the local ECR's plain-HTTP
        # download URLs (nothing is ever sent there: every call is answered here).
        self.client: Any = boto3.client(
            "ecr",
            region_name=REGION,
            endpoint_url=endpoint,
            config=Config(retries={"total_max_attempts": 1}),
        )
        self.client.meta.events.register("before-send.ecr", self._answer)  # type: ignore[arg-type]

    def put(self, text: str, media_type: str | None = None, tag: str | None = None) -> str:
        digest = sha(text)
        self.images[digest] = (text, media_type)
        if tag is not None:
            self.images[tag] = (text, media_type)
            self.digests[tag] = digest
        return digest

    def _answer(self, request: Any, **_: Any) -> AWSResponse:
        operation = request.headers["X-Amz-Target"].decode().rsplit(".", 1)[1]
        params = json.loads(request.body or b"{}")
        self.calls.append((operation, params))
        if operation in self.errors:
            code, message, status = self.errors[operation]
            return self._json({"__type": code, "message": message}, status)
        if operation == "DescribeImages":
            image_id = params["imageIds"][0]
            key = image_id.get("imageTag") or image_id.get("imageDigest")
            if key not in self.images:
                return self._json(
                    {"__type": "ImageNotFoundException", "message": f"no image {key}"}, 400
                )
            text, media_type = self.images[key]
            detail: dict[str, Any] = {
                "registryId": ACCOUNT,
                "repositoryName": params["repositoryName"],
                "imageDigest": self.digests.get(key, sha(text)),
            }
            if media_type is not None:
                detail["imageManifestMediaType"] = media_type
            detail.update(self.detail)
            return self._json({"imageDetails": [detail]})
        if operation == "BatchGetImage":
            digest = params["imageIds"][0]["imageDigest"]
            if self.batch_failure is not None:
                code, reason = self.batch_failure
                return self._json(
                    {
                        "images": [],
                        "failures": [
                            {
                                "imageId": {"imageDigest": digest},
                                "failureCode": code,
                                "failureReason": reason,
                            }
                        ],
                    }
                )
            if digest not in self.images:
                return self._json(
                    {
                        "images": [],
                        "failures": [
                            {
                                "imageId": {"imageDigest": digest},
                                "failureCode": "ImageNotFound",
                                "failureReason": "Requested image not found",
                            }
                        ],
                    }
                )
            text, media_type = self.images[digest]
            image: dict[str, Any] = {
                "registryId": ACCOUNT,
                "repositoryName": params["repositoryName"],
                "imageId": {"imageDigest": digest},
                "imageManifest": text,
            }
            if media_type is not None:
                image["imageManifestMediaType"] = media_type
            return self._json({"images": [image], "failures": []})
        if operation == "GetDownloadUrlForLayer":
            digest = params["layerDigest"]
            if digest not in self.urls:
                return self._json(
                    {"__type": "LayersNotFoundException", "message": f"no layer {digest}"}, 400
                )
            return self._json({"downloadUrl": self.urls[digest], "layerDigest": digest})
        return self._json({"__type": "InvalidParameterException", "message": operation}, 400)

    @staticmethod
    def _json(body: dict[str, Any], status: int = 200) -> AWSResponse:
        headers = HTTPHeaders()
        headers["Content-Type"] = "application/x-amz-json-1.1"
        return AWSResponse(
            "https://api.ecr.us-east-1.amazonaws.com/",
            status,
            headers,
            _Raw(json.dumps(body).encode()),
        )


# --- A raw HTTP server --------------------------------------------------------------------------

Plan = Callable[[socket.socket, str], None]


class RawServer:
    """Serves each connection with ``plans[path]`` (``send(sock, path)``); counts requests."""

    def __init__(self, tls: Any = None) -> None:
        #: A server-side ``ssl.SSLContext``: the server speaks HTTPS.
        self.tls = tls
        self.plans: dict[str, Plan] = {}
        self.requests: list[str] = []
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.port = int(self._sock.getsockname()[1])
        self._stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def url(self, path: str) -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}{path}?X-Amz-Signature=SECRETSIGNATURE"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.settimeout(30)
                if self.tls is not None:
                    conn = self.tls.wrap_socket(conn, server_side=True)
                data = b""
                while b"\r\n\r\n" not in data and len(data) < 65536:
                    more = conn.recv(4096)
                    if not more:
                        return
                    data += more
                path = data.split(b" ", 2)[1].decode().split("?", 1)[0]
                self.requests.append(path)
                plan = self.plans.get(path)
                if plan is None:
                    conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                    return
                plan(conn, path)
            except OSError:  # the client gave up (or refused the certificate)
                return

    def close(self) -> None:
        self._stop.set()
        self._sock.close()


def trickle(data: bytes, pause: float) -> Plan:
    """Send ``data`` one byte at a time, ``pause`` seconds apart."""

    def send(conn: socket.socket, _path: str) -> None:
        for byte in data:
            conn.sendall(bytes([byte]))
            time.sleep(pause)

    return send


def then_trickle(head: bytes, rest: bytes, pause: float) -> Plan:
    """Send ``head`` at once, then ``rest`` one byte at a time."""

    def send(conn: socket.socket, _path: str) -> None:
        conn.sendall(head)
        for byte in rest:
            conn.sendall(bytes([byte]))
            time.sleep(pause)

    return send


def at_once(data: bytes) -> Plan:
    def send(conn: socket.socket, _path: str) -> None:
        conn.sendall(data)

    return send


def ok(body: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


def chunked(body: bytes) -> tuple[bytes, bytes]:
    """(head, chunked body with one-byte chunks): each chunk-size line is a separate wait."""
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    rest = b"".join(b"1\r\n" + bytes([b]) + b"\r\n" for b in body) + b"0\r\n\r\n"
    return head, rest


def redirect(location: str) -> bytes:
    return f"HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n".encode()


def self_signed(directory: Any) -> tuple[str, str]:
    """(certificate file, key file) for 127.0.0.1 and localhost, made with ``cryptography``."""
    import datetime
    import ipaddress
    from pathlib import Path

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file = Path(directory) / "cert.pem"
    key_file = Path(directory) / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_file), str(key_file)
