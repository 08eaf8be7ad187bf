"""Provenance benchmark: `python -m bench provenance [--runs=N] [--width=W] [--height=H]`.

One core (thread pools pinned to 1 before numpy loads). Prints, for a 1344x768 frame:
- watermark embed and decode, ours (vectorised) vs imwatermark's dwtDctSvd;
- Finalize per format (jpeg q95, webp q95, avif q95), each stage's median, against the
  plain libraries run in sequence on the same frame (Pillow logo paste, imwatermark,
  Pillow encode and decode, pdqhash at full size, c2pa sign, thumbnail and its sign),
  measured in the same run, with the ratio.
"""

from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_variable] = "1"

import argparse  # noqa: E402
import io  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pdqhash  # noqa: E402
from PIL import Image  # noqa: E402

from services.provenance.brand import BrandPlacement, apply_brand, default_logo  # noqa: E402
from services.provenance.c2pa_manifest import GenerationFacts  # noqa: E402
from services.provenance.dwt_dct_svd import VectorisedDwtDctSvdCodec  # noqa: E402
from services.provenance.encode import EncodeRequest, encode_image  # noqa: E402
from services.provenance.finalize import FinalizeRequest  # noqa: E402
from services.provenance.invisible import DwtDctSvdCodec  # noqa: E402
from services.provenance.main import Settings  # noqa: E402
from services.provenance.state import build_state  # noqa: E402

FORMATS = (("jpeg", 95), ("webp", 95), ("avif", 95))
PAYLOAD = bytes.fromhex("0123456789abcdef")


def synthetic_frame(width: int, height: int, seed: int = 0) -> np.ndarray:
    """Smooth random shapes plus grain: closer to a real frame than pure noise."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, size=(12, 20, 3), dtype=np.uint8)
    shapes = np.asarray(Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC), np.int16)
    grain = rng.integers(-12, 12, size=shapes.shape, dtype=np.int16)
    return np.clip(shapes + grain, 0, 255).astype(np.uint8)


def median_ms(fn: Callable[[], object], runs: int) -> float:
    fn()  # warm-up
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def row(label: str, ours: float, baseline: float, baseline_label: str) -> None:
    print(
        f"  {label:<28} {ours:8.1f} ms   {baseline_label} {baseline:8.1f} ms   ratio {ours / baseline:5.2f}x"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--width", type=int, default=1344)
    parser.add_argument("--height", type=int, default=768)
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)
    frame = synthetic_frame(args.width, args.height)
    ours, reference = VectorisedDwtDctSvdCodec(), DwtDctSvdCodec()
    marked = ours.embed(frame, PAYLOAD)
    print(f"Invisible watermark {args.width}x{args.height}, median of {args.runs} (one core):")
    row(
        "embed (vectorised)",
        median_ms(lambda: ours.embed(frame, PAYLOAD), args.runs),
        median_ms(lambda: reference.embed(frame, PAYLOAD), max(1, args.runs // 2)),
        "imwatermark",
    )
    row(
        "decode (vectorised)",
        median_ms(lambda: ours.decode(marked), args.runs),
        median_ms(lambda: reference.decode(marked), max(1, args.runs // 2)),
        "imwatermark",
    )

    with tempfile.TemporaryDirectory() as scratch:
        state = build_state(Settings(data_dir=Path(scratch)))  # type: ignore[call-arg]
        finalizer = state.finalizer
        signer = finalizer.signer
        assert signer is not None
        logo = default_logo()
        facts = GenerationFacts("benchbenchbenchbench", "tiny", "default", 1, PAYLOAD.hex())
        work = finalizer.default_credentials
        for fmt, quality in FORMATS:
            request = FinalizeRequest(gen_id="benchbenchbenchbench", encode=EncodeRequest(fmt, quality))
            finalizer.finalize(frame, request)  # warm-up
            runs = [finalizer.finalize(frame, request).timings_s for _ in range(args.runs)]
            encode_request = EncodeRequest(fmt, quality)

            def plain_libraries(encode_request: EncodeRequest = encode_request) -> None:
                image = apply_brand(Image.fromarray(frame), logo, BrandPlacement())
                image = Image.fromarray(reference.embed(np.asarray(image), PAYLOAD))
                encoded = encode_image(image, encode_request, finalizer.tuning)
                pixels = Image.open(io.BytesIO(encoded.data)).convert("RGB")
                pdqhash.compute(np.asarray(pixels))
                signer.sign(encoded.data, encoded.mime_type, work, facts)
                thumb = pixels.copy()
                thumb.thumbnail((256, 256), Image.Resampling.LANCZOS)
                small = encode_image(thumb, encode_request, finalizer.tuning)
                signer.sign(small.data, small.mime_type, work, facts)

            baseline = median_ms(plain_libraries, max(1, args.runs // 2))
            total = statistics.median(r["total"] for r in runs)
            print(f"\nFinalize {fmt} q{quality}, median of {args.runs}:")
            row("total", total * 1000, baseline, "plain libraries")
            for stage in runs[0]:
                if stage != "total":
                    print(f"    {stage:<26} {statistics.median(r[stage] for r in runs) * 1000:8.1f} ms")
        state.registry.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
