"""Entry point of the prompt service: settings, wiring, and ``serve``."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, SecretStr, field_validator

from imgen.prompt.v1 import prompt_pb2, prompt_pb2_grpc
from services.prompt.builder import PromptBuilder
from services.prompt.bundled_models import bundled_gguf_path, bundled_model, ensure_converted
from services.prompt.catalog import default_catalog_path
from services.prompt.catalog_store import CatalogStore
from services.prompt.clip_tokens import load_token_counter
from services.prompt.enhancer_local import LocalLMEnhancer, ModelLocation
from services.prompt.enhancer_openai import OpenAIEnhancer
from services.prompt.optimize import Enhancer, ExpansionEnhancer
from services.prompt.servicer import PromptLimits, PromptServicer
from services.shared.server import ServiceRuntime, service_name
from services.shared.settings import ServiceSettings


class Settings(ServiceSettings):
    """Settings of the prompt service (YAML section ``prompt``, env ``IMGEN_PROMPT_*``)."""

    section: ClassVar[str] = "prompt"

    port: int = Field(50061, description="gRPC port of the prompt service.")
    catalog_path: Path | None = Field(
        None, description="Catalog YAML file; empty uses the catalog shipped in the package."
    )
    reload_interval_s: float = Field(
        2.0, gt=0, description="Seconds between checks of the catalog file for changes."
    )
    optimizer: Literal["expand", "openai", "local"] = Field(
        "expand",
        description="Prompt enhancer: 'expand' (embedded, deterministic), 'openai' (any "
        "OpenAI-compatible endpoint) or 'local' (a transformers model: local_model_path, else the "
        "bundled local_model).",
    )
    max_prompt_chars: int = Field(4000, gt=0, description="Longest raw prompt or negative accepted.")
    max_enhanced_chars: int = Field(
        600,
        gt=0,
        le=10_000,
        description="Longest positive text an enhancer may produce; whole terms beyond are cut.",
    )
    clip_bpe_path: Path | None = Field(
        None, description="CLIP merges file for token counts; empty finds the one in open-clip-torch."
    )
    openai_base_url: str = Field(
        "", description="Base URL of the OpenAI-compatible API, e.g. http://llm:8000/v1."
    )
    openai_model: str = Field("", description="Model name sent to the OpenAI-compatible API.")
    openai_api_key: SecretStr | None = Field(None, description="Bearer key for the OpenAI-compatible API.")
    openai_timeout_s: float = Field(20.0, gt=0, description="Timeout of one enhancement call, seconds.")
    openai_retries: int = Field(2, ge=0, le=10, description="Retries after a transient enhancement failure.")
    local_model_path: Path | None = Field(
        None, description="Folder of the local transformers model ('local'); overrides local_model."
    )
    local_model: str = Field(
        "smollm2",
        description="Bundled model for 'local' when no local_model_path is set: 'smollm2' is "
        "SmolLM2-135M-Instruct from the optimize-local extra, converted once into "
        "<data_dir>/prompt/models.",
    )
    local_max_new_tokens: int = Field(60, gt=0, le=512, description="Tokens the local model may generate.")

    @field_validator("catalog_path", "clip_bpe_path", "local_model_path", mode="before")
    @classmethod
    def _empty_path_is_unset(cls, value: object) -> object:
        """``IMGEN_PROMPT_CATALOG_PATH=""`` means "the default", not the current directory."""
        return None if isinstance(value, str) and not value.strip() else value


def build_enhancer(settings: Settings) -> Enhancer:
    """The enhancer ``settings.optimizer`` names, configured from the settings."""
    if settings.optimizer == "openai":
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        return OpenAIEnhancer(
            settings.openai_base_url,
            settings.openai_model,
            api_key=key,
            timeout_s=settings.openai_timeout_s,
            retries=settings.openai_retries,
        )
    if settings.optimizer == "local":
        return LocalLMEnhancer(local_model_location(settings), settings.local_max_new_tokens)
    return ExpansionEnhancer()


def local_model_location(settings: Settings) -> ModelLocation:
    """The configured folder, or the bundled model (checked installed now, converted at startup)."""
    if settings.local_model_path is not None:
        return settings.local_model_path
    if not settings.local_model.strip():
        raise ValueError("optimizer 'local' needs prompt.local_model_path or prompt.local_model")
    model = bundled_model(settings.local_model)
    bundled_gguf_path(model)  # fail at startup, with the install hint, when the package is missing
    cache_dir = settings.data_dir / "prompt" / "models"
    return partial(ensure_converted, model, cache_dir)


def build_runtime(settings: Settings) -> ServiceRuntime:
    """A runtime with the prompt servicer registered and the catalog watcher scheduled."""
    runtime = ServiceRuntime("prompt", settings)
    store = CatalogStore(settings.catalog_path or default_catalog_path())
    enhancer = build_enhancer(settings)
    servicer = PromptServicer(
        store,
        PromptBuilder(load_token_counter(settings.clip_bpe_path)),
        enhancer,
        PromptLimits(settings.max_prompt_chars, settings.max_enhanced_chars),
    )
    prompt_pb2_grpc.add_PromptServiceServicer_to_server(servicer, runtime.server)

    async def watch_catalog() -> None:
        await store.watch(settings.reload_interval_s)

    runtime.background(watch_catalog)
    if isinstance(enhancer, LocalLMEnhancer):
        runtime.on_startup(enhancer.load)
    if isinstance(enhancer, OpenAIEnhancer):
        runtime.on_shutdown(enhancer.aclose)
    return runtime


SERVICE_NAMES = [service_name(prompt_pb2, "PromptService")]


async def serve(settings: Settings) -> None:
    """Run the prompt service until SIGTERM/SIGINT."""
    await build_runtime(settings).run(SERVICE_NAMES)
