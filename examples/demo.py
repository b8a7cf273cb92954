"""A wait that ends with a digest, against a local ECR (moto), in about ten seconds.

1. Start a local ECR (moto's server) on a free 127.0.0.1 port and create a repository.
2. Start ``ecr-image-waiter wait demo/app:v1`` as its own process, pointed at the local ECR
   through the standard ``AWS_ENDPOINT_URL_ECR`` setting (nothing custom).
3. Three seconds later push the image (its digest is the true sha256 of its manifest).
4. The waiter finishes and prints the digest-pinned URI; the demo checks it is the digest
   that was pushed.

Run it with ``make demo``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time

import boto3

REGION = "us-east-1"
REPOSITORY = "demo/app"
TAG = "v1"
PUSH_AFTER_SECONDS = 3.0
MEDIA_TYPE = "application/vnd.docker.distribution.manifest.v2+json"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def manifest() -> str:
    """A small Docker v2 image manifest (the blobs it names need not exist for ECR's API)."""

    def blob(name: str) -> str:
        return "sha256:" + hashlib.sha256(name.encode()).hexdigest()

    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MEDIA_TYPE,
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": 1469,
                "digest": blob("demo-config"),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": 3208942,
                    "digest": blob("demo-layer"),
                }
            ],
        },
        sort_keys=True,
    )


def say(message: str) -> None:
    print(f"demo: {message}", flush=True)


def main() -> int:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no per-request log lines
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL_ECR": endpoint,
        "AWS_ACCESS_KEY_ID": "demo",
        "AWS_SECRET_ACCESS_KEY": "demo",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    env.pop("AWS_PROFILE", None)
    env.pop("AWS_SESSION_TOKEN", None)
    try:
        ecr = boto3.client(
            "ecr",
            region_name=REGION,
            endpoint_url=endpoint,
            aws_access_key_id="demo",
            aws_secret_access_key="demo",  # noqa: S106  (a local emulator's fake key)
        )
        ecr.create_repository(repositoryName=REPOSITORY)
        say(f"local ECR at {endpoint}; created repository {REPOSITORY!r} (still empty)")

        command = [sys.executable, "-m", "ecr_image_waiter", "wait", f"{REPOSITORY}:{TAG}"]
        command += ["--interval", "1", "--timeout", "60"]
        say("$ AWS_ENDPOINT_URL_ECR=" + endpoint + " ecr-image-waiter " + " ".join(command[3:]))
        started = time.monotonic()
        waiter = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)

        body = manifest()
        digest = "sha256:" + hashlib.sha256(body.encode()).hexdigest()

        def push_later() -> None:
            time.sleep(PUSH_AFTER_SECONDS)
            # moto does not compute the digest itself: give the true one, as a registry would.
            ecr.put_image(
                repositoryName=REPOSITORY,
                imageManifest=body,
                imageManifestMediaType=MEDIA_TYPE,
                imageTag=TAG,
                imageDigest=digest,
            )
            say(f"pushed {REPOSITORY}:{TAG} ({digest}) after {time.monotonic() - started:.1f} s")

        pusher = threading.Thread(target=push_later, daemon=True)
        pusher.start()
        stdout, _ = waiter.communicate(timeout=90)
        pusher.join()
        took = time.monotonic() - started
        say(f"ecr-image-waiter exited {waiter.returncode} after {took:.1f} s and printed:")
        print(stdout, end="", flush=True)
        if waiter.returncode != 0:
            say("the wait failed (see its error above)")
            return 1
        if not stdout.strip().endswith(f"/{REPOSITORY}@{digest}"):
            say(f"unexpected output: expected a URI ending in /{REPOSITORY}@{digest}")
            return 1
        say("the waiter's digest is the digest of the pushed manifest")
        return 0
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
