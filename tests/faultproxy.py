"""A fault-injecting HTTP proxy for tests, in front of the local ECR (the moto server).

Code under test reaches it through the normal endpoint configuration
(``AWS_ENDPOINT_URL_ECR`` or ``endpoint_url=``). For every request a *plan* decides what
happens: pass through, answer with a throttling error, a 500 or a 503, drop the connection
without an answer, reset it, or delay the answer. Faults are counted by kind.

Error answers follow the AWS JSON 1.1 protocol that ECR speaks (botocore's service model for
ECR: ``"protocol": "json"``, ``"jsonVersion": "1.1"``): a JSON body ``{"__type": CODE,
"message": TEXT}``, content type ``application/x-amz-json-1.1`` and the ``x-amzn-ErrorType``
header. botocore reads the code from ``__type`` (botocore/parsers.py, BaseJSONParser).

The proxy is bounded: ``stop()`` (or leaving the ``with`` block) closes the listener and
every open connection and interrupts any pending delay.

Also here: the counters a reliability run collects. When ``ECR_IMAGE_WAITER_RELIABILITY_LOG``
names a file, :func:`record` appends one JSON line per scenario or batch of generated
inputs; ``scripts/reliability.py`` adds them up. ``ECR_IMAGE_WAITER_RELIABILITY_SCALE``
multiplies the sizes of the runs (1 in ``make test``).
"""

from __future__ import annotations

import contextlib
import enum
import json
import os
import random
import socket
import struct
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from ecr_image_waiter.local.proxy import LocalServer, answer, forward, read_body, upstream_of

LOG_ENV = "ECR_IMAGE_WAITER_RELIABILITY_LOG"
SCALE_ENV = "ECR_IMAGE_WAITER_RELIABILITY_SCALE"

JSON_11 = "application/x-amz-json-1.1"


class Fault(enum.Enum):
    """What the proxy does with one request."""

    PASS = "pass"
    THROTTLE = "throttle"
    ERROR_500 = "500"
    ERROR_503 = "503"
    DROP = "drop"
    RESET = "reset"
    DELAY = "delay"
    #: An error answer given by the decision itself (status, code, message).
    CUSTOM = "custom"


#: The error answers: HTTP status, ``__type`` and message. ThrottlingException is ECR's own
#: throttling code; InternalFailure and ServiceUnavailable are the AWS common errors for 500
#: and 503 (AWS API reference, "Common Errors").
ERROR_ANSWERS: dict[Fault, tuple[int, str, str]] = {
    Fault.THROTTLE: (400, "ThrottlingException", "Rate exceeded"),
    Fault.ERROR_500: (500, "InternalFailure", "The request processing has failed"),
    Fault.ERROR_503: (503, "ServiceUnavailable", "The service is unavailable"),
}


@dataclass(frozen=True)
class Decision:
    fault: Fault
    #: Seconds to hold the answer back (DELAY only); the request then passes through.
    delay: float = 0.0
    #: CUSTOM only: the HTTP status, ``__type`` and message of the error answer.
    answer: tuple[int, str, str] | None = None


#: The plain decisions, shared by every plan.
PASS = Decision(Fault.PASS)
THROTTLE = Decision(Fault.THROTTLE)
ERROR_500 = Decision(Fault.ERROR_500)
ERROR_503 = Decision(Fault.ERROR_503)
DROP = Decision(Fault.DROP)
RESET = Decision(Fault.RESET)

#: A plan: (request number from 0, seconds since the proxy started, operation name) -> what
#: to do. The operation is the part of ``X-Amz-Target`` after the dot (``DescribeImages``).
Plan = Callable[[int, float, str], Decision]


def pass_all(_number: int, _elapsed: float, _operation: str) -> Decision:
    return PASS


def drop_all(_number: int, _elapsed: float, _operation: str) -> Decision:
    return Decision(Fault.DROP)


@dataclass
class Schedule:
    """The first requests get these decisions, in order; every later one passes."""

    decisions: list[Decision]

    def __call__(self, number: int, _elapsed: float, _operation: str) -> Decision:
        return self.decisions[number] if number < len(self.decisions) else PASS


@dataclass
class SeededRate:
    """Between ``start`` and ``end`` seconds, each request draws a fault from ``weights``.

    ``weights`` maps a fault to its probability; whatever is left passes through. The draw
    comes from ``random.Random(seed)``, so a run is reproducible for a given request order.
    """

    seed: int
    weights: Mapping[Fault, float]
    start: float = 0.0
    end: float = float("inf")
    delay: float = 0.0
    operations: frozenset[str] | None = None
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if sum(self.weights.values()) > 1.0 + 1e-9:
            raise ValueError(f"fault weights add up to more than 1: {dict(self.weights)}")
        self._rng = random.Random(self.seed)

    def __call__(self, _number: int, elapsed: float, operation: str) -> Decision:
        if not self.start <= elapsed < self.end:
            return PASS
        if self.operations is not None and operation not in self.operations:
            return PASS
        draw = self._rng.random()
        for fault, weight in self.weights.items():
            if draw < weight:
                return Decision(fault, self.delay if fault is Fault.DELAY else 0.0)
            draw -= weight
        return PASS


@dataclass(frozen=True)
class Event:
    """One request the proxy saw and what it did with it."""

    number: int
    elapsed: float
    operation: str
    fault: Fault
    #: The status sent back (0 when no answer was sent).
    status: int
    #: The image digests in a DescribeImages answer that was passed through.
    digests: tuple[str, ...] = ()
    #: The answer was held back this long before it was passed through.
    delay: float = 0.0


class FaultProxy:
    """A threaded HTTP proxy on 127.0.0.1 that injects faults according to a plan."""

    def __init__(self, upstream: str, plan: Plan = pass_all) -> None:
        self.upstream = upstream_of(upstream)
        self._plan = plan
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._number = 0
        self._started = time.monotonic()
        self.events: list[Event] = []
        self._connections: set[socket.socket] = set()
        self._server = LocalServer(self.handle, self._track)

    # --- life cycle ----------------------------------------------------------------------

    def start(self) -> FaultProxy:
        self._started = time.monotonic()
        self._server.start()
        return self

    def stop(self) -> None:
        """Stop accepting, close every open connection, end pending delays."""
        self._stopping.set()
        self._server.stop()
        with self._lock:
            open_connections = list(self._connections)
        for conn in open_connections:
            _close_quietly(conn)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return self._server.url

    # --- plan and figures ----------------------------------------------------------------

    def set_plan(self, plan: Plan) -> None:
        with self._lock:
            self._plan = plan
            self._started = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self._started

    def counts(self) -> Counter[str]:
        """Faults injected so far, by kind (``pass`` is not a fault and is not counted)."""
        with self._lock:
            return Counter(e.fault.value for e in self.events if e.fault is not Fault.PASS)

    def injected(self) -> int:
        return sum(self.counts().values())

    def served_digests(self, since: float = float("-inf")) -> set[str]:
        """Digests ECR gave in answers the client received (passed through, not too late)."""
        with self._lock:
            return {
                d for e in self.events if e.elapsed >= since and e.status == 200 for d in e.digests
            }

    def snapshot(self) -> list[Event]:
        with self._lock:
            return list(self.events)

    # --- request handling ----------------------------------------------------------------

    def _decide(self, operation: str) -> tuple[int, float, Decision]:
        with self._lock:
            number = self._number
            self._number += 1
            elapsed = time.monotonic() - self._started
            return number, elapsed, self._plan(number, elapsed, operation)

    def _record(self, event: Event) -> None:
        with self._lock:
            self.events.append(event)

    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        body = read_body(handler)
        target = handler.headers.get("X-Amz-Target") or ""
        operation = target.rsplit(".", 1)[-1] if target else handler.path
        number, elapsed, decision = self._decide(operation)
        fault = decision.fault

        if fault in ERROR_ANSWERS or decision.answer is not None:
            status, code, message = decision.answer or ERROR_ANSWERS[fault]
            payload = json.dumps({"__type": code, "message": message}).encode()
            self._send(handler, status, {"x-amzn-ErrorType": code}, payload)
            self._record(Event(number, elapsed, operation, fault, status))
            return
        if fault is Fault.DROP:
            # Close without a word: the client sees the connection end before any answer.
            handler.close_connection = True
            _close_quietly(handler.connection, shut=True)
            self._record(Event(number, elapsed, operation, fault, 0))
            return
        if fault is Fault.RESET:
            # SO_LINGER with a zero timeout makes close() send a TCP RST.
            handler.close_connection = True
            with contextlib.suppress(OSError):
                handler.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
            _close_quietly(handler.connection)
            self._record(Event(number, elapsed, operation, fault, 0))
            return
        if fault is Fault.DELAY and self._stopping.wait(decision.delay):
            handler.close_connection = True
            self._record(Event(number, elapsed, operation, fault, 0, delay=decision.delay))
            return

        status, headers, answer = forward(self.upstream, handler, body)
        digests: tuple[str, ...] = ()
        if status == 200 and operation == "DescribeImages":
            details = json.loads(answer or b"{}").get("imageDetails") or []
            digests = tuple(str(d.get("imageDigest")) for d in details if d.get("imageDigest"))
        delivered = self._send(handler, status, headers, answer)
        self._record(
            Event(
                number,
                elapsed,
                operation,
                fault,
                status if delivered else 0,
                digests,
                decision.delay,
            )
        )

    def _send(
        self,
        handler: BaseHTTPRequestHandler,
        status: int,
        headers: Mapping[str, str],
        payload: bytes,
    ) -> bool:
        if self._stopping.is_set():
            handler.close_connection = True
            return False
        defaults = {"Content-Type": JSON_11, "x-amzn-RequestId": str(uuid.uuid4())}
        return answer(handler, status, headers, payload, defaults=defaults)


def _close_quietly(conn: socket.socket, *, shut: bool = False) -> None:
    try:
        if shut:
            conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    with contextlib.suppress(OSError):
        conn.close()


# --- counters for the reliability report ---------------------------------------------------


def scale() -> int:
    """How much bigger than ``make test`` this run should be (1 unless the env says so)."""
    try:
        return max(1, int(os.environ.get(SCALE_ENV, "1")))
    except ValueError:
        return 1


def record(kind: str, **figures: Any) -> None:
    """Append one line of figures to the reliability log, when one is configured."""
    path = os.environ.get(LOG_ENV)
    if not path:
        return
    line = json.dumps({"kind": kind, **figures}, sort_keys=True, default=str)
    with open(path, "a", encoding="utf-8") as out:
        out.write(line + "\n")


def fault_counts(events: Iterable[Event]) -> dict[str, int]:
    return dict(Counter(e.fault.value for e in events if e.fault is not Fault.PASS))


@dataclass
class Cycle:
    """Between ``start`` and ``end`` seconds, request n gets ``pattern[n % len(pattern)]``.

    Deterministic whatever the timing: a pattern of two throttles and one pass throttles
    exactly two calls in three.
    """

    pattern: list[Decision]
    start: float = 0.0
    end: float = float("inf")
    _seen: int = field(default=0, init=False, repr=False)

    def __call__(self, _number: int, elapsed: float, _operation: str) -> Decision:
        if not self.start <= elapsed < self.end:
            return PASS
        decision = self.pattern[self._seen % len(self.pattern)]
        self._seen += 1
        return decision


# --- judging a scenario ----------------------------------------------------------------------

READY = "ready"
TIMEOUT = "timeout"
NEVER = "never"


@dataclass
class Outcome:
    """How a wait ended: ``ready`` (with a digest), ``timeout``, ``never`` or ``unexpected``."""

    result: str
    digest: str | None = None
    error: BaseException | None = None
    elapsed: float = 0.0
    detail: str = ""


def outcome_of(wait: Callable[[], str]) -> Outcome:
    """Run ``wait`` (which returns the digest it found) and sort how it ended."""
    from ecr_image_waiter.errors import ImageNeverReadyError, WaitTimeoutError

    start = time.monotonic()
    try:
        digest = wait()
    except WaitTimeoutError as error:
        return Outcome(TIMEOUT, error=error, elapsed=time.monotonic() - start, detail=str(error))
    except ImageNeverReadyError as error:
        return Outcome(NEVER, error=error, elapsed=time.monotonic() - start, detail=str(error))
    except Exception as error:  # an unexpected end is an outcome to report
        return Outcome(
            f"unexpected {type(error).__name__}",
            error=error,
            elapsed=time.monotonic() - start,
            detail=str(error),
        )
    return Outcome(READY, digest=digest, elapsed=time.monotonic() - start)


@dataclass
class Judgement:
    scenario: str
    expected: str
    outcome: Outcome
    false_ready: bool
    false_timeout: bool
    faults: dict[str, int]

    @property
    def correct(self) -> bool:
        return (
            self.outcome.result == self.expected and not self.false_ready and not self.false_timeout
        )

    def explain(self) -> str:
        return (
            f"{self.scenario}: expected {self.expected}, got {self.outcome.result} "
            f"(digest {self.outcome.digest}, false ready {self.false_ready}, false timeout "
            f"{self.false_timeout}, faults {self.faults}): {self.outcome.detail}"
        )


def held_digest(ecr: Any, repository: str, tag: str) -> str | None:
    """What ECR itself holds for ``repository:tag`` now, asked directly (not via the proxy)."""
    try:
        details = ecr.describe_images(repositoryName=repository, imageIds=[{"imageTag": tag}])[
            "imageDetails"
        ]
    except ecr.exceptions.ImageNotFoundException:
        return None
    except ecr.exceptions.RepositoryNotFoundException:
        return None
    return str(details[0]["imageDigest"]) if details else None


def judge(
    scenario: str,
    expected: str,
    outcome: Outcome,
    *,
    proxy: FaultProxy,
    true_digest: str | None,
    held: str | None,
    read_timeout: float,
    surface: str = "engine",
) -> Judgement:
    """Check the invariants on one finished wait and append its figures to the run's log.

    * No false ready: a digest returned is the true sha256 digest of the image pushed, is what
      ECR holds for the reference now (asked directly), and is one ECR actually served.
    * No false timeout: a timeout is false when ECR served the image to the waiter in time.
    """
    served = {
        d for e in proxy.snapshot() if e.status == 200 and e.delay < read_timeout for d in e.digests
    }
    false_ready = outcome.result == READY and (
        true_digest is None
        or outcome.digest != true_digest
        or outcome.digest != held
        or outcome.digest not in served
    )
    false_timeout = outcome.result == TIMEOUT and true_digest is not None and true_digest in served
    result = Judgement(
        scenario, expected, outcome, false_ready, false_timeout, fault_counts(proxy.snapshot())
    )
    record(
        "scenario",
        scenario=scenario,
        surface=surface,
        expected=expected,
        result=outcome.result,
        correct=result.correct,
        false_ready=false_ready,
        false_timeout=false_timeout,
        faults=result.faults,
        requests=len(proxy.snapshot()),
        seconds=round(outcome.elapsed, 3),
    )
    return result


def waiter_client(endpoint: str, *, total_attempts: int = 3, read_timeout: float = 2.0) -> Any:
    """An ECR client for the waiter, on ``endpoint``, with botocore's standard retry mode.

    ``total_attempts`` counts the first call (botocore's ``total_max_attempts``; its
    ``max_attempts`` counts retries only).
    """
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"mode": "standard", "total_max_attempts": total_attempts},
        connect_timeout=1,
        read_timeout=read_timeout,
    )
    return boto3.client("ecr", region_name="us-east-1", endpoint_url=endpoint, config=config)


class Tally:
    """Generated inputs tried by one suite, and how many ended as they should."""

    def __init__(self, suite: str) -> None:
        self.suite = suite
        self.labels: Counter[str] = Counter()
        self.correct = 0
        self.wrong = 0

    def add(self, label: str, ok: bool) -> bool:
        self.labels[label] += 1
        if ok:
            self.correct += 1
        else:
            self.wrong += 1
        return ok

    @property
    def tried(self) -> int:
        return self.correct + self.wrong

    def flush(self) -> None:
        """Write the figures to the run's log (if any) and start again from zero."""
        if self.tried:
            record(
                "fuzz",
                suite=self.suite,
                tried=self.tried,
                correct=self.correct,
                wrong=self.wrong,
                labels=dict(self.labels),
            )
        self.labels.clear()
        self.correct = self.wrong = 0
