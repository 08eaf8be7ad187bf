"""PDQ hash lists: the banded index against brute force, list parsing, and the image detector."""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import pdqhash
import pytest
from PIL import Image, ImageDraw

from services.compliance.categories import load_policy
from services.compliance.hash_lists import HashListError, load_hash_lists, parse_hash_lines
from services.compliance.image_review import PdqHashListDetector, pdq_rules
from services.shared.pdq_index import PdqIndex, bits_to_bytes, bytes_to_hex

RULES = pdq_rules(load_policy())
KNOWN = list(RULES)


def flip_bits(row: np.ndarray, positions: np.ndarray) -> np.ndarray:
    bits = np.unpackbits(row)
    bits[positions] ^= 1
    return np.packbits(bits)


def spread_positions(count: int) -> np.ndarray:
    """``count`` bit positions spread as evenly as possible over the 16 bands (the worst case)."""
    return np.array([(i % 16) * 16 + i // 16 for i in range(count)], dtype=np.int64)


def scene(seed: int, size: tuple[int, int] = (512, 384)) -> np.ndarray:
    """A structured picture (shapes on a gradient) whose PDQ quality is high."""
    rng = np.random.default_rng(seed)
    width, height = size
    gradient = np.linspace(0, 255, width, dtype=np.float32)[None, :, None] * np.ones(
        (height, 1, 3), np.float32
    )
    image = Image.fromarray((gradient * rng.uniform(0.3, 1.0, 3)).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        r = int(rng.integers(20, 120))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
    return np.asarray(image)


def pdq_hex(image: np.ndarray) -> str:
    bits, _ = pdqhash.compute(image)
    return bytes_to_hex(bits_to_bytes(bits))


def test_index_finds_distance_31_even_when_spread_over_every_band() -> None:
    rng = np.random.default_rng(7)
    stored = rng.integers(0, 256, (5000, 32), dtype=np.uint8)
    index = PdqIndex(stored)
    for distance in (0, 1, 16, 17, 30, 31):
        query = flip_bits(stored[123], spread_positions(distance))
        matches = index.search(query, 31)
        assert [m.row for m in matches] == [123], distance
        assert matches[0].distance == distance
    too_far = flip_bits(stored[123], spread_positions(32))
    assert index.search(too_far, 31) == []


def test_index_agrees_with_brute_force_on_random_queries() -> None:
    rng = np.random.default_rng(11)
    stored = rng.integers(0, 256, (3000, 32), dtype=np.uint8)
    index = PdqIndex(stored)
    for trial in range(60):
        base = stored[rng.integers(0, len(stored))]
        query = flip_bits(base, rng.choice(256, int(rng.integers(0, 48)), replace=False))
        brute = np.flatnonzero(index.distances(query) <= 31)
        assert sorted(m.row for m in index.search(query, 31)) == sorted(brute.tolist()), trial


def test_lookup_in_100k_hashes_is_fast() -> None:
    rng = np.random.default_rng(3)
    stored = rng.integers(0, 256, (100_000, 32), dtype=np.uint8)
    index = PdqIndex(stored)
    query = flip_bits(stored[99_999], spread_positions(31))
    index.search(query, 31)
    started = time.perf_counter()
    rounds = 50
    for _ in range(rounds):
        matches = index.search(query, 31)
    per_lookup_ms = (time.perf_counter() - started) / rounds * 1000
    print(f"\n100k-hash PDQ lookup: {per_lookup_ms:.3f} ms")
    assert [m.row for m in matches] == [99_999]
    assert per_lookup_ms < 20


def test_hash_list_lines_parse_with_optional_category() -> None:
    a, b = "ab" * 32, "CD" * 32
    loaded = parse_hash_lines(
        ["# a comment", "", a, f"{b} violence_gore", f"{a},hate"], "list.txt", "minors", KNOWN
    )
    assert loaded.categories == ("minors", "violence_gore", "hate")
    assert loaded.origins == (("list.txt", 3), ("list.txt", 4), ("list.txt", 5))
    assert bytes_to_hex(loaded.hashes[1]) == b.lower()


@pytest.mark.parametrize(
    ("line", "message"),
    [("abc", "64-digit hex"), ("ab" * 32 + " nudity", "no pdq detector"), ("ab" * 32 + " weapons", "no pdq")],
)
def test_bad_hash_list_lines_name_file_and_line(line: str, message: str) -> None:
    with pytest.raises(HashListError, match=f"list.txt:2: .*{message}"):
        parse_hash_lines(["ab" * 32, line], "list.txt", "minors", KNOWN)


def test_missing_hash_list_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(HashListError, match="cannot read"):
        load_hash_lists([tmp_path / "absent.txt"], "minors", KNOWN)


def test_detector_matches_a_reencoded_and_a_flipped_copy_but_not_another_image(tmp_path: Path) -> None:
    bad = scene(1)
    listed = tmp_path / "known_bad.txt"
    listed.write_text(f"# known bad\n{pdq_hex(bad)} violence_gore\n{pdq_hex(scene(2))}\n")
    detector = PdqHashListDetector(load_hash_lists([listed], "minors", KNOWN), RULES)

    buffer = io.BytesIO()
    Image.fromarray(bad).save(buffer, format="JPEG", quality=70)
    reencoded = np.asarray(Image.open(buffer).convert("RGB"))
    for candidate in (bad, reencoded, np.ascontiguousarray(bad[:, ::-1])):
        findings = detector.review(candidate)
        assert [f.category_id for f in findings] == ["violence_gore"]
        assert findings[0].score >= findings[0].threshold
        assert "known_bad.txt line=2" in findings[0].detail
    assert [f.category_id for f in detector.review(scene(2))] == ["minors"]
    assert detector.review(scene(3)) == []


def test_low_quality_images_never_match(tmp_path: Path) -> None:
    flat = np.full((256, 256, 3), 128, dtype=np.uint8)
    _, quality = pdqhash.compute(flat)
    assert quality < 50
    listed = tmp_path / "flat.txt"
    listed.write_text(pdq_hex(flat) + "\n")
    detector = PdqHashListDetector(load_hash_lists([listed], "minors", KNOWN), RULES)
    assert detector.review(flat) == []
