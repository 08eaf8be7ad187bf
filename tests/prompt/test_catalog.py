"""Catalog validation (errors name key path and line) and live reloading."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path

import pytest

from services.prompt.catalog import Catalog, CatalogError, parse_catalog
from services.prompt.catalog_store import CatalogStore
from tests.prompt.conftest import SMALL_CATALOG


def test_default_catalog_has_the_spec_model(default_catalog: Catalog) -> None:
    eros = default_catalog.models["eros"]
    assert next(iter(default_catalog.models)) == "eros"
    assert eros.label == "Eros" and eros.default_style == "professional"
    assert {"professional", "boudoir", "cinematic", "anime"} <= set(eros.styles)
    assert all(1 <= style.preset.steps <= 8 for style in eros.styles.values())
    assert {"aya", "aaliyah", "bella"} <= set(default_catalog.characters)
    assert list(default_catalog.characters) == sorted(default_catalog.characters)


def _error(text: str) -> CatalogError:
    with pytest.raises(CatalogError) as caught:
        parse_catalog(textwrap.dedent(text), "bad.yaml")
    return caught.value


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(textwrap.dedent(text).splitlines(), start=1) if needle in line)


def test_unknown_key_is_named_with_its_line() -> None:
    text = SMALL_CATALOG.replace("quality_tags: [sharp focus]", "qualty_tags: [sharp focus]")
    error = _error(text)
    assert f"line {_line_of(text, 'qualty_tags')}: models.first.styles.plain.qualty_tags: unknown key" in str(
        error
    )
    assert str(error).startswith("bad.yaml: ")


def test_default_style_must_be_a_style_of_the_model() -> None:
    text = SMALL_CATALOG.replace("default_style: wide", "default_style: tall")
    error = _error(text)
    assert len(error.issues) == 1
    issue = error.issues[0]
    assert issue.path == ("models", "second", "default_style")
    assert issue.line == _line_of(text, "default_style: tall")
    assert "'tall' is not a style of model 'second'" in issue.message


def test_character_models_must_exist() -> None:
    text = SMALL_CATALOG.replace("models: [second]", "models: [second, third]")
    issue = _error(text).issues[0]
    assert issue.path == ("characters", "zed", "models", 1)
    assert issue.line == _line_of(text, "models: [second, third]")
    assert "unknown model 'third'" in issue.message


def test_wrong_types_and_ranges_name_the_field() -> None:
    text = SMALL_CATALOG.replace("steps: 8", "steps: 0").replace("weight: 0.7", "weight: lots")
    error = _error(text)
    paths = {issue.path: issue for issue in error.issues}
    assert ("models", "second", "styles", "wide", "preset", "steps") in paths
    assert paths[("characters", "aya", "lora", "weight")].line == _line_of(text, "weight: lots")


def test_invalid_terms_are_refused() -> None:
    text = SMALL_CATALOG.replace("setting: [in a park]", "setting: [in a park, '-dark alley', 'with @aya']")
    error = _error(text)
    messages = [str(issue) for issue in error.issues]
    assert any("vocabulary.setting.1" in m and "must not start with '-'" in m for m in messages)
    assert any("vocabulary.setting.2" in m and "@name" in m for m in messages)


def test_bad_character_name_and_size() -> None:
    text = SMALL_CATALOG.replace("  zed:", "  Zed-X:").replace(
        "width: 832, height: 1216", "width: 800, height: 600"
    )
    error = _error(text)
    rendered = str(error)
    assert f"line {_line_of(text, 'Zed-X:')}: characters.Zed-X" in rendered
    assert "800x600 is not a valid size" in rendered


def test_duplicate_keys_and_broken_yaml_give_lines() -> None:
    text = SMALL_CATALOG.replace("  second:\n", "  first:\n")
    issue = _error(text).issues[0]
    assert "duplicate key 'first'" in issue.message
    occurrences = [i for i, line in enumerate(text.splitlines(), start=1) if line == "  first:"]
    assert issue.line == occurrences[1]
    assert f"first defined on line {occurrences[0]}" in issue.message
    broken = _error("models:\n  eros: {label: [unclosed\n")
    assert broken.issues[0].message.startswith("invalid YAML") and broken.issues[0].line >= 2


def test_pattern_errors_say_what_is_allowed() -> None:
    text = (
        SMALL_CATALOG.replace("  aya:\n", "  Aya:\n")
        .replace("      wide:\n", "      Wide Style:\n")
        .replace("DDIMScheduler", "ddim")
    )
    rendered = str(_error(text))
    assert f"line {_line_of(text, 'Aya:')}: characters.Aya: 'Aya' must be 1-64 lowercase letters" in rendered
    assert "models.second.styles.Wide Style: 'Wide Style' must be 1-64 lowercase letters" in rendered
    assert "preset.scheduler: 'ddim' must be a diffusers scheduler class name" in rendered
    assert "pattern" not in rendered and "Value error" not in rendered


def test_two_characters_cannot_share_a_trigger() -> None:
    text = SMALL_CATALOG.replace("trigger: zed person", "trigger: Photo of Aya")
    issue = _error(text).issues[0]
    assert issue.path == ("characters", "zed", "trigger")
    assert issue.line == _line_of(text, "trigger: Photo of Aya")
    assert "already the trigger of character 'aya'" in issue.message


def test_terms_must_be_nfc() -> None:
    issue = _error(SMALL_CATALOG.replace("grey coat", "cafe\u0301 coat")).issues[0]
    assert issue.path == ("vocabulary", "outfit", 0) and "NFC" in issue.message


def test_models_are_required() -> None:
    error = _error("base_negatives: [a]\n")
    assert "line 1: models: required key is missing" in str(error)


# --- reloading ------------------------------------------------------------------------


def _write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


def test_store_reloads_a_change_and_keeps_the_last_good_catalog(tmp_path: Path) -> None:
    path = tmp_path / "catalog.yaml"
    _write(path, SMALL_CATALOG)
    store = CatalogStore(path)
    assert store.refresh() is False
    assert store.current.models["first"].label == "First"

    _write(path, SMALL_CATALOG.replace("label: First", "label: Renamed"))
    assert store.refresh() is True
    assert store.current.models["first"].label == "Renamed"

    good = store.current
    _write(path, SMALL_CATALOG.replace("default_style: plain", "default_style: missing"))
    assert store.refresh() is False
    assert store.current is good
    path.unlink()
    assert store.refresh() is False
    assert store.current is good

    _write(path, SMALL_CATALOG.replace("label: First", "label: Fixed"))
    assert store.refresh() is True
    assert store.current.models["first"].label == "Fixed"


def test_store_refuses_a_bad_catalog_at_startup(tmp_path: Path) -> None:
    path = tmp_path / "catalog.yaml"
    _write(path, "models: {}\n")
    with pytest.raises(CatalogError):
        CatalogStore(path)
    with pytest.raises(CatalogError, match="cannot read"):
        CatalogStore(tmp_path / "absent.yaml")


async def test_watch_task_picks_up_a_change(tmp_path: Path) -> None:
    path = tmp_path / "catalog.yaml"
    _write(path, SMALL_CATALOG)
    store = CatalogStore(path)
    task = asyncio.create_task(store.watch(0.02))
    try:
        _write(path, SMALL_CATALOG.replace("label: Second", "label: Watched"))
        for _ in range(200):
            if store.current.models["second"].label == "Watched":
                break
            await asyncio.sleep(0.01)
        assert store.current.models["second"].label == "Watched"
    finally:
        task.cancel()
