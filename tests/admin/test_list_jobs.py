"""``InferenceService.ListJobs``, the admin jobs page's query: state, key and model filters, keyset pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from imgen.inference.v1 import inference_pb2
from imgen.prompt.v1 import prompt_pb2
from services.inference.jobs.store import JobStore, sqlite_url
from services.inference.servicer import InferenceServicer
from services.shared.errors import InvalidArgument


def spec(key: str, model: str) -> bytes:
    built = prompt_pb2.BuildPromptResponse(model=model)
    built.preset.model_source = "builtin:tiny-sdxl"
    return inference_pb2.JobSpec(
        raw_prompt=f"{key} {model}", prompt=built, api_key_id=key
    ).SerializeToString()


@pytest.fixture
def servicer(tmp_path: Path) -> InferenceServicer:
    moments = iter(datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=i) for i in range(1000))
    store = JobStore(sqlite_url(tmp_path / "jobs.sqlite3"), clock=lambda: next(moments))
    store.create_schema()
    for i in range(12):
        store.submit(spec("key_a" if i % 2 else "key_b", "eros" if i % 3 else "other"))
    blocked = store.submit(spec("key_a", "eros"), blocked=True)
    assert blocked.state.value == "COMPLETED"
    return InferenceServicer(store)


async def list_all(servicer: InferenceServicer, **fields: object) -> list[inference_pb2.Job]:
    jobs: list[inference_pb2.Job] = []
    token = ""
    for _ in range(50):
        reply = await servicer.ListJobs(inference_pb2.ListJobsRequest(page_token=token, **fields), None)
        jobs.extend(reply.jobs)
        token = reply.next_page_token
        if not token:
            break
    return jobs


async def test_pages_are_newest_first_and_complete(servicer: InferenceServicer) -> None:
    jobs = await list_all(servicer, page_size=5)
    assert len(jobs) == 13 and len({job.id for job in jobs}) == 13
    assert [job.created_at for job in jobs] == sorted((job.created_at for job in jobs), reverse=True)


async def test_filters_by_state_key_and_model(servicer: InferenceServicer) -> None:
    completed = await list_all(servicer, states=[inference_pb2.JOB_STATE_COMPLETED])
    assert [job.spec.api_key_id for job in completed] == ["key_a"]
    mine = await list_all(servicer, api_key_id="key_b", model="eros", page_size=2)
    assert mine and all(j.spec.api_key_id == "key_b" and j.spec.prompt.model == "eros" for j in mine)
    expected = sum(1 for i in range(12) if i % 2 == 0 and i % 3)
    assert len(mine) == expected
    assert await list_all(servicer, model="missing") == []


async def test_a_bad_page_token_is_invalid(servicer: InferenceServicer) -> None:
    with pytest.raises(InvalidArgument):
        await servicer.ListJobs(inference_pb2.ListJobsRequest(page_token="%%%"), None)
