"""The command line: the parser of ``wait``, ``check`` and ``provider synth``, their options
and help, and the exit statuses. What each option does is in the README ("The CLI").
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from enum import IntEnum
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from ecr_image_waiter import __version__
from ecr_image_waiter.cli.durations import parse_duration
from ecr_image_waiter.cli.progress import (
    PROG,
)
from ecr_image_waiter.errors import (
    InvalidInputError,
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
