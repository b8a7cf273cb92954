"""The event fixtures of ``local/events/`` (README there names each one's source), filled in.

Each builder copies a fixture and sets the fields a test cares about, so every event the
local side publishes has the shape AWS documents.
"""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

EVENTS_DIR = Path(__file__).resolve().parent / "events"


def fixture(name: str) -> Any:
    """A fixture as loaded from ``events/<name>.json`` (a fresh copy every call)."""
    return copy.deepcopy(json.loads((EVENTS_DIR / f"{name}.json").read_text(encoding="utf-8")))


def _stamp(event: dict[str, Any], account: str, region: str) -> dict[str, Any]:
    event["id"] = str(uuid.uuid4())
    event["time"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    event["account"] = account
    event["region"] = region
    return event


def ecr_push(
    repository: str,
    digest: str,
    tag: str | None,
    *,
    manifest_media_type: str = "application/vnd.docker.distribution.manifest.v2+json",
    artifact_media_type: str = "application/vnd.docker.container.image.v1+json",
    account: str = "123456789012",
    region: str = "us-east-1",
) -> dict[str, Any]:
    """An ECR push event; ``tag`` ``""`` for an index's child, None for a push by digest."""
    event: dict[str, Any] = fixture("ecr-image-push")
    detail = event["detail"]
    detail.update(
        {
            "repository-name": repository,
            "image-digest": digest,
            "manifest-media-type": manifest_media_type,
            "artifact-media-type": artifact_media_type,
        }
    )
    if tag is None:
        detail.pop("image-tag")
    else:
        detail["image-tag"] = tag
    return _stamp(event, account, region)


def codebuild_state_change(
    project: str,
    status: str,
    *,
    build_id: str | None = None,
    account: str = "123456789012",
    region: str = "us-east-1",
) -> dict[str, Any]:
    event: dict[str, Any] = fixture("codebuild-build-state-change")
    arn = build_id or f"arn:aws:codebuild:{region}:{account}:build/{project}:{uuid.uuid4()}"
    event["resources"] = [arn]
    event["detail"].update({"build-status": status, "project-name": project, "build-id": arn})
    return _stamp(event, account, region)


def codepipeline_state_change(
    pipeline: str,
    state: str,
    *,
    execution_id: str | None = None,
    account: str = "123456789012",
    region: str = "us-east-1",
) -> dict[str, Any]:
    event: dict[str, Any] = fixture("codepipeline-execution-state-change")
    event["resources"] = [f"arn:aws:codepipeline:{region}:{account}:{pipeline}"]
    event["detail"].update(
        {"pipeline": pipeline, "state": state, "execution-id": execution_id or str(uuid.uuid4())}
    )
    return _stamp(event, account, region)
