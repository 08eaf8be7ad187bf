"""The job store on SQLite and on the machine's PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from services.inference.jobs.states import IllegalTransition, JobState
from services.inference.jobs.store import JobNotFound, JobStore, LeaseLost
from tests.inference.conftest import FakeClock

SPEC = b"\x0a\x03cat"


def test_submit_and_get_round_trip(store: JobStore) -> None:
    job = store.submit(SPEC, b"verdict")
    again = store.get(job.id)
    assert again.state is JobState.IN_QUEUE
    assert again.spec == SPEC and again.prompt_verdict == b"verdict"
    assert again.gen_id == job.gen_id and again.created_at == job.created_at
    assert again.created_at.tzinfo is not None
    assert again.compliance == "" and again.attempts == 0


def test_blocked_prompt_is_completed_unsafe_at_once(store: JobStore) -> None:
    job = store.submit(SPEC, b"blocked", blocked=True)
    stored = store.get(job.id)
    assert stored.state is JobState.COMPLETED
    assert stored.compliance == "unsafe"
    assert stored.finished_at is not None
    assert store.claim_next("w1", 30) is None


def test_unknown_job(store: JobStore) -> None:
    with pytest.raises(JobNotFound):
        store.get("run_aaaaaaaaaaaaaaaaaaaa")
    with pytest.raises(JobNotFound):
        store.cancel("run_aaaaaaaaaaaaaaaaaaaa")


def test_claims_in_submission_order_with_queue_positions(store: JobStore, clock: FakeClock) -> None:
    jobs = []
    for _ in range(3):
        jobs.append(store.submit(SPEC))
        clock.advance(0.001)
    assert [store.queue_position(j.id) for j in jobs] == [0, 1, 2]
    first = store.claim_next("w1", 30)
    assert first is not None and first.id == jobs[0].id
    assert first.state is JobState.IN_PROGRESS and first.lease_owner == "w1" and first.attempts == 1
    assert first.started_at == clock.now
    assert [store.queue_position(j.id) for j in jobs] == [0, 0, 1]


def test_complete_only_by_owner_and_never_twice(store: JobStore) -> None:
    job = store.submit(SPEC)
    store.claim_next("w1", 30)
    with pytest.raises(LeaseLost):
        store.complete(job.id, "w2", result=b"r", compliance="safe")
    done = store.complete(job.id, "w1", result=b"r", compliance="safe", progress=(4, 4))
    assert (store.get(job.id).step, store.get(job.id).total_steps) == (4, 4)
    assert done.state is JobState.COMPLETED and done.result == b"r" and done.lease_owner is None
    assert store.get(job.id).result == b"r"
    with pytest.raises(IllegalTransition):
        store.complete(job.id, "w1", result=b"again", compliance="safe")
    assert store.get(job.id).result == b"r"


def test_complete_from_queue_is_illegal(store: JobStore) -> None:
    job = store.submit(SPEC)
    with pytest.raises(IllegalTransition):
        store.complete(job.id, "w1", result=b"r", compliance="safe")
    with pytest.raises(ValueError):
        store.complete(job.id, "w1", result=b"r", compliance="maybe")


def test_fail_and_time_out(store: JobStore) -> None:
    first, second = store.submit(SPEC), store.submit(SPEC)
    store.claim_next("w1", 30)
    store.claim_next("w1", 30)
    assert store.fail(first.id, "w1", "Generation failed: boom").state is JobState.FAILED
    assert store.get(first.id).error == "Generation failed: boom"
    assert store.fail(second.id, "w1", "too slow", timed_out=True).state is JobState.TIMED_OUT


def test_cancel_queued_and_running_and_ended(store: JobStore) -> None:
    queued = store.submit(SPEC)
    cancelled = store.cancel(queued.id)
    assert cancelled.state is JobState.CANCELLED and cancelled.finished_at is not None
    assert store.claim_next("w1", 30) is None
    running = store.submit(SPEC)
    store.claim_next("w1", 30)
    store.cancel(running.id)
    assert store.heartbeat(running.id, "w1", 30, 3, 4) is False
    with pytest.raises(IllegalTransition):
        store.complete(running.id, "w1", result=b"r", compliance="safe")
    with pytest.raises(IllegalTransition):
        store.cancel(running.id)


def test_heartbeat_records_progress_and_renews_lease(store: JobStore, clock: FakeClock) -> None:
    job = store.submit(SPEC)
    store.claim_next("w1", 10)
    clock.advance(8)
    assert store.heartbeat(job.id, "w1", 10, 2, 4)
    assert store.heartbeat(job.id, "w2", 10, 3, 4) is False
    stored = store.get(job.id)
    assert (stored.step, stored.total_steps) == (2, 4)
    assert stored.lease_expires_at == clock.now + timedelta(seconds=10)
    clock.advance(8)
    assert store.requeue_expired(max_attempts=3).requeued == []


def test_expired_lease_requeues_then_fails_past_budget(store: JobStore, clock: FakeClock) -> None:
    job = store.submit(SPEC)
    for attempt in (1, 2):
        claimed = store.claim_next(f"w{attempt}", 10)
        assert claimed is not None and claimed.attempts == attempt
        assert store.requeue_expired(max_attempts=2).requeued == []
        clock.advance(11)
        report = store.requeue_expired(max_attempts=2)
        if attempt == 1:
            assert report.requeued == [job.id] and report.failed == []
            assert store.get(job.id).state is JobState.IN_QUEUE
            # The lost worker can no longer finish it.
            with pytest.raises((LeaseLost, IllegalTransition)):
                store.complete(job.id, "w1", result=b"late", compliance="safe")
        else:
            assert report.failed == [job.id] and report.requeued == []
    failed = store.get(job.id)
    assert failed.state is JobState.FAILED and "2 times" in failed.error and failed.attempts == 2


def test_release_returns_job_to_queue(store: JobStore) -> None:
    job = store.submit(SPEC)
    store.claim_next("w1", 30)
    with pytest.raises(LeaseLost):
        store.release(job.id, "w2")
    assert store.release(job.id, "w1").state is JobState.IN_QUEUE
    again = store.claim_next("w2", 30)
    assert again is not None and again.id == job.id and again.attempts == 2


def test_racing_claims_take_each_job_once(store: JobStore) -> None:
    ids = {store.submit(SPEC).id for _ in range(20)}
    claimed: list[str] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        try:
            while (job := store.claim_next(name, 30)) is not None:
                with lock:
                    claimed.append(job.id)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(claimed) == sorted(ids)
    assert store.count(JobState.IN_PROGRESS) == 20
