"""One coroutine per v2 action: normalize the body, call the services, shape the answer.

Handlers raise :class:`gateway.errors.ApiError` for every failure; the app renders it.
Upstream errors go through :func:`gateway.errors.from_rpc_error` only.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc

from gateway.actions import (
    normalize_generate,
    normalize_job,
    normalize_optimize,
    normalize_random,
)
from gateway.errors import (
    BAD_ID,
    ENHANCEMENT_FAILED,
    GENERATION_FAILED,
    ApiError,
    from_rpc_error,
)
from gateway.job_view import ENDED, job_view, needs_urls, state_name
from gateway.keys import ApiKeyRecord
from gateway.request_model import DEFAULT_SIZE, VALID_SIZES, GenerateRequest, Limits
from gateway.status_cache import StatusCache
from gateway.upstream import Upstreams
from gateway.verify_action import PROVENANCE_CHANNEL, verify
from gateway.webhooks.registry import Webhooks
from imgen.compliance.v1 import compliance_pb2
from imgen.inference.v1 import inference_pb2
from imgen.prompt.v1 import prompt_pb2
from imgen.provenance.v1 import provenance_pb2, provenance_pb2_grpc
from imgen.storage.v1 import storage_pb2
from services.shared.logging import get_logger
from services.shared.tracing import current_traceparent

log = get_logger(__name__)

Body = dict[str, Any]


@dataclass(frozen=True)
class ActionContext:
    """What every handler may use for one request."""

    upstreams: Upstreams
    limits: Limits
    key: ApiKeyRecord
    optimize_timeout_s: float
    presign_expires_s: int
    enable_invisimark: bool
    enable_c2pa: bool
    compute_pdq: bool
    #: Completion webhooks; None when the app runs without them.
    webhooks: Webhooks | None = None
    #: Recent ``status`` answers of finished jobs; None: every poll asks the services.
    status_cache: StatusCache | None = None


Handler = Callable[[ActionContext, Body], Awaitable[dict[str, Any]]]


def _logged(exc: grpc.RpcError, call: str) -> grpc.RpcError:
    """Log an upstream failure once, with its code, before it is mapped."""
    code = exc.code() if hasattr(exc, "code") else None
    log.warning("upstream call failed", call=call, code=getattr(code, "name", str(code)))
    return exc


async def models(ctx: ActionContext, _body: Body) -> dict[str, Any]:
    """``models``: the catalog, characters and models in catalog order."""
    try:
        reply = await ctx.upstreams.prompt.ListModels(prompt_pb2.ListModelsRequest())
    except grpc.RpcError as exc:
        raise from_rpc_error(_logged(exc, "ListModels"), failure=GENERATION_FAILED) from None
    return {
        "characters": list(reply.characters),
        "models": {
            model.key: {
                "label": model.label,
                "default_style": model.default_style,
                "styles": {style.key: {"label": style.label} for style in model.styles},
            }
            for model in reply.models
        },
    }


def final_size(request: GenerateRequest, preset: prompt_pb2.GenerationPreset) -> tuple[int, int]:
    """The request's size, or the style's own size when the client gave none."""
    if not request.size_given and (preset.width, preset.height) in VALID_SIZES:
        return preset.width, preset.height
    if (request.width, request.height) in VALID_SIZES:
        return request.width, request.height
    return DEFAULT_SIZE


def job_spec(
    ctx: ActionContext, request: GenerateRequest, built: prompt_pb2.BuildPromptResponse
) -> inference_pb2.JobSpec:
    """Everything a worker needs, fixed at submission."""
    width, height = final_size(request, built.preset)
    brand, creds = request.brand, request.credentials
    return inference_pb2.JobSpec(
        raw_prompt=built.raw_prompt or request.prompt,
        prompt=built,
        width=width,
        height=height,
        seed=request.seed if request.seed is not None else secrets.randbelow(2**32),
        format=request.format,
        quality=request.quality,
        lossless=request.lossless,
        brand=provenance_pb2.BrandWatermark(
            image_data_uri=brand.image,
            position=brand.position,
            scale=brand.scale,
            transparency=brand.transparency,
            rotation=brand.rotation,
            padding_x=brand.padding_x,
            padding_y=brand.padding_y,
        ),
        credentials=provenance_pb2.Credentials(
            author=creds.author,
            title=creds.title,
            description=creds.description,
            organization=creds.organization,
            vendor=creds.vendor,
        ),
        enable_invisimark=ctx.enable_invisimark,
        enable_c2pa=ctx.enable_c2pa,
        compute_pdq=ctx.compute_pdq,
        api_key_id=ctx.key.id,
        traceparent=current_traceparent(),
    )


async def check_brand_image(ctx: ActionContext, image_data_uri: str) -> None:
    """Refuse an unusable ``wm_image`` now (400 with provenance's reason) rather than fail the job later.

    Provenance holds the decoder Finalize uses, so the gateway asks it instead of decoding
    itself (and needs no imaging library); provenance unreachable is a 502.
    """
    channel = ctx.upstreams.channels.get(PROVENANCE_CHANNEL)
    if channel is None:
        raise ApiError(502, GENERATION_FAILED)
    stub = provenance_pb2_grpc.ProvenanceServiceStub(channel)
    try:
        await stub.CheckBrandImage(provenance_pb2.CheckBrandImageRequest(image_data_uri=image_data_uri))
    except grpc.RpcError as exc:
        raise from_rpc_error(_logged(exc, "CheckBrandImage"), failure=GENERATION_FAILED) from None


async def build_prompt(ctx: ActionContext, request: GenerateRequest) -> prompt_pb2.BuildPromptResponse:
    """The prompt service's expansion of the request (with its optimizer's deadline when asked)."""
    try:
        return await ctx.upstreams.prompt.BuildPrompt(
            prompt_pb2.BuildPromptRequest(
                raw_prompt=request.prompt,
                model=request.model,
                style=request.style,
                explicit_negative=request.negative,
                optimize=request.optimize,
            ),
            timeout=ctx.optimize_timeout_s if request.optimize else None,
        )
    except grpc.RpcError as exc:
        failure = ENHANCEMENT_FAILED if request.optimize else GENERATION_FAILED
        raise from_rpc_error(_logged(exc, "BuildPrompt"), failure=failure) from None


def _abandon(task: asyncio.Task[None]) -> None:
    """Cancel a side task whose answer no longer matters, retrieving its error so none is reported."""
    task.cancel()
    task.add_done_callback(lambda done: done.cancelled() or done.exception())


async def _watch_or_withdraw(ctx: ActionContext, job_id: str, request: GenerateRequest) -> None:
    """Persist the job's webhook; if that fails, cancel the job before the error reaches the client.

    A client told "error" retries; without the cancel, the first job would still run and its
    result would reach no webhook, while the retry ran a second, duplicate job.
    """
    assert ctx.webhooks is not None
    try:
        await ctx.webhooks.watch(job_id, ctx.key.id, request.webhook, request.webhook_events)
    except BaseException:
        try:
            await ctx.upstreams.inference.CancelJob(inference_pb2.CancelJobRequest(id=job_id))
        except grpc.RpcError as exc:
            log.error("job left queued without its webhook", job_id=job_id, code=exc.code().name)
        raise


async def generate(ctx: ActionContext, body: Body) -> dict[str, Any]:
    """``generate``: check the logo while the prompt is built, review the prompt, queue the job."""
    request = normalize_generate(body, ctx.limits)
    if request.webhook:
        if ctx.webhooks is None:
            raise ApiError(400, "Webhooks are not enabled")
        await ctx.webhooks.vet(request.webhook)
    # Concurrent with BuildPrompt so a request with a logo pays one round trip, not two.
    brand_check = (
        asyncio.create_task(check_brand_image(ctx, request.brand.image)) if request.brand.image else None
    )
    try:
        built = await build_prompt(ctx, request)
    except BaseException:
        if brand_check is not None:
            _abandon(brand_check)
        raise
    if brand_check is not None:
        await brand_check
    try:
        review = await ctx.upstreams.compliance.ReviewPrompt(
            compliance_pb2.ReviewPromptRequest(
                model=built.model,
                style=built.style,
                texts=[compliance_pb2.ReviewedText(source=t.source, text=t.text) for t in built.review_texts],
            )
        )
        submitted = await ctx.upstreams.inference.SubmitJob(
            inference_pb2.SubmitJobRequest(spec=job_spec(ctx, request, built), prompt_verdict=review.verdict)
        )
    except grpc.RpcError as exc:
        raise from_rpc_error(_logged(exc, "ReviewPrompt/SubmitJob"), failure=GENERATION_FAILED) from None
    job = submitted.job
    if request.webhook and ctx.webhooks is not None:
        await _watch_or_withdraw(ctx, job.id, request)
    return {
        "id": job.id,
        "prompt": built.raw_prompt or request.prompt,
        "model": built.model,
        "format": request.format,
        "gen_id": job.gen_id,
    }


async def status(ctx: ActionContext, body: Body) -> dict[str, Any]:
    """``status``: the job's state, with fresh pre-signed image URLs.

    A finished job's answer is reused for a short window (see :mod:`gateway.status_cache`),
    so polling it costs no upstream call while its URLs keep most of their lifetime.
    """
    request = normalize_job(body)
    cache = ctx.status_cache
    if cache is not None and (cached := cache.get(request.id)) is not None:
        return cached
    bad_id = ApiError(400, BAD_ID)
    try:
        job = (await ctx.upstreams.inference.GetJob(inference_pb2.GetJobRequest(id=request.id))).job
    except grpc.RpcError as exc:
        raise from_rpc_error(
            _logged(exc, "GetJob"), failure=GENERATION_FAILED, not_found=bad_id, invalid=bad_id
        ) from None
    if not needs_urls(job):
        answer = job_view(job)
        if cache is not None and job.state in ENDED:
            cache.put(request.id, answer)
        return answer
    signed = await signed_urls(ctx.upstreams, job, ctx.presign_expires_s)
    answer = job_view(job, signed.urls)
    if cache is not None:
        cache.put(request.id, answer, signed.expires_at)
    return answer


@dataclass(frozen=True)
class SignedUrls:
    """Pre-signed URLs for a job's images, in order, and when the first of them expires."""

    urls: list[str]
    #: Earliest expiry, Unix seconds; None when there are no URLs.
    expires_at: float | None


async def presigned_urls(upstreams: Upstreams, job: inference_pb2.Job, expires_s: int) -> list[str]:
    """New pre-signed URLs for the job's images, in order (the webhook dispatcher uses it too)."""
    return (await signed_urls(upstreams, job, expires_s)).urls


async def signed_urls(upstreams: Upstreams, job: inference_pb2.Job, expires_s: int) -> SignedUrls:
    """New pre-signed URLs for the job's images and their expiry; 502 when storage fails."""
    if not job.result.images:
        return SignedUrls([], None)
    try:
        signed = await upstreams.storage.PresignUrls(
            storage_pb2.PresignUrlsRequest(
                keys=[image.key for image in job.result.images],
                expires_in_seconds=expires_s,
            )
        )
    except grpc.RpcError as exc:
        raise ApiError(502, GENERATION_FAILED) from _logged(exc, "PresignUrls")
    urls = [item.url for item in signed.urls]
    if len(urls) != len(job.result.images):
        log.warning("storage returned the wrong number of URLs", job_id=job.id)
        raise ApiError(502, GENERATION_FAILED)
    expiries = [item.expires_at for item in signed.urls if item.expires_at > 0]
    # A URL without a stated expiry is treated as one that must not be reused.
    return SignedUrls(urls, float(min(expiries)) if len(expiries) == len(urls) else 0.0)


async def cancel(ctx: ActionContext, body: Body) -> dict[str, Any]:
    """``cancel`` (beyond the spec): end a queued or running job."""
    request = normalize_job(body)
    if ctx.status_cache is not None:
        ctx.status_cache.forget(request.id)
    try:
        reply = await ctx.upstreams.inference.CancelJob(inference_pb2.CancelJobRequest(id=request.id))
    except grpc.RpcError as exc:
        bad_id = ApiError(400, BAD_ID)
        raise from_rpc_error(
            _logged(exc, "CancelJob"), failure=GENERATION_FAILED, not_found=bad_id, invalid=bad_id
        ) from None
    return {"status": state_name(reply.job.state)}


async def optimize(ctx: ActionContext, body: Body) -> dict[str, Any]:
    """``optimize``: the enhanced raw prompt."""
    request = normalize_optimize(body, ctx.limits)
    try:
        reply = await ctx.upstreams.prompt.OptimizePrompt(
            prompt_pb2.OptimizePromptRequest(
                raw_prompt=request.prompt, model=request.model, style=request.style
            ),
            timeout=ctx.optimize_timeout_s,
        )
    except grpc.RpcError as exc:
        raise from_rpc_error(_logged(exc, "OptimizePrompt"), failure=ENHANCEMENT_FAILED) from None
    return {"prompt": reply.raw_prompt}


async def random_prompt(ctx: ActionContext, body: Body) -> dict[str, Any]:
    """``random``: a random raw prompt; omitted, empty and named character stay distinct."""
    request = normalize_random(body)
    message = prompt_pb2.RandomPromptRequest(model=request.model, style=request.style)
    if request.character is not None:
        message.character = request.character
    if request.seed is not None:
        message.seed = request.seed
    try:
        reply = await ctx.upstreams.prompt.RandomPrompt(message)
    except grpc.RpcError as exc:
        raise from_rpc_error(_logged(exc, "RandomPrompt"), failure=GENERATION_FAILED) from None
    return {"prompt": reply.raw_prompt}


#: The action table: the spec's five plus ``cancel``.
ACTIONS: dict[str, Handler] = {
    "models": models,
    "generate": generate,
    "status": status,
    "optimize": optimize,
    "random": random_prompt,
    "cancel": cancel,
    "verify": verify,
}
