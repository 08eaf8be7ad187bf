"""Stand-ins for the compliance and inference services, speaking real gRPC.

They exist so the gateway's own logic can be tested in-process today: every job state
it must render, every upstream error it must map. They are scripted (a test decides a
job's state, or which error a call returns), not re-implementations; the real services
are exercised by the mesh tests (``test_contract_mesh.py``).
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass, field

import grpc

from imgen.compliance.v1 import compliance_pb2, compliance_pb2_grpc
from imgen.inference.v1 import inference_pb2, inference_pb2_grpc
from services.shared.errors import DomainError, FailedPrecondition, NotFound

ALPHABET = string.ascii_lowercase + string.digits


def random_token(length: int = 20) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


@dataclass
class ScriptedCompliance(compliance_pb2_grpc.ComplianceServiceServicer):
    """Blocks a prompt that contains one of ``blocked_terms`` (term → category)."""

    blocked_terms: dict[str, compliance_pb2.Category] = field(default_factory=dict)
    fail_with: DomainError | None = None
    reviews: list[compliance_pb2.ReviewPromptRequest] = field(default_factory=list)

    async def ReviewPrompt(
        self, request: compliance_pb2.ReviewPromptRequest, context: grpc.aio.ServicerContext
    ) -> compliance_pb2.ReviewPromptResponse:
        self.reviews.append(request)
        if self.fail_with is not None:
            raise self.fail_with
        hits = [
            category
            for term, category in self.blocked_terms.items()
            if any(term in text.text.lower() for text in request.texts)
        ]
        return compliance_pb2.ReviewPromptResponse(
            verdict=compliance_pb2.Verdict(blocked=bool(hits), blocking=hits)
        )


@dataclass
class ScriptedInference(inference_pb2_grpc.InferenceServiceServicer):
    """Keeps submitted jobs in memory; tests move them between states."""

    jobs: dict[str, inference_pb2.Job] = field(default_factory=dict)
    submitted: list[inference_pb2.SubmitJobRequest] = field(default_factory=list)
    fail_with: DomainError | None = None

    async def SubmitJob(
        self, request: inference_pb2.SubmitJobRequest, context: grpc.aio.ServicerContext
    ) -> inference_pb2.SubmitJobResponse:
        if self.fail_with is not None:
            raise self.fail_with
        self.submitted.append(request)
        job = inference_pb2.Job(
            id="run_" + random_token(),
            gen_id=random_token(),
            spec=request.spec,
            state=inference_pb2.JOB_STATE_IN_QUEUE,
            created_at="2026-11-23T19:00:00Z",
        )
        if request.prompt_verdict.blocked:
            job.state = inference_pb2.JOB_STATE_COMPLETED
            job.compliance = "unsafe"
            job.blocking_verdict.CopyFrom(request.prompt_verdict)
            job.finished_at = job.created_at
        self.jobs[job.id] = job
        return inference_pb2.SubmitJobResponse(job=job)

    async def GetJob(
        self, request: inference_pb2.GetJobRequest, context: grpc.aio.ServicerContext
    ) -> inference_pb2.GetJobResponse:
        if self.fail_with is not None:
            raise self.fail_with
        if request.id not in self.jobs:
            raise NotFound(f"no job {request.id}")
        return inference_pb2.GetJobResponse(job=self.jobs[request.id])

    async def CancelJob(
        self, request: inference_pb2.CancelJobRequest, context: grpc.aio.ServicerContext
    ) -> inference_pb2.CancelJobResponse:
        job = self.jobs.get(request.id)
        if job is None:
            raise NotFound(f"no job {request.id}")
        if job.state not in (inference_pb2.JOB_STATE_IN_QUEUE, inference_pb2.JOB_STATE_IN_PROGRESS):
            raise FailedPrecondition("Job already finished")
        job.state = inference_pb2.JOB_STATE_CANCELLED
        job.error = "Cancelled by the client"
        return inference_pb2.CancelJobResponse(job=job)
