"""The wait engine: resolve an image reference in ECR and wait for it with a deadline.

Pure Python plus boto3/botocore; boto3 is imported only by :mod:`.aws`, on first use.
"""

from __future__ import annotations

from ecr_image_waiter.engine.aws import make_client
from ecr_image_waiter.engine.classify import NeverReason, Verdict, classify
from ecr_image_waiter.engine.image import Observation, ResolvedImage
from ecr_image_waiter.engine.lookup import EcrLookup
from ecr_image_waiter.engine.manifest import LambdaImageInspector
from ecr_image_waiter.engine.pipeline import PipelineWatch, pipeline_aware
from ecr_image_waiter.engine.policy import WaitPolicy
from ecr_image_waiter.engine.reference import ImageReference, parse_reference
from ecr_image_waiter.engine.wait import (
    Attempt,
    Cancelled,
    WaitResult,
    never_error,
    timeout_error,
    wait_until_ready,
)

__all__ = [
    "Attempt",
    "Cancelled",
    "EcrLookup",
    "ImageReference",
    "LambdaImageInspector",
    "NeverReason",
    "Observation",
    "PipelineWatch",
    "ResolvedImage",
    "Verdict",
    "WaitPolicy",
    "WaitResult",
    "classify",
    "make_client",
    "never_error",
    "parse_reference",
    "pipeline_aware",
    "timeout_error",
    "wait_until_ready",
]
