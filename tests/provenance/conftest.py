"""Fixtures for the provenance tests: textured test frames, a dev chain, the real pipeline."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image

from services.provenance.certs import CertPaths, init_dev_chain
from services.provenance.main import Settings
from services.provenance.state import ProvenanceState, build_state


def textured_frame(width: int = 1344, height: int = 768, seed: int = 0) -> np.ndarray:
    """Smooth random shapes plus grain, like a real frame (high PDQ quality); deterministic."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, size=(12, 20, 3), dtype=np.uint8)
    shapes = np.asarray(
        Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC), dtype=np.int16
    )
    grain = rng.integers(-12, 12, size=shapes.shape, dtype=np.int16)
    return np.clip(shapes + grain, 0, 255).astype(np.uint8)


def data_uri(image: Image.Image, fmt: str = "PNG", mime: str = "image/png") -> str:
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return f"data:{mime};base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


@pytest.fixture(scope="session")
def frame() -> np.ndarray:
    return textured_frame()


@pytest.fixture(scope="session")
def dev_chain(tmp_path_factory: pytest.TempPathFactory) -> CertPaths:
    return init_dev_chain(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="session")
def settings_factory(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Settings]:
    def make(**overrides: object) -> Settings:
        return Settings(data_dir=tmp_path_factory.mktemp("data"), **overrides)

    return make


@pytest.fixture(scope="session")
def state(settings_factory: Callable[..., Settings]) -> ProvenanceState:
    """The production pipeline built from default settings (dev chain, generated key)."""
    return build_state(settings_factory())
