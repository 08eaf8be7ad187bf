"""Inference benchmark: the worker against a bare diffusers ``pipe(...)`` in the same run.

Run from the repository root: ``python -m bench inference`` (tiny model, CPU, 1344×768).
Compliance, provenance and storage run as real ``imgen serve`` processes; the job store
is a SQLite file. Printed, each beside its baseline and the ratio:

- claim → image ready (claim, spec decoding, LoRA/scheduler choice, denoise, pixels)
  vs one bare ``pipe(...)`` call with the same arguments (target ≤ 1.05×);
- throughput of the worker with post-processing overlapped (claim → completed in the
  store, images signed and stored) vs a bare loop of ``pipe(...)`` (target ≥ 0.9×);
- peak RSS of a worker process (``role=worker``) that ran jobs at this size (≤ 1.5 GiB).

``--sdxl-size --device cuda`` swaps in an SDXL-sized pipeline (random weights, fp16,
UNet 320/640/1280 with 2048-wide cross-attention, CLIP-L/bigG-sized text encoders) at
30 steps; it needs a GPU and is not run on CPU-only machines.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import grpc

from imgen.compliance.v1 import compliance_pb2_grpc
from imgen.mesh import MeshConfig, free_port
from imgen.provenance.v1 import provenance_pb2_grpc
from imgen.storage.v1 import storage_pb2_grpc
from services.inference import migrate
from services.inference.job_spec import denoise_request
from services.inference.jobs.store import JobStore, sqlite_url
from services.inference.models import ModelRegistry, choose_device
from services.inference.worker import Upstreams, Worker, WorkerConfig
from tests.inference.helpers import job_spec
from tests.inference.processes import Processes

UPSTREAMS = ("compliance", "provenance", "storage")
GIB = 1024**3
TARGET_LATENCY = 1.05
TARGET_THROUGHPUT = 0.9
TARGET_RSS_GIB = 1.5


def build_sdxl_sized_model(folder: Path) -> Path:
    """An SDXL-shaped pipeline with random weights saved to ``folder`` (needs ~7 GB disk)."""
    import torch
    from diffusers import (
        AutoencoderKL,
        EulerDiscreteScheduler,
        StableDiffusionXLPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    from services.inference.clip_vocab import load_clip_tokenizer

    if (folder / "model_index.json").is_file():
        return folder
    torch.manual_seed(0)
    tokenizer = load_clip_tokenizer(folder / "tokenizer-src")
    common = {"vocab_size": 49408, "max_position_embeddings": 77, "hidden_act": "gelu"}
    text_l = CLIPTextConfig(
        hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12, **common
    )
    text_g = CLIPTextConfig(
        hidden_size=1280,
        intermediate_size=5120,
        num_hidden_layers=32,
        num_attention_heads=20,
        projection_dim=1280,
        **common,
    )
    unet = UNet2DConditionModel(
        sample_size=128,
        in_channels=4,
        out_channels=4,
        block_out_channels=(320, 640, 1280),
        layers_per_block=2,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(5, 10, 20),
        transformer_layers_per_block=(1, 2, 10),
        use_linear_projection=True,
        cross_attention_dim=2048,
        addition_embed_type="text_time",
        addition_time_embed_dim=256,
        projection_class_embeddings_input_dim=2816,
    )
    vae = AutoencoderKL(
        block_out_channels=(128, 256, 512, 512),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        layers_per_block=2,
        latent_channels=4,
        sample_size=1024,
        scaling_factor=0.13025,
    )
    pipe = StableDiffusionXLPipeline(
        vae=vae,
        text_encoder=CLIPTextModel(text_l),
        text_encoder_2=CLIPTextModelWithProjection(text_g),
        tokenizer=tokenizer,
        tokenizer_2=tokenizer,
        unet=unet,
        scheduler=EulerDiscreteScheduler(
            beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1
        ),
    )
    pipe.to(torch.float16).save_pretrained(folder, safe_serialization=True)
    return folder


def bare_call(pipe: Any, request: Any) -> Any:
    """What a hand-written script would do: one pipeline call with a seeded generator."""
    import torch

    generator = torch.Generator(device="cpu").manual_seed(request.seed)
    return pipe(
        prompt=request.positive,
        negative_prompt=request.negative or None,
        width=request.width,
        height=request.height,
        num_inference_steps=request.steps,
        guidance_scale=request.guidance_scale,
        generator=generator,
        output_type="pil",
    ).images[0]


def _spec(args: argparse.Namespace, model_source: str, seed: int) -> Any:
    spec = job_spec(width=args.width, height=args.height, seed=seed)
    spec.prompt.preset.model_source = model_source
    spec.prompt.preset.steps = args.steps
    return spec


def _row(name: str, value: float, baseline: float, unit: str, target: str) -> None:
    ratio = value / baseline if baseline else float("nan")
    print(
        f"{name:<34} {value:>10.3f} {unit:<6} baseline {baseline:>10.3f} {unit:<6} "
        f"ratio {ratio:6.3f}  ({target})"
    )


async def run(args: argparse.Namespace, root: Path) -> None:
    data_dir = root / "data"
    model_source = "builtin:tiny-sdxl"
    if args.sdxl_size:
        model_source = str(build_sdxl_sized_model(root / "sdxl-sized"))
    placement = choose_device(args.device)
    registry = ModelRegistry(data_dir, placement=placement, max_resident=1)
    pipe = registry.get(model_source).pipeline
    request = denoise_request(_spec(args, model_source, 0))
    print(
        f"model {model_source} on {placement.device}/{placement.dtype_name}, "
        f"{args.width}x{args.height}, {args.steps} steps"
    )

    bare_call(pipe, request)  # warm-up
    bare_s = []
    for index in range(args.repeat):
        started = time.perf_counter()
        bare_call(pipe, denoise_request(_spec(args, model_source, index)))
        bare_s.append(time.perf_counter() - started)
    started = time.perf_counter()
    for index in range(args.jobs):
        bare_call(pipe, denoise_request(_spec(args, model_source, 100 + index)))
    bare_loop_ips = args.jobs / (time.perf_counter() - started)

    config = MeshConfig.ephemeral(data_dir)
    processes = Processes(root, {**config.environment(), "IMGEN_LOG_FORMAT": "json"})
    url = sqlite_url(root / "jobs.sqlite3")
    store = JobStore(url)
    migrate.upgrade(store)
    try:
        addresses = {name: processes.start(name, name, {}, config.ports[name]) for name in UPSTREAMS}
        for name, address in addresses.items():
            processes.wait_serving(name, address)
        channels = [grpc.aio.insecure_channel(addresses[name]) for name in UPSTREAMS]
        upstreams = Upstreams(
            compliance=compliance_pb2_grpc.ComplianceServiceStub(channels[0]),
            provenance=provenance_pb2_grpc.ProvenanceServiceStub(channels[1]),
            storage=storage_pb2_grpc.StorageServiceStub(channels[2]),
        )
        worker = Worker(store, registry, upstreams, WorkerConfig(heartbeat_s=1.0, max_in_flight=2))

        # Each sample is paired with a bare call just before it, so a shared machine's load
        # shifts both alike; the bare samples taken before the upstreams started join them.
        claim_to_image = []
        for index in range(args.repeat):
            paired = time.perf_counter()
            bare_call(pipe, denoise_request(_spec(args, model_source, index)))
            bare_s.append(time.perf_counter() - paired)
            store.submit(_spec(args, model_source, index).SerializeToString())
            started = time.perf_counter()
            assert await worker.run_once()
            claim_to_image.append(time.perf_counter() - started)
            await worker.drain()

        ids = [
            store.submit(_spec(args, model_source, 100 + i).SerializeToString()).id for i in range(args.jobs)
        ]
        started = time.perf_counter()
        while await worker.run_once():
            pass
        await worker.drain()
        worker_ips = args.jobs / (time.perf_counter() - started)
        states = {store.get(job_id).state.value for job_id in ids}
        for channel in channels:
            await channel.close()

        rss_jobs = [store.submit(_spec(args, model_source, 200 + i).SerializeToString()).id for i in range(2)]
        worker_env = {
            "IMGEN_INFERENCE_ROLE": "worker",
            "IMGEN_INFERENCE_DATABASE_URL": url,
            "IMGEN_INFERENCE_POLL_INTERVAL_S": "0.1",
            "IMGEN_INFERENCE_DEVICE": args.device,
            "IMGEN_INFERENCE_PRELOAD_MODELS": f'["{model_source}"]',
        }
        processes.wait_serving("worker", processes.start("worker", "inference", worker_env, free_port()))
        deadline = time.monotonic() + 600
        while (
            not all(store.get(job_id).state.terminal for job_id in rss_jobs) and time.monotonic() < deadline
        ):
            await asyncio.sleep(0.2)
        peak_rss = processes.peak_rss_bytes("worker")
    finally:
        processes.stop_all()
        store.close()

    print(f"worker jobs ended as {sorted(states)}")
    print(f"{'measure':<34} {'value':>10} {'':<6} {'':>8} {'':>10}")
    _row(
        "claim -> image ready (median)",
        statistics.median(claim_to_image),
        statistics.median(bare_s),
        "s",
        f"target <= {TARGET_LATENCY}",
    )
    _row(
        "throughput, post-processing overlap",
        worker_ips,
        bare_loop_ips,
        "img/s",
        f"target >= {TARGET_THROUGHPUT}",
    )
    _row("peak RSS of a worker process", peak_rss / GIB, TARGET_RSS_GIB, "GiB", "baseline = the 1.5 GiB cap")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench inference", description=__doc__)
    parser.add_argument("--width", type=int, default=1344)
    parser.add_argument("--height", type=int, default=768)
    parser.add_argument("--steps", type=int, default=0, help="default: 4, or 30 with --sdxl-size")
    parser.add_argument("--repeat", type=int, default=5, help="samples of the single-call medians")
    parser.add_argument("--jobs", type=int, default=8, help="jobs in each throughput run")
    parser.add_argument("--device", choices=("cpu", "cuda", "auto"), default="cpu")
    parser.add_argument("--sdxl-size", action="store_true", help="SDXL-sized random fp16 model (GPU)")
    args = parser.parse_args(argv)
    if not args.steps:
        args.steps = 30 if args.sdxl_size else 4
    if args.sdxl_size and args.device == "cpu":
        parser.error("--sdxl-size needs --device cuda")
    with tempfile.TemporaryDirectory(prefix="imgen-bench-inference-") as scratch:
        asyncio.run(run(args, Path(scratch)))
    return 0
