"""Branding goldens: every wm_* parameter renders as its committed image (see golden.py)."""

from __future__ import annotations

import pytest
from PIL import Image

from tests.provenance.golden import CASES, GOLDEN_DIR, Case, canvas, golden_path, mismatch, render


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_branding_matches_its_golden(case: Case) -> None:
    assert mismatch(case) is None, mismatch(case)


def test_every_committed_golden_belongs_to_a_case() -> None:
    names = {golden_path(case).name for case in CASES}
    stray = sorted(path.name for path in GOLDEN_DIR.glob("*.png") if path.name not in names)
    assert not stray, f"goldens without a case (delete or add a case): {stray}"


def test_goldens_differ_from_each_other_and_from_the_canvas() -> None:
    """A parameter that silently stopped working would render the same image as another case."""
    images = {case.name: render(case).tobytes() for case in CASES}
    assert len(set(images.values())) == len(CASES)
    assert canvas().tobytes() not in images.values()


def test_a_changed_rendering_is_caught(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    case = CASES[0]
    wrong = render(CASES[-1])  # another case's pixels stand in for a regression
    monkeypatch.setattr("tests.provenance.golden.GOLDEN_DIR", tmp_path)
    Image.fromarray(wrong).save(tmp_path / golden_path(case).name)
    assert "differ by more than" in (mismatch(case) or "")
    (tmp_path / golden_path(case).name).unlink()
    assert "missing" in (mismatch(case) or "")
