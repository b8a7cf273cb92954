"""The example app: a CI/CD stack that owns the images, an API stack whose Lambdas run them.

The layout of the design this project replaces: the CI/CD stack creates two ECR repositories
(text generation, practice material) and the build that pushes images to them; the API stack
creates two Docker-image Lambda functions from those repositories and depends on the CI/CD
stack. On the first deploy the repositories exist but are empty; each ``EcrImageWaiter`` holds
its function back until the image is there, pins the function to the image's digest, and
fails at once if the build that should push the image has failed.

Run ``python examples/app.py [OUTDIR]`` (or ``cdk synth --app "python examples/app.py"``) to
synthesize offline into ``OUTDIR`` (default: ``$CDK_OUTDIR``, else ``cdk.out``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from aws_cdk import Acknowledgment, App, Environment, RemovalPolicy, Stack, Validations
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from ecr_image_waiter.construct import EcrImageWaiter

#: A fixed environment, so the example synthesizes offline and the same way every time.
ENV = Environment(account="123456789012", region="us-east-1")
PREFIX = "EcrImageWaiterExample"
#: The repositories of the original layout, by key.
TEXT_GENERATION = "textGeneration"
PRACTICE_MATERIAL = "practiceMaterial"
REPOSITORY_KEYS = (TEXT_GENERATION, PRACTICE_MATERIAL)
#: Their names in ECR: fixed, so the pipeline's build scripts can push to them by name.
REPOSITORY_NAMES = {
    TEXT_GENERATION: "text-generation",
    PRACTICE_MATERIAL: "practice-material",
}
IMAGE_TAG = "latest"


def _pascal(key: str) -> str:
    return key[0].upper() + key[1:]


class CicdStack(Stack):
    """The ECR repositories and the build that pushes images to them."""

    def __init__(self, scope: Construct, id: str, *, env: Environment) -> None:
        super().__init__(scope, id, env=env)
        self.repositories: dict[str, ecr.Repository] = {
            key: ecr.Repository(
                self,
                f"{_pascal(key)}Repository",
                repository_name=REPOSITORY_NAMES[key],
                image_scan_on_push=True,
                # ``latest`` is pushed again on every build; the waiters pin each function to
                # the digest, so a mutable tag is safe here.
                image_tag_mutability=ecr.TagMutability.MUTABLE,
                lifecycle_rules=[
                    ecr.LifecycleRule(description="keep the 20 newest images", max_image_count=20)
                ],
                # Images are build outputs that a running function may still use: keep them
                # when the stack is deleted.
                removal_policy=RemovalPolicy.RETAIN,
            )
            for key in REPOSITORY_KEYS
        }

        # The pipeline, reduced to its build: a CodeBuild project that builds both images and
        # pushes them. A real pipeline adds a source stage; the waiters only need the project
        # to follow its builds.
        build_logs = logs.LogGroup(self, "ImageBuildLogs", retention=logs.RetentionDays.ONE_MONTH)
        self.image_build = codebuild.Project(
            self,
            "ImageBuild",
            description="Builds the text-generation and practice-material images, pushes them",
            environment=codebuild.BuildEnvironment(
                build_image=codebuild.LinuxBuildImage.STANDARD_7_0,
                # Building images needs the Docker daemon, which needs privileged mode.
                privileged=True,
            ),
            environment_variables={
                f"{key.upper()}_REPOSITORY_URI": codebuild.BuildEnvironmentVariable(
                    value=repository.repository_uri
                )
                for key, repository in self.repositories.items()
            },
            build_spec=codebuild.BuildSpec.from_object(
                {
                    "version": "0.2",
                    "phases": {
                        "pre_build": {
                            "commands": [
                                "aws ecr get-login-password | docker login --username AWS "
                                '--password-stdin "${TEXTGENERATION_REPOSITORY_URI%%/*}"'
                            ]
                        },
                        "build": {
                            "commands": [
                                f'docker build -t "${key.upper()}_REPOSITORY_URI:{IMAGE_TAG}" '
                                f"{key}/"
                                for key in REPOSITORY_KEYS
                            ]
                        },
                        "post_build": {
                            "commands": [
                                f'docker push "${key.upper()}_REPOSITORY_URI:{IMAGE_TAG}"'
                                for key in REPOSITORY_KEYS
                            ]
                        },
                    },
                }
            ),
            logging=codebuild.LoggingOptions(
                cloud_watch=codebuild.CloudWatchLoggingOptions(log_group=build_logs)
            ),
        )
        for repository in self.repositories.values():
            repository.grant_pull_push(self.image_build)

        project_id = self.resolve(
            self.get_logical_id(self.image_build.node.default_child)  # type: ignore[arg-type]
        )
        partition = "<AWS::Partition>"
        where = f"{env.region}:{env.account}"
        Validations.of(self.image_build).acknowledge(
            # AwsSolutions-IAM5: the CodeBuild L2 always lets the project write to its default
            # log group /aws/codebuild/<project> (and its streams, ":*") even when a log group
            # is given; the wildcard is limited to that one group's streams.
            Acknowledgment(
                id=f"AwsSolutions-IAM5[Resource::arn:{partition}:logs:{where}:log-group:"
                f"/aws/codebuild/<{project_id}>:*]",
                reason="Log streams of this project's own default CodeBuild log group only.",
            ),
            # AwsSolutions-IAM5: the CodeBuild L2 lets the project create test report groups
            # named after itself ("<project>-*"); no other report group matches.
            Acknowledgment(
                id=f"AwsSolutions-IAM5[Resource::arn:{partition}:codebuild:{where}:"
                f"report-group/<{project_id}>-*]",
                reason="Report groups named after this project only.",
            ),
            # AwsSolutions-IAM5: ecr:GetAuthorizationToken (docker login) accepts no resource
            # ARN, only "*" (Amazon ECR, "Private registry authentication" / IAM service
            # authorization reference); the pushes themselves are granted per repository.
            Acknowledgment(
                id="AwsSolutions-IAM5[Resource::*]",
                reason="ecr:GetAuthorizationToken cannot be scoped to a resource; image "
                "pushes are granted on the two repositories only.",
            ),
            # AwsSolutions-CB3: docker build needs the Docker daemon, which CodeBuild runs
            # only in privileged mode.
            Acknowledgment(
                id="AwsSolutions-CB3",
                reason="The project builds container images, which needs privileged mode.",
            ),
            # AwsSolutions-CB4: the project has no artifacts; its only output, the images,
            # is stored and encrypted by ECR.
            Acknowledgment(
                id="AwsSolutions-CB4",
                reason="No build artifacts: the images it pushes are encrypted by ECR.",
            ),
        )


class ApiStack(Stack):
    """Two Docker-image functions, each created only once its image is in ECR."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        env: Environment,
        repositories: Mapping[str, ecr.IRepository],
        image_build: codebuild.IProject,
    ) -> None:
        super().__init__(scope, id, env=env)
        self.waiters: dict[str, EcrImageWaiter] = {}
        self.functions: dict[str, lambda_.DockerImageFunction] = {}
        for key in REPOSITORY_KEYS:
            name = _pascal(key)
            waiter = EcrImageWaiter(
                self,
                f"{name}ImageWaiter",
                repository=repositories[key],
                tag=IMAGE_TAG,
                # A failed build ends the wait at once instead of at the timeout.
                codebuild_project=image_build,
            )
            log_group = logs.LogGroup(
                self, f"{name}FunctionLogs", retention=logs.RetentionDays.ONE_MONTH
            )
            role = iam.Role(
                self,
                f"{name}FunctionRole",
                assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            )
            log_group.grant_write(role)
            self.waiters[key] = waiter
            self.functions[key] = lambda_.DockerImageFunction(
                self,
                f"{name}Function",
                # <repository uri>@sha256:<digest the waiter resolved>: CloudFormation creates
                # the function after the waiter, and a new image reaches it on re-resolve.
                code=waiter.docker_image_code(),
                architecture=waiter.architecture,
                memory_size=1024,
                role=role,
                log_group=log_group,
            )


def build_app(outdir: str | None = None) -> App:
    """The example app, ready to synthesize (into ``outdir`` if given)."""
    app = App(outdir=outdir)
    cicd = CicdStack(app, f"{PREFIX}-Cicd", env=ENV)
    api = ApiStack(
        app,
        f"{PREFIX}-Api",
        env=ENV,
        repositories=cicd.repositories,
        image_build=cicd.image_build,
    )
    # As in the original layout: the repositories and the build exist before the API stack.
    api.add_stack_dependency(cicd)
    return app


def main(argv: list[str]) -> int:
    outdir = argv[1] if len(argv) > 1 else os.environ.get("CDK_OUTDIR", "cdk.out")
    build_app(outdir).synth()
    print(f"synthesized into {outdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
