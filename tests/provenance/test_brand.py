"""The branding watermark: every wm_* parameter moves, sizes, fades or turns the logo as the API says."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from services.provenance.brand import (
    ANCHORS,
    BrandLimits,
    BrandPlacement,
    apply_brand,
    decode_data_uri,
    default_logo,
)
from services.shared.errors import InvalidArgument
from tests.provenance.conftest import data_uri

WIDTH, HEIGHT = 400, 300
LOGO = Image.new("RGBA", (40, 20), (255, 0, 0, 255))


def black() -> Image.Image:
    return Image.new("RGB", (WIDTH, HEIGHT), (0, 0, 0))


def red_box(image: Image.Image) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) exclusive box of the logo's red pixels."""
    pixels = np.asarray(image)
    ys, xs = np.nonzero(pixels[:, :, 0] > 100)
    assert xs.size, "no logo pixels found"
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def place(**fields: int | str) -> BrandPlacement:
    values: dict[str, int | str] = {
        "position": "bottom-right",
        "scale": 20,
        "opacity": 100,
        "rotation": 0,
        "padding_x": 10,
        "padding_y": 10,
    }
    values.update(fields)
    return BrandPlacement.clamped(**values)  # type: ignore[arg-type]


EXPECTED_ORIGIN = {  # logo is 60x30 at scale 20 (20% of the 300 px shorter side), paddings 10
    "top-left": (10, 10),
    "top-center": (170, 10),
    "top-right": (330, 10),
    "center-left": (10, 135),
    "center": (170, 135),
    "center-right": (330, 135),
    "bottom-left": (10, 260),
    "bottom-center": (170, 260),
    "bottom-right": (330, 260),
}


@pytest.mark.parametrize("anchor", ANCHORS)
def test_each_anchor_puts_the_logo_where_named(anchor: str) -> None:
    left, top = EXPECTED_ORIGIN[anchor]
    assert red_box(apply_brand(black(), LOGO, place(position=anchor))) == (left, top, left + 60, top + 30)


def test_unknown_anchor_falls_back_to_bottom_right() -> None:
    assert place(position="middle-ish").position == "bottom-right"
    assert red_box(apply_brand(black(), LOGO, place(position="nowhere"))) == (330, 260, 390, 290)


def test_scale_is_percent_of_shorter_side_and_clamped() -> None:
    assert red_box(apply_brand(black(), LOGO, place(scale=10)))[2:] == (390, 290)
    left, top, right, bottom = red_box(apply_brand(black(), LOGO, place(scale=10)))
    assert (right - left, bottom - top) == (30, 15)
    assert place(scale=0).scale == 1 and place(scale=500).scale == 100
    left, top, right, bottom = red_box(apply_brand(black(), LOGO, place(scale=500, padding_x=0, padding_y=0)))
    assert (right - left, bottom - top) == (300, 150)


def test_opacity_zero_changes_nothing_and_half_blends() -> None:
    image = Image.fromarray(np.full((HEIGHT, WIDTH, 3), 40, np.uint8))
    assert np.array_equal(np.asarray(apply_brand(image, LOGO, place(opacity=0))), np.asarray(image))
    half = np.asarray(apply_brand(black(), LOGO, place(opacity=50)))
    assert abs(int(half[275, 360, 0]) - 127) <= 2
    full = np.asarray(apply_brand(black(), LOGO, place(opacity=100)))
    assert full[275, 360, 0] == 255
    assert place(opacity=250).opacity == 100


def test_padding_shifts_the_logo_away_from_its_edges() -> None:
    near = red_box(apply_brand(black(), LOGO, place(padding_x=0, padding_y=0)))
    far = red_box(apply_brand(black(), LOGO, place(padding_x=50, padding_y=25)))
    assert near[2:] == (WIDTH, HEIGHT)
    assert (near[0] - far[0], near[1] - far[1]) == (50, 25)
    top_left = red_box(apply_brand(black(), LOGO, place(position="top-left", padding_x=500, padding_y=7)))
    assert top_left[:2] == (WIDTH - 60, 7)  # a padding wider than the room left keeps the logo inside
    assert place(padding_x=9000).padding_x == 500


def test_rotation_turns_the_logo_and_expands_its_canvas() -> None:
    left, top, right, bottom = red_box(apply_brand(black(), LOGO, place(rotation=90)))
    assert (right - left, bottom - top) == (30, 60)
    left, top, right, bottom = red_box(apply_brand(black(), LOGO, place(rotation=45)))
    assert right - left > 60 and bottom - top > 30  # the diagonal is wider than the upright logo
    assert WIDTH - 10 - right <= 1 and HEIGHT - 10 - bottom <= 1  # still anchored by its expanded box
    assert red_box(apply_brand(black(), LOGO, place(rotation=360))) == (330, 260, 390, 290)
    assert place(rotation=-720).rotation == -360


def test_default_logo_marks_only_its_corner() -> None:
    image = Image.fromarray(np.full((768, 1344, 3), 90, np.uint8))
    branded = np.asarray(apply_brand(image, default_logo(), place(scale=5)))
    changed = np.argwhere(np.any(branded != 90, axis=-1))
    assert changed.size
    assert changed[:, 0].min() >= 768 - 10 - 39 and changed[:, 1].min() >= 1344 - 10 - 39
    assert default_logo().tobytes() == default_logo.__wrapped__().tobytes()  # drawn deterministically


def test_client_logo_from_each_allowed_type_decodes() -> None:
    logo = Image.new("RGB", (32, 16), (10, 200, 30))
    for fmt, mime in (("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp")):
        decoded = decode_data_uri(data_uri(logo, fmt, mime), BrandLimits())
        assert decoded.size == (32, 16) and decoded.mode == "RGBA"


def _png_bytes(size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("not a data uri", "base64 data URI"),
        ("https://example.com/logo.png", "base64 data URI"),
        (data_uri(Image.new("RGB", (8, 8)), "GIF", "image/gif"), "not supported"),
        (data_uri(Image.new("RGB", (8, 8)), "GIF", "image/png"), "declared type"),
        ("data:image/png;base64," + base64.b64encode(_png_bytes((64, 64))[:60]).decode(), "truncated"),
        ("data:image/png;base64,@@@not-base64@@@", "not valid base64"),
        ("data:image/png;base64,", "empty"),
        ("data:image/png;base64," + base64.b64encode(_png_bytes((3000, 2000))).decode(), "pixels"),
    ],
)
def test_bad_wm_image_is_invalid_argument(uri: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        decode_data_uri(uri, BrandLimits())


def test_oversized_wm_image_is_refused_before_decoding() -> None:
    uri = "data:image/png;base64," + base64.b64encode(b"\0" * 3000).decode()
    with pytest.raises(InvalidArgument, match="larger than"):
        decode_data_uri(uri, BrandLimits(max_bytes=2048))
