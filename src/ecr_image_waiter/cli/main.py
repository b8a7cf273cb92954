"""The ``ecr-image-waiter`` command: :func:`main` does all the error handling around
:func:`.run.program`, which has none. Every failure is one line on stderr,
``ecr-image-waiter: error: <message>``, and an exit code (:class:`.parser.ExitStatus`): 0
ready, 1 deadline passed, 2 invalid input or usage, 3 never ready, 130 interrupted.
``--traceback`` shows the traceback instead. The options are in the README ("The CLI").
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import NoReturn, TextIO

from ecr_image_waiter.cli.parser import ExitStatus, build_parser
from ecr_image_waiter.cli.progress import (
    PROG,
)
from ecr_image_waiter.cli.run import Context, WaitFailures, program
from ecr_image_waiter.cli.setup import (
    LookupFactory,
    WatchFactory,
    aws_setup,
    default_region,
    resolve_references,
)
from ecr_image_waiter.errors import (
    ImageNeverReadyError,
    InvalidInputError,
    WaitError,
)

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


__all__ = [
    "ExitStatus",
    "aws_setup",
    "build_parser",
    "default_region",
    "main",
    "program",
    "resolve_references",
    "run",
]
