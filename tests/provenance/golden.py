"""Golden images of the branding watermark: one small PNG per `wm_*` parameter value.

Each case runs the real Finalize pipeline (brand → encode as PNG) on a 160x90 canvas,
which is too small for the invisible mark and unsigned, so the delivered pixels show the
logo placement alone. The goldens are committed under ``golden/``; after a deliberate
change to the branding, look at the new images and regenerate them with

    .venv/bin/python -m tests.provenance.golden --regenerate

Run without arguments it lists the cases that no longer match (the test does the same).
"""

from __future__ import annotations

import argparse
import base64
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from services.provenance.brand import BrandPlacement, default_logo
from services.provenance.c2pa_manifest import CreativeWork
from services.provenance.dwt_dct_svd import VectorisedDwtDctSvdCodec
from services.provenance.encode import EncodeRequest, decode_pixels
from services.provenance.finalize import BrandRequest, Finalizer, FinalizeRequest

GOLDEN_DIR = Path(__file__).parent / "golden"
WIDTH, HEIGHT = 160, 90
#: Per channel, a pixel may differ by this much (Pillow's resampling varies by a level or two)...
PIXEL_TOLERANCE = 8
#: ...and at most this share of pixels may differ by more.
OUTLIER_SHARE = 0.005


def canvas() -> np.ndarray:
    """A diagonal colour gradient: shows blending, and every anchor lands on a different colour."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    red = x * 255 // (WIDTH - 1)
    green = y * 255 // (HEIGHT - 1)
    blue = 255 - (x + y) * 255 // (WIDTH + HEIGHT - 2)
    return np.stack([red, green, blue], axis=-1).astype(np.uint8)


def flag_logo() -> Image.Image:
    """An asymmetric RGBA logo (an arrow-like flag) so position, rotation and fading all show."""
    logo = Image.new("RGBA", (80, 40), (0, 0, 0, 0))
    draw = ImageDraw.Draw(logo)
    draw.rectangle((0, 0, 79, 39), fill=(255, 255, 255, 220), outline=(0, 0, 0, 255), width=3)
    draw.polygon([(10, 8), (60, 20), (10, 32)], fill=(220, 20, 20, 255))
    draw.rectangle((64, 4, 75, 35), fill=(20, 20, 220, 128))
    return logo


def custom_logo_uri() -> str:
    """A client's wm_image: a different PNG logo, as the API receives it (base64 data URI)."""
    logo = Image.new("RGBA", (48, 48), (0, 0, 0, 0))
    ImageDraw.Draw(logo).ellipse((2, 2, 45, 45), fill=(250, 200, 0, 255), outline=(0, 90, 0, 255), width=4)
    buffer = io.BytesIO()
    logo.save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


@dataclass(frozen=True)
class Case:
    """One golden: the placement and which logo (the configured default or a client's wm_image)."""

    name: str
    placement: BrandPlacement
    wm_image: bool = False
    builtin_logo: bool = False


def _placement(**changes: int | str) -> BrandPlacement:
    values: dict[str, int | str] = {
        "position": "bottom-right",
        "scale": 30,
        "opacity": 100,
        "rotation": 0,
        "padding_x": 6,
        "padding_y": 6,
    }
    values.update(changes)
    return BrandPlacement.clamped(**values)  # type: ignore[arg-type]


ANCHOR_NAMES = (
    "top-left",
    "top-center",
    "top-right",
    "center-left",
    "center",
    "center-right",
    "bottom-left",
    "bottom-center",
    "bottom-right",
)
CASES: tuple[Case, ...] = (
    *(Case(f"position-{anchor}", _placement(position=anchor)) for anchor in ANCHOR_NAMES),
    Case("scale-10", _placement(scale=10)),
    Case("scale-60", _placement(scale=60)),
    Case("transparency-50", _placement(opacity=50)),
    Case("transparency-20", _placement(opacity=20)),
    Case("rotation-45", _placement(rotation=45)),
    Case("rotation-90", _placement(rotation=90)),
    Case("rotation-minus-30", _placement(rotation=-30)),
    Case("padding-x-40", _placement(padding_x=40)),
    Case("padding-y-25", _placement(padding_y=25)),
    Case("padding-top-left-30-15", _placement(position="top-left", padding_x=30, padding_y=15)),
    Case("wm-image-custom", _placement(position="center"), wm_image=True),
    Case("default-brand-logo", _placement(scale=40), builtin_logo=True),
)


def render(case: Case) -> np.ndarray:
    """The delivered pixels of ``case`` through the real Finalize path (PNG: exact)."""
    finalizer = Finalizer(
        codec=VectorisedDwtDctSvdCodec(),
        watermark_key=bytes(32),
        signer=None,
        default_credentials=CreativeWork("", "", "", "", ""),
        default_logo=default_logo() if case.builtin_logo else flag_logo(),
    )
    request = FinalizeRequest(
        gen_id="goldengoldengoldengold",
        encode=EncodeRequest("png", 100),
        brand=BrandRequest(custom_logo_uri() if case.wm_image else "", case.placement),
        enable_c2pa=False,
        compute_pdq=False,
    )
    return decode_pixels(finalizer.finalize(canvas(), request).image.data)


def golden_path(case: Case) -> Path:
    return GOLDEN_DIR / f"{case.name}.png"


def mismatch(case: Case) -> str | None:
    """Why ``case`` does not match its golden, or None when it does."""
    path = golden_path(case)
    if not path.exists():
        return f"golden {path.name} is missing; run: python -m tests.provenance.golden --regenerate"
    expected = np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)
    actual = render(case).astype(np.int16)
    if expected.shape != actual.shape:
        return f"{path.name}: shape {actual.shape} != golden {expected.shape}"
    outliers = float(np.mean(np.abs(actual - expected).max(axis=-1) > PIXEL_TOLERANCE))
    if outliers > OUTLIER_SHARE:
        return f"{path.name}: {outliers:.1%} of pixels differ by more than {PIXEL_TOLERANCE} levels"
    return None


def regenerate() -> None:
    GOLDEN_DIR.mkdir(exist_ok=True)
    for case in CASES:
        Image.fromarray(render(case)).save(golden_path(case), "PNG", optimize=True)
        print(f"wrote {golden_path(case)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--regenerate", action="store_true", help="rewrite every golden from the code")
    args = parser.parse_args(argv)
    if args.regenerate:
        regenerate()
        return 0
    failures = [reason for case in CASES if (reason := mismatch(case))]
    print("\n".join(failures) or f"all {len(CASES)} goldens match")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
