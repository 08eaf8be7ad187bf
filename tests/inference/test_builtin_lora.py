"""Built-in character LoRAs: deterministic files that really change the image, for one job only."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from services.inference.builtin_lora import LORA_FILE, builtin_lora_dir, ensure_builtin_lora, lora_seed
from services.inference.denoise import DenoiseRequest, LoraChoice, denoise
from services.inference.models import ModelRegistry, ModelUnavailable, choose_device

TINY = "builtin:tiny-sdxl"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lora-data")


def _registry(data_dir: Path) -> ModelRegistry:
    return ModelRegistry(data_dir, placement=choose_device("cpu"), max_resident=1)


def _request(lora: LoraChoice | None = None) -> DenoiseRequest:
    return DenoiseRequest(
        model_source=TINY,
        positive="photo of aya, young woman, long black hair",
        negative="blurry",
        width=256,
        height=256,
        steps=2,
        guidance_scale=5.0,
        seed=99,
        lora=lora,
    )


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_built_deterministically_per_name(data_dir: Path, tmp_path: Path) -> None:
    aya = ensure_builtin_lora(data_dir, "aya")
    assert aya == builtin_lora_dir(data_dir, "aya")
    again = ensure_builtin_lora(tmp_path, "aya")
    bella = ensure_builtin_lora(data_dir, "bella")
    assert _digest(aya / LORA_FILE) == _digest(again / LORA_FILE)
    assert _digest(aya / LORA_FILE) != _digest(bella / LORA_FILE)
    assert lora_seed("aya") == lora_seed("aya") != lora_seed("bella")
    assert not list((data_dir / "loras").glob(".*")), "staging folder left behind"


def test_builtin_lora_changes_the_image_for_that_job_only(data_dir: Path) -> None:
    never_loaded = denoise(_registry(data_dir), _request()).rgb

    registry = _registry(data_dir)
    with_lora = denoise(registry, _request(LoraChoice("aya", "builtin:lora/aya", 0.8))).rgb
    other = denoise(registry, _request(LoraChoice("bella", "builtin:lora/bella", 0.8))).rgb
    after = denoise(registry, _request()).rgb

    assert with_lora != never_loaded
    assert other not in (never_loaded, with_lora)
    assert after == never_loaded, "the LoRA leaked into the next job"
    assert registry.get(TINY).adapters == {"aya", "bella"}


def test_invalid_builtin_lora_name_is_a_clear_failure(data_dir: Path) -> None:
    with pytest.raises(ModelUnavailable, match="invalid builtin LoRA name"):
        _registry(data_dir).resolve_file("builtin:lora/../etc")
