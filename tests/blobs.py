"""Image config blobs, served on 127.0.0.1 the way ECR's presigned download URLs serve them.

``config_manifest`` writes a single-platform manifest whose ``config.digest`` is the true
sha256 of the config JSON, as ``docker push`` leaves it; ``BlobServer.offer`` serves a body at
a URL shaped like an S3 presigned URL, with a recognisable fake signature (``SIGNATURE``) so
tests can check that the URL never leaks, and registers it as the local ECR's
GetDownloadUrlForLayer answer for that blob (see the ``ecr_blob_urls`` fixture).
"""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
import time
from typing import Any

from tests.images import DOCKER_V2, OCI_MANIFEST

#: The fake presigned URL's signature: it must appear in no message, log, error or response.
SIGNATURE = "SECRETSIGNATURE0f1e2d3c4b5a69788796a5b4c3d2e1f0"
CREDENTIAL = "ASIASECRETCREDENTIAL"


def image_config(architecture: str, os_name: str = "linux", variant: str | None = None) -> bytes:
    """An image config (OCI image spec config.md) for the platform, as buildx writes it."""
    body: dict[str, Any] = {
        "architecture": architecture,
        "os": os_name,
        "config": {"Entrypoint": ["/lambda-entrypoint.sh"], "Cmd": ["app.handler"]},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "ab" * 32]},
    }
    if variant is not None:
        body["variant"] = variant
    return json.dumps(body, sort_keys=True).encode()


def sha256_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def config_manifest(config: bytes, media_type: str = DOCKER_V2, config_digest: str = "") -> str:
    """A single-platform manifest naming ``config`` (by its true digest unless one is given)."""
    docker = media_type == DOCKER_V2
    body = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json"
            if docker
            else "application/vnd.oci.image.config.v1+json",
            "size": len(config),
            "digest": config_digest or sha256_of(config),
        },
        "layers": [
            {
                "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip"
                if docker
                else "application/vnd.oci.image.layer.v1.tar+gzip",
                "size": 5678,
                "digest": sha256_of(b"layer-" + config),
            }
        ],
    }
    assert media_type in (DOCKER_V2, OCI_MANIFEST)
    return json.dumps(body, sort_keys=True)


class BlobServer:
    """An HTTP server on 127.0.0.1 in a thread: path -> (status, body); counts requests."""

    def __init__(self) -> None:
        self.bodies: dict[str, tuple[int, bytes]] = {}
        #: path -> seconds between bytes: the body trickles instead of coming at once.
        self.drip: dict[str, float] = {}
        self.requests: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                server.requests.append(path)
                status, body = server.bodies.get(path, (404, b"<Error>NoSuchKey</Error>"))
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", body.decode())
                    body = b""
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                pause = server.drip.get(path)
                if pause is None:
                    self.wfile.write(body)
                    return
                try:
                    for byte in body:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(pause)
                except OSError:  # the client gave up: that is what a drip test wants
                    return

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.httpd.server_address[1])
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        """A URL shaped like an S3 presigned URL, carrying the fake signature."""
        return (
            f"http://127.0.0.1:{self.port}{path}?X-Amz-Algorithm=AWS4-HMAC-SHA256"
            f"&X-Amz-Credential={CREDENTIAL}%2F20260101%2Fus-east-1%2Fs3%2Faws4_request"
            f"&X-Amz-Expires=3600&X-Amz-Signature={SIGNATURE}"
        )

    def offer(
        self,
        urls: dict[tuple[str, str], str],
        repository: str,
        digest: str,
        body: bytes,
        status: int = 200,
    ) -> str:
        """Serve ``body`` for blob ``digest`` and make the local ECR hand out its URL."""
        path = f"/blobs/{repository}/{digest.replace(':', '-')}"
        self.bodies[path] = (status, body)
        url = self.url(path)
        urls[(repository, digest)] = url
        return url

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
