"""The Starlette application: ``POST /api/v2`` dispatch, files, health and metrics.

Each v2 request goes through the same steps in the same order: size limit, strict
JSON object, Bearer key, action, handler. Every failure becomes ``{"error": ...}`` with
the spec's status; nothing a client sends can produce a stack trace.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import DBAPIError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route

from gateway.admin.panel import AdminPanel
from gateway.auth import KeyAuthenticator
from gateway.errors import INVALID_JSON, MISSING_ACTION, UNAUTHORIZED, UNKNOWN_ACTION, ApiError
from gateway.files import serve_file
from gateway.handlers import ACTIONS, ActionContext
from gateway.http_metrics import HTTP_LATENCY, HTTP_REQUESTS
from gateway.idempotency import HEADER as IDEMPOTENCY_HEADER
from gateway.idempotency import IdempotencyStore, run_once, run_purger
from gateway.json_response import JsonResponse
from gateway.keys import ApiKeyRecord, KeyStore
from gateway.main import Settings
from gateway.openapi import openapi_document, render_docs
from gateway.ratelimit import (
    LIMITER_UNAVAILABLE,
    RATE_LIMITED,
    Decision,
    RateLimiter,
    build_limiter,
    by_address,
    by_key,
    tighter,
)
from gateway.request_id import RequestIdMiddleware
from gateway.request_model import Limits
from gateway.status_cache import StatusCache
from gateway.upstream import Upstreams
from gateway.verify_action import attach_provenance
from gateway.webhooks.dispatcher import WebhookDispatcher
from gateway.webhooks.registry import Webhooks
from gateway.webhooks.setup import build_dispatcher, build_webhooks
from services.shared.logging import get_logger
from services.shared.tracing import TracingMiddleware

log = get_logger(__name__)
#: The standard-library logger behind ``log``: asking it whether DEBUG is on costs nothing.
_stdlib_log = logging.getLogger(__name__)


@dataclass
class GatewayState:
    """What the routes share for the life of the app."""

    settings: Settings
    store: KeyStore
    auth: KeyAuthenticator
    limits: Limits
    upstreams: Upstreams | None = None
    limiter: RateLimiter | None = None
    idempotency: IdempotencyStore | None = None
    webhooks: Webhooks | None = None
    dispatcher: WebhookDispatcher | None = None
    status_cache: StatusCache | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def action_context(self, key: ApiKeyRecord) -> ActionContext:
        """What an action handler needs for one request by ``key`` (API and admin playground alike)."""
        assert self.upstreams is not None, "lifespan not started"
        settings = self.settings
        return ActionContext(
            upstreams=self.upstreams,
            limits=self.limits,
            key=key,
            optimize_timeout_s=settings.optimize_timeout_s,
            presign_expires_s=settings.presign_expires_s,
            enable_invisimark=settings.enable_invisimark,
            enable_c2pa=settings.enable_c2pa,
            compute_pdq=settings.compute_pdq,
            webhooks=self.webhooks,
            status_cache=self.status_cache,
        )


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JsonResponse:
    """The one error shape: ``{"error": message}``, with any headers the error carries (e.g. Retry-After)."""
    merged = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    merged.update(headers or {})
    return JsonResponse({"error": message}, status_code=status, headers=merged or None)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing (413) anything over ``limit`` bytes without buffering it all."""
    too_large = ApiError(413, f"Request body too large (max {limit} bytes)")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


#: One decoder for every request (``json.loads`` with options builds a new one per call).
_STRICT_JSON = json.JSONDecoder(parse_constant=_reject_constant)


def parse_body(raw: bytes) -> dict[str, Any]:
    """A strict JSON object: UTF-8, no NaN/Infinity, an object at the top."""
    try:
        document = _STRICT_JSON.decode(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ApiError(400, INVALID_JSON) from None
    if not isinstance(document, dict):
        raise ApiError(400, "Request body must be a JSON object")
    return document


def pick_handler(body: dict[str, Any]) -> tuple[str, Any]:
    """(action, handler) for the body's ``action``; Missing/Unknown action otherwise."""
    action = body.get("action")
    if action is None or action == "":
        raise ApiError(400, MISSING_ACTION)
    handler = ACTIONS.get(action) if isinstance(action, str) else None
    if handler is None:
        raise ApiError(400, UNKNOWN_ACTION)
    return action, handler


#: The answer while the gateway's database is unreachable; clients retry as they would a poll.
DATABASE_UNAVAILABLE = "Service temporarily unavailable: database unreachable, retry shortly"


@functools.cache
def _request_series(action: str, status: int) -> tuple[Any, Any]:
    """The labelled counter and histogram of one (action, status); bounded: actions are known names."""
    return HTTP_REQUESTS.labels(action, str(status)), HTTP_LATENCY.labels(action)


def count_request(action: str, status: int, elapsed_s: float) -> None:
    """Count one answered v2 request (looking the labelled series up once, not per request)."""
    requests, latency = _request_series(action, status)
    requests.inc()
    latency.observe(elapsed_s)


class RateLimitedError(ApiError):
    """A request refused by the rate limiter; carries the quota for the response headers."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(
            503 if decision.unavailable else 429,
            LIMITER_UNAVAILABLE if decision.unavailable else RATE_LIMITED,
        )
        self.decision = decision


async def rate_limited(state: GatewayState, descriptor: Any) -> Decision:
    """The limiter's decision for one hit on ``descriptor``; refused hits raise :class:`RateLimitedError`."""
    assert state.limiter is not None, "lifespan not started"
    decision = await state.limiter.check(descriptor)
    if not decision.allowed:
        raise RateLimitedError(decision)
    return decision


def create_app(settings: Settings, store: KeyStore | None = None) -> Starlette:
    """The gateway app for ``settings``; ``store`` defaults to the configured database."""
    owns_store = store is None
    key_store = store or KeyStore(settings.resolved_database_url())
    state = GatewayState(
        settings=settings,
        store=key_store,
        auth=KeyAuthenticator(
            key_store,
            settings.key_cache_ttl_s,
            settings.usage_flush_interval_s,
            revision_check_s=settings.key_revision_check_s,
        ),
        limits=Limits(
            max_prompt_chars=settings.max_prompt_chars,
            max_text_chars=settings.max_text_chars,
            max_wm_image_bytes=settings.max_wm_image_bytes,
        ),
    )

    if settings.status_cache_s > 0:
        state.status_cache = StatusCache(settings.status_cache_s, settings.status_cache_entries)
    state.idempotency = IdempotencyStore(key_store.engine, settings.idempotency_ttl_s)
    state.webhooks = build_webhooks(settings, key_store.engine)
    admin = AdminPanel(state)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        state.upstreams = Upstreams.open(settings, settings.request_timeout_s)
        attach_provenance(state.upstreams, settings, settings.request_timeout_s)
        state.limiter = build_limiter(settings)
        state.tasks = [asyncio.create_task(state.auth.run_flusher())]
        assert state.webhooks is not None
        state.dispatcher = build_dispatcher(settings, state.webhooks, lambda: state.upstreams)
        state.tasks.append(asyncio.create_task(state.dispatcher.run()))
        assert state.idempotency is not None
        state.tasks.append(asyncio.create_task(run_purger(state.idempotency)))
        await admin.start()
        log.info("gateway ready", prompt=settings.prompt_addr, inference=settings.inference_addr)
        try:
            yield
        finally:
            await admin.stop()
            for task in state.tasks:
                task.cancel()
            await asyncio.gather(*state.tasks, return_exceptions=True)
            await state.upstreams.close()
            await state.limiter.close()
            if owns_store:
                key_store.close()

    async def api_v2(request: Request) -> Response:
        started = time.perf_counter()
        label = "other"
        status = 200
        key_id = ""
        quota: Decision | None = None
        try:
            quota = await rate_limited(state, by_address(request.client.host if request.client else ""))
            body = parse_body(await read_body(request, settings.max_body_bytes))
            key = await state.auth.authenticate(request.headers.get("authorization"))
            if key is None:
                raise ApiError(401, UNAUTHORIZED)
            key_id = key.id
            quota = tighter(quota, await rate_limited(state, by_key(key.id)))
            action, handler = pick_handler(body)
            label = action
            context = state.action_context(key)
            idempotency_key = request.headers.get(IDEMPOTENCY_HEADER)
            if action == "generate" and idempotency_key is not None and state.idempotency is not None:
                answer, replayed = await run_once(
                    state.idempotency, key.id, idempotency_key, body, lambda: handler(context, body)
                )
                headers = {"Idempotent-Replayed": "true"} if replayed else None
                response: Response = JsonResponse(answer, headers=headers)
            else:
                response = JsonResponse(await handler(context, body))
        except RateLimitedError as exc:
            status = exc.status
            quota = exc.decision
            response = error_response(exc.status, exc.message)
        except ApiError as exc:
            status = exc.status
            response = error_response(exc.status, exc.message, exc.headers)
        except DBAPIError:
            # The key/usage database is unreachable (restart, failover): a retryable 503, not a 500.
            status = 503
            log.warning("database unavailable", action=label)
            response = error_response(503, DATABASE_UNAVAILABLE)
        except ClientDisconnect:
            status = 499  # nobody is left to read the answer; logged and counted only
            response = error_response(400, "Client disconnected")
        except Exception:
            status = 500
            log.exception("unhandled error in action", action=label)
            response = error_response(500, "Internal error")
        if quota is not None:
            response.headers.update(quota.headers())
        elapsed = time.perf_counter() - started
        count_request(label, status, elapsed)
        # Successful status polls are most of the traffic: counted in metrics, logged at DEBUG only.
        if status != 200 or label != "status":
            log.info("request", action=label, status=status, key_id=key_id, ms=round(elapsed * 1000, 1))
        elif _stdlib_log.isEnabledFor(logging.DEBUG):
            log.debug("request", action=label, status=status, key_id=key_id, ms=round(elapsed * 1000, 1))
        return response

    async def files(request: Request) -> Response:
        try:
            assert state.upstreams is not None, "lifespan not started"
            return await serve_file(request, state.upstreams, settings.file_stream_timeout_s)
        except ApiError as exc:
            return error_response(exc.status, exc.message, exc.headers)
        except Exception:
            log.exception("unhandled error serving a file")
            return error_response(500, "Internal error")

    async def healthz(_request: Request) -> Response:
        return JsonResponse({"status": "ok"})

    async def readyz(_request: Request) -> Response:
        if state.upstreams is None:
            return JsonResponse({"status": "starting"}, status_code=503)
        health = await state.upstreams.health()
        wanted = {name: health.get(name, False) for name in settings.readiness_services}
        ready = all(wanted.values())
        return JsonResponse(
            {"status": "ready" if ready else "not ready", "services": wanted},
            status_code=200 if ready else 503,
        )

    async def metrics(_request: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    document = openapi_document()
    docs_html = render_docs(document)

    async def openapi_json(_request: Request) -> Response:
        return JsonResponse(document)

    async def docs_page(_request: Request) -> Response:
        return HTMLResponse(docs_html)

    async def http_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return error_response(exc.status_code, str(exc.detail))

    middleware = [Middleware(RequestIdMiddleware), Middleware(TracingMiddleware)]
    if settings.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_methods=["GET", "POST", "OPTIONS"],
                allow_headers=["Authorization", "Content-Type", "X-Request-Id"],
                expose_headers=["X-Request-Id"],
                max_age=600,
            )
        )
    app = Starlette(
        routes=[
            Route("/api/v2", api_v2, methods=["POST"]),
            Route("/api/v2/", api_v2, methods=["POST"]),
            Route("/files/{key:path}", files, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            Route("/openapi.json", openapi_json, methods=["GET"]),
            Route("/docs", docs_page, methods=["GET"]),
            Mount("/admin", routes=admin.routes()),
        ],
        middleware=middleware,
        exception_handlers={HTTPException: http_error},
        lifespan=lifespan,
    )
    app.state.gateway = state
    return app
