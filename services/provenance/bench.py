"""Benchmark of Finalize: `python -m services.provenance.bench [--format jpeg] [--runs 5]`.

Prints the median time of the whole pipeline, each stage's share, and the ratio to a
baseline measured in the same run (a bare Pillow encode of the same frame in the same
format), so the numbers mean something on any machine.
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from services.provenance.encode import EncodeRequest, resolve_format
from services.provenance.finalize import FinalizeRequest
from services.provenance.main import Settings
from services.provenance.state import build_state


def synthetic_frame(width: int, height: int, seed: int = 0) -> np.ndarray:
    """Smooth random shapes plus grain: closer to a real frame than pure noise."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, size=(12, 20, 3), dtype=np.uint8)
    shapes = np.asarray(Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC), np.int16)
    return np.clip(shapes + rng.integers(-12, 12, size=shapes.shape, dtype=np.int16), 0, 255).astype(np.uint8)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--format", default="jpeg")
    parser.add_argument("--quality", type=int, default=95)
    parser.add_argument("--width", type=int, default=1344)
    parser.add_argument("--height", type=int, default=768)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)

    frame = synthetic_frame(args.width, args.height)
    with tempfile.TemporaryDirectory() as scratch:
        state = build_state(Settings(data_dir=Path(scratch)))  # type: ignore[call-arg]
        request = FinalizeRequest(
            gen_id="benchbenchbenchbench", encode=EncodeRequest(args.format, args.quality)
        )
        state.finalizer.finalize(frame, request)  # warm-up: imports, first-call caches
        runs = [state.finalizer.finalize(frame, request).timings_s for _ in range(args.runs)]

    pillow_name = resolve_format(args.format).pillow
    baseline: list[float] = []
    for _ in range(args.runs):
        start = time.perf_counter()
        Image.fromarray(frame).save(io.BytesIO(), pillow_name, quality=args.quality)
        baseline.append(time.perf_counter() - start)

    stages = {stage: statistics.median(r[stage] for r in runs) for stage in runs[0] if stage != "total"}
    total = statistics.median(r["total"] for r in runs)
    stage_sum = sum(stages.values())
    base = statistics.median(baseline)
    print(f"Finalize {args.format} q{args.quality} {args.width}x{args.height}, median of {args.runs}:")
    print(
        f"  total {total * 1000:8.1f} ms   "
        f"(bare Pillow {pillow_name} encode {base * 1000:.1f} ms; ratio {total / base:.1f}x)"
    )
    for stage, median in stages.items():  # shares of the summed stage medians, so they add to 100%
        print(f"  {stage:<20} {median * 1000:8.1f} ms  {100 * median / stage_sum:5.1f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
