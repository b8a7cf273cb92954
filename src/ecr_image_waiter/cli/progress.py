"""Progress on stderr while images are waited for.

* :class:`PlainProgress`: for logs (not a terminal), one plain line per look.
* :class:`LiveProgress`: for a terminal, one line per image, redrawn in place (ANSI cursor
  moves) with the time elapsed, the number of looks and a countdown to the next one.
* :class:`NoProgress`: for ``--quiet``.

Every method may be called from several threads at once (one per image).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TextIO

from ecr_image_waiter.cli.durations import format_duration
from ecr_image_waiter.engine import Attempt, Verdict
from ecr_image_waiter.engine.image import Observation

PROG = "ecr-image-waiter"

#: ANSI control sequences (ECMA-48): erase the whole line; cursor to the start of the line
#: ``n`` lines up.
ERASE_LINE = "\x1b[2K"


def cursor_up(lines: int) -> str:
    return f"\x1b[{lines}F"


class Progress(Protocol):
    def start(self) -> None: ...
    def attempt(self, index: int, attempt: Attempt) -> None: ...
    def stop(self) -> None: ...


def describe(observation: Observation) -> str:
    """``not yet (ImageNotFoundException)``, ``ready (sha256:...)``, ``never (...)``; a ready
    image whose architecture was looked for and could not be read says why."""
    if observation.verdict is Verdict.READY and observation.image is not None:
        unknown = observation.image.architecture_unknown_reason
        if unknown:
            return f"ready ({observation.image.digest}; architecture unknown: {unknown})"
        return f"ready ({observation.image.digest})"
    return f"{observation.verdict.value} ({observation.code})"


class NoProgress:
    """Says nothing (``--quiet``)."""

    def start(self) -> None:
        return None

    def attempt(self, index: int, attempt: Attempt) -> None:
        return None

    def stop(self) -> None:
        return None


class PlainProgress:
    """One line per look, for logs::

    ecr-image-waiter: app:v1: not yet (ImageNotFoundException), attempt 3, 20.0s elapsed,
    next check in 10.0s
    """

    def __init__(self, stream: TextIO, labels: Sequence[str]) -> None:
        self._stream = stream
        self._labels = list(labels)
        self._lock = threading.Lock()

    def start(self) -> None:
        return None

    def attempt(self, index: int, attempt: Attempt) -> None:
        line = (
            f"{PROG}: {self._labels[index]}: {describe(attempt.observation)}, "
            f"attempt {attempt.number}, {attempt.elapsed:.1f}s elapsed"
        )
        if attempt.next_check_in is not None:
            line += f", next check in {attempt.next_check_in:.1f}s"
        with self._lock:
            self._stream.write(line + "\n")
            self._stream.flush()

    def stop(self) -> None:
        return None


@dataclass
class _Row:
    label: str
    state: str = "checking"
    attempts: int = 0
    #: Clock readings: when the last look was reported, and when the next one is due.
    last_at: float | None = None
    next_at: float | None = None
    done: bool = False


class LiveProgress:
    """One line per image on a terminal, redrawn in place about every ``tick`` seconds."""

    def __init__(
        self,
        stream: TextIO,
        labels: Sequence[str],
        *,
        clock: Callable[[], float],
        tick: float = 0.5,
    ) -> None:
        self._stream = stream
        self._rows = [_Row(label) for label in labels]
        self._width = max((len(label) for label in labels), default=0)
        self._clock = clock
        self._tick = tick
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._drawn = False
        self._start = 0.0

    def start(self) -> None:
        self._start = self._clock()
        self._redraw()
        self._thread = threading.Thread(target=self._run, name="progress", daemon=True)
        self._thread.start()

    def attempt(self, index: int, attempt: Attempt) -> None:
        now = self._clock()
        with self._lock:
            row = self._rows[index]
            row.attempts = attempt.number
            row.state = describe(attempt.observation)
            row.last_at = now
            row.next_at = None if attempt.next_check_in is None else now + attempt.next_check_in
            row.done = attempt.next_check_in is None
        self._redraw()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join()
        self._redraw()

    def _run(self) -> None:
        while not self._stopped.wait(self._tick):
            self._redraw()

    def _line(self, row: _Row, now: float) -> str:
        elapsed = (row.last_at if row.done and row.last_at is not None else now) - self._start
        text = f"{row.label:<{self._width}}  {row.state}, {row.attempts} checks, "
        text += f"{format_duration(elapsed)} elapsed"
        if not row.done and row.next_at is not None:
            text += f", next check in {format_duration(max(0.0, row.next_at - now))}"
        return text

    def _redraw(self) -> None:
        with self._lock:
            now = self._clock()
            out = [cursor_up(len(self._rows))] if self._drawn else []
            out.extend(f"{ERASE_LINE}{self._line(row, now)}\n" for row in self._rows)
            self._stream.write("".join(out))
            self._stream.flush()
            self._drawn = True
