"""A synthesized cloud assembly (``cdk.out``) read as CloudFormation would deploy it.

Physical names CloudFormation gives resources created without one (derived from the ids, so
every run uses the same names), and the intrinsic functions the example's templates use
(``Ref``, ``Fn::GetAtt``, ``Fn::ImportValue``, ``Fn::Join``, ``Fn::Select``, ``Fn::Split``).
Anything else is refused by name, so a template the model does not understand fails loudly
instead of being half-read. ``Fn::ImportValue`` reads the caller's ``exports`` first (export
name -> value, e.g. the physical names of another stack's resources), then the other
stacks' outputs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ECR_REPOSITORY = "AWS::ECR::Repository"
CODEBUILD_PROJECT = "AWS::CodeBuild::Project"
LAMBDA_FUNCTION = "AWS::Lambda::Function"
DYNAMODB_TABLE = "AWS::DynamoDB::Table"
EVENTS_RULE = "AWS::Events::Rule"

#: Properties that name a resource explicitly; without one CloudFormation makes up a name.
_NAME_PROPERTIES = {
    ECR_REPOSITORY: "RepositoryName",
    CODEBUILD_PROJECT: "Name",
    LAMBDA_FUNCTION: "FunctionName",
    DYNAMODB_TABLE: "TableName",
    EVENTS_RULE: "Name",
}


class TemplateError(Exception):
    """Something in the cloud assembly the local side cannot deploy; says what and where."""


class CloudAssembly:
    """The synthesized app and the state of a simulated deploy of it."""

    def __init__(
        self,
        outdir: Path,
        *,
        account: str = "123456789012",
        region: str = "us-east-1",
        exports: Mapping[str, Any] | None = None,
    ) -> None:
        self.outdir = Path(outdir)
        self.account = account
        self.region = region
        #: Export name -> value, consulted first by Fn::ImportValue.
        self.exports: dict[str, Any] = dict(exports or {})
        manifest = load_json(self.outdir / "manifest.json")
        self.templates: dict[str, dict[str, Any]] = {}
        for artifact_id, artifact in manifest.get("artifacts", {}).items():
            if artifact.get("type") == "aws:cloudformation:stack":
                template_file = artifact["properties"]["templateFile"]
                self.templates[artifact_id] = load_json(self.outdir / template_file)
        #: (stack, logical id) -> physical id / attributes, filled in as resources deploy.
        self.physical_ids: dict[tuple[str, str], str] = {}
        self.attributes: dict[tuple[str, str], dict[str, str]] = {}

    # --- reading -----------------------------------------------------------------------

    def stack_named(self, suffix: str) -> str:
        matches = [name for name in self.templates if name.endswith(suffix)]
        if len(matches) != 1:
            raise TemplateError(
                f"expected one stack ending in {suffix!r} in {self.outdir}, found {matches}"
            )
        return matches[0]

    def resources(self, stack: str, resource_type: str) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource
            for logical_id, resource in self.templates[stack].get("Resources", {}).items()
            if resource.get("Type") == resource_type
        }

    def properties(self, stack: str, logical_id: str) -> dict[str, Any]:
        try:
            return dict(self.templates[stack]["Resources"][logical_id].get("Properties", {}))
        except KeyError:
            raise TemplateError(f"no resource {logical_id} in {stack}") from None

    def physical_name(self, stack: str, logical_id: str) -> str:
        """The name the resource gets: its name property, or one CloudFormation makes up
        (``<stack>-<logical id>-<suffix>``, at most 64 characters; ECR wants lower case)."""
        resource = self.templates[stack]["Resources"][logical_id]
        kind = resource.get("Type")
        name_property = _NAME_PROPERTIES.get(kind)
        if name_property is None:
            raise TemplateError(f"no naming rule for {kind} resources ({stack}/{logical_id})")
        given = resource.get("Properties", {}).get(name_property)
        if given is not None:
            return str(self.resolve(stack, given))
        suffix = hashlib.sha256(f"{stack}/{logical_id}".encode()).hexdigest()[:12]
        if kind == ECR_REPOSITORY:
            return f"{stack}-{logical_id}-{suffix}".lower()
        if kind == CODEBUILD_PROJECT:
            return f"{logical_id}-{suffix}"
        return f"{stack[:20]}-{logical_id[:30]}-{suffix}"

    def deployed(
        self, stack: str, logical_id: str, physical_id: str, attributes: Mapping[str, str]
    ) -> None:
        """Record a resource the simulated deploy created (its Ref and Fn::GetAtt values)."""
        self.physical_ids[(stack, logical_id)] = physical_id
        self.attributes[(stack, logical_id)] = dict(attributes)

    def asset_dir(self, stack: str, logical_id: str) -> Path:
        """``cdk.out/asset.<hash>/`` of a zip-packaged function: from its ``aws:asset:path``
        metadata when the template has it, else via the stack's assets manifest (the
        template names only the S3 object the asset is uploaded to)."""
        resource = self.templates[stack]["Resources"][logical_id]
        path_hint = resource.get("Metadata", {}).get("aws:asset:path")
        if isinstance(path_hint, str):
            return _directory(self.outdir / path_hint, logical_id)
        key = resource.get("Properties", {}).get("Code", {}).get("S3Key")
        if not isinstance(key, str):
            raise TemplateError(f"{stack}/{logical_id} has no Code.S3Key (not a zip function)")
        manifest = self.outdir / f"{stack}.assets.json"
        for asset in load_json(manifest).get("files", {}).values():
            for destination in asset.get("destinations", {}).values():
                if destination.get("objectKey") == key:
                    return _directory(self.outdir / str(asset["source"]["path"]), key)
        raise TemplateError(f"no asset in {manifest.name} is uploaded as {key}")

    # --- intrinsic functions ---------------------------------------------------------------

    def resolve(self, stack: str, value: Any) -> Any:
        """``value`` with its intrinsic functions evaluated, as CloudFormation would."""
        if isinstance(value, list):
            return [self.resolve(stack, item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) != 1 or not next(iter(value)).startswith(("Ref", "Fn::")):
            return {key: self.resolve(stack, item) for key, item in value.items()}
        function, argument = next(iter(value.items()))
        if function == "Ref":
            return self._ref(stack, argument)
        if function == "Fn::GetAtt":
            logical_id, attribute = argument
            try:
                return self.attributes[(stack, logical_id)][attribute]
            except KeyError:
                raise TemplateError(
                    f"Fn::GetAtt {logical_id}.{attribute} in {stack}: not deployed (yet)"
                ) from None
        if function == "Fn::ImportValue":
            return self._import(self.resolve(stack, argument))
        if function == "Fn::Join":
            separator, items = argument
            return str(separator).join(str(item) for item in self.resolve(stack, items))
        if function == "Fn::Select":
            index, items = argument
            return self.resolve(stack, items)[int(self.resolve(stack, index))]
        if function == "Fn::Split":
            separator, text = argument
            return str(self.resolve(stack, text)).split(separator)
        raise TemplateError(f"the local side does not evaluate {function} (in {stack})")

    def _ref(self, stack: str, name: str) -> str:
        pseudo = {
            "AWS::AccountId": self.account,
            "AWS::Region": self.region,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": stack,
        }
        if name in pseudo:
            return pseudo[name]
        try:
            return self.physical_ids[(stack, name)]
        except KeyError:
            raise TemplateError(f"Ref {name} in {stack}: not deployed (yet)") from None

    def _import(self, export_name: str) -> Any:
        if export_name in self.exports:
            return self.exports[export_name]
        for stack, template in self.templates.items():
            for output in template.get("Outputs", {}).values():
                if output.get("Export", {}).get("Name") == export_name:
                    return self.resolve(stack, output["Value"])
        raise TemplateError(f"Fn::ImportValue {export_name!r}: no stack exports it")


def _directory(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise TemplateError(f"asset {path} of {what} is not a directory")
    return path


def load_json(path: Path) -> dict[str, Any]:
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise TemplateError(f"cannot read {path}: {error}") from error
    if not isinstance(loaded, dict):
        raise TemplateError(f"{path} is not a JSON object")
    return loaded
