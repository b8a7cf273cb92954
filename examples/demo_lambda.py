"""The API stack's Docker-image functions on moto's Lambda: refused without an image, then
created from the digest-pinned URI each waiter answered.

moto's Lambda checks a function's image in its ECR only with ``MOTO_LAMBDA_STUB_ECR=false``
(moto 5.2.5, moto/settings.py ``lambda_stub_ecr``), the check AWS Lambda makes.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ecr_image_waiter.local import CloudAssembly
from examples.demo_timeline import Timeline

#: Lambda's answer to a function whose image is missing (FACTS.md, "Lambda and container
#: images").
LAMBDA_MISSING_IMAGE = "Source image {uri} does not exist. Provide a valid source image."
DIGEST_RE = re.compile(r"^(?P<repo>[^@]+)@sha256:(?P<hex>[0-9a-f]{64})$")


def function_args(
    assembly: CloudAssembly, stack: str, function_id: str, uri: str, iam: Any
) -> dict[str, Any]:
    """CreateFunction's arguments for a function of the template, its role made if missing
    (CloudFormation creates the role first: the function depends on it)."""
    properties = assembly.properties(stack, function_id)
    role = properties.get("Role", {}).get("Fn::GetAtt", [f"{function_id}Role"])[0]
    role_name = f"{stack}-{role}"[:64]
    try:
        arn = iam.get_role(RoleName=role_name)["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "lambda.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
        made = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps(trust))
        arn = made["Role"]["Arn"]
    return {
        "FunctionName": function_id,
        "Role": arn,
        "Code": {"ImageUri": uri},
        "PackageType": "Image",
        "Architectures": properties.get("Architectures", ["x86_64"]),
        "MemorySize": int(properties.get("MemorySize", 128)),
    }


def without_waiter(
    functions: list[tuple[str, str]],
    *,
    assembly: CloudAssembly,
    stack: str,
    lam: Any,
    iam: Any,
    timeline: Timeline,
) -> bool:
    """Create each (function logical id, ``repo:tag`` URI) now, as CloudFormation would
    without a waiter. True when Lambda refuses every one (the failure the waiter prevents)."""
    refused = True
    for function_id, uri in functions:
        timeline.say("without waiter", f"CreateFunction {function_id} from {uri}")
        try:
            lam.create_function(**function_args(assembly, stack, function_id, uri, iam))
        except lam.exceptions.ClientError as error:
            details = error.response.get("Error", {})
            message = str(details.get("Message"))
            message = message if len(message) <= 90 else message[:87] + "..."
            timeline.say("  local Lambda", f"refused: {details.get('Code')}: {message}")
            timeline.say("  AWS Lambda says", LAMBDA_MISSING_IMAGE.format(uri=uri))
        else:
            lam.delete_function(FunctionName=function_id)
            timeline.say("  local Lambda", f"accepted {uri}: the image is already there")
            refused = False
    timeline.say("without waiter", "-> CREATE_FAILED, and the API stack rolls back")
    return refused


def create_pinned(
    function_id: str,
    uri: str,
    expected: str,
    *,
    assembly: CloudAssembly,
    stack: str,
    lam: Any,
    iam: Any,
) -> bool:
    """Check the function's Code.ImageUri is ``expected`` (``<repo uri>@<pushed digest>``),
    create the function from it, and check CreateFunction's CodeSha256 is that digest."""
    match = DIGEST_RE.fullmatch(uri)
    print(f"  {function_id}")
    print(f"    Code.ImageUri = {uri}")
    if match is None or uri != expected:
        print(f"    WRONG: expected {expected}")
        return False
    created = lam.create_function(**function_args(assembly, stack, function_id, uri, iam))
    same: bool = created.get("CodeSha256") == match["hex"]
    print(
        "    = <repository uri>@sha256:<digest pushed>; CreateFunction on the local Lambda: "
        f"{created.get('State', 'created')}, CodeSha256 {'matches' if same else 'DIFFERS'}"
    )
    return same
