"""Synthesize stacks of N ``EcrImageWaiter`` resources and measure their templates.

Run by :mod:`.scale` in one subprocess (``python -m scripts.bench.synth OUT.json N ...``), so
the CDK and its node process load once. For each N: one stack, N waiters on N repositories
imported by name; synth time, template bytes, resources, the EventBridge rules (push rules
and their pattern lengths) and the IAM policies per role, measured as IAM measures them:
characters without white space, intrinsic functions resolved to full length (:func:`resolve`).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ACCOUNT = "123456789012"
REGION = "us-east-1"
#: Length assumed for a physical name CloudFormation generates (stack name, logical id and a
#: random suffix); the longer the name, the larger the policy, so this errs on the large side.
GENERATED_NAME_CHARS = 64


def resolve(value: Any) -> Any:
    """Intrinsic functions replaced by plausible deploy-time values of full length."""
    if isinstance(value, list):
        return [resolve(item) for item in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((key, arg),) = value.items()
        if key == "Ref":
            return {
                "AWS::Partition": "aws",
                "AWS::Region": REGION,
                "AWS::AccountId": ACCOUNT,
                "AWS::URLSuffix": "amazonaws.com",
                "AWS::StackName": "x" * 32,
            }.get(arg, "n" * GENERATED_NAME_CHARS)
        if key == "Fn::GetAtt":
            return f"arn:aws:service:{REGION}:{ACCOUNT}:resource:" + "n" * GENERATED_NAME_CHARS
        if key == "Fn::Join":
            separator, parts = arg
            return str(separator).join(str(resolve(part)) for part in parts)
        if key in ("Fn::Sub", "Fn::ImportValue", "Fn::Select", "Fn::If"):
            return "n" * GENERATED_NAME_CHARS
    return {key: resolve(item) for key, item in value.items()}


def policy_chars(document: Any) -> int:
    """IAM's measure of a policy: characters, white space not counted."""
    text = json.dumps(resolve(document), separators=(",", ":"))
    return sum(1 for char in text if not char.isspace())


def measure(count: int) -> dict[str, Any]:
    from aws_cdk import App, Environment, Stack
    from aws_cdk import aws_ecr as ecr

    from ecr_image_waiter.construct import EcrImageWaiter

    with tempfile.TemporaryDirectory(prefix="bench-synth-") as outdir:
        started = time.perf_counter()
        app = App(outdir=outdir)
        stack = Stack(app, "Waiters", env=Environment(account=ACCOUNT, region=REGION))
        for index in range(count):
            repository = ecr.Repository.from_repository_name(
                stack, f"Repository{index}", f"bench/image-{index:03d}"
            )
            EcrImageWaiter(stack, f"Waiter{index}", repository=repository, tag="latest")
        assembly = app.synth()
        seconds = time.perf_counter() - started
        artifact = assembly.get_stack_artifact(stack.artifact_id)
        path = Path(outdir) / artifact.template_file
        raw = path.read_bytes()
    template = json.loads(raw)
    resources: dict[str, Any] = template.get("Resources", {})
    types: dict[str, int] = defaultdict(int)
    for resource in resources.values():
        types[resource["Type"]] += 1

    inline: dict[str, int] = defaultdict(int)
    inline_docs: dict[str, int] = {}
    managed: dict[str, int] = {}
    managed_per_role: dict[str, int] = defaultdict(int)
    push_patterns: list[int] = []
    other_patterns: list[int] = []
    scheduled: list[str] = []
    for logical_id, resource in resources.items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::Policy":
            size = policy_chars(props["PolicyDocument"])
            inline_docs[logical_id] = size
            for role in props.get("Roles", []):
                inline[json.dumps(role, sort_keys=True)] += size
        elif resource["Type"] == "AWS::IAM::ManagedPolicy":
            managed[logical_id] = policy_chars(props["PolicyDocument"])
            for role in props.get("Roles", []):
                managed_per_role[json.dumps(role, sort_keys=True)] += 1
        elif resource["Type"] == "AWS::Events::Rule":
            pattern = props.get("EventPattern")
            if pattern is None:
                scheduled.append(logical_id)
            else:
                text = json.dumps(resolve(pattern), separators=(",", ":"))
                if pattern.get("source") == ["aws.ecr"]:
                    push_patterns.append(len(text))
                else:
                    other_patterns.append(len(text))
        elif resource["Type"] == "AWS::IAM::Role":
            for policy in props.get("Policies", []) or []:
                size = policy_chars(policy["PolicyDocument"])
                inline[json.dumps({"Ref": logical_id}, sort_keys=True)] += size
    return {
        "waiters": count,
        "synth_seconds": round(seconds, 3),
        "template_bytes": len(raw),
        "template_bytes_minified": len(json.dumps(template, separators=(",", ":")).encode()),
        "resources": len(resources),
        "resource_types": dict(sorted(types.items())),
        "custom_resources": types.get("Custom::EcrImageWaiter", 0),
        "largest_inline_policy_chars": max(inline_docs.values(), default=0),
        "largest_role_inline_aggregate_chars": max(inline.values(), default=0),
        "managed_policies": len(managed),
        "overflow_policies": sum(1 for name in managed if "Overflow" in name),
        "largest_managed_policy_chars": max(managed.values(), default=0),
        "most_managed_policies_on_one_role": max(managed_per_role.values(), default=0),
        "rules": len(push_patterns) + len(other_patterns) + len(scheduled),
        "push_rules": len(push_patterns),
        "scheduled_rules": len(scheduled),
        "longest_push_pattern_chars": max(push_patterns, default=0),
        "longest_other_pattern_chars": max(other_patterns, default=0),
    }


def main(argv: list[str]) -> int:
    out = Path(argv[0])
    figures = []
    for text in argv[1:]:
        figure = measure(int(text))
        print(
            f"  synth {figure['waiters']:>3} waiters: {figure['synth_seconds']:.2f} s, "
            f"{figure['template_bytes']} bytes, {figure['resources']} resources, largest "
            f"role inline policies {figure['largest_role_inline_aggregate_chars']} chars, "
            f"{figure['managed_policies']} managed policies, {figure['push_rules']} push "
            f"rules (longest pattern {figure['longest_push_pattern_chars']} chars)",
            flush=True,
        )
        figures.append(figure)
    out.write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
