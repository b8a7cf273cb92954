"""The wait decision: one look's observation, the time and the deadline give the outcome.

Pure: no clock, no I/O. The CLI's wait loop and ``check`` and the custom resource's handlers
all decide with :func:`decide`, so a wait ends the same way wherever it runs.
"""

from __future__ import annotations

from enum import Enum

from ecr_image_waiter.engine.classify import Verdict
from ecr_image_waiter.engine.image import Observation


class Outcome(Enum):
    """What to do after a look."""

    READY = "ready"
    NEVER = "never"
    #: Not there yet, and the deadline has not passed: look again later.
    WAIT = "wait"
    #: Not there yet, and the deadline has passed.
    TIMED_OUT = "timed out"


def decide(observation: Observation, now: float, deadline: float) -> Outcome:
    """Ready and never end the wait whatever the time; a miss at or past the deadline is a
    timeout."""
    if observation.verdict is Verdict.READY:
        return Outcome.READY
    if observation.verdict is Verdict.NEVER:
        return Outcome.NEVER
    return Outcome.TIMED_OUT if now >= deadline else Outcome.WAIT
