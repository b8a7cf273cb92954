"""The ``ecr-image-waiter`` command.

``main()`` does all the error handling around ``program()``, which has none: every failure
becomes one line on stderr, ``ecr-image-waiter: error: <message>``, and an exit code:

* 0: every image is ready (its digest-pinned URI is printed on stdout);
* 1: the deadline passed (``check``: an image is not there);
* 2: invalid input or usage (nothing was asked of ECR);
* 3: the image will never be ready (repository missing, access denied, unusable image, the
  build that should push it failed);
* 130: interrupted (Ctrl-C).

Image indexes: an OCI image index or Docker manifest list resolves to its child for
``--architecture`` (``x86_64`` = linux/amd64, the default, or ``arm64``), skipping attestation
manifests; the child's digest URI is printed (``--json`` adds the index digest). An index
without that platform exits 3 naming the platforms it has.

``--lambda``: the image must also be one Lambda can run (a Docker v2 or OCI image manifest
with image config and layers); anything else exits 3 naming the media type and the remedy
(``docker buildx build --provenance=false`` or ``BUILDX_NO_DEFAULT_ATTESTATIONS=1``). A
single-platform image's config is read for its architecture: another one than
``--architecture`` exits 3 naming both; a config that cannot be read leaves the architecture
unknown (``wait``'s progress line, a ``check`` warning on stderr —
``ecr-image-waiter: warning: IMAGE: architecture not verified: <why>`` — and ``--json``'s
``architectureUnknownReason`` say why).

``--codebuild-project NAME`` / ``--pipeline NAME``: while an image is not there, the newest
build or pipeline execution that started or ended since the command began is watched; if it
ended failed (and nothing newer runs), the command exits 3 at once with its id and the
failed phase or stage.

``--traceback`` shows the traceback instead of the one-line message.

``provider synth -o DIR`` writes the standalone provider stack (the CloudFormation template
whose output exports the ServiceToken, and its Lambda asset) as a cloud assembly, deployable
with ``cdk deploy --app DIR``, plus ``DIR/package-template.json`` for ``aws cloudformation
package`` + ``deploy``. It needs the ``cdk`` extra (aws-cdk-lib and constructs, imported only
by this subcommand) and Node.js; without the extra it exits 2 saying how to install it.

Durations: ``--timeout 0`` means one check and no waiting; the interval must be above 0.
Region: a full ECR image URI names its own region. For a short reference the region is
``--region``, else ``AWS_REGION`` / ``AWS_DEFAULT_REGION``, else the region of the AWS profile;
with none of these the command exits 2 and says so. Endpoint and credentials come from the
standard AWS configuration (profiles, environment variables, ``AWS_ENDPOINT_URL_ECR``); a
configuration the AWS SDK cannot use (an unknown profile, an unreadable config file, an
endpoint that is not a URL) exits 2 naming the cause, before anything is asked of AWS.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO, TypeVar

from ecr_image_waiter import __version__
from ecr_image_waiter.cli.durations import parse_duration
from ecr_image_waiter.cli.progress import (
    PROG,
    LiveProgress,
    NoProgress,
    PlainProgress,
    Progress,
)
from ecr_image_waiter.engine import (
    Attempt,
    Cancelled,
    EcrLookup,
    ImageReference,
    Observation,
    Verdict,
    WaitPolicy,
    WaitResult,
    make_client,
    never_error,
    parse_reference,
    wait_until_ready,
)
from ecr_image_waiter.engine.aws import configured_region, make_service_client, setup_errors
from ecr_image_waiter.engine.manifest import LambdaImageInspector
from ecr_image_waiter.engine.pipeline import PipelineWatch, pipeline_aware
from ecr_image_waiter.errors import (
    EcrImageWaiterError,
    ImageNeverReadyError,
    InvalidInputError,
    WaitError,
    WaitTimeoutError,
)
from ecr_image_waiter.names import (
    ARCH_X86_64,
    ARCHITECTURES,
    DEFAULT_CLI_INTERVAL_SECONDS,
    DEFAULT_CLI_TIMEOUT_SECONDS,
    PROVIDER_EXPORT_NAME,
    PROVIDER_STACK_NAME,
)

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

_T = TypeVar("_T")

#: Makes the lookup (with its own ECR client) for one image.
LookupFactory = Callable[[ImageReference], EcrLookup]
#: Makes the watch of the build that pushes one image (None: no build named).
WatchFactory = Callable[[ImageReference], PipelineWatch | None]


class ExitStatus(IntEnum):
    OK = 0
    TIMEOUT = 1
    USAGE = 2
    NEVER = 3
    #: 128 + SIGINT, the shell's convention.
    INTERRUPTED = 130


# --- Arguments ---------------------------------------------------------------------------


class ArgumentParser(argparse.ArgumentParser):
    """argparse, writing to the injected streams; errors are ``ecr-image-waiter: error: ...``."""

    def __init__(self, *args: Any, stdout: TextIO, stderr: TextIO, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stdout = stdout
        self.stderr = stderr

    def _print_message(self, message: str, file: SupportsWrite[str] | None = None) -> None:
        if message:
            stream = self.stderr if file is sys.stderr else self.stdout
            stream.write(message)
            stream.flush()

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            self._print_message(message, sys.stderr)
        raise SystemExit(status)

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(ExitStatus.USAGE, f"{PROG}: error: {message}\n")


def _duration(name: str, *, allow_zero: bool) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            return parse_duration(text, name=name, allow_zero=allow_zero)
        except InvalidInputError as error:
            raise argparse.ArgumentTypeError(str(error)) from error

    return parse


def build_parser(stdout: TextIO, stderr: TextIO) -> ArgumentParser:
    class Parser(ArgumentParser):
        """The parser class for the subcommands too, bound to the streams."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, stdout=stdout, stderr=stderr, **kwargs)

    parser_class = Parser
    parser = parser_class(
        prog=PROG,
        description="Wait until container images are in Amazon ECR; "
        "print their digest-pinned URIs.",
        epilog="Exit codes: 0 ready, 1 timed out (check: not there), 2 invalid input or "
        "AWS configuration, 3 never (repository missing, access denied, unusable image, "
        "failed build), 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")

    common = parser_class(add_help=False)
    common.add_argument(
        "images",
        metavar="IMAGE",
        nargs="+",
        help="REPOSITORY[:TAG] (tag defaults to latest), REPOSITORY@sha256:<hex>, or a full "
        "ECR URI <account>.dkr.ecr.<region>.amazonaws.com/REPOSITORY[:TAG|@DIGEST]",
    )
    common.add_argument("--region", help="AWS region (default: AWS_REGION, profile, or the URI's)")
    common.add_argument(
        "--registry-id", help="12-digit account id owning the repositories (cross-account)"
    )
    common.add_argument(
        "--wait-for-repository",
        action="store_true",
        help="a missing repository means 'not yet' rather than exit 3",
    )
    common.add_argument(
        "--architecture",
        choices=ARCHITECTURES,
        default=ARCH_X86_64,
        help="the Lambda architecture the image is for: an image index resolves to its "
        "linux/amd64 (x86_64) or linux/arm64 child (default x86_64); with --lambda a "
        "single-platform image built for another architecture exits 3",
    )
    common.add_argument(
        "--lambda",
        dest="lambda_compatible",
        action="store_true",
        help="exit 3 at once on an image Lambda cannot run (a manifest media type Lambda "
        "does not take, a non-image artifact, an image config naming another "
        "architecture); an image index without a child for "
        "--architecture exits 3 with or without this flag",
    )
    common.add_argument(
        "--codebuild-project",
        metavar="NAME",
        help="the CodeBuild project that pushes the images: exit 3 as soon as its newest "
        "build has failed",
    )
    common.add_argument(
        "--pipeline",
        metavar="NAME",
        help="the CodePipeline that pushes the images: exit 3 as soon as its newest "
        "execution has failed",
    )
    common.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object per image instead of its URI",
    )
    common.add_argument("--traceback", action="store_true", help="show the traceback of an error")

    commands = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, parser_class=parser_class
    )
    wait = commands.add_parser(
        "wait",
        parents=[common],
        help="wait until every IMAGE is in ECR",
        description="Wait until every IMAGE is in ECR (concurrently), then print one "
        "digest-pinned URI per image, in argument order.",
    )
    wait.add_argument(
        "--timeout",
        type=_duration("timeout", allow_zero=True),
        default=float(DEFAULT_CLI_TIMEOUT_SECONDS),
        metavar="D",
        help="give up after D (90, 90s, 15m, 1h; 0 = one check; default 30m)",
    )
    wait.add_argument(
        "--interval",
        type=_duration("interval", allow_zero=False),
        default=float(DEFAULT_CLI_INTERVAL_SECONDS),
        metavar="D",
        help="look every D (default 10s)",
    )
    wait.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")

    commands.add_parser(
        "check",
        parents=[common],
        help="look once: is every IMAGE in ECR now?",
        description="Look once for every IMAGE; exit 0 if all are there, 1 if one is not. "
        "With --lambda, an image whose architecture could not be verified is named on stderr.",
    )
    _add_provider_commands(commands)
    return parser


CDK_EXTRA_REMEDY = "pip install 'ecr-image-waiter[cdk]'"


def _add_provider_commands(commands: Any) -> None:
    provider = commands.add_parser(
        "provider",
        help="the standalone provider stack, for templates outside a Python CDK app",
        description="The standalone provider: one stack per account and region whose "
        "exported ServiceToken any template's Custom::EcrImageWaiter uses.",
    )
    actions = provider.add_subparsers(dest="provider_command", metavar="ACTION", required=True)
    synth = actions.add_parser(
        "synth",
        help="write the provider's template and asset into DIR",
        description="Write the provider stack as a cloud assembly into DIR (deploy with "
        "'cdk deploy --app DIR'), plus DIR/package-template.json for "
        "'aws cloudformation package' + 'deploy'. Needs the cdk extra "
        f"({CDK_EXTRA_REMEDY}) and Node.js.",
    )
    synth.add_argument("-o", "--output", metavar="DIR", required=True, help="output folder")
    synth.add_argument(
        "--repository",
        metavar="NAME",
        action="append",
        default=[],
        help="a repository the provider may read (repeatable)",
    )
    synth.add_argument(
        "--repository-prefix",
        metavar="PREFIX",
        action="append",
        default=[],
        help="every repository whose name starts with PREFIX, such as team/ (repeatable)",
    )
    synth.add_argument(
        "--registry-id", help="12-digit account owning the repositories (default: the stack's)"
    )
    synth.add_argument(
        "--export-name",
        default=PROVIDER_EXPORT_NAME,
        metavar="NAME",
        help=f"the export holding the ServiceToken (default {PROVIDER_EXPORT_NAME})",
    )
    synth.add_argument(
        "--stack-name",
        default=PROVIDER_STACK_NAME,
        metavar="NAME",
        help=f"the CloudFormation stack name (default {PROVIDER_STACK_NAME})",
    )
    synth.add_argument(
        "--log-retention-days",
        type=int,
        metavar="D",
        help="retention of the provider's log groups, in days (default 7)",
    )
    synth.add_argument(
        "--codebuild-project",
        metavar="NAME",
        action="append",
        default=[],
        help="a CodeBuild project whose builds waiters may follow (repeatable)",
    )
    synth.add_argument(
        "--pipeline",
        metavar="NAME",
        action="append",
        default=[],
        help="a pipeline whose executions waiters may follow (repeatable)",
    )
    synth.add_argument(
        "--allow-start",
        action="store_true",
        help="also let the provider start those projects and pipelines (TriggerBuildOnMissing)",
    )
    synth.add_argument("--quiet", "-q", action="store_true", help="no deploy hints on stderr")
    synth.add_argument("--traceback", action="store_true", help="show the traceback of an error")


# --- The program (no error handling here) ---------------------------------------------------


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


Check = Callable[[], Observation]


def _warn_unverified(labels: Sequence[str], results: Sequence[WaitResult], stream: TextIO) -> None:
    """``check`` has no progress line: say on stderr which image's architecture was looked for
    and could not be read, and why (as ``wait``'s progress line does), so that exit 0 is not
    taken for a checked architecture."""
    for label, result in zip(labels, results, strict=True):
        reason = result.image.architecture_unknown
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


def _lookup_for(args: argparse.Namespace) -> LookupFactory:
    """How each image is looked up: one ECR client per image (they run in parallel); an
    index resolves to the child for --architecture; --lambda adds Lambda's checks."""

    def factory(ref: ImageReference) -> EcrLookup:
        return EcrLookup(
            aws_setup(lambda: make_client(ref.region), "the ECR client"),
            wait_for_repository=args.wait_for_repository,
            inspector=LambdaImageInspector(
                architecture=args.architecture, lambda_compatible=args.lambda_compatible
            ),
        )

    return factory


def _watch_for(args: argparse.Namespace) -> WatchFactory:
    """A watch per image (clients are not shared between threads), if a build is named."""

    def factory(ref: ImageReference) -> PipelineWatch | None:
        project, pipeline = args.codebuild_project, args.pipeline
        if project is None and pipeline is None:
            return None
        # Clients made now, so that a broken AWS configuration is reported before waiting.
        return PipelineWatch(
            project,
            pipeline,
            region=ref.region,
            codebuild_client=None
            if project is None
            else aws_setup(
                lambda: make_service_client("codebuild", ref.region), "the CodeBuild client"
            ),
            codepipeline_client=None
            if pipeline is None
            else aws_setup(
                lambda: make_service_client("codepipeline", ref.region), "the CodePipeline client"
            ),
        )

    return factory


def aws_setup(make: Callable[[], _T], what: str) -> _T:
    """``make()`` (a client, the configured region), with a broken AWS configuration turned
    into invalid input: exit 2 with the cause and where to fix it, instead of an unexpected
    error. Nothing has been asked of AWS at this point."""
    broken: tuple[type[Exception], ...] = (*setup_errors(), ValueError)
    try:
        return make()
    except broken as error:
        raise InvalidInputError(
            f"cannot set up {what} from the AWS configuration: {type(error).__name__}: "
            f"{error}; check AWS_PROFILE, the AWS config and credentials files and the "
            "AWS_ENDPOINT_URL_* variables"
        ) from error


def _pipeline_aware(
    lookup: EcrLookup, ref: ImageReference, watch: PipelineWatch | None, since: datetime
) -> Check:
    return pipeline_aware(lambda: lookup.look(ref), watch, since)


def resolve_references(args: argparse.Namespace, env: Mapping[str, str]) -> list[ImageReference]:
    """Parse every IMAGE; give short references a region (or exit 2 saying how to set one)."""
    refs = [
        parse_reference(text, registry_id=args.registry_id, region=args.region)
        for text in args.images
    ]
    if all(ref.region is not None for ref in refs):
        return refs
    region = default_region(env)
    if region is None:
        short = next(text for text, ref in zip(args.images, refs, strict=True) if not ref.region)
        raise InvalidInputError(
            f"no AWS region for image {short!r}: give --region, set AWS_REGION, configure a "
            "region in the AWS profile, or use a full ECR image URI"
        )
    return [
        parse_reference(text, registry_id=args.registry_id, region=region)
        if ref.region is None
        else ref
        for text, ref in zip(args.images, refs, strict=True)
    ]


def default_region(env: Mapping[str, str]) -> str | None:
    """``AWS_REGION``, ``AWS_DEFAULT_REGION``, else the region of the AWS profile in use."""
    for key in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        if env.get(key):
            return env[key]
    return aws_setup(configured_region, "the region")


def _check_all(
    refs: Sequence[ImageReference], checks: Sequence[Check], clock: Callable[[], float]
) -> list[WaitResult]:
    """One look per image; fail naming every image that is not there or never will be."""
    results: list[WaitResult] = []
    failures: list[tuple[str, WaitError]] = []
    for ref, look in zip(refs, checks, strict=True):
        start = clock()
        observation = look()
        elapsed = clock() - start
        if observation.verdict is Verdict.READY:
            assert observation.image is not None  # noqa: S101  (READY always carries it)
            results.append(WaitResult(observation.image, 1, elapsed))
        elif observation.verdict is Verdict.NEVER:
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


# --- Error handling around the program --------------------------------------------------------


def main(
    argv: Sequence[str] | None = None,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    env: Mapping[str, str] | None = None,
    lookup_factory: LookupFactory | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] | None = None,
    watch_factory: WatchFactory | None = None,
) -> ExitStatus:
    """Run the command with ``argv``; return the exit status. Never raises (but --traceback).

    ``sleep`` replaces the pause between looks (tests pass a fake clock's); by default the
    pause is a wait that ends early when another image has failed. ``lookup_factory`` and
    ``watch_factory`` replace how each image's ECR lookup and build watch are made.
    """
    args_list = list(sys.argv[1:] if argv is None else argv)
    out = sys.stdout if stdout is None else stdout
    err = sys.stderr if stderr is None else stderr
    ctx = Context(
        stdout=out,
        stderr=err,
        env=os.environ if env is None else env,
        clock=clock,
        sleep=sleep,
        lookup_factory=lookup_factory,
        watch_factory=watch_factory,
    )
    try:
        parser = build_parser(out, err)
        args = parser.parse_args(args_list)
        return program(args, ctx)
    except SystemExit as exit_:  # argparse: --help, --version, usage errors
        return ExitStatus(exit_.code if isinstance(exit_.code, int) else ExitStatus.USAGE)
    except KeyboardInterrupt:
        if "--traceback" in args_list:
            raise
        err.write(f"\n{PROG}: interrupted\n")
        err.flush()
        return ExitStatus.INTERRUPTED
    except Exception as error:
        if "--traceback" in args_list:
            raise
        return report_error(error, err)


def report_error(error: Exception, stream: TextIO) -> ExitStatus:
    """Write one line per failure (one per failed image) and return the exit status."""
    failures: list[tuple[str, ExitStatus]]
    if isinstance(error, WaitFailures):
        failures = [(str(each), _status_of(each)) for _label, each in error.failures]
    elif isinstance(error, InvalidInputError):
        failures = [(str(error), ExitStatus.USAGE)]
    elif isinstance(error, WaitError):
        failures = [(str(error), _status_of(error))]
    else:  # a bug: still one line, and "never" since waiting longer will not help
        failures = [
            (
                f"unexpected {type(error).__name__}: {error} (run with --traceback for details)",
                ExitStatus.NEVER,
            )
        ]
    for message, _status in failures:
        stream.write(f"{PROG}: error: {message}\n")
    stream.flush()
    return max(status for _message, status in failures)


def _status_of(error: WaitError) -> ExitStatus:
    if isinstance(error, ImageNeverReadyError):
        return ExitStatus.NEVER
    return ExitStatus.TIMEOUT


def run() -> NoReturn:
    """The console script ``ecr-image-waiter``."""
    sys.exit(main(sys.argv[1:]))


__all__ = ["ExitStatus", "build_parser", "main", "program", "run"]
