"""Pure pieces of the status and generate answers: times, blocked messages, sizes."""

from __future__ import annotations

import pytest

from gateway.handlers import final_size
from gateway.job_view import blocked_message, job_view, rfc3339_utc
from gateway.request_model import GenerateRequest
from imgen.inference.v1 import inference_pb2
from imgen.prompt.v1 import prompt_pb2


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-03-29T20:02:50Z", "2025-03-29T20:02:50Z"),
        ("2025-03-29T20:02:50.987654Z", "2025-03-29T20:02:50Z"),
        ("2025-03-29T22:02:50+02:00", "2025-03-29T20:02:50Z"),
        ("2025-03-29T20:02:50", "2025-03-29T20:02:50Z"),
        ("", ""),
        ("yesterday", ""),
    ],
)
def test_times_read_as_the_spec_writes_them(value: str, expected: str) -> None:
    assert rfc3339_utc(value) == expected


def test_blocked_message_uses_an_em_dash_commas_and_a_final_period() -> None:
    assert blocked_message(["Category Name"]) == "Content blocked — flagged for: Category Name."
    assert blocked_message(["A", "B"]) == "Content blocked — flagged for: A, B."
    assert blocked_message([]) == "Content blocked."


def test_blocked_category_without_a_name_shows_its_id() -> None:
    job = inference_pb2.Job(state=inference_pb2.JOB_STATE_COMPLETED, compliance="unsafe")
    job.blocking_verdict.blocking.add(id="minors")
    assert job_view(job)["error"] == "Content blocked — flagged for: minors."


def test_completed_job_without_images_has_an_empty_list() -> None:
    job = inference_pb2.Job(state=inference_pb2.JOB_STATE_COMPLETED, compliance="safe", id="run_x")
    assert job_view(job, [])["meta"]["images"] == []


@pytest.mark.parametrize(
    ("request_size", "given", "preset_size", "expected"),
    [
        ((1344, 768), False, (832, 1216), (832, 1216)),  # the style's size applies when none was given
        ((1344, 768), False, (0, 0), (1344, 768)),
        ((1344, 768), False, (1000, 1000), (1344, 768)),  # a style size that is not a valid pair is ignored
        ((1024, 1024), True, (832, 1216), (1024, 1024)),  # the client's size wins
        ((1344, 768), True, (832, 1216), (1344, 768)),  # an invalid size that fell back still counts as given
    ],
)
def test_final_size(
    request_size: tuple[int, int], given: bool, preset_size: tuple[int, int], expected: tuple[int, int]
) -> None:
    request = GenerateRequest(prompt="p", width=request_size[0], height=request_size[1], size_given=given)
    preset = prompt_pb2.GenerationPreset(width=preset_size[0], height=preset_size[1])
    assert final_size(request, preset) == expected
