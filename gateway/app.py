"""The Starlette application: ``POST /api/v2`` dispatch, files, health and metrics.

Each v2 request goes through the same steps in the same order: size limit, strict
JSON object, Bearer key, action, handler. Every failure becomes ``{"error": ...}`` with
the spec's status; nothing a client sends can produce a stack trace.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.auth import KeyAuthenticator
from gateway.errors import INVALID_JSON, MISSING_ACTION, UNAUTHORIZED, UNKNOWN_ACTION, ApiError
from gateway.files import serve_file
from gateway.handlers import ACTIONS, ActionContext
from gateway.http_metrics import HTTP_LATENCY, HTTP_REQUESTS
from gateway.keys import KeyStore
from gateway.main import Settings
from gateway.request_id import RequestIdMiddleware
from gateway.request_model import Limits
from gateway.upstream import Upstreams
from services.shared.logging import get_logger

log = get_logger(__name__)


@dataclass
class GatewayState:
    """What the routes share for the life of the app."""

    settings: Settings
    store: KeyStore
    auth: KeyAuthenticator
    limits: Limits
    upstreams: Upstreams | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


def error_response(status: int, message: str) -> JSONResponse:
    """The one error shape: ``{"error": message}``."""
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error": message}, status_code=status, headers=headers)


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


def parse_body(raw: bytes) -> dict[str, Any]:
    """A strict JSON object: UTF-8, no NaN/Infinity, an object at the top."""
    try:
        document = json.loads(raw.decode("utf-8-sig"), parse_constant=_reject_constant)
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


def create_app(settings: Settings, store: KeyStore | None = None) -> Starlette:
    """The gateway app for ``settings``; ``store`` defaults to the configured database."""
    owns_store = store is None
    key_store = store or KeyStore(settings.resolved_database_url())
    state = GatewayState(
        settings=settings,
        store=key_store,
        auth=KeyAuthenticator(key_store, settings.key_cache_ttl_s, settings.usage_flush_interval_s),
        limits=Limits(
            max_prompt_chars=settings.max_prompt_chars,
            max_text_chars=settings.max_text_chars,
            max_wm_image_bytes=settings.max_wm_image_bytes,
        ),
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        state.upstreams = Upstreams.open(settings, settings.request_timeout_s)
        state.tasks = [asyncio.create_task(state.auth.run_flusher())]
        log.info("gateway ready", prompt=settings.prompt_addr, inference=settings.inference_addr)
        try:
            yield
        finally:
            for task in state.tasks:
                task.cancel()
            await asyncio.gather(*state.tasks, return_exceptions=True)
            await state.upstreams.close()
            if owns_store:
                key_store.close()

    async def api_v2(request: Request) -> Response:
        started = time.perf_counter()
        label = "other"
        status = 200
        key_id = ""
        try:
            body = parse_body(await read_body(request, settings.max_body_bytes))
            key = await state.auth.authenticate(request.headers.get("authorization"))
            if key is None:
                raise ApiError(401, UNAUTHORIZED)
            key_id = key.id
            action, handler = pick_handler(body)
            label = action
            assert state.upstreams is not None, "lifespan not started"
            context = ActionContext(
                upstreams=state.upstreams,
                limits=state.limits,
                key=key,
                optimize_timeout_s=settings.optimize_timeout_s,
                presign_expires_s=settings.presign_expires_s,
                enable_invisimark=settings.enable_invisimark,
                enable_c2pa=settings.enable_c2pa,
                compute_pdq=settings.compute_pdq,
            )
            response: Response = JSONResponse(await handler(context, body))
        except ApiError as exc:
            status = exc.status
            response = error_response(exc.status, exc.message)
        except ClientDisconnect:
            status = 499  # nobody is left to read the answer; logged and counted only
            response = error_response(400, "Client disconnected")
        except Exception:
            status = 500
            log.exception("unhandled error in action", action=label)
            response = error_response(500, "Internal error")
        elapsed = time.perf_counter() - started
        HTTP_REQUESTS.labels(label, str(status)).inc()
        HTTP_LATENCY.labels(label).observe(elapsed)
        log.info("request", action=label, status=status, key_id=key_id, ms=round(elapsed * 1000, 1))
        return response

    async def files(request: Request) -> Response:
        try:
            assert state.upstreams is not None, "lifespan not started"
            return await serve_file(request, state.upstreams, settings.file_stream_timeout_s)
        except ApiError as exc:
            return error_response(exc.status, exc.message)
        except Exception:
            log.exception("unhandled error serving a file")
            return error_response(500, "Internal error")

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_request: Request) -> Response:
        if state.upstreams is None:
            return JSONResponse({"status": "starting"}, status_code=503)
        health = await state.upstreams.health()
        wanted = {name: health.get(name, False) for name in settings.readiness_services}
        ready = all(wanted.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "services": wanted},
            status_code=200 if ready else 503,
        )

    async def metrics(_request: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    async def http_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return error_response(exc.status_code, str(exc.detail))

    middleware = [Middleware(RequestIdMiddleware)]
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
        ],
        middleware=middleware,
        exception_handlers={HTTPException: http_error},
        lifespan=lifespan,
    )
    app.state.gateway = state
    return app
