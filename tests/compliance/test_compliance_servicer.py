"""ComplianceService over real gRPC: reviews, categories, input errors and readiness."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import numpy as np
import pdqhash
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from imgen.common.v1 import image_pb2
from imgen.compliance.v1 import compliance_pb2, compliance_pb2_grpc
from services.compliance.main import SERVICE_NAMES, ComplianceRuntime, Settings, build_runtime
from services.shared.channels import open_channel
from services.shared.pdq_index import bits_to_bytes, bytes_to_hex
from tests.compliance.policies import default_policy, lexicon_policy, without_learned_detectors, write_policy

SERVICE = SERVICE_NAMES[0]


def noise_image(seed: int, width: int = 96, height: int = 64) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


async def health_status(port: int) -> int:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=SERVICE), timeout=2
        )
        return reply.status


async def start(settings: Settings) -> tuple[ComplianceRuntime, asyncio.Task[None]]:
    runtime = build_runtime(settings)
    task = asyncio.create_task(runtime.run(SERVICE_NAMES))
    for _ in range(200):
        if runtime.bound_port:
            break
        await asyncio.sleep(0.02)
    return runtime, task


async def wait_for_status(port: int, wanted: int, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while await health_status(port) != wanted:
        assert asyncio.get_running_loop().time() < deadline, f"health never became {wanted}"
        await asyncio.sleep(0.05)


@pytest.fixture
async def served(
    tmp_path: Path,
) -> AsyncIterator[tuple[compliance_pb2_grpc.ComplianceServiceStub, np.ndarray]]:
    bad = noise_image(1)
    bits, _ = pdqhash.compute(bad)
    hash_list = tmp_path / "known_bad.txt"
    hash_list.write_text(bytes_to_hex(bits_to_bytes(bits)) + " hate\n")
    settings = Settings(
        port=0,
        policy_path=lexicon_policy(tmp_path),
        hash_list_paths=[hash_list],
        shutdown_grace_s=0.2,
        log_format="json",
    )
    runtime, task = await start(settings)
    await wait_for_status(runtime.bound_port, health_pb2.HealthCheckResponse.SERVING)
    async with open_channel(f"127.0.0.1:{runtime.bound_port}", settings) as channel:
        yield compliance_pb2_grpc.ComplianceServiceStub(channel), bad
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def prompt_request(model: str, user: str, negative: str = "") -> compliance_pb2.ReviewPromptRequest:
    return compliance_pb2.ReviewPromptRequest(
        model=model,
        style="professional",
        texts=[
            compliance_pb2.ReviewedText(source="user", text=user),
            compliance_pb2.ReviewedText(source="negative", text=negative),
        ],
    )


def raw(image: np.ndarray) -> image_pb2.RawImage:
    return image_pb2.RawImage(width=image.shape[1], height=image.shape[0], rgb=image.tobytes())


async def test_review_prompt_blocked_safe_and_codes(served: tuple) -> None:
    stub, _ = served
    blocked = (await stub.ReviewPrompt(prompt_request("eros", "t33n, nude, on bed"))).verdict
    assert blocked.blocked
    assert [(c.id, c.name) for c in blocked.blocking] == [("minors", "Minors")]
    assert list(blocked.codes) == ["nudity"]
    assert {f.category_id for f in blocked.findings} == {"minors", "nudity"}
    assert all(f.stage == "prompt" and f.detector == "lexicon" for f in blocked.findings)

    safe = (
        await stub.ReviewPrompt(prompt_request("eros", "@aya black lingerie, on bed", "red dress"))
    ).verdict
    assert not safe.blocked and list(safe.codes) == [] and list(safe.findings) == []

    other_model = (await stub.ReviewPrompt(prompt_request("other", "nude portrait, gore"))).verdict
    assert [c.id for c in other_model.blocking] == ["violence_gore", "nudity"]


async def test_review_image_matches_the_hash_list(served: tuple) -> None:
    stub, bad = served
    verdict = (
        await stub.ReviewImage(compliance_pb2.ReviewImageRequest(model="eros", image=raw(bad)))
    ).verdict
    assert verdict.blocked and [c.id for c in verdict.blocking] == ["hate"]
    assert verdict.findings[0].stage == "image" and verdict.findings[0].detector == "pdq"
    clean = await stub.ReviewImage(compliance_pb2.ReviewImageRequest(model="eros", image=raw(noise_image(2))))
    assert not clean.verdict.blocked and list(clean.verdict.findings) == []


async def test_bad_input_is_invalid_argument(served: tuple) -> None:
    stub, _ = served
    short = image_pb2.RawImage(width=10, height=10, rgb=b"\x00" * 299)
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await stub.ReviewImage(compliance_pb2.ReviewImageRequest(model="eros", image=short))
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "expected width*height*3" in (error.value.details() or "")
    huge = compliance_pb2.ReviewPromptRequest(
        texts=[compliance_pb2.ReviewedText(source="user", text="a" * 20_001)]
    )
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await stub.ReviewPrompt(huge)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_list_categories(served: tuple) -> None:
    stub, _ = served
    reply = await stub.ListCategories(compliance_pb2.ListCategoriesRequest())
    assert [c.id for c in reply.categories][:1] == ["minors"]
    assert len(reply.categories) == 7 and all(c.name and c.description for c in reply.categories)


async def test_failed_load_stays_not_serving_then_recovers(tmp_path: Path) -> None:
    hash_list = tmp_path / "list.txt"
    hash_list.write_text("not a hash\n")
    settings = Settings(
        port=0,
        policy_path=lexicon_policy(tmp_path),
        hash_list_paths=[hash_list],
        reload_interval_s=0.1,
        shutdown_grace_s=0.2,
    )
    runtime, task = await start(settings)
    try:
        await asyncio.sleep(0.3)
        assert await health_status(runtime.bound_port) == health_pb2.HealthCheckResponse.NOT_SERVING
        async with open_channel(f"127.0.0.1:{runtime.bound_port}", settings) as channel:
            stub = compliance_pb2_grpc.ComplianceServiceStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as error:
                await stub.ReviewPrompt(prompt_request("eros", "a cat"))
            assert error.value.code() == grpc.StatusCode.UNAVAILABLE

            hash_list.write_text("ab" * 32 + "\n")
            await wait_for_status(runtime.bound_port, health_pb2.HealthCheckResponse.SERVING)
            verdict = (await stub.ReviewPrompt(prompt_request("eros", "a cat"))).verdict
            assert not verdict.blocked
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_detector_model_that_fails_to_load_keeps_health_not_serving(tmp_path: Path) -> None:
    """NudeNet pointed at a missing model file: never SERVING, every review UNAVAILABLE."""
    policy = write_policy(without_learned_detectors(default_policy(), keep=("nudenet",)), tmp_path)
    settings = Settings(
        port=0,
        policy_path=policy,
        nudenet_model_path=tmp_path / "missing-320n.onnx",
        reload_interval_s=0.1,
        shutdown_grace_s=0.2,
    )
    runtime, task = await start(settings)
    try:
        await asyncio.sleep(0.4)  # several load retries
        assert await health_status(runtime.bound_port) == health_pb2.HealthCheckResponse.NOT_SERVING
        async with open_channel(f"127.0.0.1:{runtime.bound_port}", settings) as channel:
            stub = compliance_pb2_grpc.ComplianceServiceStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as error:
                await stub.ReviewImage(
                    compliance_pb2.ReviewImageRequest(model="eros", image=raw(noise_image(3)))
                )
            assert error.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_editing_a_names_file_reloads_the_engine(tmp_path: Path) -> None:
    """A public figure added to a names file flags without a restart."""
    raw = without_learned_detectors(default_policy())
    raw["term_groups"]["public_figures"]["names_files"] = ["figures.txt"]
    names = tmp_path / "figures.txt"
    names.write_text("Ottoline Marchbanks-Vey\n", encoding="utf-8")
    settings = Settings(
        port=0, policy_path=write_policy(raw, tmp_path), reload_interval_s=0.1, shutdown_grace_s=0.2
    )
    runtime, task = await start(settings)
    try:
        await wait_for_status(runtime.bound_port, health_pb2.HealthCheckResponse.SERVING)
        async with open_channel(f"127.0.0.1:{runtime.bound_port}", settings) as channel:
            stub = compliance_pb2_grpc.ComplianceServiceStub(channel)
            added = prompt_request("eros", "quillon dastrevant shaking hands at a summit")
            assert not (await stub.ReviewPrompt(added)).verdict.blocked
            names.write_text("Ottoline Marchbanks-Vey\nQuillon Dastrevant\n", encoding="utf-8")
            for _ in range(100):
                verdict = (await stub.ReviewPrompt(added)).verdict
                if verdict.blocked:
                    break
                await asyncio.sleep(0.05)
            assert verdict.blocked and [c.id for c in verdict.blocking] == ["real_people"]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
