"""Verify against the fingerprint index: a re-encoded or resized copy still names its generation."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from services.provenance.finalize import FinalizeRequest
from services.provenance.state import ProvenanceState
from services.provenance.verify import verify_image
from tests.provenance.conftest import textured_frame

GEN_ID = "v3r1fy0000000000000a"


@pytest.fixture(scope="module")
def delivered(state: ProvenanceState) -> bytes:
    result = state.finalizer.finalize(textured_frame(1024, 640, seed=33), FinalizeRequest(gen_id=GEN_ID))
    state.registry.record(
        GEN_ID, "run_v3r1fy0000000000000a", result.watermark_payload, result.fingerprint, 90
    )
    return result.image.data


def check(state: ProvenanceState, data: bytes):  # type: ignore[no-untyped-def]
    return verify_image(
        data,
        "",
        state.codec,
        state.trust_anchor_pem,
        state.watermark_threshold,
        state.verify_limits,
        state.registry,
    )


def reencode(data: bytes, size: tuple[int, int] | None = None, quality: int = 75) -> bytes:
    image = Image.open(io.BytesIO(data)).convert("RGB")
    if size:
        image = image.resize(size, Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def test_original_file_is_trusted_and_ours(state: ProvenanceState, delivered: bytes) -> None:
    result = check(state, delivered)
    assert result.c2pa.state == "Trusted"
    assert result.summary is not None and result.summary.gen_id == GEN_ID
    assert result.summary.title == "AI Image" and result.summary.generator.startswith("imgen/")
    assert result.watermark_match is not None and result.watermark_match.generation.gen_id == GEN_ID
    assert result.nearest_match is not None and result.nearest_match.distance == 0
    assert result.nearest_match.generation.job_id == "run_v3r1fy0000000000000a"


def test_reencoded_copy_loses_c2pa_but_still_names_its_generation(
    state: ProvenanceState, delivered: bytes
) -> None:
    result = check(state, reencode(delivered, quality=75))
    assert result.c2pa.state == "Absent" and result.summary is None
    assert result.watermark_found
    assert result.watermark_match is not None and result.watermark_match.generation.gen_id == GEN_ID
    assert result.nearest_match is not None and result.nearest_match.generation.gen_id == GEN_ID
    assert result.nearest_match.distance <= 8


def test_resized_copy_matches_by_fingerprint(state: ProvenanceState, delivered: bytes) -> None:
    result = check(state, reencode(delivered, size=(512, 320), quality=90))
    assert result.nearest_match is not None and result.nearest_match.generation.gen_id == GEN_ID
    assert result.nearest_match.distance <= 31
    back = check(state, reencode(reencode(delivered, size=(512, 320), quality=95), size=(1024, 640)))
    assert back.watermark_match is not None and back.watermark_match.generation.gen_id == GEN_ID


def test_a_strangers_image_matches_nothing(state: ProvenanceState) -> None:
    buffer = io.BytesIO()
    Image.fromarray(textured_frame(800, 600, seed=99)).save(buffer, "PNG")
    result = check(state, buffer.getvalue())
    assert not result.watermark_found and result.watermark_match is None and result.nearest_match is None
    assert np.isclose(result.watermark_confidence, 0.5, atol=0.1)
