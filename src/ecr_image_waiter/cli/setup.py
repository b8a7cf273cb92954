"""The CLI's AWS side: each image's reference and region, its ECR lookup and its build watch,
with a broken AWS configuration turned into invalid input (exit 2) before any call.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TypeVar

from ecr_image_waiter.engine import (
    EcrLookup,
    ImageReference,
    Observation,
    make_client,
    parse_reference,
)
from ecr_image_waiter.engine.aws import configured_region, make_service_client, setup_errors
from ecr_image_waiter.engine.manifest import LambdaImageInspector
from ecr_image_waiter.engine.pipeline import PipelineWatch, pipeline_aware
from ecr_image_waiter.errors import (
    InvalidInputError,
)

_T = TypeVar("_T")

#: Makes the lookup (with its own ECR client) for one image.
LookupFactory = Callable[[ImageReference], EcrLookup]
#: Makes the watch of the build that pushes one image (None: no build named).
WatchFactory = Callable[[ImageReference], PipelineWatch | None]


Check = Callable[[], Observation]


def _lookup_for(args: argparse.Namespace) -> LookupFactory:
    """How each image is looked up: one ECR client per image (they run in parallel); an
    index resolves to the child for --architecture; --lambda adds Lambda's checks."""

    def factory(ref: ImageReference) -> EcrLookup:
        return EcrLookup(
            aws_setup(lambda: make_client(ref.region), "the ECR client"),
            wait_for_repository=args.wait_for_repository,
            inspector=LambdaImageInspector(
                architecture=args.architecture, lambda_compatible=args.lambda_compatible
            ),
        )

    return factory


def _watch_for(args: argparse.Namespace) -> WatchFactory:
    """A watch per image (clients are not shared between threads), if a build is named."""

    def factory(ref: ImageReference) -> PipelineWatch | None:
        project, pipeline = args.codebuild_project, args.pipeline
        if project is None and pipeline is None:
            return None
        # Clients made now, so that a broken AWS configuration is reported before waiting.
        return PipelineWatch(
            project,
            pipeline,
            region=ref.region,
            codebuild_client=None
            if project is None
            else aws_setup(
                lambda: make_service_client("codebuild", ref.region), "the CodeBuild client"
            ),
            codepipeline_client=None
            if pipeline is None
            else aws_setup(
                lambda: make_service_client("codepipeline", ref.region), "the CodePipeline client"
            ),
        )

    return factory


def aws_setup(make: Callable[[], _T], what: str) -> _T:
    """``make()`` (a client, the configured region), with a broken AWS configuration turned
    into invalid input: exit 2 with the cause and where to fix it, instead of an unexpected
    error. Nothing has been asked of AWS at this point."""
    broken: tuple[type[Exception], ...] = (*setup_errors(), ValueError)
    try:
        return make()
    except broken as error:
        raise InvalidInputError(
            f"cannot set up {what} from the AWS configuration: {type(error).__name__}: "
            f"{error}; check AWS_PROFILE, the AWS config and credentials files and the "
            "AWS_ENDPOINT_URL_* variables"
        ) from error


def _pipeline_aware(
    lookup: EcrLookup, ref: ImageReference, watch: PipelineWatch | None, since: datetime
) -> Check:
    return pipeline_aware(lambda: lookup.look(ref), watch, since)


def resolve_references(args: argparse.Namespace, env: Mapping[str, str]) -> list[ImageReference]:
    """Parse every IMAGE; give short references a region (or exit 2 saying how to set one)."""
    refs = [
        parse_reference(text, registry_id=args.registry_id, region=args.region)
        for text in args.images
    ]
    if all(ref.region is not None for ref in refs):
        return refs
    region = default_region(env)
    if region is None:
        short = next(text for text, ref in zip(args.images, refs, strict=True) if not ref.region)
        raise InvalidInputError(
            f"no AWS region for image {short!r}: give --region, set AWS_REGION, configure a "
            "region in the AWS profile, or use a full ECR image URI"
        )
    return [
        parse_reference(text, registry_id=args.registry_id, region=region)
        if ref.region is None
        else ref
        for text, ref in zip(args.images, refs, strict=True)
    ]


def default_region(env: Mapping[str, str]) -> str | None:
    """``AWS_REGION``, ``AWS_DEFAULT_REGION``, else the region of the AWS profile in use."""
    for key in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        if env.get(key):
            return env[key]
    return aws_setup(configured_region, "the region")
