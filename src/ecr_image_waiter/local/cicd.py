"""The CI/CD stack's deploy, as far as the waiters need it: repositories and build projects.

Creates each ``AWS::ECR::Repository`` (empty) and ``AWS::CodeBuild::Project`` of a stack in
moto under the name CloudFormation would give it, and records their Ref and Arn, so the
waiting stack's ``Fn::ImportValue`` of them resolves to the physical names.
"""

from __future__ import annotations

from typing import Any

from ecr_image_waiter.local.template import CODEBUILD_PROJECT, ECR_REPOSITORY, CloudAssembly


def deploy_repositories_and_builds(
    assembly: CloudAssembly, stack: str, ecr: Any, codebuild: Any
) -> list[tuple[str, str]]:
    """Create them; returns (resource type, physical name) in creation order."""
    made: list[tuple[str, str]] = []
    for logical_id in sorted(assembly.resources(stack, ECR_REPOSITORY)):
        name = assembly.physical_name(stack, logical_id)
        repository = ecr.create_repository(repositoryName=name)["repository"]
        attributes = {
            "Arn": repository["repositoryArn"],
            "RepositoryUri": repository["repositoryUri"],
        }
        assembly.deployed(stack, logical_id, name, attributes)
        made.append((ECR_REPOSITORY, name))
    for logical_id in sorted(assembly.resources(stack, CODEBUILD_PROJECT)):
        name = assembly.physical_name(stack, logical_id)
        project = codebuild.create_project(
            name=name,
            source={"type": "NO_SOURCE", "location": "none", "buildspec": "version: 0.2"},
            artifacts={"type": "NO_ARTIFACTS"},
            environment={
                "type": "LINUX_CONTAINER",
                "image": "aws/codebuild/standard:7.0",
                "computeType": "BUILD_GENERAL1_SMALL",
                "privilegedMode": True,
            },
            serviceRole=f"arn:aws:iam::{assembly.account}:role/{name}-role",
        )["project"]
        assembly.deployed(stack, logical_id, name, {"Arn": project["arn"]})
        made.append((CODEBUILD_PROJECT, name))
    return made
