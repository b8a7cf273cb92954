"""Names and limits shared by the construct, the Lambda code and the CLI.

The construct writes these property keys and reads these attribute names; the Lambda code
reads and returns the same ones. Keeping them in one module makes the coupling explicit (a
test checks that the synthesized template uses exactly these names).

This module imports nothing and does no work at import time.
"""

from __future__ import annotations

from typing import Final

#: The CloudFormation type of the resource the construct emits.
RESOURCE_TYPE: Final = "Custom::EcrImageWaiter"

# --- Custom resource properties (CloudFormation passes every value as a string) ----------

#: The original design's properties.
PROP_REPOSITORY_NAME: Final = "RepositoryName"
PROP_IMAGE_TAG: Final = "ImageTag"
PROP_MAX_RETRIES: Final = "MaxRetries"
PROP_RETRY_DELAY_SECONDS: Final = "RetryDelaySeconds"

#: Properties added by this project.
PROP_IMAGE_DIGEST: Final = "ImageDigest"
PROP_REGISTRY_ID: Final = "RegistryId"
PROP_TIMEOUT_SECONDS: Final = "TimeoutSeconds"
PROP_INTERVAL_SECONDS: Final = "IntervalSeconds"
PROP_WAIT_FOR_REPOSITORY: Final = "WaitForRepository"
PROP_ARCHITECTURE: Final = "Architecture"
PROP_LAMBDA_COMPATIBLE: Final = "LambdaCompatible"
PROP_CODEBUILD_PROJECT_NAME: Final = "CodeBuildProjectName"
PROP_PIPELINE_NAME: Final = "PipelineName"
PROP_TRIGGER_BUILD_ON_MISSING: Final = "TriggerBuildOnMissing"
#: Any value; a new value on every deploy makes CloudFormation send an Update, which
#: re-resolves the tag (so a re-pushed tag rolls the Lambda forward).
PROP_RESOLVE_NONCE: Final = "ResolveNonce"
#: Added by CloudFormation itself to every custom resource.
PROP_SERVICE_TOKEN: Final = "ServiceToken"  # noqa: S105  (a property name)
PROP_SERVICE_TIMEOUT: Final = "ServiceTimeout"

ALL_PROPERTIES: Final = frozenset(
    {
        PROP_REPOSITORY_NAME,
        PROP_IMAGE_TAG,
        PROP_MAX_RETRIES,
        PROP_RETRY_DELAY_SECONDS,
        PROP_IMAGE_DIGEST,
        PROP_REGISTRY_ID,
        PROP_TIMEOUT_SECONDS,
        PROP_INTERVAL_SECONDS,
        PROP_WAIT_FOR_REPOSITORY,
        PROP_ARCHITECTURE,
        PROP_LAMBDA_COMPATIBLE,
        PROP_CODEBUILD_PROJECT_NAME,
        PROP_PIPELINE_NAME,
        PROP_TRIGGER_BUILD_ON_MISSING,
        PROP_RESOLVE_NONCE,
        PROP_SERVICE_TOKEN,
        PROP_SERVICE_TIMEOUT,
    }
)

# --- The standalone provider stack (ecr-image-waiter provider synth) ---------------------

#: The export holding the standalone provider's ServiceToken, by default.
PROVIDER_EXPORT_NAME: Final = "EcrImageWaiterServiceToken"
#: The standalone provider's stack name, by default.
PROVIDER_STACK_NAME: Final = "EcrImageWaiterProvider"

# --- Attributes returned in the response Data (Fn::GetAtt names) -------------------------

ATTR_IMAGE_DIGEST: Final = "ImageDigest"
ATTR_IMAGE_DIGEST_HEX: Final = "ImageDigestHex"
ATTR_IMAGE_URI: Final = "ImageUri"
ATTR_IMAGE_TAG: Final = "ImageTag"
ATTR_REPOSITORY_URI: Final = "RepositoryUri"
ATTR_MEDIA_TYPE: Final = "MediaType"
ATTR_PUSHED_AT: Final = "PushedAt"
ATTR_INDEX_DIGEST: Final = "IndexDigest"
ATTR_ARCHITECTURE: Final = "Architecture"

ALL_ATTRIBUTES: Final = (
    ATTR_IMAGE_DIGEST,
    ATTR_IMAGE_DIGEST_HEX,
    ATTR_IMAGE_URI,
    ATTR_IMAGE_TAG,
    ATTR_REPOSITORY_URI,
    ATTR_MEDIA_TYPE,
    ATTR_PUSHED_AT,
    ATTR_INDEX_DIGEST,
    ATTR_ARCHITECTURE,
)

# --- Lambda code --------------------------------------------------------------------------

#: Python package name inside the Lambda asset; the asset holds this package only.
PACKAGE: Final = "ecr_image_waiter"
HANDLER_ON_EVENT: Final = "ecr_image_waiter.custom_resource.handler.on_event"
HANDLER_IS_COMPLETE: Final = "ecr_image_waiter.custom_resource.handler.is_complete"
#: Environment variable telling is_complete how often the Provider framework calls it.
ENV_QUERY_INTERVAL_SECONDS: Final = "ECR_IMAGE_WAITER_QUERY_INTERVAL_SECONDS"
#: Environment variable with the budget for polling inside one is_complete call.
ENV_POLL_BUDGET_SECONDS: Final = "ECR_IMAGE_WAITER_POLL_BUDGET_SECONDS"
#: The largest accepted poll budget, in seconds.
MAX_POLL_BUDGET_SECONDS: Final = 60
#: The poll budget the construct gives is_complete (0: one look per framework call).
DEFAULT_POLL_BUDGET_SECONDS: Final = 0
#: Seconds the is_complete function's timeout keeps beyond one query interval (the longest
#: sleep to the deadline) plus the largest poll budget: slow ECR answers and their retries.
IS_COMPLETE_TIMEOUT_MARGIN_SECONDS: Final = 30

#: Key under which on_event hands its state to is_complete (the Provider framework merges
#: on_event's result into the event that every is_complete call receives).
STATE_KEY: Final = "EcrImageWaiterState"

# --- Defaults and limits --------------------------------------------------------------------

DEFAULT_TAG: Final = "latest"
DEFAULT_MAX_RETRIES: Final = 60
DEFAULT_RETRY_DELAY_SECONDS: Final = 30
DEFAULT_CLI_TIMEOUT_SECONDS: Final = 30 * 60
DEFAULT_CLI_INTERVAL_SECONDS: Final = 10
#: How often the Provider framework calls is_complete (its `query_interval`).
DEFAULT_QUERY_INTERVAL_SECONDS: Final = 5

#: CloudFormation waits at most one hour for a custom resource to answer
#: (AWS::CloudFormation::CustomResource ServiceTimeout: 1 to 3600 s, default 3600).
CLOUDFORMATION_MAX_SECONDS: Final = 3600
#: Headroom kept between our own deadline and CloudFormation's, for the framework's own
#: steps (onEvent, Step Functions start, the last is_complete call and the response).
DEADLINE_HEADROOM_SECONDS: Final = 60
#: The largest TimeoutSeconds (or MaxRetries x RetryDelaySeconds) accepted: our deadline
#: must fire, with a useful reason, before CloudFormation gives up on its own.
MAX_TIMEOUT_SECONDS: Final = CLOUDFORMATION_MAX_SECONDS - DEADLINE_HEADROOM_SECONDS
#: The Provider framework's total_timeout: after our largest deadline, before
#: CloudFormation's. A multiple of every query interval we use.
PROVIDER_TOTAL_TIMEOUT_SECONDS: Final = CLOUDFORMATION_MAX_SECONDS - 30

#: CloudFormation's limit on the whole custom resource response body.
CLOUDFORMATION_RESPONSE_MAX_BYTES: Final = 4096
#: CloudFormation's limit on a PhysicalResourceId.
PHYSICAL_ID_MAX_BYTES: Final = 1024

#: Lambda architecture names (the values of aws_lambda.Architecture.name).
ARCH_X86_64: Final = "x86_64"
ARCH_ARM64: Final = "arm64"
ARCHITECTURES: Final = (ARCH_X86_64, ARCH_ARM64)

# --- IAM actions the Lambda code calls (Service Authorization Reference: each of these
# --- takes the named resource type, so a policy can name the project or pipeline ARN) ----

#: ECR reads: DescribeImages finds the image, BatchGetImage reads its manifest (image
#: indexes, media types). Resource: the repository ARN.
ECR_DESCRIBE_ACTION: Final = "ecr:DescribeImages"
ECR_BATCH_GET_IMAGE_ACTION: Final = "ecr:BatchGetImage"
#: With the Lambda checks, GetDownloadUrlForLayer gives a presigned URL of a single-platform
#: image's config blob, which names its architecture. Resource: the repository ARN.
ECR_GET_DOWNLOAD_URL_ACTION: Final = "ecr:GetDownloadUrlForLayer"
#: Watching a CodeBuild project's builds. Resource: the project ARN
#: (``arn:<partition>:codebuild:<region>:<account>:project/<name>``).
CODEBUILD_READ_ACTIONS: Final = ("codebuild:ListBuildsForProject", "codebuild:BatchGetBuilds")
#: Starting a build (TriggerBuildOnMissing). Resource: the project ARN.
CODEBUILD_TRIGGER_ACTIONS: Final = ("codebuild:StartBuild",)
#: Watching a pipeline's executions and finding the failed stage. Resource: the pipeline
#: ARN (``arn:<partition>:codepipeline:<region>:<account>:<name>``).
CODEPIPELINE_READ_ACTIONS: Final = (
    "codepipeline:ListPipelineExecutions",
    "codepipeline:ListActionExecutions",
)
#: Starting a pipeline execution (TriggerBuildOnMissing). Resource: the pipeline ARN.
CODEPIPELINE_TRIGGER_ACTIONS: Final = ("codepipeline:StartPipelineExecution",)
