"""The standalone provider: one stack per account and region that every template can use.

:class:`EcrImageWaiterProviderStack` holds an :class:`EcrImageWaiterProvider` and exports its
ServiceToken (by default as ``EcrImageWaiterServiceToken``); it may read only the
repositories, and follow or start only the builds and pipelines, it is told about.
:func:`synth_provider` writes it as a cloud assembly plus ``package-template.json`` (what
``ecr-image-waiter provider synth`` runs). The README's "The standalone provider" shows it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import Acknowledgment, App, ArnFormat, CfnOutput, Stack, Token, Validations
from aws_cdk import aws_logs as logs
from constructs import Construct

from ecr_image_waiter import __version__, names
from ecr_image_waiter.construct.provider import EcrImageWaiterProvider
from ecr_image_waiter.errors import InvalidInputError

#: The export holding the ServiceToken, unless ``export_name`` says otherwise.
DEFAULT_EXPORT_NAME = names.PROVIDER_EXPORT_NAME
#: The stack's construct id and default CloudFormation stack name.
DEFAULT_STACK_NAME = names.PROVIDER_STACK_NAME
#: The output holding the ServiceToken.
OUTPUT_ID = "ServiceToken"
#: The template for ``aws cloudformation package``, written beside the cloud assembly.
PACKAGE_TEMPLATE = "package-template.json"

# CloudFormation Outputs Export Name: alphanumerics, colons and hyphens.
_EXPORT_RE = re.compile(r"[A-Za-z0-9:-]{1,255}")
# CodeBuild CreateProject ``name``; CodePipeline PipelineDeclaration ``name``.
_PROJECT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-_]{1,254}")
_PIPELINE_RE = re.compile(r"[A-Za-z0-9.@\-_]{1,100}")
# A stack name: letters, digits and hyphens, starting with a letter, at most 128.
_STACK_RE = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,127}")


class EcrImageWaiterProviderStack(Stack):
    """A stack holding one provider and exporting its ServiceToken.

    :param repository_names: repositories the provider may read, by exact name.
    :param repository_prefixes: name prefixes (``team/``, ``app-``): every repository whose
        name starts with one of them may be read. At least one name or prefix is needed.
    :param registry_id: the account owning those repositories (default: this stack's).
    :param export_name: the export holding the ServiceToken (default
        ``EcrImageWaiterServiceToken``); unique per account and region.
    :param log_retention: retention of the provider's log groups (default one week).
    :param codebuild_projects: CodeBuild projects (names, in this account and region) whose
        builds the waiters may follow (``CodeBuildProjectName``).
    :param pipelines: pipelines (names) whose executions the waiters may follow
        (``PipelineName``).
    :param allow_start: also let the provider start those projects and pipelines
        (``TriggerBuildOnMissing``). Off by default.
    :param kwargs: passed to ``Stack`` (``env``, ``stack_name``, ``synthesizer``, ...).
    """

    def __init__(
        self,
        scope: Construct,
        id: str = DEFAULT_STACK_NAME,
        *,
        repository_names: Sequence[str] = (),
        repository_prefixes: Sequence[str] = (),
        registry_id: str | None = None,
        export_name: str = DEFAULT_EXPORT_NAME,
        log_retention: logs.RetentionDays | None = None,
        codebuild_projects: Sequence[str] = (),
        pipelines: Sequence[str] = (),
        allow_start: bool = False,
        **kwargs: Any,
    ) -> None:
        if not repository_names and not repository_prefixes:
            raise InvalidInputError(
                "the provider would be allowed to read no repository: give the repositories "
                "its templates wait for, by name (--repository NAME) or by name prefix "
                "(--repository-prefix PREFIX)"
            )
        if not isinstance(export_name, str) or not _EXPORT_RE.fullmatch(export_name):
            raise InvalidInputError(
                f"export name {export_name!r} is not a CloudFormation export name: use 1 to "
                "255 letters, digits, ':' and '-'"
            )
        for project in codebuild_projects:
            if not _PROJECT_RE.fullmatch(project):
                raise InvalidInputError(
                    f"CodeBuild project name {project!r} is not valid: 2 to 255 letters, digits, "
                    "'-' and '_', starting with a letter or digit"
                )
        for pipeline in pipelines:
            if not _PIPELINE_RE.fullmatch(pipeline):
                raise InvalidInputError(
                    f"pipeline name {pipeline!r} is not valid: 1 to 100 letters, digits, '.', "
                    "'@', '-' and '_'"
                )
        if allow_start and not codebuild_projects and not pipelines:
            raise InvalidInputError(
                "allow_start (--allow-start) has nothing to start: give the CodeBuild projects "
                "or pipelines it may start, or leave it off"
            )
        kwargs.setdefault(
            "description",
            f"ecr-image-waiter {__version__}: the Custom::EcrImageWaiter provider; its "
            f"ServiceToken is exported as {export_name}",
        )
        kwargs.setdefault("analytics_reporting", False)
        super().__init__(scope, id, **kwargs)
        self.export_name = export_name
        self.provider = EcrImageWaiterProvider.of(self, log_retention=log_retention)
        self.provider.allow_repositories(
            names=list(repository_names),
            prefixes=list(repository_prefixes),
            registry_id=registry_id,
        )
        self._acknowledge_prefixes(list(repository_prefixes), registry_id)
        for project in codebuild_projects:
            self.provider.grant_codebuild_project(
                project,
                self.format_arn(service="codebuild", resource="project", resource_name=project),
                start=allow_start,
            )
        for pipeline in pipelines:
            self.provider.grant_pipeline(
                pipeline,
                self.format_arn(
                    service="codepipeline",
                    resource=pipeline,
                    arn_format=ArnFormat.NO_RESOURCE_NAME,
                ),
                start=allow_start,
            )
        self.service_token_output = CfnOutput(
            self,
            OUTPUT_ID,
            value=self.provider.service_token,
            export_name=export_name,
            description="ServiceToken of Custom::EcrImageWaiter resources "
            f"(Fn::ImportValue {export_name})",
        )

    def _acknowledge_prefixes(self, prefixes: list[str], registry_id: str | None) -> None:
        """A prefix is a wildcard that was asked for: acknowledge cdk-nag's AwsSolutions-IAM5
        on exactly those ARNs, saying so. aws-cdk-lib before 2.269 refuses acknowledgment ids
        with '::' inside the brackets; there the finding is left for the user to see."""
        region = "<AWS::Region>" if Token.is_unresolved(self.region) else self.region
        account = registry_id or (
            "<AWS::AccountId>" if Token.is_unresolved(self.account) else self.account
        )
        acknowledgments = [
            Acknowledgment(
                id=f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecr:{region}:{account}:"
                f"repository/{prefix}*]",
                reason=f"The provider was asked to wait for any repository whose name starts "
                f"with {prefix!r}; it gets ECR reads on those repositories only.",
            )
            for prefix in prefixes
        ]
        if not acknowledgments:
            return
        try:
            Validations.of(self.provider).acknowledge(*acknowledgments)
        except RuntimeError as error:
            if "InvalidValidationId" not in str(error):
                raise


def retention_days(days: int) -> logs.RetentionDays:
    """The ``RetentionDays`` for a number of days, or an error listing the accepted ones.

    The day counts are read from aws-cdk-lib itself (the ``RetentionInDays`` each member
    writes), so the table cannot drift from the library.
    """
    scratch = Stack(App(), "Scratch")
    by_days: dict[int, logs.RetentionDays] = {}
    for index, member in enumerate(logs.RetentionDays):
        group = logs.LogGroup(scratch, f"G{index}", retention=member)
        value = scratch.resolve(group.node.default_child.retention_in_days)  # type: ignore[union-attr]
        if isinstance(value, int):
            by_days[value] = member
    if days in by_days:
        return by_days[days]
    raise InvalidInputError(
        f"log retention of {days} days is not one CloudWatch Logs offers: give one of "
        + ", ".join(map(str, sorted(by_days)))
    )


@dataclass(frozen=True)
class SynthResult:
    """What :func:`synth_provider` wrote."""

    #: The cloud assembly: ``cdk deploy --app <assembly>``.
    assembly: Path
    #: The CloudFormation template of the provider stack (assets in the CDK bootstrap bucket).
    template: Path
    #: The template for ``aws cloudformation package`` (code from the asset folders).
    package_template: Path
    stack_name: str
    export_name: str


def synth_provider(
    outdir: Path,
    *,
    stack_name: str = DEFAULT_STACK_NAME,
    **options: Any,
) -> SynthResult:
    """Synthesize :class:`EcrImageWaiterProviderStack` (``options`` as for it) into
    ``outdir``, environment-agnostic, and write :data:`PACKAGE_TEMPLATE` beside it."""
    if not _STACK_RE.fullmatch(stack_name):
        raise InvalidInputError(
            f"stack name {stack_name!r} is not a CloudFormation stack name: a letter, then "
            "letters, digits and '-', at most 128 characters"
        )
    app = App(outdir=str(outdir), analytics_reporting=False)
    stack = EcrImageWaiterProviderStack(app, stack_name, **options)
    assembly = app.synth()
    template = Path(assembly.directory) / stack.template_file
    package = Path(assembly.directory) / PACKAGE_TEMPLATE
    assets = Path(assembly.directory) / f"{stack.artifact_id}.assets.json"
    packaged = package_template(json.loads(template.read_text()), json.loads(assets.read_text()))
    package.write_text(json.dumps(packaged, indent=1) + "\n")
    return SynthResult(
        assembly=Path(assembly.directory),
        template=template,
        package_template=package,
        stack_name=stack_name,
        export_name=stack.export_name,
    )


def package_template(template: dict[str, Any], assets: dict[str, Any]) -> dict[str, Any]:
    """The template with each Lambda function's ``Code`` set to its asset folder (relative to
    the assembly), and without the CDK bootstrap version check, for
    ``aws cloudformation package``. Any other use of an asset is refused."""
    folders = {
        destination["objectKey"]: entry["source"]["path"]
        for entry in assets.get("files", {}).values()
        if entry["source"].get("packaging") == "zip"
        for destination in entry["destinations"].values()
    }
    result: dict[str, Any] = json.loads(json.dumps(template))
    for logical_id, resource in result.get("Resources", {}).items():
        code = resource.get("Properties", {}).get("Code")
        if resource.get("Type") == "AWS::Lambda::Function" and isinstance(code, dict):
            key = code.get("S3Key")
            if isinstance(key, str) and key in folders:
                resource["Properties"]["Code"] = folders[key]
                continue
        left = [key for key in folders if key in json.dumps(resource)]
        if left:
            raise InvalidInputError(
                f"resource {logical_id} ({resource.get('Type')}) uses the asset {left[0]}, "
                "which aws cloudformation package cannot upload from this template: deploy "
                "with cdk deploy --app instead"
            )
    result.get("Parameters", {}).pop("BootstrapVersion", None)
    result.get("Rules", {}).pop("CheckBootstrapVersion", None)
    for section in ("Parameters", "Rules"):
        if section in result and not result[section]:
            del result[section]
    return result
