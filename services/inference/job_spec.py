"""From a submitted ``JobSpec`` to what the worker needs: a denoise request and object keys.

Kept apart from the worker so the defaults and the key layout (docs/conventions.md)
can be read and tested on their own.
"""

from __future__ import annotations

from datetime import datetime

from imgen.inference.v1 import inference_pb2
from services.inference.denoise import DenoiseRequest, LoraChoice
from services.inference.models import ModelUnavailable

DEFAULT_WIDTH = 1344
DEFAULT_HEIGHT = 768
DEFAULT_STEPS = 4
DEFAULT_GUIDANCE = 5.0
MAX_STEPS = 150
SIGNED = "signed"
THUMBNAIL = "thumbnail"


def denoise_request(spec: inference_pb2.JobSpec, *, default_steps: int = DEFAULT_STEPS) -> DenoiseRequest:
    """The diffusion run a spec asks for, with the preset's values and sane defaults.

    A character that names a LoRA without a file is a job failure, not a silent run
    without the character: the image would not be what the client asked for.
    """
    built = spec.prompt
    preset = built.preset
    lora = None
    if built.HasField("lora") and built.lora.name:
        if not built.lora.source:
            raise ModelUnavailable(f"character LoRA {built.lora.name!r} has no weights configured")
        lora = LoraChoice(built.lora.name, built.lora.source, built.lora.weight or 1.0)
    steps = preset.steps or default_steps
    return DenoiseRequest(
        model_source=preset.model_source,
        positive=built.positive,
        negative=built.negative,
        width=spec.width or preset.width or DEFAULT_WIDTH,
        height=spec.height or preset.height or DEFAULT_HEIGHT,
        steps=max(1, min(steps, MAX_STEPS)),
        guidance_scale=preset.guidance_scale if preset.guidance_scale > 0 else DEFAULT_GUIDANCE,
        seed=spec.seed,
        scheduler=preset.scheduler,
        lora=lora,
    )


def file_name(gen_id: str, fingerprint: str, index: int, extension: str, *, thumbnail: bool = False) -> str:
    """``{gen_id}_{fingerprint}_{index:05d}[_thumb].{ext}``; without a fingerprint the part is left out."""
    stem = f"{gen_id}_{fingerprint}_{index:05d}" if fingerprint else f"{gen_id}_{index:05d}"
    return f"{stem}{'_thumb' if thumbnail else ''}.{extension}"


def object_key(prefix: str, created_at: datetime, gen_id: str, filename: str) -> str:
    """``{prefix}/{YYYY}/{MM}/{DD}/{gen_id}/{filename}`` with the job's UTC creation date."""
    clean_prefix = prefix.strip("/")
    dated = f"{created_at:%Y/%m/%d}/{gen_id}/{filename}"
    return f"{clean_prefix}/{dated}" if clean_prefix else dated
