"""The first deploy of the example app, played against a local AWS (moto), in under a minute.

1. Synthesize ``examples/app.py`` into ``.demo/cdk.out``; "deploy" the CI/CD stack's empty
   repositories and build project. Without the waiter, Lambda refuses the functions.
2. Deploy the provider from ``cdk.out`` (``ecr_image_waiter.local``): its DynamoDB table, its
   EventBridge rules, and its function, run from the asset directory. CloudFormation's
   requests go pending; the simulated build pushes; each push event ends its wait; the
   functions are created from ``<repository uri>@sha256:<pushed digest>``.
3. A second deploy (an Update with a new ResolveNonce): one invocation each, answered at once.
4. An Update to a new tag whose push event is lost: the sweep finds the image.

The Lambda's clock runs ``TIME_SCALE`` times faster (the sweep's minute takes a second).
Exit status 0 when every step did what it should, 1 otherwise (``make demo``).
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ecr_image_waiter import names  # noqa: E402
from ecr_image_waiter.local import (  # noqa: E402
    CloudAssembly,
    LocalCloud,
    Request,
    TemplateError,
    lose,
)
from ecr_image_waiter.local.cicd import deploy_repositories_and_builds  # noqa: E402
from ecr_image_waiter.local.events import codebuild_state_change  # noqa: E402
from ecr_image_waiter.local.support import free_port  # noqa: E402
from examples.demo_lambda import create_pinned, without_waiter  # noqa: E402
from examples.demo_setup import (  # noqa: E402
    ACCOUNT,
    REGION,
    answer_layer_downloads_as_ecr_without_blobs,
    rule_text,
    synthesize,
)
from examples.demo_timeline import Timeline, label_of, log_sink  # noqa: E402

DEFAULT_OUTDIR = ROOT / ".demo" / "cdk.out"
#: The Lambda's clock, its async retries, the sweep's schedule and CloudFormation's
#: ServiceTimeout all run this many times faster: a minute is a second.
TIME_SCALE = 60.0
#: Real seconds after the requests at which the build pushes each image.
PUSH_AFTER_SECONDS = (2.0, 4.0)
#: The tag of the last act, whose push event is lost.
LOST_TAG = "v2"


class Story:
    """The demo's acts, sharing the local cloud, the timeline and what each act found."""

    def __init__(self, assembly: CloudAssembly, cloud: LocalCloud, timeline: Timeline) -> None:
        self.assembly = assembly
        self.cloud = cloud
        self.timeline = timeline
        self.cicd = assembly.stack_named("-Cicd")
        self.api = assembly.stack_named("-Api")
        self.pushed: dict[str, tuple[str, float]] = {}  # repository -> (digest, when)
        #: logical id -> (when its answer was sent, what woke the invocation that sent it)
        self.answered: dict[str, tuple[float, str]] = {}

    def on_answer(self, logical_id: str, status: str, source: str) -> None:
        self.answered.setdefault(logical_id, (time.monotonic(), source))

    @property
    def cfn(self) -> Any:
        return self.cloud.cloudformation

    def waiters(self) -> list[tuple[str, str, str, str]]:
        """(logical id, repository, tag, function logical id) of each waiter."""
        found = []
        for logical_id in self.cfn.waiters():
            props = self.cfn.properties(logical_id)
            users = [
                function_id
                for function_id, function in sorted(
                    self.assembly.resources(self.api, "AWS::Lambda::Function").items()
                )
                if logical_id in str(function["Properties"].get("Code", {}).get("ImageUri"))
            ]
            if len(users) != 1:
                raise TemplateError(f"expected one function reading {logical_id}, got {users}")
            tag = props.get(names.PROP_IMAGE_TAG, names.DEFAULT_TAG)
            found.append((logical_id, props[names.PROP_REPOSITORY_NAME], tag, users[0]))
        return found

    def push_later(self, items: list[tuple[str, str]], after: list[float]) -> threading.Thread:
        started = time.monotonic()

        def run() -> None:
            for (repository, tag), at in zip(items, after, strict=False):
                time.sleep(max(0.0, started + at - time.monotonic()))
                digest = self.cloud.push_image(repository, tag)
                self.pushed[repository] = (digest, time.monotonic())
                self.timeline.say("build", f"pushed {repository}:{tag} {digest}")

        thread = threading.Thread(target=run, name="build", daemon=True)
        thread.start()
        return thread

    def answer(self, request: Request) -> dict[str, Any] | None:
        try:
            answer: dict[str, Any] = self.cfn.wait_response(request)
        except TimeoutError as error:
            self.timeline.say("cloudformation", str(error))
            return None
        status, label = answer["Status"], label_of(request.logical_id)
        reason = "" if status == "SUCCESS" else f": {answer.get('Reason')}"
        self.timeline.say("cloudformation", f"{label} {request.request_type}: {status}{reason}")
        return answer

    # --- the acts --------------------------------------------------------------------------

    def first_deploy(self, push_after: list[float], timeout: int | None) -> bool:
        waiters = self.waiters()
        lam, iam = self.cloud.client("lambda"), self.cloud.client("iam")
        uris = [(f, f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{r}:{t}") for _, r, t, f in waiters]
        refused = without_waiter(
            uris, assembly=self.assembly, stack=self.api, lam=lam, iam=iam, timeline=self.timeline
        )
        overrides = {names.PROP_TIMEOUT_SECONDS: str(timeout)} if timeout else {}
        requests = []
        for logical_id, _, _, _ in waiters:
            self.timeline.say("cloudformation", f"Create {logical_id} -> provider (async)")
            requests.append(self.cfn.request(logical_id, "Create", overrides=overrides))
        pusher = self.push_later([(r, t) for _, r, t, _ in waiters], push_after)
        answers = [self.answer(request) for request in requests]
        pusher.join(timeout=30)
        project = self.assembly.physical_name(self.cicd, self._project_id())
        self.timeline.say("build", f"{project} SUCCEEDED (its state change event is published)")
        self.cloud.publish(codebuild_state_change(project, "SUCCEEDED", region=REGION))
        self.cloud.settle(timeout=10)
        print()
        print("Push -> SUCCESS (real seconds from the push to the answer's PUT):")
        woken = {"ecr": "the push event", "sweep": "the sweep", "cloudformation": "the request"}
        for (logical_id, repository, _, _), answer in zip(waiters, answers, strict=True):
            if answer is None or answer["Status"] != "SUCCESS" or repository not in self.pushed:
                continue
            at, source = self.answered.get(logical_id, (0.0, "?"))
            lag = at - self.pushed[repository][1]
            print(f"  {label_of(logical_id)}: {lag:.2f} s, answered on {woken.get(source, source)}")
        print()
        print("Result: the ImageUri each function gets (the template's Fn::Join, with the")
        print("waiter's attributes put in), checked against the digest the build pushed:")
        ok = True
        for (logical_id, repository, _, function_id), answer in zip(waiters, answers, strict=True):
            if answer is None or answer["Status"] != "SUCCESS":
                print(
                    f"  {function_id}: none: its waiter failed, so CloudFormation does not "
                    "create it and rolls back with the waiter's reason"
                )
                ok = False
                continue
            data = answer.get("Data", {})
            self.assembly.deployed(self.api, logical_id, str(answer["PhysicalResourceId"]), data)
            expression = self.assembly.properties(self.api, function_id)["Code"]["ImageUri"]
            uri = str(self.assembly.resolve(self.api, expression))
            uri_base = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{repository}"
            expected = f"{uri_base}@{self.pushed.get(repository, ('?', 0))[0]}"
            made = create_pinned(
                function_id, uri, expected, assembly=self.assembly, stack=self.api, lam=lam, iam=iam
            )
            ok = made and ok
        return refused and ok

    def second_deploy(self) -> bool:
        print()
        print("A second deploy (an Update with a new ResolveNonce), the images already there:")
        ok = True
        for logical_id, _, _, _ in self.waiters():
            before = self._cloudformation_invocations()
            request = self.cfn.request(
                logical_id, "Update", overrides={names.PROP_RESOLVE_NONCE: "deploy-2"}
            )
            answer = self.answer(request)
            self.cloud.settle(timeout=10)
            used = self._cloudformation_invocations() - before
            puts = self.cfn.answers(request)
            self.timeline.say(
                "cloudformation", f"{label_of(logical_id)}: {used} invocation, {puts} answer"
            )
            ok = ok and answer is not None and answer["Status"] == "SUCCESS" and used == puts == 1
        return ok

    def lost_event(self) -> bool:
        print()
        print(
            f"An Update to tag {LOST_TAG} whose push event is lost (ECR emits events on a best "
            "effort basis):"
        )
        logical_id, repository, _, _ = self.waiters()[-1]
        request = self.cfn.request(logical_id, "Update", overrides={names.PROP_IMAGE_TAG: LOST_TAG})
        self.cloud.settle(timeout=10)
        digest = self.cloud.push_image(repository, LOST_TAG)
        pushed = time.monotonic()
        self.timeline.say("build", f"pushed {repository}:{LOST_TAG} {digest}")
        self.cloud.settle(timeout=10)
        bus = self.cloud.eventbridge
        assert bus is not None  # noqa: S101  (deployed)
        lost = sum(len(rule.lost) for rule in bus.rules)
        self.timeline.say("eventbridge", f"{lost} push event lost: nothing wakes the wait")
        answer = self.answer(request)
        took = time.monotonic() - pushed
        found = answer is not None and answer.get("Data", {}).get("ImageDigest") == digest
        self.timeline.say(
            "sweep",
            f"found it {took:.1f} s after the push = {took * TIME_SCALE:.0f} s on the Lambda's "
            f"clock (the sweep runs every {names.SWEEP_PERIOD_SECONDS} s there)",
        )
        # A new tag is a new physical id: CloudFormation deletes the old one after the update.
        deleted = [self.answer(delete) for delete in self.cfn.cleanup()]
        return lost == 1 and found and all(d and d["Status"] == "SUCCESS" for d in deleted)

    def summary(self) -> None:
        function = self.cloud.function
        assert function is not None  # noqa: S101  (deployed)
        print()
        print("What the provider was billed for (invocations by what sent them):")
        for source, stats in function.stats().items():
            calls = ", ".join(f"{name} {count}" for name, count in stats.calls.items())
            print(
                f"  {source:<15} {stats.invocations:>3} invocation(s), "
                f"{stats.gb_seconds:.4f} GB-s; AWS calls: {calls or 'none'}"
            )

    def _cloudformation_invocations(self) -> int:
        function = self.cloud.function
        assert function is not None  # noqa: S101  (deployed)
        return sum(1 for i in function.invocations if i.source == "cloudformation")

    def _project_id(self) -> str:
        (project,) = self.assembly.resources(self.cicd, "AWS::CodeBuild::Project")
        return project


def story(outdir: Path, begun: float, push_after: list[float], timeout: int | None) -> int:
    if outdir == DEFAULT_OUTDIR.resolve() and outdir.exists():
        shutil.rmtree(outdir)
    assembly = synthesize(outdir)
    shown = outdir.relative_to(ROOT) if ROOT in outdir.parents else outdir
    print(f"Synthesized into {shown} in {time.monotonic() - begun:.1f} s.")

    from moto.server import ThreadedMotoServer

    # The server's request log would show the presigned ResponseURLs: keep it quiet.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    answer_layer_downloads_as_ecr_without_blobs()
    os.environ["MOTO_LAMBDA_STUB_ECR"] = "false"
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    timeline = Timeline()
    cloud = LocalCloud(
        endpoint,
        account=ACCOUNT,
        region=REGION,
        time_scale=TIME_SCALE,
        plan=lose(lambda event: event.get("detail", {}).get("image-tag") == LOST_TAG),
    )
    acts = Story(assembly, cloud, timeline)
    cloud.on_log = log_sink(timeline, acts.on_answer)
    try:
        print(f"Local AWS (moto server) at {endpoint}.")
        made = deploy_repositories_and_builds(
            assembly, acts.cicd, cloud.client("ecr"), cloud.client("codebuild")
        )
        for kind, name in made:
            timeline.say("cicd stack", f"created {kind} {name}")
        provider = cloud.deploy(assembly, acts.api)
        assert cloud.function is not None  # noqa: S101  (deployed)
        assert cloud.eventbridge is not None  # noqa: S101
        timeline.say("api stack", f"provider function {provider.function_logical_id}")
        timeline.say("api stack", f"handler code loaded from {cloud.function.handler_path}")
        timeline.say("  table", provider.table_name)
        for rule in cloud.eventbridge.rules:
            state = cloud.eventbridge.state(rule)
            timeline.say("  rule", f"{label_of(rule.logical_id)}: {rule_text(rule)} ({state})")
        print(
            f"Time runs {TIME_SCALE:g}x faster on the Lambda's clock: the sweep's "
            f"{names.SWEEP_PERIOD_SECONDS} s are {names.SWEEP_PERIOD_SECONDS / TIME_SCALE:g} s "
            "here; the timeline shows real seconds."
        )
        print()
        cloud.start(ticker=True)
        good = acts.first_deploy(push_after, timeout)
        if good:
            good = acts.second_deploy() and acts.lost_event()
    finally:
        cloud.close()
        server.stop()
    acts.summary()
    took = time.monotonic() - begun
    print()
    if good:
        print(f"Done in {took:.1f} s: without the waiter the functions are refused; with it they")
        print("are created once their images are in ECR, pinned to the digests that were pushed.")
        return 0
    print(f"FAILED after {took:.1f} s (see above).")
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outdir", type=Path, default=DEFAULT_OUTDIR, help="cloud assembly dir")
    parser.add_argument(
        "--push-after",
        type=float,
        nargs="*",
        default=list(PUSH_AFTER_SECONDS),
        metavar="SECONDS",
        help="real seconds after the requests at which the build pushes each image (fewer "
        "values: some images never come)",
    )
    parser.add_argument(
        "--timeout",
        type=int,
        default=None,
        metavar="SECONDS",
        help="the waiters' TimeoutSeconds, on the Lambda's clock (default: as synthesized)",
    )
    args = parser.parse_args(argv)
    begun = time.monotonic()
    print("ecr-image-waiter demo: the first deploy of examples/app.py, against a local AWS.")
    print("The race: the CI/CD stack creates empty ECR repositories and starts the build; the")
    print("API stack's Docker-image Lambdas are created right after, before the build has pushed,")
    print("so Lambda refuses them and the deploy fails. Each EcrImageWaiter holds its Lambda back")
    print("until the image is in ECR, and pins it to the image's digest.")
    print()
    try:
        return story(args.outdir.resolve(), begun, args.push_after, args.timeout)
    except TemplateError as error:
        print(f"demo: error: {error}", file=sys.stderr)
        return 1
    except Exception as error:  # every failure ends the demo with a one-line reason
        print(f"demo: error: {type(error).__name__}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
