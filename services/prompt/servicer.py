"""gRPC glue for PromptService: messages in, domain calls, messages out.

Everything interesting lives in the domain modules; this file converts messages and
enforces request size limits before any parsing happens.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from imgen.prompt.v1 import prompt_pb2, prompt_pb2_grpc
from services.prompt.builder import BuiltPrompt, PromptBuilder
from services.prompt.catalog_store import CatalogStore
from services.prompt.optimize import Enhancer, optimize_prompt, optimize_raw
from services.prompt.parser import parse_prompt, render
from services.prompt.random_prompt import random_prompt
from services.prompt.terms import strip_controls
from services.shared.errors import InvalidArgument


@dataclass(frozen=True)
class PromptLimits:
    """Size limits checked before parsing, so no request can make the service do unbounded work."""

    max_prompt_chars: int
    max_enhanced_chars: int


def check_length(field: str, text: str, limit: int) -> None:
    """``InvalidArgument`` when ``text`` is longer than ``limit`` characters."""
    if len(text) > limit:
        raise InvalidArgument(f"{field} is too long (at most {limit} characters)")


class PromptServicer(prompt_pb2_grpc.PromptServiceServicer):
    """Serves the catalog held by ``store`` with one builder and one enhancer."""

    def __init__(
        self, store: CatalogStore, builder: PromptBuilder, enhancer: Enhancer, limits: PromptLimits
    ) -> None:
        self._store = store
        self._builder = builder
        self._enhancer = enhancer
        self._limits = limits

    async def ListModels(
        self, request: prompt_pb2.ListModelsRequest, context: grpc.aio.ServicerContext
    ) -> prompt_pb2.ListModelsResponse:
        catalog = self._store.current
        return prompt_pb2.ListModelsResponse(
            characters=list(catalog.characters),
            models=[
                prompt_pb2.ModelInfo(
                    key=key,
                    label=model.label,
                    default_style=model.default_style,
                    styles=[
                        prompt_pb2.StyleInfo(key=k, label=style.label) for k, style in model.styles.items()
                    ],
                )
                for key, model in catalog.models.items()
            ],
        )

    async def BuildPrompt(
        self, request: prompt_pb2.BuildPromptRequest, context: grpc.aio.ServicerContext
    ) -> prompt_pb2.BuildPromptResponse:
        check_length("Prompt", request.raw_prompt, self._limits.max_prompt_chars)
        check_length("Negative", request.explicit_negative, self._limits.max_prompt_chars)
        catalog = self._store.current
        if request.optimize:
            parsed = await optimize_prompt(
                request.raw_prompt,
                catalog,
                self._enhancer,
                request.model,
                request.style,
                self._limits.max_enhanced_chars,
            )
            raw_out = render(parsed)
        else:
            parsed = parse_prompt(request.raw_prompt, catalog.characters)
            raw_out = strip_controls(request.raw_prompt).strip()
        built = self._builder.build(catalog, parsed, request.model, request.style, request.explicit_negative)
        return _build_response(built, raw_out, request.optimize)

    async def OptimizePrompt(
        self, request: prompt_pb2.OptimizePromptRequest, context: grpc.aio.ServicerContext
    ) -> prompt_pb2.OptimizePromptResponse:
        check_length("Prompt", request.raw_prompt, self._limits.max_prompt_chars)
        raw = await optimize_raw(
            request.raw_prompt,
            self._store.current,
            self._enhancer,
            request.model,
            request.style,
            self._limits.max_enhanced_chars,
        )
        return prompt_pb2.OptimizePromptResponse(raw_prompt=raw)

    async def RandomPrompt(
        self, request: prompt_pb2.RandomPromptRequest, context: grpc.aio.ServicerContext
    ) -> prompt_pb2.RandomPromptResponse:
        character = request.character if request.HasField("character") else None
        if character is not None:
            check_length("Character", character, 256)
        seed = request.seed if request.HasField("seed") else None
        raw = random_prompt(self._store.current, character, request.model, request.style, seed)
        return prompt_pb2.RandomPromptResponse(raw_prompt=raw)


def _build_response(built: BuiltPrompt, raw_prompt: str, optimized: bool) -> prompt_pb2.BuildPromptResponse:
    preset = built.preset
    response = prompt_pb2.BuildPromptResponse(
        raw_prompt=raw_prompt,
        model=built.model,
        style=built.style,
        character=built.character or "",
        positive=built.positive,
        negative=built.negative,
        optimized=optimized,
        preset=prompt_pb2.GenerationPreset(
            model_source=built.model_source,
            scheduler=preset.scheduler,
            steps=preset.steps,
            guidance_scale=preset.guidance_scale,
            width=preset.width or 0,
            height=preset.height or 0,
        ),
        review_texts=[prompt_pb2.ReviewText(source=r.source, text=r.text) for r in built.review_texts],
        notes=list(built.notes),
    )
    if built.lora is not None:
        response.lora.CopyFrom(
            prompt_pb2.LoraRef(name=built.lora.name, source=built.lora.source, weight=built.lora.weight)
        )
    return response
