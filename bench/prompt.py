"""Prompt benchmark: parse + build in process, and BuildPrompt over loopback gRPC.

Run from the repository root: ``python -m bench prompt [--rounds N]``. Targets (issue 3):
parse + build ≤ 0.2 ms median per prompt in process, BuildPrompt round trip ≤ 2 ms median
on loopback. Each figure is printed beside a baseline measured in the same run — the bare
parse for the first, the in-process servicer call and a bare gRPC health check for the
second — with the ratio, so the cost of construction and of the transport show apart.
"""

from __future__ import annotations

import argparse
import asyncio

from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench._timing import amedian_ms, median_ms
from imgen.prompt.v1 import prompt_pb2
from services.prompt.builder import PromptBuilder
from services.prompt.catalog import Catalog, default_catalog_path, load_catalog_file
from services.prompt.catalog_store import CatalogStore
from services.prompt.clip_tokens import load_token_counter
from services.prompt.main import Settings
from services.prompt.optimize import ExpansionEnhancer
from services.prompt.parser import parse_prompt
from services.prompt.servicer import PromptLimits, PromptServicer
from tests.prompt.service_runner import running

PARSE_BUILD_TARGET_MS = 0.2
ROUND_TRIP_TARGET_MS = 2.0

#: Typical prompts: the spec's example, no character, a long one, unicode and odd spacing.
PROMPTS: tuple[str, ...] = (
    "@aya black lingerie, sitting on bed, looking_at_viewer, warm lighting, -red dress, -ugly hands",
    "woman in a red coat, rainy street at night, neon glow, -blurry",
    "@bella " + ", ".join(f"detail {i}" for i in range(30)),
    "  Café  terrace ,, t-shirt,  -- ugly hands , 東京の夜, @Mia ",
)

#: Unmeasured calls before each timing (imports, caches, connection setup).
WARMUP = 50


def row(label: str, value_ms: float, baseline_ms: float | None = None, target_ms: float | None = None) -> str:
    """One table line: the figure, its ratio to the baseline and the target verdict."""
    ratio = f"{value_ms / baseline_ms:6.2f}x baseline" if baseline_ms else " (baseline)     "
    target = ""
    if target_ms is not None:
        target = f"   target <= {target_ms} ms: {'met' if value_ms <= target_ms else 'MISSED'}"
    return f"  {label:<34} {value_ms:8.4f} ms  {ratio}{target}"


def bench_in_process(catalog: Catalog, builder: PromptBuilder, rounds: int) -> None:
    """Parse + build against the bare parse, per prompt."""
    print("parse + build, in process (median per prompt)")
    for raw in PROMPTS:
        parse_ms = median_ms(lambda raw=raw: parse_prompt(raw, catalog.characters), rounds, WARMUP)  # type: ignore[misc]
        build_ms = median_ms(
            lambda raw=raw: builder.build(  # type: ignore[misc]
                catalog, parse_prompt(raw, catalog.characters), "eros", "cinematic", "blurry"
            ),
            rounds,
            WARMUP,
        )
        print(f"  prompt: {raw[:60]!r}")
        print(row("bare parse", parse_ms))
        print(row("parse + build", build_ms, parse_ms, PARSE_BUILD_TARGET_MS))


async def bench_round_trip(builder: PromptBuilder, rounds: int) -> None:
    """BuildPrompt over loopback gRPC against the in-process servicer call and a bare RPC."""
    servicer = PromptServicer(
        CatalogStore(default_catalog_path()), builder, ExpansionEnhancer(), PromptLimits(4000, 600)
    )
    request = prompt_pb2.BuildPromptRequest(
        raw_prompt=PROMPTS[0], model="eros", style="cinematic", explicit_negative="blurry"
    )
    settings = Settings(port=0, shutdown_grace_s=0.2, log_level="WARNING", log_format="json")
    in_process_ms = await amedian_ms(lambda: servicer.BuildPrompt(request, None), rounds, WARMUP)  # type: ignore[arg-type]
    async with running(settings) as (stub, channel):
        health = health_pb2_grpc.HealthStub(channel)
        ping = health_pb2.HealthCheckRequest(service="")
        health_ms = await amedian_ms(lambda: health.Check(ping, timeout=5), rounds, WARMUP)
        grpc_ms = await amedian_ms(lambda: stub.BuildPrompt(request, timeout=5), rounds, WARMUP)
    print("BuildPrompt (median per call)")
    print(row("in-process servicer call", in_process_ms))
    print(row("bare gRPC health check (loopback)", health_ms, in_process_ms))
    print(row("gRPC BuildPrompt (loopback)", grpc_ms, in_process_ms, ROUND_TRIP_TARGET_MS))
    print(f"  {'':<34} {grpc_ms / health_ms:8.2f}x the bare gRPC round trip")


def main(argv: list[str] | None = None) -> int:
    """Entry point for ``python -m bench prompt``."""
    parser = argparse.ArgumentParser(prog="python -m bench prompt")
    parser.add_argument("--rounds", type=int, default=2000, help="timed calls per figure")
    args, _ = parser.parse_known_args(argv or [])
    catalog = load_catalog_file(default_catalog_path())
    builder = PromptBuilder(load_token_counter(None))
    bench_in_process(catalog, builder, args.rounds)
    asyncio.run(bench_round_trip(builder, max(200, args.rounds // 4)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
