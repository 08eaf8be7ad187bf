"""Routes of the admin panel: sign-in, keys, jobs, playground and usage.

Handlers stay thin: the key store, session store and the v2 action handlers do the
work. Every page but the sign-in form needs a live session; every POST needs the
session's CSRF token (a form field, or the ``X-CSRF-Token`` header for the playground's
fetch calls). The playground calls the v2 handlers in-process under a dedicated
``admin-playground`` key record, so no API key is ever embedded in a page.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio.to_thread
import grpc
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from gateway.admin.login_limit import LoginLimiter
from gateway.admin.password import password_checker, session_secret
from gateway.admin.sessions import COOKIE_NAME, LOGIN_COOKIE_NAME, AdminSession, SessionStore, tokens_match
from gateway.admin.usage_chart import series_color, stacked_bars_svg
from gateway.errors import ApiError
from gateway.handlers import ACTIONS, ActionContext
from gateway.job_view import needs_urls, state_name
from gateway.keys import ApiKeyRecord
from imgen.inference.v1 import inference_pb2
from services.shared.logging import get_logger

if TYPE_CHECKING:
    from gateway.app import GatewayState

log = get_logger(__name__)

TEMPLATES = Path(__file__).parent / "templates"
PLAYGROUND_KEY_NAME = "admin-playground"
PLAYGROUND_ACTIONS = ("models", "generate", "status", "cancel")
JOB_STATES = ("IN_QUEUE", "IN_PROGRESS", "COMPLETED", "FAILED", "TIMED_OUT", "CANCELLED")
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: http: https:; "
    "style-src 'unsafe-inline'; script-src 'unsafe-inline'; frame-ancestors 'none'; form-action 'self'",
}

Page = Callable[[Request, AdminSession], Awaitable[Response]]


def parse_expiry(value: str) -> datetime | None:
    """A form's ``YYYY-MM-DD`` or ``YYYY-MM-DDTHH:MM`` (UTC) as an aware datetime; empty is None."""
    value = value.strip()
    if not value:
        return None
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_rate_limit(value: str) -> int | None:
    """A form's requests-per-minute; empty is None (the gateway default)."""
    value = value.strip()
    return int(value) if value else None


class AdminPanel:
    """The ``/admin`` routes over one gateway's shared state."""

    def __init__(self, state: GatewayState) -> None:
        self.state = state
        settings = state.settings
        secret = session_secret(settings)
        self.sessions = SessionStore(state.store.engine, secret, settings.admin_session_ttl_s)
        self.limiter = LoginLimiter(settings.admin_login_max_failures, settings.admin_login_window_s)
        self.grpc_server: grpc.aio.Server | None = None
        self.grpc_port = 0
        self.templates = Environment(
            loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]), auto_reload=False
        )

    # -- plumbing ------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        """Routes relative to the ``/admin`` mount."""
        page = self._signed_in
        return [
            Route("/", page(self.home), methods=["GET"]),
            Route("/login", self.login_form, methods=["GET"]),
            Route("/login", self.login, methods=["POST"]),
            Route("/logout", page(self.logout, post=True), methods=["POST"]),
            Route("/keys", page(self.keys_page), methods=["GET"]),
            Route("/keys", page(self.create_key, post=True), methods=["POST"]),
            Route("/keys/{key_id}/{operation}", page(self.change_key, post=True), methods=["POST"]),
            Route("/jobs", page(self.jobs_page), methods=["GET"]),
            Route("/jobs/{job_id}", page(self.job_page), methods=["GET"]),
            Route("/jobs/{job_id}/cancel", page(self.cancel_job, post=True), methods=["POST"]),
            Route("/playground", page(self.playground_page), methods=["GET"]),
            Route("/api/{action}", page(self.playground_api, post=True, form=False), methods=["POST"]),
            Route("/usage", page(self.usage_page), methods=["GET"]),
        ]

    def _signed_in(self, handler: Page, post: bool = False, form: bool = True) -> Callable[..., Any]:
        """Wrap ``handler``: a live session, and for POSTs a matching CSRF token."""

        async def endpoint(request: Request) -> Response:
            session = await anyio.to_thread.run_sync(self.sessions.resolve, request.cookies.get(COOKIE_NAME))
            if session is None:
                if post:
                    return self._secure(Response("Sign in first", status_code=401))
                return self._secure(RedirectResponse("/admin/login", status_code=303))
            if post:
                given = request.headers.get("x-csrf-token")
                if given is None and form:
                    given = str((await request.form()).get("csrf", ""))
                if not tokens_match(given, session.csrf_token):
                    log.warning("admin request without a valid CSRF token", path=request.url.path)
                    return self._secure(Response("Invalid CSRF token", status_code=403))
            return self._secure(await handler(request, session))

        return endpoint

    @staticmethod
    def _secure(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    def _render(
        self, name: str, session: AdminSession | None, *, status: int = 200, **values: Any
    ) -> Response:
        template = self.templates.get_template(name)
        html = template.render(csrf=session.csrf_token if session else "", **values)
        return HTMLResponse(html, status_code=status)

    def _set_cookie(self, response: Response, name: str, value: str, max_age: int | None) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path="/admin",
            httponly=True,
            samesite="strict",
            secure=self.state.settings.admin_cookie_secure,
        )

    def _context(self, key: ApiKeyRecord) -> ActionContext:
        return self.state.action_context(key)

    def _playground_key(self) -> ApiKeyRecord:
        """The record the playground's jobs are accounted to (its secret is never kept)."""
        store = self.state.store
        record = store.find_by_name(PLAYGROUND_KEY_NAME)
        if record is None:
            record, _secret = store.create(PLAYGROUND_KEY_NAME)
        return record

    # -- sign-in -------------------------------------------------------------------

    async def login_form(self, request: Request, error: str = "", status: int = 200) -> Response:
        token = secrets.token_urlsafe(32)
        configured = password_checker(self.state.settings) is not None
        response = self._render(
            "login.html", None, status=status, login_csrf=token, error=error, configured=configured
        )
        self._set_cookie(response, LOGIN_COOKIE_NAME, token, 600)
        return self._secure(response)

    async def login(self, request: Request) -> Response:
        address = request.client.host if request.client else "unknown"
        if self.limiter.blocked(address):
            response = await self.login_form(request, "Too many attempts; try again later.", 429)
            response.headers["Retry-After"] = str(self.limiter.retry_after_s(address))
            return response
        form = await request.form()
        if not tokens_match(str(form.get("csrf", "")), request.cookies.get(LOGIN_COOKIE_NAME, "")):
            return self._secure(Response("Invalid CSRF token", status_code=403))
        checker = password_checker(self.state.settings)
        if checker is None:
            return await self.login_form(request, "No admin credential is configured.", 503)
        attempt = str(form.get("password", ""))
        if not await anyio.to_thread.run_sync(checker, attempt):
            self.limiter.failed(address)
            log.warning("admin sign-in failed", client=address)
            return await self.login_form(request, "Wrong password.", 401)
        self.limiter.succeeded(address)
        cookie, _session = await anyio.to_thread.run_sync(self.sessions.create)
        response = RedirectResponse("/admin/keys", status_code=303)
        self._set_cookie(response, COOKIE_NAME, cookie, self.state.settings.admin_session_ttl_s)
        response.delete_cookie(LOGIN_COOKIE_NAME, path="/admin")
        log.info("admin signed in", client=address)
        return self._secure(response)

    async def logout(self, _request: Request, session: AdminSession) -> Response:
        await anyio.to_thread.run_sync(self.sessions.end, session)
        response = RedirectResponse("/admin/login", status_code=303)
        response.delete_cookie(COOKIE_NAME, path="/admin")
        return response

    async def home(self, _request: Request, _session: AdminSession) -> Response:
        return RedirectResponse("/admin/keys", status_code=303)

    # -- keys ----------------------------------------------------------------------

    async def keys_page(
        self,
        _request: Request,
        session: AdminSession,
        *,
        secret: str = "",
        secret_for: ApiKeyRecord | None = None,
        error: str = "",
    ) -> Response:
        keys = await anyio.to_thread.run_sync(self.state.store.list)
        now = datetime.now(UTC)
        return self._render(
            "keys.html",
            session,
            status=400 if error else 200,
            page="keys",
            keys=[(key, key.status(now)) for key in keys if key.name != PLAYGROUND_KEY_NAME],
            secret=secret,
            secret_for=secret_for,
            error=error,
        )

    async def create_key(self, request: Request, session: AdminSession) -> Response:
        form = await request.form()
        try:
            expires_at = parse_expiry(str(form.get("expires_at", "")))
            rate_limit = parse_rate_limit(str(form.get("rate_limit_per_minute", "")))
            record, secret = await anyio.to_thread.run_sync(
                lambda: self.state.store.create(
                    str(form.get("name", "")), expires_at=expires_at, rate_limit_per_minute=rate_limit
                )
            )
        except ValueError as exc:
            return await self.keys_page(request, session, error=str(exc))
        log.info("admin created a key", key_id=record.id)
        return await self.keys_page(request, session, secret=secret, secret_for=record)

    async def change_key(self, request: Request, session: AdminSession) -> Response:
        key_id = request.path_params["key_id"]
        operation = request.path_params["operation"]
        store = self.state.store
        secret, record = "", None
        if operation in ("enable", "disable"):
            record = await anyio.to_thread.run_sync(store.set_enabled, key_id, operation == "enable")
            found = record is not None
        elif operation == "rotate":
            rotated = await anyio.to_thread.run_sync(store.rotate, key_id)
            found = rotated is not None
            if rotated is not None:
                record, secret = rotated
        elif operation == "delete":
            found = await anyio.to_thread.run_sync(store.delete, key_id)
        else:
            return Response("Unknown operation", status_code=404)
        if not found:
            return await self.keys_page(request, session, error="No such key.")
        self.state.auth.invalidate()
        log.info("admin changed a key", key_id=key_id, operation=operation)
        if secret:
            return await self.keys_page(request, session, secret=secret, secret_for=record)
        return RedirectResponse("/admin/keys", status_code=303)

    # -- jobs ----------------------------------------------------------------------

    async def jobs_page(self, request: Request, session: AdminSession) -> Response:
        query = request.query_params
        status, key_ref, model = query.get("status", ""), query.get("key", ""), query.get("model", "")
        keys = {key.id: key for key in await anyio.to_thread.run_sync(self.state.store.list)}
        key_id = ""
        if key_ref:
            match = await anyio.to_thread.run_sync(self.state.store.get, key_ref)
            key_id = match.id if match else key_ref
        states = [getattr(inference_pb2, f"JOB_STATE_{status}")] if status in JOB_STATES else []
        request_message = inference_pb2.ListJobsRequest(
            states=states, api_key_id=key_id, model=model, page_size=25, page_token=query.get("page", "")
        )
        error = ""
        jobs: list[inference_pb2.Job] = []
        next_token = ""
        try:
            assert self.state.upstreams is not None
            reply = await self.state.upstreams.inference.ListJobs(request_message)
            jobs, next_token = list(reply.jobs), reply.next_page_token
        except grpc.RpcError as exc:
            error = f"Could not list jobs ({exc.code().name})."
        rows = [
            {
                "id": job.id,
                "status": state_name(job.state),
                "model": job.spec.prompt.model,
                "key": keys[job.spec.api_key_id].name if job.spec.api_key_id in keys else job.spec.api_key_id,
                "prompt": job.spec.raw_prompt,
                "created": job.created_at[:19].replace("T", " "),
                "compliance": job.compliance,
            }
            for job in jobs
        ]
        return self._render(
            "jobs.html",
            session,
            page="jobs",
            rows=rows,
            states=JOB_STATES,
            filters={"status": status, "key": key_ref, "model": model},
            keys=list(keys.values()),
            next_token=next_token,
            error=error,
        )

    async def job_page(self, request: Request, session: AdminSession) -> Response:
        job_id = request.path_params["job_id"]
        try:
            assert self.state.upstreams is not None
            job = (await self.state.upstreams.inference.GetJob(inference_pb2.GetJobRequest(id=job_id))).job
        except grpc.RpcError:
            return self._render("job.html", session, status=404, page="jobs", job=None, job_id=job_id)
        view = await ACTIONS["status"](self._context(self._playground_key()), {"id": job.id})
        images = view.get("meta", {}).get("images", []) if needs_urls(job) else []
        thumb = next((i["url"] for i in images if i["type"] == "thumbnail"), "")
        verdict = job.blocking_verdict
        return self._render(
            "job.html",
            session,
            page="jobs",
            job=job,
            job_id=job_id,
            job_status=state_name(job.state),
            view=view,
            images=images,
            thumb=thumb or (images[0]["url"] if images else ""),
            blocking=[(c.id, c.name) for c in verdict.blocking],
            codes=list(job.compliance_codes),
            cancellable=job.state in (inference_pb2.JOB_STATE_IN_QUEUE, inference_pb2.JOB_STATE_IN_PROGRESS),
        )

    async def cancel_job(self, request: Request, session: AdminSession) -> Response:
        job_id = request.path_params["job_id"]
        try:
            await ACTIONS["cancel"](self._context(self._playground_key()), {"id": job_id})
        except ApiError as exc:
            log.info("admin cancel refused", job_id=job_id, error=exc.message)
        return RedirectResponse(f"/admin/jobs/{job_id}", status_code=303)

    # -- playground ----------------------------------------------------------------

    async def playground_page(self, _request: Request, session: AdminSession) -> Response:
        return self._render("playground.html", session, page="playground")

    async def playground_api(self, request: Request, _session: AdminSession) -> Response:
        action = request.path_params["action"]
        if action not in PLAYGROUND_ACTIONS:
            return JSONResponse({"error": "Unknown action"}, status_code=404)
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return JSONResponse({"error": "Request body must be a JSON object"}, status_code=400)
        body["action"] = action
        key = await anyio.to_thread.run_sync(self._playground_key)
        try:
            return JSONResponse(await ACTIONS[action](self._context(key), body))
        except ApiError as exc:
            return JSONResponse({"error": exc.message}, status_code=exc.status)

    # -- usage ---------------------------------------------------------------------

    async def usage_page(self, request: Request, session: AdminSession) -> Response:
        try:
            span = max(1, min(int(request.query_params.get("days", "14")), 90))
        except ValueError:
            span = 14
        today = datetime.now(UTC).date()
        days = [today - timedelta(days=offset) for offset in range(span - 1, -1, -1)]
        rows = await anyio.to_thread.run_sync(self.state.store.daily_usage, days[0])
        names = {key.id: key.name for key in await anyio.to_thread.run_sync(self.state.store.list)}
        series: dict[str, dict[date, int]] = {}
        for row in rows:
            label = names.get(row.key_id, f"{row.key_id} (deleted)")
            series.setdefault(label, {})[row.day] = row.request_count
        legend = [
            (name, series_color(i), sum(values.values())) for i, (name, values) in enumerate(series.items())
        ]
        return self._render(
            "usage.html",
            session,
            page="usage",
            span=span,
            days=days,
            series=series,
            legend=legend,
            chart=stacked_bars_svg(days, series),
        )

    # -- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        """Open the internal KeysService port when ``admin_grpc_port`` is set."""
        settings = self.state.settings
        if settings.admin_grpc_port:
            from gateway.admin.grpc_keys import start_keys_server

            self.grpc_server, self.grpc_port = await start_keys_server(
                self.state.store, settings.host, settings.admin_grpc_port, self.state.auth.invalidate
            )
            log.info("KeysService listening", port=self.grpc_port)

    async def stop(self) -> None:
        """Close the KeysService port, if open."""
        if self.grpc_server is not None:
            await self.grpc_server.stop(grace=1.0)
            self.grpc_server = None
