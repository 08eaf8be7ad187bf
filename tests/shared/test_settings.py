"""Settings precedence: kwargs > IMGEN_<SECTION>_* > IMGEN_* (shared fields) > YAML section > YAML common."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pytest

from services.shared.settings import ServiceSettings


class DemoSettings(ServiceSettings):
    section: ClassVar[str] = "demo"
    port: int = 50099
    batch: int = 4


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IMGEN_CONFIG", raising=False)
    settings = DemoSettings()
    assert settings.port == 50099
    assert settings.batch == 4
    assert settings.prompt_addr == "127.0.0.1:50061"


def test_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "imgen.yaml"
    config.write_text(
        "common:\n  log_level: DEBUG\n  batch: 1\n  data_dir: /from/common\ndemo:\n  batch: 2\n  port: 1111\n"
    )
    monkeypatch.setenv("IMGEN_CONFIG", str(config))
    settings = DemoSettings()
    assert (settings.log_level, settings.batch, settings.port) == ("DEBUG", 2, 1111)
    assert settings.data_dir == Path("/from/common")

    monkeypatch.setenv("IMGEN_DATA_DIR", "/from/shared/env")
    monkeypatch.setenv("IMGEN_DEMO_PORT", "2222")
    settings = DemoSettings()
    assert settings.data_dir == Path("/from/shared/env")
    assert settings.port == 2222

    monkeypatch.setenv("IMGEN_DEMO_DATA_DIR", "/from/section/env")
    assert DemoSettings().data_dir == Path("/from/section/env")
    assert DemoSettings(port=3333).port == 3333


def test_shared_env_does_not_leak_service_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    """IMGEN_PORT must not set every service's port: only mesh-wide fields are shared."""
    monkeypatch.delenv("IMGEN_CONFIG", raising=False)
    monkeypatch.setenv("IMGEN_PORT", "1")
    monkeypatch.setenv("IMGEN_BATCH", "9")
    settings = DemoSettings()
    assert settings.port == 50099
    assert settings.batch == 4


def test_bad_yaml_names_the_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("- just\n- a list\n")
    monkeypatch.setenv("IMGEN_CONFIG", str(config))
    with pytest.raises(ValueError, match=r"bad\.yaml"):
        DemoSettings()
