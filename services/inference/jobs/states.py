"""The job lifecycle as an explicit state machine.

Every change of a job's state in the store goes through :func:`check_transition`, so a
bug or a race (a worker completing a job that was cancelled meanwhile, a job completed
twice) surfaces as :class:`IllegalTransition` instead of silently rewriting history.
"""

from __future__ import annotations

from enum import StrEnum


class JobState(StrEnum):
    """A job's state; the names are those of the v2 API's ``status`` field."""

    IN_QUEUE = "IN_QUEUE"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    TIMED_OUT = "TIMED_OUT"
    CANCELLED = "CANCELLED"

    @property
    def terminal(self) -> bool:
        """Whether the job has ended and can change no more."""
        return self in TERMINAL_STATES


TERMINAL_STATES: frozenset[JobState] = frozenset(
    {JobState.COMPLETED, JobState.FAILED, JobState.TIMED_OUT, JobState.CANCELLED}
)

#: States a job may be created in: queued, or already completed when its prompt was blocked.
INITIAL_STATES: frozenset[JobState] = frozenset({JobState.IN_QUEUE, JobState.COMPLETED})

#: Legal moves. IN_PROGRESS → IN_QUEUE is a retry: the worker's lease expired or it
#: handed the job back on shutdown. IN_PROGRESS → FAILED also covers a job whose lease
#: expired once too often.
TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.IN_QUEUE: frozenset({JobState.IN_PROGRESS, JobState.CANCELLED}),
    JobState.IN_PROGRESS: frozenset(
        {
            JobState.IN_QUEUE,
            JobState.COMPLETED,
            JobState.FAILED,
            JobState.TIMED_OUT,
            JobState.CANCELLED,
        }
    ),
    JobState.COMPLETED: frozenset(),
    JobState.FAILED: frozenset(),
    JobState.TIMED_OUT: frozenset(),
    JobState.CANCELLED: frozenset(),
}


class IllegalTransition(Exception):
    """A state change the lifecycle does not allow."""

    def __init__(self, source: JobState | None, target: JobState) -> None:
        origin = source.value if source is not None else "(new)"
        super().__init__(f"illegal job state transition {origin} -> {target.value}")
        self.source = source
        self.target = target


def is_legal(source: JobState, target: JobState) -> bool:
    """Whether ``source`` may move to ``target``."""
    return target in TRANSITIONS[source]


def check_transition(source: JobState, target: JobState) -> None:
    """Raise :class:`IllegalTransition` unless ``source`` may move to ``target``."""
    if not is_legal(source, target):
        raise IllegalTransition(source, target)


def check_initial(state: JobState) -> None:
    """Raise :class:`IllegalTransition` unless a job may be created in ``state``."""
    if state not in INITIAL_STATES:
        raise IllegalTransition(None, state)
