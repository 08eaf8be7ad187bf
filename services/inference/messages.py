"""Store records to ``imgen.inference.v1.Job`` messages.

The store keeps protobuf payloads serialized and knows nothing of the wire; this is
the one place that decides how a record reads to clients (which verdict blocked, which
compliance codes apply, RFC 3339 times).
"""

from __future__ import annotations

from datetime import UTC, datetime

from imgen.compliance.v1 import compliance_pb2
from imgen.inference.v1 import inference_pb2
from services.inference.jobs.states import JobState
from services.inference.jobs.store import JobRecord

STATE_TO_PROTO: dict[JobState, int] = {
    JobState.IN_QUEUE: inference_pb2.JOB_STATE_IN_QUEUE,
    JobState.IN_PROGRESS: inference_pb2.JOB_STATE_IN_PROGRESS,
    JobState.COMPLETED: inference_pb2.JOB_STATE_COMPLETED,
    JobState.FAILED: inference_pb2.JOB_STATE_FAILED,
    JobState.TIMED_OUT: inference_pb2.JOB_STATE_TIMED_OUT,
    JobState.CANCELLED: inference_pb2.JOB_STATE_CANCELLED,
}


def rfc3339(moment: datetime | None) -> str:
    """UTC time as ``2026-03-01T12:00:00.123456Z``; empty for None."""
    if moment is None:
        return ""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _verdict(payload: bytes) -> compliance_pb2.Verdict:
    return compliance_pb2.Verdict.FromString(payload) if payload else compliance_pb2.Verdict()


def job_message(record: JobRecord, queue_position: int = 0) -> inference_pb2.Job:
    """The wire form of ``record``."""
    prompt_verdict = _verdict(record.prompt_verdict)
    image_verdict = _verdict(record.image_verdict)
    codes: list[str] = []
    for code in [*prompt_verdict.codes, *image_verdict.codes]:
        if code not in codes:
            codes.append(code)
    job = inference_pb2.Job(
        id=record.id,
        gen_id=record.gen_id,
        state=STATE_TO_PROTO[record.state],  # type: ignore[arg-type]
        spec=inference_pb2.JobSpec.FromString(record.spec),
        error=record.error,
        compliance=record.compliance,
        compliance_codes=codes,
        created_at=rfc3339(record.created_at),
        finished_at=rfc3339(record.finished_at),
        queue_position=queue_position if record.state is JobState.IN_QUEUE else 0,
        step=record.step,
        total_steps=record.total_steps,
        attempts=record.attempts,
    )
    if prompt_verdict.blocked:
        job.blocking_verdict.CopyFrom(prompt_verdict)
    elif image_verdict.blocked:
        job.blocking_verdict.CopyFrom(image_verdict)
    if record.result:
        job.result.CopyFrom(inference_pb2.JobResult.FromString(record.result))
    return job
