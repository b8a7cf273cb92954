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

#: The original design's properties (the Node.js custom resource this project replaces; see
#: docs/glossary.md).
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
#: The provider's one entry point: CloudFormation requests, ECR push events, build events
#: and the sweep all arrive here.
HANDLER: Final = "ecr_image_waiter.custom_resource.handler.handler"
#: Environment variable naming the DynamoDB table of pending waits.
ENV_TABLE_NAME: Final = "ECR_IMAGE_WAITER_TABLE"
#: Environment variable naming the EventBridge rule that fires the sweep.
ENV_SWEEP_RULE_NAME: Final = "ECR_IMAGE_WAITER_SWEEP_RULE"

#: The table's keys: a wait is stored under its repository (so a push event finds the waits
#: of its repository with one query) and its request.
TABLE_PARTITION_KEY: Final = "pk"
TABLE_SORT_KEY: Final = "sk"
#: The table's TTL attribute (epoch seconds); DynamoDB deletes expired items within days,
#: so the Lambda code skips expired items itself.
TABLE_TTL_ATTRIBUTE: Final = "expiresAt"
#: Seconds an answered wait is kept (a re-sent request is then recognised, not re-run).
ANSWERED_RETENTION_SECONDS: Final = 24 * 3600

# --- Events the provider listens to (EventBridge, default bus) -----------------------------

#: ECR push events: "Events are emitted on a best effort basis" (Amazon ECR User Guide,
#: ecr-eventbridge). ``resources`` is empty, so rules filter on detail.repository-name.
ECR_EVENT_SOURCE: Final = "aws.ecr"
ECR_EVENT_DETAIL_TYPE: Final = "ECR Image Action"
#: CodeBuild "Build State Change" (CodeBuild User Guide, sample-build-notifications).
CODEBUILD_EVENT_SOURCE: Final = "aws.codebuild"
CODEBUILD_EVENT_DETAIL_TYPE: Final = "CodeBuild Build State Change"
#: build-status values that end a build (the API's StatusType enum).
CODEBUILD_ENDED_STATUSES: Final = ("SUCCEEDED", "FAILED", "FAULT", "TIMED_OUT", "STOPPED")
#: CodePipeline "Pipeline Execution State Change" (CodePipeline User Guide,
#: detect-state-changes-cloudwatch-events).
CODEPIPELINE_EVENT_SOURCE: Final = "aws.codepipeline"
CODEPIPELINE_EVENT_DETAIL_TYPE: Final = "CodePipeline Pipeline Execution State Change"
CODEPIPELINE_ENDED_STATES: Final = ("SUCCEEDED", "FAILED", "CANCELED", "SUPERSEDED", "STOPPED")
#: What a scheduled EventBridge rule sends (EventBridge User Guide, scheduled events).
SCHEDULED_EVENT_SOURCE: Final = "aws.events"
SCHEDULED_EVENT_DETAIL_TYPE: Final = "Scheduled Event"
#: EventBridge quotas: an event pattern has at most 2,048 characters (adjustable); a bus has
#: at most 300 rules (EventBridge User Guide, eb-quota). The construct splits the ECR rule's
#: repository names over rules whose patterns stay under this many characters.
EVENT_PATTERN_MAX_CHARS: Final = 2048
#: ECR repository names have at most 256 characters (ECR API Reference, CreateRepository);
#: a name known only at deploy time (a token) is counted at that length.
REPOSITORY_NAME_MAX_CHARS: Final = 256

# --- The sweep ------------------------------------------------------------------------------

#: The sweep rule's rate: EventBridge's smallest (``rate(1 minute)``). Every pending wait is
#: looked at again at least this often, and fails at most this long after its deadline.
SWEEP_PERIOD_SECONDS: Final = 60
#: The smallest IntervalSeconds (the construct's ``interval``): the sweep's period.
MIN_INTERVAL_SECONDS: Final = SWEEP_PERIOD_SECONDS
#: Default IntervalSeconds: every sweep.
DEFAULT_INTERVAL_SECONDS: Final = SWEEP_PERIOD_SECONDS
#: An answer whose PUT failed (5xx, network) is sent again by a later sweep, at most this
#: many times in all; a refused URL (403: expired) is never sent again.
MAX_SEND_ROUNDS: Final = 5

# --- Defaults and limits --------------------------------------------------------------------

DEFAULT_TAG: Final = "latest"
DEFAULT_MAX_RETRIES: Final = 60
DEFAULT_RETRY_DELAY_SECONDS: Final = 30
DEFAULT_CLI_TIMEOUT_SECONDS: Final = 30 * 60
DEFAULT_CLI_INTERVAL_SECONDS: Final = 10

#: CloudFormation waits at most one hour for a custom resource to answer
#: (AWS::CloudFormation::CustomResource ServiceTimeout: 1 to 3600 s, default 3600).
CLOUDFORMATION_MAX_SECONDS: Final = 3600
#: Seconds kept after a wait's deadline for its failure to reach CloudFormation: up to one
#: sweep period until the sweep sees the deadline passed, plus 30 s for the last look and
#: the response.
DEADLINE_HEADROOM_SECONDS: Final = SWEEP_PERIOD_SECONDS + 30
#: The largest TimeoutSeconds (or MaxRetries x RetryDelaySeconds) accepted: our deadline
#: must fire, with a useful reason, before CloudFormation gives up on its own.
MAX_TIMEOUT_SECONDS: Final = CLOUDFORMATION_MAX_SECONDS - DEADLINE_HEADROOM_SECONDS

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
#: The wait table, by the provider only. Resource: the table ARN.
DYNAMODB_ACTIONS: Final = (
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:Query",
    "dynamodb:Scan",
)
#: Turning the sweep on while waits are pending and off when none is. Resource: the sweep
#: rule's ARN.
EVENTS_SWEEP_ACTIONS: Final = ("events:EnableRule", "events:DisableRule")

#: The physical id of a Create that failed: the Delete that follows sees it and does nothing.
CREATE_FAILED_PHYSICAL_ID: Final = "ecr-image-waiter:create-failed"
