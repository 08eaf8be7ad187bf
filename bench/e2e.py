"""End-to-end benchmark: the whole mesh through the v2 API vs the bare libraries, in the same run.

Run from the repository root: ``python -m bench e2e [--clients=N] [--images=M] [--poll=S]``.
It starts the mesh as processes (as ``imgen up`` does: SQLite, local storage, the tiny
model) and, with the spec's client behaviour (generate, then poll ``status`` until
terminal, each poll finishing before the next), measures:

- latency of one image, submit → COMPLETED seen by the client, one client at a time,
  and its service overhead = latency − (bare diffusers ``pipe(...)`` + bare
  post-processing libraries), both baselines measured in this process in the same run
  (target: overhead ≤ 40 ms median);
- images/s and latency percentiles with ``--clients`` concurrent clients, beside the bare
  loop's images/s.

The poll interval defaults to 0.05 s, not the spec's 3 s: with 3 s, every latency would
be rounded up to the next poll and the overhead could not be seen (``--poll=3`` runs the
spec's own interval). The bare post-processing is what a hand-written script would do
per image: imwatermark dwtDctSvd embed, Pillow JPEG q95, pdqhash, a 256 px thumbnail in
JPEG; C2PA signing (2–5 ms) is left out of it, which makes the overhead figure pessimistic.
Per-stage figures (prompt build and review, denoise, image review, finalize per format,
store, presign) come from ``bench prompt``, ``bench compliance``, ``bench inference``,
``bench provenance`` and ``bench storage``.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import multiprocessing
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from imgen.client import AsyncImgenClient, PollPolicy
from imgen.mesh import MeshConfig, running_mesh

TINY_SOURCE = "builtin:tiny-sdxl"


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (no interpolation: the figure is one that was measured)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def row(name: str, value: float, baseline_name: str, baseline: float, unit: str) -> None:
    ratio = value / baseline if baseline else float("nan")
    print(
        f"{name:<42} {value:>9.1f} {unit:<5} | {baseline_name:<34} {baseline:>9.1f} {unit:<5} | x{ratio:.2f}"
    )


def preset_for_default_style() -> Any:
    """The preset the gateway's default model and style resolve to (steps, guidance, scheduler)."""
    from services.prompt.catalog import default_catalog_path, load_catalog_file

    catalog = load_catalog_file(default_catalog_path())
    _, model = catalog.resolve_model("")
    _, style = catalog.resolve_style(model, "")
    return style.preset


class BareBaseline:
    """The floor: one ``pipe(...)`` call and the post-processing libraries a script would call."""

    def __init__(self, data_dir: Path, width: int, height: int) -> None:
        from services.inference.models import ModelRegistry, choose_device

        registry = ModelRegistry(data_dir, placement=choose_device("cpu"), max_resident=1)
        self.pipe = registry.get(TINY_SOURCE).pipeline
        preset = preset_for_default_style()
        if preset.scheduler:
            import diffusers

            scheduler_cls = getattr(diffusers, preset.scheduler)
            self.pipe.scheduler = scheduler_cls.from_config(self.pipe.scheduler.config)
        self.steps = preset.steps or 4
        self.guidance = preset.guidance_scale
        self.width, self.height = width, height

    def denoise(self, seed: int) -> Any:
        import torch

        return self.pipe(
            prompt="a lighthouse on a cliff",
            width=self.width,
            height=self.height,
            num_inference_steps=self.steps,
            guidance_scale=self.guidance,
            generator=torch.Generator(device="cpu").manual_seed(seed),
            output_type="pil",
        ).images[0]

    @staticmethod
    def post_process(image: Any) -> bytes:
        import cv2
        import pdqhash
        from imwatermark import WatermarkEncoder

        bgr = cv2.cvtColor(np.asarray(image), cv2.COLOR_RGB2BGR)
        encoder = WatermarkEncoder()
        encoder.set_watermark("bytes", b"imgenbnc")
        marked = encoder.encode(bgr, "dwtDctSvd")
        from PIL import Image

        final = Image.fromarray(cv2.cvtColor(marked, cv2.COLOR_BGR2RGB))
        buffer = io.BytesIO()
        final.save(buffer, format="JPEG", quality=95)
        pdqhash.compute(np.asarray(final))
        thumb = final.copy()
        thumb.thumbnail((256, 256))
        thumb.save(io.BytesIO(), format="JPEG", quality=85)
        return buffer.getvalue()


def _bare_process(connection: Any, data_dir: Path, width: int, height: int) -> None:
    """The baseline's own process: a bare script holding the pipeline, timing what it is asked to."""
    bare = BareBaseline(data_dir, width, height)
    bare.post_process(bare.denoise(0))  # warm-up
    connection.send(bare.steps)
    while (seed := connection.recv()) is not None:
        started = time.perf_counter()
        image = bare.denoise(seed)
        denoised = time.perf_counter()
        bare.post_process(image)
        connection.send((denoised - started, time.perf_counter() - denoised))


class BareProcess:
    """:class:`BareBaseline` in a fresh interpreter, as a hand-written script would run.

    In the benchmark's own process (event loops, HTTP clients, a dozen libraries imported)
    the same ``pipe(...)`` ran 2-5x slower than in a fresh one, which would flatter the
    service; a separate process compares like with like (the worker is one too).
    """

    def __init__(self, data_dir: Path, width: int, height: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.connection, child = context.Pipe()
        self.process = context.Process(target=_bare_process, args=(child, data_dir, width, height))
        self.process.start()
        self.steps = int(self.connection.recv())

    def image(self, seed: int) -> tuple[float, float]:
        """(denoise s, post-processing s) of one image."""
        self.connection.send(seed)
        denoise_s, post_s = self.connection.recv()
        return float(denoise_s), float(post_s)

    def close(self) -> None:
        self.connection.send(None)
        self.process.join(timeout=30)


async def one_client(client: AsyncImgenClient, images: int, poll: PollPolicy, offset: int) -> list[float]:
    latencies = []
    for index in range(images):
        started = time.perf_counter()
        job = await client.submit(f"a lighthouse on a cliff, study {offset + index}", seed=offset + index)
        await client.wait(job, poll)
        latencies.append(time.perf_counter() - started)
    return latencies


async def drive(
    api_url: str, api_key: str, clients: int, images: int, poll: PollPolicy, offset: int
) -> tuple[list[float], float]:
    async with AsyncImgenClient(api_url, api_key, timeout=120) as client:
        started = time.perf_counter()
        runs = await asyncio.gather(
            *(one_client(client, images, poll, offset + 1000 * c) for c in range(clients))
        )
        wall = time.perf_counter() - started
    return [latency for run in runs for latency in run], wall


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench e2e")
    parser.add_argument("--clients", type=int, default=2, help="concurrent clients in the throughput run")
    parser.add_argument("--images", type=int, default=3, help="images per client (and sequential images)")
    parser.add_argument("--poll", type=float, default=0.05, help="poll interval, seconds (spec: 3)")
    parser.add_argument("--width", type=int, default=1344)
    parser.add_argument("--height", type=int, default=768)
    args = parser.parse_args(argv)
    poll = PollPolicy(interval_s=args.poll, max_polls=int(600 / args.poll))

    with tempfile.TemporaryDirectory(prefix="imgen-bench-e2e-") as root:
        data_dir = Path(root) / "data"
        with running_mesh(MeshConfig.ephemeral(data_dir), timeout=300) as mesh:
            asyncio.run(drive(mesh.api_url, mesh.api_key, 1, 1, poll, 0))  # warm-up: model, caches
            bare = BareProcess(data_dir, args.width, args.height)
            # Interleaved, one image through the mesh then one bare, so both see the same
            # machine load (a shared machine drifts more than the overhead we look for).
            sequential: list[float] = []
            denoise_s, post_s = [], []
            for index in range(args.images):
                latencies, _ = asyncio.run(drive(mesh.api_url, mesh.api_key, 1, 1, poll, 10 + index))
                sequential.extend(latencies)
                denoised, posted = bare.image(index)
                denoise_s.append(denoised)
                post_s.append(posted)
            concurrent, wall = asyncio.run(
                drive(mesh.api_url, mesh.api_key, args.clients, args.images, poll, 100)
            )
            loop_started = time.perf_counter()
            for index in range(args.clients * args.images):
                bare.image(100 + index)
            bare.close()
            bare_ips = args.clients * args.images / (time.perf_counter() - loop_started)

    floor_ms = (statistics.median(denoise_s) + statistics.median(post_s)) * 1000
    latency_ms = statistics.median(sequential) * 1000
    print(
        f"tiny model {args.width}x{args.height}, {bare.steps} steps, jpeg q95, poll every {args.poll}s, "
        f"{args.images} sequential images, {args.clients} clients x {args.images} images"
    )
    print(f"{'measure':<42} {'value':>15} | {'baseline':<34} {'value':>15} | ratio")
    row("latency p50, 1 client", latency_ms, "bare pipe + bare post-processing", floor_ms, "ms")
    overhead = latency_ms - floor_ms
    print(f"{'service overhead p50 (target <= 40 ms)':<42} {overhead:>9.1f} ms    | latency p50 - floor")
    print(f"{'  of which bare pipe(...) p50':<42} {statistics.median(denoise_s) * 1000:>9.1f} ms")
    print(f"{'  of which bare post-processing p50':<42} {statistics.median(post_s) * 1000:>9.1f} ms")
    print(f"{'  mesh latencies, ms':<42} {', '.join(f'{v * 1000:.0f}' for v in sequential)}")
    floors = [(d + q) * 1000 for d, q in zip(denoise_s, post_s, strict=True)]
    print(f"{'  bare floors, ms':<42} {', '.join(f'{v:.0f}' for v in floors)}")
    for label, fraction in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99)):
        row(
            f"latency {label}, {args.clients} clients",
            percentile(concurrent, fraction) * 1000,
            "bare floor, 1 image",
            floor_ms,
            "ms",
        )
    row(
        f"throughput, {args.clients} clients",
        len(concurrent) / wall,
        "bare loop, one process",
        bare_ips,
        "img/s",
    )
    return 0
