"""Starting the pipeline or build that pushes a missing image, once per CloudFormation
request: an idempotency token derived from the request id, and the caller's stored run id.
The rules are in docs/rules.md ("TriggerBuildOnMissing").
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from ecr_image_waiter.engine.aws import failure_of, sdk_errors
from ecr_image_waiter.engine.classify import NeverReason, classify
from ecr_image_waiter.engine.reference import ImageReference
from ecr_image_waiter.engine.safe import safe_text
from ecr_image_waiter.errors import AccessDeniedError, InvalidInputError, PipelineFailedError

if TYPE_CHECKING:
    from ecr_image_waiter.engine.pipeline import PipelineWatch


def start_run(
    watch: PipelineWatch, request_id: str, ref: ImageReference, *, started: str | None = None
) -> str:
    """Start the pipeline (if named) or a build of the project; return its id.

    ``request_id`` is the CloudFormation RequestId (or any id naming one wait); the same
    id always gives the same idempotency token. ``started`` is the id an earlier call
    returned for the same request: it is returned as is and nothing is started.
    ``ref`` is the image waited for, named in errors. A refused or failed start raises
    :class:`AccessDeniedError` or :class:`PipelineFailedError`.
    """
    from ecr_image_waiter.engine.pipeline import ID_MAX_CHARS, _clip

    if started:
        return started
    if not isinstance(request_id, str) or not request_id:
        raise InvalidInputError(
            f"request id {request_id!r} is empty: give the CloudFormation RequestId"
        )
    if watch.pipeline_name is not None:
        action, what = "codepipeline:StartPipelineExecution", f"pipeline {watch.pipeline_name}"
        token = idempotency_token(request_id, "codepipeline", watch.pipeline_name)
    else:
        action = "codebuild:StartBuild"
        what = f"CodeBuild project {watch.codebuild_project}"
        token = idempotency_token(request_id, "codebuild", str(watch.codebuild_project))
    try:
        if watch.pipeline_name is not None:
            response = watch.codepipeline().start_pipeline_execution(
                name=watch.pipeline_name, clientRequestToken=token
            )
            return safe_text(response["pipelineExecutionId"], ID_MAX_CHARS)
        response = watch.codebuild().start_build(
            projectName=str(watch.codebuild_project), idempotencyToken=token
        )
        return safe_text(response["build"]["id"], ID_MAX_CHARS)
    except sdk_errors() as error:
        failure = failure_of(error)
        code, text, status = failure.code, _clip(failure.message), failure.status
        if failure.cause == "connection":
            code = type(error).__name__
        cause: Exception = error
    rule = classify(code, status=status)
    common: dict[str, Any] = {
        "repository": ref.repository,
        "reference": ref.reference,
        "last_code": code,
        "last_message": text,
    }
    if rule.kind is NeverReason.ACCESS_DENIED:
        raise AccessDeniedError(
            f"access denied to {action} on {what}, started because image {ref} is "
            f"missing: {code}: {text}; grant {action} on it to the waiter's role",
            action=action,
            **common,
        ) from cause
    raise PipelineFailedError(
        f"could not start {what} for missing image {ref}: {code}: {text}; {rule.remedy}",
        **common,
    ) from cause


def idempotency_token(request_id: str, service: str, name: str) -> str:
    """A token that is the same for the same request, service and project or pipeline.

    64 characters of ``[a-z0-9-]``: within CodePipeline's ``clientRequestToken`` rule
    (1-128 of ``[a-zA-Z0-9-]``) and CodeBuild's ``idempotencyToken``.
    """
    digest = hashlib.sha256(f"{service}\n{name}\n{request_id}".encode()).hexdigest()
    return f"ecr-image-waiter-{digest[:47]}"
