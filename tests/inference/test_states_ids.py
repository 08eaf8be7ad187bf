"""The job state machine and the identifier formats."""

from __future__ import annotations

import itertools

import pytest

from services.inference.jobs.ids import is_gen_id, is_job_id, new_gen_id, new_job_id
from services.inference.jobs.states import (
    TERMINAL_STATES,
    IllegalTransition,
    JobState,
    check_initial,
    check_transition,
    is_legal,
)

LEGAL = {
    (JobState.IN_QUEUE, JobState.IN_PROGRESS),
    (JobState.IN_QUEUE, JobState.CANCELLED),
    (JobState.IN_PROGRESS, JobState.IN_QUEUE),
    (JobState.IN_PROGRESS, JobState.COMPLETED),
    (JobState.IN_PROGRESS, JobState.FAILED),
    (JobState.IN_PROGRESS, JobState.TIMED_OUT),
    (JobState.IN_PROGRESS, JobState.CANCELLED),
}


def test_state_names_are_the_api_names() -> None:
    assert [s.value for s in JobState] == [
        "IN_QUEUE",
        "IN_PROGRESS",
        "COMPLETED",
        "FAILED",
        "TIMED_OUT",
        "CANCELLED",
    ]
    assert {s for s in JobState if s.terminal} == TERMINAL_STATES


@pytest.mark.parametrize(("source", "target"), list(itertools.product(JobState, JobState)))
def test_every_transition(source: JobState, target: JobState) -> None:
    if (source, target) in LEGAL:
        assert is_legal(source, target)
        check_transition(source, target)
    else:
        assert not is_legal(source, target)
        with pytest.raises(IllegalTransition, match=f"{source.value} -> {target.value}"):
            check_transition(source, target)


@pytest.mark.parametrize("state", list(JobState))
def test_initial_states(state: JobState) -> None:
    if state in (JobState.IN_QUEUE, JobState.COMPLETED):
        check_initial(state)
    else:
        with pytest.raises(IllegalTransition):
            check_initial(state)


def test_ids_have_the_documented_format_and_do_not_repeat() -> None:
    job_ids = {new_job_id() for _ in range(500)}
    gen_ids = {new_gen_id() for _ in range(500)}
    assert len(job_ids) == len(gen_ids) == 500
    assert all(is_job_id(i) and len(i) == 24 for i in job_ids)
    assert all(is_gen_id(i) and len(i) == 20 for i in gen_ids)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "run_",
        "run_abc",
        "RUN_k3j9x0a7b2c4d6e8f1g5",
        "run_K3J9X0A7B2C4D6E8F1G5",
        "run_k3j9x0a7b2c4d6e8f1g5\n",
        "run_k3j9x0a7b2c4d6e8f1g5x",
        "job_k3j9x0a7b2c4d6e8f1g5",
        "run_k3j9x0a7b2c4d6e8f1-5",
        "k3j9x0a7b2c4d6e8f1g5",
    ],
)
def test_malformed_job_ids_are_rejected(value: str) -> None:
    assert not is_job_id(value)


def test_documented_example_is_valid() -> None:
    assert is_job_id("run_k3j9x0a7b2c4d6e8f1g5")
    assert not is_gen_id("run_k3j9x0a7b2c4d6e8f1g5")
