"""gRPC glue for ComplianceService: messages in, engine calls, messages out.

Until the engine has loaded (or when loading failed) every review answers UNAVAILABLE:
a compliance service that cannot judge must never answer "safe".
"""

from __future__ import annotations

import asyncio

import grpc

from imgen.compliance.v1 import compliance_pb2, compliance_pb2_grpc
from services.compliance.categories import Category
from services.compliance.engine_store import EngineStore
from services.compliance.findings import Verdict
from services.compliance.lexicon import PromptText
from services.compliance.review import ComplianceEngine
from services.shared.errors import Unavailable


def category_message(category: Category) -> compliance_pb2.Category:
    """The wire form of a category."""
    return compliance_pb2.Category(id=category.id, name=category.name, description=category.description)


def verdict_message(verdict: Verdict) -> compliance_pb2.Verdict:
    """The wire form of a verdict."""
    return compliance_pb2.Verdict(
        blocked=verdict.blocked,
        blocking=[category_message(c) for c in verdict.blocking],
        codes=list(verdict.codes),
        findings=[
            compliance_pb2.Finding(
                stage=f.stage,
                detector=f.detector,
                category_id=f.category_id,
                score=f.score,
                threshold=f.threshold,
                blocking=f.blocking,
                detail=f.detail,
            )
            for f in verdict.findings
        ],
    )


class ComplianceServicer(compliance_pb2_grpc.ComplianceServiceServicer):
    """Serves whatever engine the store holds; none yet means UNAVAILABLE."""

    def __init__(self, store: EngineStore) -> None:
        self.store = store

    def _ready(self) -> ComplianceEngine:
        engine = self.store.engine
        if engine is None:
            raise Unavailable("compliance detectors are not loaded")
        return engine

    async def ReviewPrompt(
        self, request: compliance_pb2.ReviewPromptRequest, context: grpc.aio.ServicerContext
    ) -> compliance_pb2.ReviewPromptResponse:
        engine = self._ready()
        texts = [PromptText(source=t.source, text=t.text) for t in request.texts]
        verdict = engine.review_prompt(request.model, texts)
        return compliance_pb2.ReviewPromptResponse(verdict=verdict_message(verdict))

    async def ReviewImage(
        self, request: compliance_pb2.ReviewImageRequest, context: grpc.aio.ServicerContext
    ) -> compliance_pb2.ReviewImageResponse:
        engine = self._ready()
        image = request.image
        verdict = await asyncio.to_thread(
            engine.review_image, request.model, image.width, image.height, image.rgb
        )
        return compliance_pb2.ReviewImageResponse(verdict=verdict_message(verdict))

    async def ListCategories(
        self, request: compliance_pb2.ListCategoriesRequest, context: grpc.aio.ServicerContext
    ) -> compliance_pb2.ListCategoriesResponse:
        engine = self._ready()
        return compliance_pb2.ListCategoriesResponse(
            categories=[category_message(c) for c in engine.categories]
        )
