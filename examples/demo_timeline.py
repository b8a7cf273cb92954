"""Timestamped lines for the demo, shared by its processes (same start, same format)."""

from __future__ import annotations

import sys
import threading
import time

_LOCK = threading.Lock()


class Timeline:
    """Print ``[+  3.1s] who     what``, seconds counted from ``started`` (epoch seconds, so
    the demo's processes agree on the time)."""

    def __init__(self, started: float) -> None:
        self.started = started

    def elapsed(self) -> float:
        return time.time() - self.started

    def say(self, who: str, what: str) -> None:
        line = f"[+{self.elapsed():5.1f}s] {who:<17} {what}"
        with _LOCK:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
