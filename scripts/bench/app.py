"""The benchmark's CDK app: stacks of ``EcrImageWaiter`` resources, synthesized once.

``python -m scripts.bench.app OUTDIR NAME:WAITERS:TIMEOUT ...`` writes one cloud assembly
with a stack per argument: WAITERS waiters (tag ``latest``) on repositories imported by name
(``bench/image-000`` ...), each with TIMEOUT seconds. The event design's runs deploy these
stacks with ``ecr_image_waiter.local`` (:mod:`.event_design`), so the handler, its
environment and its rules are the synthesized ones.
"""

from __future__ import annotations

import sys

ACCOUNT = "123456789012"
REGION = "us-east-1"


def repository_name(index: int) -> str:
    return f"bench/image-{index:03d}"


def main(argv: list[str]) -> int:
    from aws_cdk import App, Duration, Environment, Stack
    from aws_cdk import aws_ecr as ecr

    from ecr_image_waiter.construct import EcrImageWaiter

    app = App(outdir=argv[0])
    for spec in argv[1:]:
        name, waiters, timeout = spec.split(":")
        stack = Stack(app, name, env=Environment(account=ACCOUNT, region=REGION))
        for index in range(int(waiters)):
            repository = ecr.Repository.from_repository_name(
                stack, f"Repository{index}", repository_name(index)
            )
            EcrImageWaiter(
                stack,
                f"Waiter{index:03d}",
                repository=repository,
                tag="latest",
                timeout=Duration.seconds(int(timeout)),
            )
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
