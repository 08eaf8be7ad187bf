"""Settings come from IMGEN_PROMPT_* and pick the enhancer."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.prompt.enhancer_local import LocalLMEnhancer
from services.prompt.enhancer_openai import OpenAIEnhancer
from services.prompt.main import Settings, build_enhancer
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
        build_enhancer(Settings(optimizer="local"))
    with pytest.raises(ValueError):
        Settings(optimizer="gpt")
