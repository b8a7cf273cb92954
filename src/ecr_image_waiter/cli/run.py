"""Running a parsed command, with no error handling of its own: ``check`` (one look per
image), ``wait`` (all images in parallel, each with its progress) and ``provider synth``.
"""

from __future__ import annotations

import argparse
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from ecr_image_waiter.cli.parser import CDK_EXTRA_REMEDY, ExitStatus
from ecr_image_waiter.cli.progress import (
    PROG,
    LiveProgress,
    NoProgress,
    PlainProgress,
    Progress,
)
from ecr_image_waiter.cli.setup import (
    Check,
    LookupFactory,
    WatchFactory,
    _lookup_for,
    _pipeline_aware,
    _watch_for,
    resolve_references,
)
from ecr_image_waiter.engine import (
    Attempt,
    Cancelled,
    ImageReference,
    WaitPolicy,
    WaitResult,
    never_error,
    wait_until_ready,
)
from ecr_image_waiter.engine.decide import Outcome, decide
from ecr_image_waiter.errors import (
    EcrImageWaiterError,
    InvalidInputError,
    WaitError,
    WaitTimeoutError,
)


@dataclass(frozen=True)
class Context:
    stdout: TextIO
    stderr: TextIO
    env: Mapping[str, str]
    clock: Callable[[], float]
    sleep: Callable[[float], None] | None
    lookup_factory: LookupFactory | None
    watch_factory: WatchFactory | None = None


class WaitFailures(EcrImageWaiterError):
    """One or more images failed; each error is kept, in argument order."""

    def __init__(self, failures: Sequence[tuple[str, WaitError]]) -> None:
        super().__init__("; ".join(f"{label}: {error}" for label, error in failures))
        self.failures = list(failures)


def program(args: argparse.Namespace, ctx: Context) -> ExitStatus:
    if args.command == "provider":
        return provider_synth(args, ctx)
    refs = resolve_references(args, ctx.env)
    since = datetime.now(UTC)  # runs that ended before this are not the ones to watch
    watches = [(ctx.watch_factory or _watch_for(args))(ref) for ref in refs]
    factory = ctx.lookup_factory or _lookup_for(args)
    checks = [
        _pipeline_aware(factory(ref), ref, watch, since)
        for ref, watch in zip(refs, watches, strict=True)
    ]
    if args.command == "check":
        results = _check_all(refs, checks, ctx.clock)
        _warn_unverified(args.images, results, ctx.stderr)
    else:
        policy = WaitPolicy(timeout=args.timeout, interval=args.interval)
        results = _wait_all(args, refs, checks, policy, ctx)
    for result in results:
        if args.json:
            record = {
                **result.image.to_dict(),
                "attempts": result.attempts,
                "waitedSeconds": round(result.waited_seconds, 3),
            }
            ctx.stdout.write(json.dumps(record) + "\n")
        else:
            ctx.stdout.write(result.image.image_uri + "\n")
    ctx.stdout.flush()
    return ExitStatus.OK


def _warn_unverified(labels: Sequence[str], results: Sequence[WaitResult], stream: TextIO) -> None:
    """``check`` has no progress line: say on stderr which image's architecture was looked for
    and could not be read, and why (as ``wait``'s progress line does), so that exit 0 is not
    taken for a checked architecture."""
    for label, result in zip(labels, results, strict=True):
        reason = result.image.architecture_unknown_reason
        if reason:
            stream.write(f"{PROG}: warning: {label}: architecture not verified: {reason}\n")
    stream.flush()


def provider_synth(args: argparse.Namespace, ctx: Context) -> ExitStatus:
    """``provider synth``: synthesize the standalone provider stack into ``--output``."""
    try:
        import aws_cdk  # noqa: F401  (only to say early and plainly that the extra is missing)
        import constructs  # noqa: F401
    except ImportError as error:
        raise InvalidInputError(
            f"provider synth needs the CDK libraries (aws-cdk-lib, constructs), which cannot "
            f"be imported ({error}): install them with {CDK_EXTRA_REMEDY}"
        ) from error
    from ecr_image_waiter.construct.standalone import retention_days, synth_provider

    result = synth_provider(
        Path(args.output),
        stack_name=args.stack_name,
        repository_names=args.repository,
        repository_prefixes=args.repository_prefix,
        registry_id=args.registry_id,
        export_name=args.export_name,
        log_retention=None
        if args.log_retention_days is None
        else retention_days(args.log_retention_days),
        codebuild_projects=args.codebuild_project,
        pipelines=args.pipeline,
        allow_start=args.allow_start,
    )
    ctx.stdout.write(f"{result.template}\n{result.package_template}\n")
    ctx.stdout.flush()
    if not args.quiet:
        out = result.assembly
        ctx.stderr.write(
            f"{PROG}: wrote stack {result.stack_name} into {out}; deploy it with\n"
            f"  cdk deploy --app {out}\n"
            "or, without the CDK CLI,\n"
            f"  aws cloudformation package --template-file {result.package_template} "
            "--s3-bucket BUCKET --output-template-file provider.packaged.json\n"
            "  aws cloudformation deploy --template-file provider.packaged.json "
            f"--stack-name {result.stack_name} --capabilities CAPABILITY_IAM\n"
            f"Templates then use ServiceToken: !ImportValue {result.export_name}\n"
        )
        ctx.stderr.flush()
    return ExitStatus.OK


def _check_all(
    refs: Sequence[ImageReference], checks: Sequence[Check], clock: Callable[[], float]
) -> list[WaitResult]:
    """One look per image; fail naming every image that is not there or never will be.

    ``check`` is a wait with no time: its deadline is when the look began, so
    :func:`~ecr_image_waiter.engine.decide.decide` makes a miss a timeout."""
    results: list[WaitResult] = []
    failures: list[tuple[str, WaitError]] = []
    for ref, look in zip(refs, checks, strict=True):
        start = clock()
        observation = look()
        now = clock()
        elapsed = now - start
        outcome = decide(observation, now, deadline=start)
        if outcome is Outcome.READY:
            assert observation.image is not None  # noqa: S101  (READY always carries it)
            results.append(WaitResult(observation.image, 1, elapsed))
        elif outcome is Outcome.NEVER:
            failures.append(
                (str(ref), never_error(observation, ref, attempts=1, waited_seconds=elapsed))
            )
        else:
            failures.append(
                (
                    str(ref),
                    WaitTimeoutError(
                        f"image {ref} is not in ECR: {observation.summary}",
                        repository=ref.repository,
                        reference=ref.reference,
                        attempts=1,
                        waited_seconds=elapsed,
                        last_code=observation.code,
                        last_message=observation.message,
                    ),
                )
            )
    if failures:
        raise WaitFailures(failures)
    return results


def _wait_all(
    args: argparse.Namespace,
    refs: Sequence[ImageReference],
    checks: Sequence[Check],
    policy: WaitPolicy,
    ctx: Context,
) -> list[WaitResult]:
    """Wait for every image at once (a thread each); the first failure cancels the others."""
    cancelled = threading.Event()
    outcomes: list[WaitResult | BaseException | None] = [None] * len(refs)
    progress = _progress_for(args, ctx)

    def sleep(seconds: float) -> None:
        if ctx.sleep is None:
            if cancelled.wait(seconds):
                raise Cancelled
            return
        if cancelled.is_set():
            raise Cancelled
        ctx.sleep(seconds)

    def work(index: int) -> None:
        ref, look = refs[index], checks[index]

        def check() -> Any:
            if cancelled.is_set():
                raise Cancelled
            return look()

        def on_attempt(attempt: Attempt) -> None:
            progress.attempt(index, attempt)

        try:
            outcomes[index] = wait_until_ready(
                check, policy, ref, clock=ctx.clock, sleep=sleep, on_attempt=on_attempt
            )
        except BaseException as error:  # handed to the main thread, which re-raises it
            outcomes[index] = error
            cancelled.set()

    threads = [
        threading.Thread(target=work, args=(i,), name=f"wait-{ref}", daemon=True)
        for i, ref in enumerate(refs)
    ]
    progress.start()
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            while thread.is_alive():
                thread.join(0.2)  # a bounded join keeps Ctrl-C responsive
    except BaseException:
        cancelled.set()
        raise
    finally:
        progress.stop()

    failures: list[tuple[str, WaitError]] = []
    results: list[WaitResult] = []
    for ref, outcome in zip(refs, outcomes, strict=True):
        if isinstance(outcome, WaitResult):
            results.append(outcome)
        elif isinstance(outcome, WaitError):
            failures.append((str(ref), outcome))
        elif isinstance(outcome, BaseException) and not isinstance(outcome, Cancelled):
            raise outcome
    if failures:
        raise WaitFailures(failures)
    return results


def _progress_for(args: argparse.Namespace, ctx: Context) -> Progress:
    if args.quiet:
        return NoProgress()
    if _is_terminal(ctx.stderr) and ctx.env.get("TERM") != "dumb":
        return LiveProgress(ctx.stderr, args.images, clock=ctx.clock)
    return PlainProgress(ctx.stderr, args.images)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
