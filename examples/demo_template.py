"""What the demo reads from the synthesized example: the waiters, their handlers, the functions.

A small model of the parts of a CloudFormation deploy the demo needs: the physical names
CloudFormation gives resources created without one, and the intrinsic functions the example's
templates use (``Ref``, ``Fn::GetAtt``, ``Fn::ImportValue``, ``Fn::Join``, ``Fn::Select``,
``Fn::Split``). Anything else is refused by name, so a template the model does not understand
fails the demo instead of being half-read.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecr_image_waiter import names

ECR_REPOSITORY = "AWS::ECR::Repository"
CODEBUILD_PROJECT = "AWS::CodeBuild::Project"
LAMBDA_FUNCTION = "AWS::Lambda::Function"

#: Properties that name a resource explicitly; without one CloudFormation makes up a name.
_NAME_PROPERTIES = {ECR_REPOSITORY: "RepositoryName", CODEBUILD_PROJECT: "Name"}


class DemoError(Exception):
    """Something the demo cannot go on without; the message says what and where."""


@dataclass(frozen=True)
class Waiter:
    """One ``Custom::EcrImageWaiter`` of the API stack, with its properties resolved."""

    logical_id: str
    properties: dict[str, str]
    #: The Docker-image function whose Code.ImageUri reads this waiter's attributes.
    function_logical_id: str
    #: The function's Code.ImageUri, as synthesized (an Fn::Join).
    image_uri_expression: Any


@dataclass(frozen=True)
class Handlers:
    """The provider's user functions: where their code is and what the Handler says."""

    asset_dir: Path
    on_event: str
    is_complete: str
    on_event_function: str
    is_complete_function: str
    #: The query interval the construct tells is_complete (its environment variable).
    query_interval_seconds: float


class CloudAssembly:
    """The synthesized app (``cdk.out``) and the state of a simulated deploy of it."""

    def __init__(self, outdir: Path, *, account: str, region: str) -> None:
        self.outdir = outdir
        self.account = account
        self.region = region
        manifest = _load(outdir / "manifest.json")
        self.templates: dict[str, dict[str, Any]] = {}
        for artifact_id, artifact in manifest.get("artifacts", {}).items():
            if artifact.get("type") == "aws:cloudformation:stack":
                template_file = artifact["properties"]["templateFile"]
                self.templates[artifact_id] = _load(outdir / template_file)
        #: (stack, logical id) -> physical id / attributes, filled in as resources "deploy".
        self.physical_ids: dict[tuple[str, str], str] = {}
        self.attributes: dict[tuple[str, str], dict[str, str]] = {}

    # --- reading -----------------------------------------------------------------------

    def stack_named(self, suffix: str) -> str:
        matches = [name for name in self.templates if name.endswith(suffix)]
        if len(matches) != 1:
            raise DemoError(
                f"expected one stack ending in {suffix!r} in {self.outdir}, found {matches}"
            )
        return matches[0]

    def resources(self, stack: str, resource_type: str) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource
            for logical_id, resource in self.templates[stack].get("Resources", {}).items()
            if resource.get("Type") == resource_type
        }

    def physical_name(self, stack: str, logical_id: str) -> str:
        """The name the resource gets: its name property, or one CloudFormation makes up
        (``<stack>-<logical id>-<suffix>``; ECR wants it lower-case). The suffix is derived
        from the ids, so every run of the demo uses the same names."""
        resource = self.templates[stack]["Resources"][logical_id]
        kind = resource.get("Type")
        name_property = _NAME_PROPERTIES.get(kind)
        if name_property is None:
            raise DemoError(f"the demo does not create {kind} resources ({stack}/{logical_id})")
        given = resource.get("Properties", {}).get(name_property)
        if given is not None:
            return str(self.resolve(stack, given))
        suffix = hashlib.sha256(f"{stack}/{logical_id}".encode()).hexdigest()[:12]
        if kind == ECR_REPOSITORY:
            return f"{stack}-{logical_id}-{suffix}".lower()
        return f"{logical_id}-{suffix}"

    def deployed(
        self, stack: str, logical_id: str, physical_id: str, attributes: dict[str, str]
    ) -> None:
        """Record a resource the simulated deploy created (its Ref and Fn::GetAtt values)."""
        self.physical_ids[(stack, logical_id)] = physical_id
        self.attributes[(stack, logical_id)] = dict(attributes)

    def waiters(self, stack: str) -> list[Waiter]:
        """The stack's waiters, each with the function that takes its digest."""
        functions = self.resources(stack, LAMBDA_FUNCTION)
        found = []
        for logical_id, resource in sorted(self.resources(stack, names.RESOURCE_TYPE).items()):
            raw = dict(resource.get("Properties", {}))
            raw.pop(names.PROP_SERVICE_TOKEN, None)
            properties = {key: str(self.resolve(stack, value)) for key, value in raw.items()}
            users = [
                (function_id, function["Properties"]["Code"]["ImageUri"])
                for function_id, function in sorted(functions.items())
                if logical_id in json.dumps(function["Properties"].get("Code", {}).get("ImageUri"))
            ]
            if len(users) != 1:
                raise DemoError(
                    f"expected one Docker-image function reading {logical_id}'s attributes in "
                    f"{stack}, found {[function_id for function_id, _ in users]}"
                )
            function_id, expression = users[0]
            found.append(Waiter(logical_id, properties, function_id, expression))
        if not found:
            raise DemoError(f"no {names.RESOURCE_TYPE} resources in {stack}")
        return found

    def handlers(self, stack: str) -> Handlers:
        """The provider's on_event and is_complete functions, found by their Handler."""
        functions = self.resources(stack, LAMBDA_FUNCTION)
        by_handler = {
            function["Properties"].get("Handler"): (logical_id, function)
            for logical_id, function in functions.items()
        }
        picked = {}
        for handler in (names.HANDLER_ON_EVENT, names.HANDLER_IS_COMPLETE):
            if handler not in by_handler:
                raise DemoError(f"no function with Handler {handler!r} in {stack}")
            picked[handler] = by_handler[handler]
        on_event_id, on_event = picked[names.HANDLER_ON_EVENT]
        is_complete_id, is_complete = picked[names.HANDLER_IS_COMPLETE]
        asset_dirs = {self.asset_dir(stack, f) for f in (on_event, is_complete)}
        if len(asset_dirs) != 1:
            raise DemoError(f"on_event and is_complete come from different assets: {asset_dirs}")
        variables = is_complete["Properties"].get("Environment", {}).get("Variables", {})
        query = float(variables.get(names.ENV_QUERY_INTERVAL_SECONDS, 0) or 0)
        return Handlers(
            asset_dir=asset_dirs.pop(),
            on_event=names.HANDLER_ON_EVENT,
            is_complete=names.HANDLER_IS_COMPLETE,
            on_event_function=on_event_id,
            is_complete_function=is_complete_id,
            query_interval_seconds=query or float(names.DEFAULT_QUERY_INTERVAL_SECONDS),
        )

    def asset_dir(self, stack: str, function: dict[str, Any]) -> Path:
        """``cdk.out/asset.<hash>/`` of a zip-packaged function, via the stack's assets
        manifest (the template names only the S3 object the asset is uploaded to)."""
        key = function["Properties"].get("Code", {}).get("S3Key")
        if not isinstance(key, str):
            raise DemoError(f"a function in {stack} has no S3Key: {function['Properties']}")
        assets = _load(self.outdir / f"{stack}.assets.json").get("files", {})
        for asset in assets.values():
            for destination in asset.get("destinations", {}).values():
                if destination.get("objectKey") == key:
                    path = self.outdir / str(asset["source"]["path"])
                    if not path.is_dir():
                        raise DemoError(f"asset {path} of {key} is not a directory")
                    return path
        raise DemoError(f"no asset in {stack}.assets.json is uploaded as {key}")

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
                raise DemoError(
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
        raise DemoError(f"the demo does not evaluate {function} (in {stack})")

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
            raise DemoError(f"Ref {name} in {stack}: not deployed (yet)") from None

    def _import(self, export_name: str) -> Any:
        for stack, template in self.templates.items():
            for output in template.get("Outputs", {}).values():
                if output.get("Export", {}).get("Name") == export_name:
                    return self.resolve(stack, output["Value"])
        raise DemoError(f"Fn::ImportValue {export_name!r}: no stack exports it")


def _load(path: Path) -> dict[str, Any]:
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise DemoError(f"cannot read {path}: {error}") from error
    if not isinstance(loaded, dict):
        raise DemoError(f"{path} is not a JSON object")
    return loaded
