"""The resident-model LRU keeps loaded pipelines under a memory budget, measured on the modules."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from services.inference.models import DevicePlacement, ModelRegistry, pipeline_nbytes
from services.inference.tiny_model import ensure_tiny_model


@pytest.fixture(scope="module")
def two_model_folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    data_dir = tmp_path_factory.mktemp("budget")
    first = ensure_tiny_model(data_dir)
    second = data_dir / "copy-of-tiny"
    shutil.copytree(first, second)
    return first, second


def _registry(tmp_path: Path, **limits: int) -> ModelRegistry:
    return ModelRegistry(tmp_path, placement=DevicePlacement("cpu", "float32"), **limits)


def test_budget_evicts_least_recently_used(tmp_path: Path, two_model_folders: tuple[Path, Path]) -> None:
    first, second = (str(folder) for folder in two_model_folders)
    probe = _registry(tmp_path, max_resident=4)
    size = probe.get(first).nbytes
    assert size == pipeline_nbytes(probe.get(first).pipeline) > 0

    # Room for one model and a half: loading the second evicts the first.
    registry = _registry(tmp_path, max_resident=4, memory_budget_bytes=size + size // 2)
    registry.get(first)
    registry.get(second)
    assert registry.resident() == [second]
    assert registry.resident_bytes() <= size + size // 2

    # Room for both: both stay, most recently used last.
    roomy = _registry(tmp_path, max_resident=4, memory_budget_bytes=3 * size)
    roomy.get(first)
    roomy.get(second)
    roomy.get(first)
    assert roomy.resident() == [second, first]


def test_the_model_in_use_stays_even_alone_over_budget(
    tmp_path: Path, two_model_folders: tuple[Path, Path]
) -> None:
    first, _second = (str(folder) for folder in two_model_folders)
    registry = _registry(tmp_path, memory_budget_bytes=1)
    loaded = registry.get(first)
    assert registry.resident() == [first] and loaded.nbytes > 1


def test_count_limit_still_applies(tmp_path: Path, two_model_folders: tuple[Path, Path]) -> None:
    first, second = (str(folder) for folder in two_model_folders)
    registry = _registry(tmp_path, max_resident=1)
    registry.get(first)
    registry.get(second)
    assert registry.resident() == [second]


def test_negative_budget_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="memory_budget_bytes"):
        _registry(tmp_path, memory_budget_bytes=-1)
