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
The overhead is split per stage within the same run: every process of the mesh serves
its Prometheus metrics, scraped before and after the sequential images, and the mean
of each stage's own histogram over those images (gateway ``generate``, prompt build and
review, queue wait, denoise, image review, finalize, store, completion, ``status``
polls) is printed beside its bare counterpart. Per-stage figures with their own
baselines (finalize per format, presign, ...) come from ``bench prompt``, ``bench
compliance``, ``bench inference``, ``bench provenance`` and ``bench storage``.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import multiprocessing
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench._metrics import Histograms, mean_between, scrape_all
from imgen.client import AsyncImgenClient, PollPolicy
from imgen.mesh import GRPC_SERVICES, Mesh, MeshConfig, free_port, running_mesh

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


def _bare_process(connection: Any, data_dir: Path, width: int, height: int, retain: bool) -> None:
    """The baseline's own process: a bare script holding the pipeline, timing what it is asked to.

    ``retain`` applies the worker's allocator setting first (``inference.retain_freed_memory``),
    which makes the same ``pipe(...)`` faster; with it, the floor is the one the worker
    itself could reach, and what remains of the overhead is the service's own cost.
    """
    if retain:
        from services.shared.allocator import retain_freed_memory

        retain_freed_memory()
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

    def __init__(self, data_dir: Path, width: int, height: int, *, retain: bool = False) -> None:
        context = multiprocessing.get_context("spawn")
        self.connection, child = context.Pipe()
        self.process = context.Process(target=_bare_process, args=(child, data_dir, width, height, retain))
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


def metrics_urls(mesh: Mesh) -> dict[str, str]:
    """Each process's ``/metrics`` (the gateway serves its own on the API port)."""
    host = mesh.config.host
    urls = {name: f"http://{host}:{port}/metrics" for name, port in mesh.config.metrics_ports.items()}
    urls["gateway"] = f"{mesh.base_url}/metrics"
    return urls


#: (label, process, metric, labels): the stages of one image in the order a job meets them.
STAGES: tuple[tuple[str, str, str, dict[str, str]], ...] = (
    ("gateway generate (HTTP, whole)", "gateway", "imgen_gateway_request_seconds", {"action": "generate"}),
    ("  BuildPrompt (prompt service)", "prompt", "imgen_grpc_request_seconds", {"method": "BuildPrompt"}),
    ("  ReviewPrompt (compliance)", "compliance", "imgen_grpc_request_seconds", {"method": "ReviewPrompt"}),
    ("  SubmitJob (inference)", "inference", "imgen_grpc_request_seconds", {"method": "SubmitJob"}),
    ("queue wait (submit -> claim)", "inference", "imgen_job_queue_wait_seconds", {}),
    ("denoise (worker)", "inference", "imgen_job_stage_seconds", {"stage": "denoise"}),
    ("review (worker)", "inference", "imgen_job_stage_seconds", {"stage": "review"}),
    ("  ReviewImage (compliance)", "compliance", "imgen_grpc_request_seconds", {"method": "ReviewImage"}),
    ("finalize (worker)", "inference", "imgen_job_stage_seconds", {"stage": "finalize"}),
    ("  Finalize (provenance)", "provenance", "imgen_grpc_request_seconds", {"method": "Finalize"}),
    ("store (worker, 2 PUTs)", "inference", "imgen_job_stage_seconds", {"stage": "store"}),
    ("complete (job row written)", "inference", "imgen_job_stage_seconds", {"stage": "complete"}),
    ("gateway status poll (each)", "gateway", "imgen_gateway_request_seconds", {"action": "status"}),
)
#: Stages a job passes through in sequence (nested rows, marked by indent, are parts of one).
TOP_LEVEL = ("gateway generate", "queue wait", "denoise", "review (", "finalize (", "store (", "complete")


def print_breakdown(
    before: dict[str, Histograms],
    after: dict[str, Histograms],
    images: int,
    bare_denoise_ms: float,
    tuned_denoise_ms: float,
    bare_post_ms: float,
    latency_ms: float,
) -> None:
    """Mean time per image of each stage over the sequential images, beside its bare floor."""
    print(f"per stage, mean over the {images} sequential images (each process's own histograms):")
    in_sequence = denoise_ms = 0.0
    for label, process, metric, labels in STAGES:
        mean = mean_between(before.get(process, {}), after.get(process, {}), metric, **labels)
        if mean is None:
            print(f"  {label:<40} {'not seen':>9}")
            continue
        ms = mean.seconds * 1000
        extra = f"   x{mean.count / images:.1f} per image" if mean.count != images else ""
        if label.startswith("denoise"):
            denoise_ms = ms
            extra += (
                f"   | bare pipe(...) {bare_denoise_ms:.1f} ms, x{ms / bare_denoise_ms:.3f}; "
                f"with the allocator setting {tuned_denoise_ms:.1f} ms, x{ms / tuned_denoise_ms:.3f}"
            )
        print(f"  {label:<40} {ms:>9.1f} ms{extra}")
        if label.startswith(TOP_LEVEL):
            in_sequence += ms
    print(f"  {'sum of the stages in sequence':<40} {in_sequence:>9.1f} ms")
    print(f"  {'client latency - that sum (polling, HTTP)':<40} {latency_ms - in_sequence:>9.1f} ms")
    print(
        f"  {'everything but the denoise':<40} {latency_ms - denoise_ms:>9.1f} ms"
        f"   | bare post-processing {bare_post_ms:.1f} ms, x{(latency_ms - denoise_ms) / bare_post_ms:.2f}"
    )


@dataclass
class Floor:
    """One bare baseline's per-image timings, in the order the images ran."""

    denoise_s: list[float]
    post_s: list[float]

    def totals_ms(self) -> list[float]:
        return [(d + q) * 1000 for d, q in zip(self.denoise_s, self.post_s, strict=True)]

    def median_ms(self) -> float:
        return statistics.median(self.denoise_s) * 1000 + statistics.median(self.post_s) * 1000


def paired_overhead_ms(latencies_s: list[float], floor: Floor) -> float:
    """Median over images of (mesh latency − the bare floor measured right after it)."""
    return statistics.median(
        latency * 1000 - total for latency, total in zip(latencies_s, floor.totals_ms(), strict=True)
    )


def print_overheads(sequential: list[float], plain: Floor, tuned: Floor) -> None:
    latency_ms = statistics.median(sequential) * 1000
    row("latency p50, 1 client", latency_ms, "bare pipe + bare post-processing", plain.median_ms(), "ms")
    print(
        f"{'service overhead p50 (target <= 40 ms)':<42} {paired_overhead_ms(sequential, plain):>9.1f} ms"
        "    | median of (latency - bare floor) per image"
    )
    print(
        f"{'  same, floor with the worker allocator':<42} {paired_overhead_ms(sequential, tuned):>9.1f} ms"
        "    | bare script with retain_freed_memory too"
    )
    for label, floor in (("bare", plain), ("bare + allocator setting", tuned)):
        print(f"{f'  {label}: pipe(...) p50':<42} {statistics.median(floor.denoise_s) * 1000:>9.1f} ms")
        print(f"{f'  {label}: post-processing p50':<42} {statistics.median(floor.post_s) * 1000:>9.1f} ms")
        print(f"{f'  {label}: floors, ms':<42} {', '.join(f'{v:.0f}' for v in floor.totals_ms())}")
    print(f"{'  mesh latencies, ms':<42} {', '.join(f'{v * 1000:.0f}' for v in sequential)}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench e2e")
    parser.add_argument("--clients", type=int, default=2, help="concurrent clients in the throughput run")
    parser.add_argument("--images", type=int, default=5, help="images per client (and sequential images)")
    parser.add_argument("--poll", type=float, default=0.05, help="poll interval, seconds (spec: 3)")
    parser.add_argument("--width", type=int, default=1344)
    parser.add_argument("--height", type=int, default=768)
    args = parser.parse_args(argv)
    poll = PollPolicy(interval_s=args.poll, max_polls=int(600 / args.poll))

    with tempfile.TemporaryDirectory(prefix="imgen-bench-e2e-") as root:
        data_dir = Path(root) / "data"
        config = MeshConfig.ephemeral(data_dir)
        config.metrics_ports = {name: free_port() for name in GRPC_SERVICES}
        with running_mesh(config, timeout=300) as mesh:
            asyncio.run(drive(mesh.api_url, mesh.api_key, 1, 1, poll, 0))  # warm-up: model, caches
            bare = BareProcess(data_dir, args.width, args.height)
            tuned_bare = BareProcess(data_dir, args.width, args.height, retain=True)
            urls = metrics_urls(mesh)
            before = scrape_all(urls)
            # Interleaved: one image through the mesh, then one by each bare script, so all
            # three see the same machine load (a shared machine drifts more than the overhead).
            sequential: list[float] = []
            plain, tuned = Floor([], []), Floor([], [])
            for index in range(args.images):
                latencies, _ = asyncio.run(drive(mesh.api_url, mesh.api_key, 1, 1, poll, 10 + index))
                sequential.extend(latencies)
                for script, floor in ((bare, plain), (tuned_bare, tuned)):
                    denoised, posted = script.image(index)
                    floor.denoise_s.append(denoised)
                    floor.post_s.append(posted)
            after = scrape_all(urls)
            tuned_bare.close()
            concurrent, wall = asyncio.run(
                drive(mesh.api_url, mesh.api_key, args.clients, args.images, poll, 100)
            )
            loop_started = time.perf_counter()
            for index in range(args.clients * args.images):
                bare.image(100 + index)
            bare.close()
            bare_ips = args.clients * args.images / (time.perf_counter() - loop_started)

    floor_ms = plain.median_ms()
    print(
        f"tiny model {args.width}x{args.height}, {bare.steps} steps, jpeg q95, poll every {args.poll}s, "
        f"{args.images} sequential images, {args.clients} clients x {args.images} images"
    )
    print(f"{'measure':<42} {'value':>15} | {'baseline':<34} {'value':>15} | ratio")
    print_overheads(sequential, plain, tuned)
    print_breakdown(
        before,
        after,
        args.images,
        statistics.median(plain.denoise_s) * 1000,
        statistics.median(tuned.denoise_s) * 1000,
        statistics.median(plain.post_s) * 1000,
        statistics.mean(sequential) * 1000,
    )
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
