"""PromptService over real gRPC: the runtime in-process on a free port."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from imgen.prompt.v1 import prompt_pb2, prompt_pb2_grpc
from services.prompt.catalog import default_catalog_path, load_catalog_file
from services.prompt.main import Settings
from tests.prompt.conftest import SMALL_CATALOG
from tests.prompt.service_runner import running


@pytest.fixture
async def stub(tmp_path: Path) -> AsyncIterator[tuple[prompt_pb2_grpc.PromptServiceStub, Path]]:
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(SMALL_CATALOG)
    settings = Settings(
        port=0,
        catalog_path=catalog,
        reload_interval_s=0.05,
        max_prompt_chars=500,
        shutdown_grace_s=0.1,
        log_format="json",
        log_level="WARNING",
    )
    async with running(settings) as (client, _):
        yield client, catalog


@pytest.fixture
async def default_stub() -> AsyncIterator[prompt_pb2_grpc.PromptServiceStub]:
    settings = Settings(port=0, shutdown_grace_s=0.1, log_format="json", log_level="WARNING")
    async with running(settings) as (client, _):
        yield client


async def test_list_models_in_catalog_order(stub: tuple[prompt_pb2_grpc.PromptServiceStub, Path]) -> None:
    client, _ = stub
    reply = await client.ListModels(prompt_pb2.ListModelsRequest(), timeout=5)
    assert list(reply.characters) == ["aya", "zed"]
    assert [m.key for m in reply.models] == ["first", "second"]
    assert reply.models[0].label == "First" and reply.models[0].default_style == "plain"
    assert [(s.key, s.label) for s in reply.models[0].styles] == [("plain", "Plain"), ("bare", "Bare")]


async def test_build_prompt_spec_example(default_stub: prompt_pb2_grpc.PromptServiceStub) -> None:
    raw = "@aya black lingerie, sitting on bed, looking_at_viewer, warm lighting, -red dress, -ugly hands"
    reply = await default_stub.BuildPrompt(
        prompt_pb2.BuildPromptRequest(raw_prompt=raw, model="nope", style="", explicit_negative="blurry"),
        timeout=5,
    )
    assert (reply.model, reply.style, reply.character, reply.raw_prompt) == (
        "eros",
        "professional",
        "aya",
        raw,
    )
    assert reply.positive.startswith("photo of aya, ")
    assert "black lingerie, sitting on bed, looking_at_viewer, warm lighting" in reply.positive
    assert reply.negative.endswith("red dress, ugly hands")  # "blurry" is already a base negative
    assert reply.preset.model_source == "builtin:tiny-sdxl" and reply.preset.steps == 6
    assert reply.preset.scheduler == "EulerDiscreteScheduler"
    assert not reply.optimized
    aya_lora = load_catalog_file(default_catalog_path()).characters["aya"].lora
    assert reply.HasField("lora") == bool(aya_lora and aya_lora.source)
    assert [r.source for r in reply.review_texts] == ["user", "negative", "character", "style"]


async def test_build_prompt_optimized_keeps_protected_parts(
    default_stub: prompt_pb2_grpc.PromptServiceStub,
) -> None:
    reply = await default_stub.BuildPrompt(
        prompt_pb2.BuildPromptRequest(raw_prompt="@aya black lingerie, on bed, -red dress", optimize=True),
        timeout=5,
    )
    assert reply.optimized
    assert reply.raw_prompt.startswith("@aya black lingerie, on bed, ") and reply.raw_prompt.endswith(
        ", -red dress"
    )
    assert reply.raw_prompt != "@aya black lingerie, on bed, -red dress"
    optimized = await default_stub.OptimizePrompt(
        prompt_pb2.OptimizePromptRequest(raw_prompt="@aya black lingerie, on bed, -red dress", model="eros"),
        timeout=5,
    )
    assert optimized.raw_prompt == reply.raw_prompt


async def test_lora_and_random(stub: tuple[prompt_pb2_grpc.PromptServiceStub, Path]) -> None:
    client, _ = stub
    reply = await client.BuildPrompt(prompt_pb2.BuildPromptRequest(raw_prompt="@Aya coat"), timeout=5)
    assert (reply.lora.name, reply.lora.source) == ("aya", "builtin:aya")
    assert reply.lora.weight == pytest.approx(0.7)
    seeded = prompt_pb2.RandomPromptRequest(seed=3)
    first = await client.RandomPrompt(seeded, timeout=5)
    assert first.raw_prompt == (await client.RandomPrompt(seeded, timeout=5)).raw_prompt
    assert first.raw_prompt.startswith("@aya ")
    none = await client.RandomPrompt(prompt_pb2.RandomPromptRequest(character="", seed=3), timeout=5)
    assert not none.raw_prompt.startswith("@")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda c: c.BuildPrompt(prompt_pb2.BuildPromptRequest(raw_prompt=" "), timeout=5),
            "Prompt is required",
        ),
        (
            lambda c: c.BuildPrompt(prompt_pb2.BuildPromptRequest(raw_prompt="@bob hi"), timeout=5),
            "Invalid character",
        ),
        (
            lambda c: c.BuildPrompt(
                prompt_pb2.BuildPromptRequest(raw_prompt="@zed hi", model="first"), timeout=5
            ),
            "Invalid character",
        ),
        (
            lambda c: c.OptimizePrompt(prompt_pb2.OptimizePromptRequest(raw_prompt=""), timeout=5),
            "Prompt is required",
        ),
        (
            lambda c: c.RandomPrompt(prompt_pb2.RandomPromptRequest(character="bob"), timeout=5),
            "Invalid character",
        ),
        (
            lambda c: c.BuildPrompt(prompt_pb2.BuildPromptRequest(raw_prompt="x" * 501), timeout=5),
            "Prompt is too long (at most 500 characters)",
        ),
    ],
)
async def test_errors_are_invalid_argument(
    stub: tuple[prompt_pb2_grpc.PromptServiceStub, Path], call, message
) -> None:  # type: ignore[no-untyped-def]
    client, _ = stub
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(client)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details() == message


async def test_catalog_edit_is_served_without_restart(
    stub: tuple[prompt_pb2_grpc.PromptServiceStub, Path],
) -> None:
    client, path = stub
    path.write_text(SMALL_CATALOG.replace("label: First", "label: Edited"))
    for _ in range(200):
        reply = await client.ListModels(prompt_pb2.ListModelsRequest(), timeout=5)
        if reply.models[0].label == "Edited":
            break
        await asyncio.sleep(0.02)
    assert reply.models[0].label == "Edited"
    path.write_text("models: [broken")
    await asyncio.sleep(0.2)
    reply = await client.ListModels(prompt_pb2.ListModelsRequest(), timeout=5)
    assert reply.models[0].label == "Edited"
