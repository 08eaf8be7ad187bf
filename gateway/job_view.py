"""How a job record reads in the ``status`` answer, as pure functions.

The shapes are the spec's: pending jobs show only their state (plus progress extras),
a blocked job the compliance error, a delivered job ``meta`` with keys in the spec's
order, and failed/timed-out/cancelled jobs an ``error``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from imgen.inference.v1 import inference_pb2

PENDING: dict[int, str] = {
    inference_pb2.JOB_STATE_IN_QUEUE: "IN_QUEUE",
    inference_pb2.JOB_STATE_IN_PROGRESS: "IN_PROGRESS",
}
ENDED: dict[int, str] = {
    inference_pb2.JOB_STATE_COMPLETED: "COMPLETED",
    inference_pb2.JOB_STATE_FAILED: "FAILED",
    inference_pb2.JOB_STATE_TIMED_OUT: "TIMED_OUT",
    inference_pb2.JOB_STATE_CANCELLED: "CANCELLED",
}
DEFAULT_ERRORS = {
    "FAILED": "Generation failed",
    "TIMED_OUT": "Generation timed out",
    "CANCELLED": "Job cancelled",
}


def state_name(state: int) -> str:
    """The API's name of a job state ("IN_QUEUE", ..., "CANCELLED")."""
    return PENDING.get(state) or ENDED.get(state) or "FAILED"


def rfc3339_utc(value: str) -> str:
    """A timestamp as the spec writes it, ``2025-03-29T20:02:50Z``; "" if unreadable."""
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def blocked_message(names: list[str]) -> str:
    """``Content blocked — flagged for: A, B.`` (em dash, final period)."""
    if not names:
        return "Content blocked."
    return f"Content blocked — flagged for: {', '.join(names)}."


def needs_urls(job: inference_pb2.Job) -> bool:
    """Whether rendering this job needs pre-signed URLs for its images."""
    return job.state == inference_pb2.JOB_STATE_COMPLETED and job.compliance != "unsafe"


def pending_view(job: inference_pb2.Job) -> dict[str, Any]:
    """IN_QUEUE with its queue position, IN_PROGRESS with its step and progress."""
    name = PENDING[job.state]
    if job.state == inference_pb2.JOB_STATE_IN_QUEUE:
        return {"status": name, "queue_position": job.queue_position}
    progress = round(job.step / job.total_steps, 3) if job.total_steps else 0.0
    return {"status": name, "progress": progress, "step": job.step, "total_steps": job.total_steps}


def blocked_view(job: inference_pb2.Job) -> dict[str, Any]:
    """The spec's "Completed (Blocked)" shape."""
    categories = list(job.blocking_verdict.blocking)
    return {
        "status": "COMPLETED",
        "compliance": "unsafe",
        "error": blocked_message([c.name or c.id for c in categories]),
        "filter_categories": [c.id for c in categories],
    }


def meta_view(job: inference_pb2.Job, urls: list[str]) -> dict[str, Any]:
    """The spec's ``meta`` for a delivered job; ``urls`` are fresh, one per stored image."""
    spec, built, result = job.spec, job.spec.prompt, job.result
    brand, creds = spec.brand, result.credentials
    images = [
        {"url": url, "filename": image.filename, "type": image.type}
        for image, url in zip(result.images, urls, strict=True)
    ]
    return {
        "id": job.id,
        "gen_id": job.gen_id,
        "time": rfc3339_utc(job.finished_at) or rfc3339_utc(job.created_at),
        "prompt": spec.raw_prompt,
        "positive": built.positive,
        "negative": built.negative,
        "character": built.character,
        "model": built.model,
        "style": built.style,
        "width": spec.width,
        "height": spec.height,
        "format": spec.format,
        "quality": spec.quality,
        "lossless": spec.lossless,
        "optimized": built.optimized,
        "compliance": "safe",
        "compliance_codes": list(job.compliance_codes),
        "fingerprint": result.fingerprint,
        "images": images,
        "enable_invisimark": spec.enable_invisimark,
        "enable_c2pa": spec.enable_c2pa,
        "compute_pdq": spec.compute_pdq,
        "wm_position": brand.position,
        "wm_scale": brand.scale,
        "wm_transparency": brand.transparency,
        "wm_rotation": brand.rotation,
        "wm_padding_x": brand.padding_x,
        "wm_padding_y": brand.padding_y,
        "cs_author": creds.author,
        "cs_title": creds.title,
        "cs_description": creds.description,
        "cs_organization": creds.organization,
        "cs_vendor": creds.vendor,
        "seed": spec.seed,
        "watermark": result.watermark_payload,
        "notes": list(result.notes),
    }


def job_view(job: inference_pb2.Job, urls: list[str] | None = None) -> dict[str, Any]:
    """The ``status`` answer for ``job``; ``urls`` are required when :func:`needs_urls`."""
    if job.state in PENDING:
        return pending_view(job)
    name = state_name(job.state)
    if name == "COMPLETED":
        if job.compliance == "unsafe":
            return blocked_view(job)
        return {"status": "COMPLETED", "meta": meta_view(job, urls or [])}
    return {"status": name, "error": job.error or DEFAULT_ERRORS[name]}
