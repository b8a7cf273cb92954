"""One Lambda execution environment: imports a Handler from an asset directory, runs events.

Started by :class:`ecr_image_waiter.local.function.LocalFunction` as
``python worker.py ASSET_DIR HANDLER TIME_SCALE EPOCH``, with exactly the function's
environment plus the AWS endpoint and credential variables. It reads one JSON request per
line on stdin (``{"id": n, "event": {...}}``) and writes JSON lines on its own channel (the
original stdout): ``{"log": ...}`` for each log line of the handler, then ``{"id": n, "ok":
..., "seconds": ..., "calls": {...}}``. The handler's own prints go to stderr. AWS calls are
counted per ``service.Operation`` with a ``before-call`` hook on boto3's default session.
With TIME_SCALE != 1, ``time.time`` runs that many times faster from EPOCH (set before the
handler is imported, so its default clock is the scaled one). Only stdlib and boto3 here.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any, TextIO

_LOCK = threading.Lock()


def _emit(channel: TextIO, message: dict[str, Any]) -> None:
    with _LOCK:
        channel.write(json.dumps(message, default=str) + "\n")
        channel.flush()


class _ChannelHandler(logging.Handler):
    def __init__(self, channel: TextIO) -> None:
        super().__init__(logging.INFO)
        self.channel = channel

    def emit(self, record: logging.LogRecord) -> None:
        _emit(self.channel, {"log": record.getMessage(), "logger": record.name})


def _scale_clock(scale: float, epoch: float) -> None:
    real = time.time

    def scaled() -> float:
        return epoch + (real() - epoch) * scale

    time.time = scaled


def _load(asset_dir: Path, handler: str) -> Any:
    package = handler.split(".", maxsplit=1)[0]
    if any(name.split(".")[0] == package for name in sys.modules):
        raise RuntimeError(f"{package} was imported before the asset directory was set")
    sys.path.insert(0, str(asset_dir))
    module_name, _, function = handler.rpartition(".")
    module = importlib.import_module(module_name)
    root = asset_dir.resolve()
    strays = [
        name
        for name, loaded in list(sys.modules.items())
        if name.split(".")[0] == package
        and root not in Path(str(getattr(loaded, "__file__", "") or "")).resolve().parents
    ]
    if strays:
        raise RuntimeError(f"modules not from the asset {root}: {', '.join(sorted(strays))}")
    return getattr(module, function), str(Path(str(module.__file__)).resolve())


def main(argv: list[str]) -> int:
    asset_dir, handler_name, scale, epoch = Path(argv[1]), argv[2], float(argv[3]), float(argv[4])
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    if scale != 1.0:
        _scale_clock(scale, epoch)
    root = logging.getLogger()
    root.addHandler(_ChannelHandler(channel))
    calls: dict[str, int] = {}

    def count(event_name: str, **kwargs: Any) -> None:
        _, service, operation = [*event_name.split("."), "", ""][:3]
        key = f"{service}.{operation}"
        calls[key] = calls.get(key, 0) + 1

    import boto3

    boto3.setup_default_session()
    session: Any = boto3.DEFAULT_SESSION
    session.events.register("before-call", count)
    try:
        handler, path = _load(asset_dir, handler_name)
    except Exception as error:  # reported to the parent: the function cannot start
        _emit(channel, {"ready": False, "error": f"{type(error).__name__}: {error}"})
        return 1
    _emit(channel, {"ready": True, "path": path})
    for line in sys.stdin:
        request = json.loads(line)
        calls.clear()
        started = time.perf_counter()
        reply: dict[str, Any] = {"id": request["id"], "ok": True}
        try:
            handler(request["event"], None)
        except Exception as error:  # a function error: Lambda's async retries take it
            reply.update(ok=False, error=f"{type(error).__name__}: {error}"[:2000])
            reply["trace"] = traceback.format_exc()[-4000:]
        reply["seconds"] = time.perf_counter() - started
        reply["calls"] = dict(calls)
        _emit(channel, reply)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
