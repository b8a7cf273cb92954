"""A local Lambda function: long-lived workers running the asset's handler, invoked async.

:meth:`LocalFunction.invoke_async` queues an event, as CloudFormation and EventBridge invoke
the provider; a free worker (one execution environment, one event at a time) runs it. A
function error is retried twice more, after ``retry_delays`` (Lambda's 1 and 2 minutes,
divided by the time scale). Every invocation is recorded with its source, billed duration
(GB-s from MemorySize) and the AWS calls the handler made; :meth:`LocalFunction.stats` sums
them per source. An invocation past the Timeout is killed and its worker replaced (a cold
start). :meth:`LocalFunction.settle` waits until nothing is queued, running or retried.
"""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import IO, Any

WORKER = Path(__file__).resolve().parent / "worker.py"
#: Lambda's retries of a failed asynchronous invocation (Lambda Developer Guide,
#: invocation-async-error-handling): two more attempts, one and two minutes later.
ASYNC_RETRY_DELAYS = (60.0, 120.0)

LogSink = Callable[[dict[str, Any], "Invocation"], None]


def source_of(event: Mapping[str, Any]) -> str:
    """What sent an event: cloudformation, ecr, codebuild, codepipeline, sweep or other."""
    if "RequestType" in event:
        return "cloudformation"
    return {
        "aws.ecr": "ecr",
        "aws.codebuild": "codebuild",
        "aws.codepipeline": "codepipeline",
        "aws.events": "sweep",
    }.get(str(event.get("source")), "other")


@dataclass
class Invocation:
    """One attempt of one asynchronous invocation."""

    number: int
    event: dict[str, Any] = field(repr=False)
    source: str
    attempt: int = 1
    ok: bool | None = None
    error: str | None = None
    seconds: float = 0.0
    billed_ms: int = 0
    calls: dict[str, int] = field(default_factory=dict)
    #: time.monotonic() when it was queued, started and ended; and whether it ran in a
    #: fresh execution environment (a cold start).
    queued: float = field(default_factory=time.monotonic)
    started: float = 0.0
    ended: float = 0.0
    cold: bool = False
    #: The handler's log lines, parsed, each with the time.monotonic() it reached us.
    logs: list[tuple[float, dict[str, Any]]] = field(default_factory=list, repr=False)


@dataclass(frozen=True)
class SourceStats:
    invocations: int
    errors: int
    billed_ms: int
    gb_seconds: float
    calls: dict[str, int]


class _Worker:
    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        self.process = subprocess.Popen(  # noqa: S603  (our own interpreter and script)
            command,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        ready = self._read()
        if not ready.get("ready"):
            self.close()
            raise RuntimeError(f"the function did not start: {ready.get('error')}")
        self.path = str(ready["path"])

    def _read(self) -> dict[str, Any]:
        stream: IO[str] | None = self.process.stdout
        assert stream is not None  # noqa: S101  (made with PIPE)
        line = stream.readline()
        if not line:
            raise RuntimeError(f"the worker ended (exit {self.process.wait()})")
        loaded: dict[str, Any] = json.loads(line)
        return loaded

    def run(self, invocation: Invocation, on_log: Callable[[dict[str, Any]], None]) -> None:
        stream = self.process.stdin
        assert stream is not None  # noqa: S101
        stream.write(json.dumps({"id": invocation.number, "event": invocation.event}) + "\n")
        stream.flush()
        while True:
            message = self._read()
            if "log" in message:
                on_log(message)
                continue
            invocation.ok = bool(message["ok"])
            invocation.error = message.get("error")
            invocation.seconds = float(message["seconds"])
            invocation.calls = dict(message.get("calls", {}))
            return

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


class LocalFunction:
    """The provider function of a deployed template, run from its asset directory."""

    def __init__(
        self,
        name: str,
        *,
        asset_dir: Path,
        handler: str,
        environment: Mapping[str, str],
        memory_mb: int = 128,
        timeout_seconds: float = 3.0,
        architectures: tuple[str, ...] = ("x86_64",),
        concurrency: int = 2,
        time_scale: float = 1.0,
        epoch: float | None = None,
        retry_delays: tuple[float, ...] = ASYNC_RETRY_DELAYS,
        on_log: LogSink | None = None,
    ) -> None:
        self.name = name
        self.asset_dir = asset_dir
        self.handler = handler
        self.environment = dict(environment)
        self.memory_mb = memory_mb
        self.timeout_seconds = timeout_seconds
        self.architectures = architectures
        self.time_scale = time_scale
        self.epoch = time.time() if epoch is None else epoch
        self.retry_delays = retry_delays
        self.on_log = on_log
        self.invocations: list[Invocation] = []
        self.handler_path = ""
        self._numbers = itertools.count(1)
        self._queue: list[Invocation] = []
        self._timers: set[threading.Timer] = set()
        self._busy = 0
        self._cond = threading.Condition()
        self._closed = False
        self.cold_starts = 0
        self._command = [sys.executable, str(WORKER), str(asset_dir), handler]
        self._command += [repr(time_scale), repr(self.epoch)]
        workers = [self._new_worker() for _ in range(max(1, concurrency))]
        self.handler_path = workers[0].path
        self._threads = [
            threading.Thread(target=self._serve, args=(w,), daemon=True, name=f"lambda-{i}")
            for i, w in enumerate(workers)
        ]
        for thread in self._threads:
            thread.start()

    # --- invoking ------------------------------------------------------------------------

    def invoke_async(self, event: Mapping[str, Any]) -> Invocation:
        """Queue ``event`` (Lambda's ``InvocationType=Event``); returns its first attempt."""
        payload = json.loads(json.dumps(event))  # through JSON, as Lambda's invoke does
        invocation = Invocation(next(self._numbers), payload, source_of(payload))
        self._enqueue(invocation)
        return invocation

    def _enqueue(self, invocation: Invocation) -> None:
        with self._cond:
            if self._closed:
                return
            self.invocations.append(invocation)
            self._queue.append(invocation)
            self._cond.notify_all()

    def _new_worker(self) -> _Worker:
        worker = _Worker(self._command, self.environment)
        with self._cond:
            self.cold_starts += 1
        return worker

    def _serve(self, worker: _Worker) -> None:
        fresh = True
        try:
            while True:
                with self._cond:
                    while not self._queue and not self._closed:
                        self._cond.wait()
                    if self._closed:
                        return
                    invocation = self._queue.pop(0)
                    self._busy += 1
                invocation.cold, fresh = fresh, False
                invocation.started = time.monotonic()
                # Lambda stops an invocation at the function's Timeout (real seconds).
                killer = threading.Timer(self.timeout_seconds, worker.kill)
                killer.daemon = True
                killer.start()
                try:
                    worker.run(invocation, partial(self._log, invocation=invocation))
                except (RuntimeError, OSError, ValueError) as error:
                    invocation.ok, invocation.error = False, f"{type(error).__name__}: {error}"
                    invocation.seconds = time.monotonic() - invocation.started
                    if invocation.seconds >= self.timeout_seconds:
                        invocation.error = (
                            f"Task timed out after {self.timeout_seconds:.2f} seconds"
                        )
                finally:
                    killer.cancel()
                invocation.ended = time.monotonic()
                invocation.billed_ms = max(1, math.ceil(invocation.seconds * 1000))
                if worker.process.poll() is not None:  # died or killed: a new environment
                    worker.kill()
                    try:
                        worker, fresh = self._new_worker(), True
                    except RuntimeError as error:
                        invocation.error = f"{invocation.error}; and it cannot restart: {error}"
                        with self._cond:
                            self._busy -= 1
                            self._cond.notify_all()
                        return
                if not invocation.ok:
                    self._retry(invocation)
                with self._cond:
                    self._busy -= 1
                    self._cond.notify_all()
        finally:
            worker.close()

    def _retry(self, failed: Invocation) -> None:
        if failed.attempt > len(self.retry_delays):
            return
        delay = self.retry_delays[failed.attempt - 1] / self.time_scale
        again = Invocation(failed.number, failed.event, failed.source, failed.attempt + 1)

        def fire() -> None:
            with self._cond:
                self._timers.discard(timer)
            self._enqueue(again)

        timer = threading.Timer(delay, fire)
        timer.daemon = True
        with self._cond:
            self._timers.add(timer)
        timer.start()

    def _log(self, message: dict[str, Any], invocation: Invocation) -> None:
        try:
            fields = json.loads(message["log"])
        except ValueError:
            fields = {"text": message["log"]}
        if not isinstance(fields, dict):
            fields = {"text": message["log"]}
        fields.setdefault("logger", message.get("logger"))
        invocation.logs.append((time.monotonic(), fields))
        if self.on_log is not None:
            self.on_log(fields, invocation)

    # --- waiting and counting --------------------------------------------------------------

    def settle(self, timeout: float = 60.0) -> bool:
        """Wait until nothing is queued, running or due for a retry; False on timeout."""
        end = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._busy or self._timers:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.1))
        return True

    def finished(self) -> list[Invocation]:
        with self._cond:
            return [i for i in self.invocations if i.ok is not None]

    def stats(self) -> dict[str, SourceStats]:
        """Per source: attempts run, function errors, billed ms, GB-s and AWS calls."""
        found: dict[str, SourceStats] = {}
        for source in sorted({i.source for i in self.finished()}):
            done = [i for i in self.finished() if i.source == source]
            billed = sum(i.billed_ms for i in done)
            calls: Counter[str] = Counter()
            for invocation in done:
                calls.update(invocation.calls)
            found[source] = SourceStats(
                invocations=len(done),
                errors=sum(1 for i in done if not i.ok),
                billed_ms=billed,
                gb_seconds=billed / 1000 * self.memory_mb / 1024,
                calls=dict(sorted(calls.items())),
            )
        return found

    def close(self) -> None:
        with self._cond:
            self._closed = True
            for timer in self._timers:
                timer.cancel()
            self._timers.clear()
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout=10)
