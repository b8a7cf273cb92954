"""Test helper: a CodeBuild project as moto needs one, for the pipeline-awareness tests."""

from __future__ import annotations

from typing import Any

from tests.conftest import ACCOUNT


def create_project(client: Any, name: str) -> None:
    """Create a minimal CodeBuild project ``name`` (no real source; moto runs nothing)."""
    client.create_project(
        name=name,
        source={"type": "S3", "location": "app-source/src.zip"},
        artifacts={"type": "NO_ARTIFACTS"},
        environment={
            "type": "LINUX_CONTAINER",
            "image": "aws/codebuild/standard:7.0",
            "computeType": "BUILD_GENERAL1_SMALL",
        },
        serviceRole=f"arn:aws:iam::{ACCOUNT}:role/{name}",
    )
