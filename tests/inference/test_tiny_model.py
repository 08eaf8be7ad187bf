"""The tiny SDXL model: built offline, deterministic, SDXL-shaped, and run through denoise()."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from services.inference.clip_vocab import VOCAB_SIZE, load_clip_tokenizer
from services.inference.denoise import (
    DenoiseRequest,
    DenoiseStopped,
    LoraChoice,
    denoise,
    pipeline_view,
    scheduler_for,
)
from services.inference.models import ModelRegistry, ModelUnavailable, choose_device
from services.inference.tiny_model import ensure_tiny_model, tiny_model_dir

TINY = "builtin:tiny-sdxl"


def _weights_digest(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*.safetensors"))
    }


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("inference-data")


@pytest.fixture(scope="module")
def registry(data_dir: Path) -> ModelRegistry:
    return ModelRegistry(data_dir, placement=choose_device("cpu"), max_resident=2)


def _request(**overrides: object) -> DenoiseRequest:
    values: dict[str, object] = {
        "model_source": TINY,
        "positive": "a lighthouse at dusk, oil painting",
        "negative": "blurry",
        "width": 1344,
        "height": 768,
        "steps": 2,
        "guidance_scale": 5.0,
        "seed": 1234,
    }
    values.update(overrides)
    return DenoiseRequest(**values)  # type: ignore[arg-type]


def test_real_clip_tokenizer(tmp_path: Path) -> None:
    tokenizer = load_clip_tokenizer(tmp_path)
    assert len(tokenizer) == VOCAB_SIZE
    # The ids of openai/clip-vit-large-patch14 for this text.
    assert tokenizer("a photo of a cat").input_ids == [49406, 320, 1125, 539, 320, 2368, 49407]


def test_built_twice_gives_identical_weights(data_dir: Path, tmp_path: Path) -> None:
    first = ensure_tiny_model(data_dir)
    second = ensure_tiny_model(tmp_path)
    assert first == tiny_model_dir(data_dir)
    digests = _weights_digest(first)
    assert set(digests) >= {
        "unet/diffusion_pytorch_model.safetensors",
        "vae/diffusion_pytorch_model.safetensors",
        "text_encoder/model.safetensors",
        "text_encoder_2/model.safetensors",
    }
    assert digests == _weights_digest(second)
    index = json.loads((first / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusionXLPipeline"
    assert not list(first.parent.glob(".tiny-sdxl-*")), "staging folder left behind"


def test_same_seed_same_pixels_and_size(registry: ModelRegistry) -> None:
    progress: list[tuple[int, int]] = []
    first = denoise(registry, _request(), lambda step, total: progress.append((step, total)))
    second = denoise(registry, _request())
    other_seed = denoise(registry, _request(seed=1235))
    assert (first.width, first.height) == (1344, 768)
    assert len(first.rgb) == 1344 * 768 * 3
    assert first.rgb == second.rgb
    assert first.rgb != other_seed.rgb
    assert progress == [(0, 2), (1, 2), (2, 2)]
    pixels = np.frombuffer(first.rgb, dtype=np.uint8)
    assert pixels.std() > 1.0, "a flat image means the decoder produced nothing"


def test_square_size_and_scheduler_swap_leaves_model_untouched(registry: ModelRegistry) -> None:
    baseline = denoise(registry, _request(width=1024, height=1024, steps=2))
    swapped = denoise(
        registry, _request(width=1024, height=1024, steps=2, scheduler="DPMSolverMultistepScheduler")
    )
    again = denoise(registry, _request(width=1024, height=1024, steps=2))
    assert (swapped.width, swapped.height) == (1024, 1024)
    assert swapped.rgb != baseline.rgb
    assert again.rgb == baseline.rgb
    assert type(registry.get(TINY).pipeline.scheduler).__name__ == "EulerDiscreteScheduler"


def test_progress_hook_can_stop_a_run(registry: ModelRegistry) -> None:
    def stop_after_first(step: int, _total: int) -> None:
        if step >= 1:
            raise DenoiseStopped("cancelled")

    with pytest.raises(DenoiseStopped, match="cancelled"):
        denoise(registry, _request(width=256, height=256, steps=4), stop_after_first)
    # The pipeline stays usable for the next job.
    assert denoise(registry, _request(width=256, height=256, steps=1)).width == 256


def test_missing_lora_and_unknown_scheduler_are_clear_failures(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    with pytest.raises(ModelUnavailable, match="LoRA weights not found"):
        denoise(
            registry, _request(width=256, height=256, lora=LoraChoice("aya", str(tmp_path / "nope"), 0.8))
        )
    with pytest.raises(ModelUnavailable, match="unknown scheduler"):
        denoise(registry, _request(width=256, height=256, scheduler="NoSuchScheduler"))
    assert denoise(registry, _request(width=256, height=256, steps=1)).width == 256


def test_character_lora_applies_for_the_job_only(registry: ModelRegistry, tmp_path: Path) -> None:
    import torch
    from diffusers import StableDiffusionXLPipeline
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    donor = StableDiffusionXLPipeline.from_pretrained(registry.resolve(TINY), local_files_only=True)
    torch.manual_seed(0)
    config = LoraConfig(r=4, target_modules=["to_q", "to_k", "to_v", "to_out.0"], init_lora_weights=False)
    donor.unet.add_adapter(config)
    StableDiffusionXLPipeline.save_lora_weights(
        tmp_path / "aya", unet_lora_layers=get_peft_model_state_dict(donor.unet)
    )
    small = {"width": 256, "height": 256, "steps": 2}
    base = denoise(registry, _request(**small)).rgb
    lora_file = str(tmp_path / "aya" / "pytorch_lora_weights.safetensors")
    with_lora = denoise(registry, _request(**small, lora=LoraChoice("aya", lora_file, 1.0))).rgb
    half = denoise(registry, _request(**small, lora=LoraChoice("aya", lora_file, 0.5))).rgb
    after = denoise(registry, _request(**small)).rgb
    assert with_lora != base and half not in (base, with_lora)
    assert after == base, "the LoRA leaked into the next job"


def test_no_unrequested_watermark_from_the_pipeline(registry: ModelRegistry) -> None:
    """SDXL pipelines add their own dwtDct mark when imwatermark is installed; ours must not:
    the only invisible watermark is the one provenance applies when the request asks for it."""
    import imwatermark  # noqa: F401 - installed, so diffusers would enable its watermarker

    model = registry.get(TINY)
    assert getattr(model.pipeline, "watermark", None) is None
    view = pipeline_view(model, scheduler_for(model, "DPMSolverMultistepScheduler"))
    assert view is not model.pipeline
    assert getattr(view, "watermark", None) is None
