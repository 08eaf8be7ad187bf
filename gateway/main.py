"""Entry point of the gateway process: its settings and ``serve``.

``imgen serve gateway`` builds :class:`Settings` from ``IMGEN_GATEWAY_*``, the shared
``IMGEN_*`` variables and the YAML file, and awaits :func:`serve`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import FrameType
from typing import ClassVar, Literal

import uvicorn
from pydantic import Field, SecretStr

from services.shared.logging import configure_logging, get_logger
from services.shared.metrics import start_metrics_server
from services.shared.settings import ServiceSettings
from services.shared.tracing import configure_tracing

log = get_logger(__name__)


class Settings(ServiceSettings):
    """Configuration of the HTTP/JSON gateway."""

    section: ClassVar[str] = "gateway"

    port: int = Field(8470, description="HTTP port of the v2 API.")
    database_url: str = Field(
        "",
        description="SQLAlchemy URL of the API key store; empty means SQLite at <data_dir>/gateway.sqlite3.",
    )
    max_body_bytes: int = Field(
        12 * 1024 * 1024,
        description="Largest request body accepted, bytes (wm_image data URIs are a few MB).",
    )
    max_prompt_chars: int = Field(4000, description="Longest raw prompt or negative accepted, characters.")
    max_text_chars: int = Field(1000, description="Longest cs_* credential field accepted, characters.")
    max_wm_image_bytes: int = Field(8 * 1024 * 1024, description="Largest decoded wm_image accepted, bytes.")
    request_timeout_s: float = Field(30.0, description="Deadline of each upstream gRPC call, seconds.")
    optimize_timeout_s: float = Field(
        120.0, description="Deadline of upstream calls that run the LLM enhancer (optimize), seconds."
    )
    file_stream_timeout_s: float = Field(
        300.0, description="Deadline of streaming one stored object to a client through /files, seconds."
    )
    presign_expires_s: int = Field(
        0, description="Lifetime of the image URLs handed out by status, seconds; 0 uses storage's default."
    )
    status_cache_s: float = Field(
        60.0,
        description="Longest time the status answer of a finished job is reused before the job is read and "
        "its URLs signed again, seconds (never over a tenth of the URLs' lifetime); 0: every poll asks.",
    )
    status_cache_entries: int = Field(
        10_000, description="Finished jobs whose status answer is kept (least recently polled dropped)."
    )
    key_cache_ttl_s: float = Field(
        2.0,
        description="How long a key verification is cached; a disabled key is refused after at most this.",
    )
    usage_flush_interval_s: float = Field(1.0, description="How often request counts are written, seconds.")
    cors_origins: list[str] = Field(
        default_factory=list, description="Origins allowed to call the API from a browser ('*' for any)."
    )
    enable_invisimark: bool = Field(True, description="Embed the invisible watermark in generated images.")
    enable_c2pa: bool = Field(True, description="Sign a C2PA manifest into generated images.")
    compute_pdq: bool = Field(True, description="Compute the PDQ fingerprint of generated images.")
    readiness_services: list[str] = Field(
        default_factory=lambda: ["prompt", "compliance", "inference", "storage"],
        description="Upstream services that must report SERVING for /readyz to answer 200.",
    )
    rate_limit_backend: Literal["memory", "envoy", "off"] = Field(
        "memory",
        description="Rate limiter: 'memory' (in-process token bucket), 'envoy' (Envoy's rate-limit "
        "service at rate_limit_addr, e.g. envoyproxy/ratelimit) or 'off'.",
    )
    rate_limit_key_per_minute: int = Field(
        600, description="Requests a minute per API key for the 'memory' limiter (burst as large); 0: none."
    )
    rate_limit_ip_per_minute: int = Field(
        1200,
        description="Requests a minute per client address before authentication ('memory' limiter); 0: none.",
    )
    rate_limit_addr: str = Field("", description="host:port of Envoy's rate-limit service ('envoy' limiter).")
    rate_limit_domain: str = Field("imgen", description="Domain sent to Envoy's rate-limit service.")
    rate_limit_timeout_s: float = Field(0.25, description="Deadline of one rate-limit service call, seconds.")
    rate_limit_fail_open: bool = Field(
        True,
        description="When the rate-limit service is down: true lets requests through, "
        "false refuses them (503).",
    )
    idempotency_ttl_s: int = Field(
        86400, description="How long an Idempotency-Key on generate is remembered, seconds."
    )
    webhook_secret: SecretStr | None = Field(
        None,
        description="HMAC-SHA256 key signing webhook payloads; "
        "unset: one generated in <data_dir>/webhook_secret.",
    )
    webhook_allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Webhook hosts or networks (CIDR) allowed even when private, loopback or link-local.",
    )
    webhook_poll_interval_s: float = Field(
        1.0, description="How often the webhook dispatcher looks at watched jobs and due deliveries, seconds."
    )
    webhook_timeout_s: float = Field(10.0, description="Deadline of one webhook POST, seconds.")
    webhook_max_attempts: int = Field(8, description="Delivery attempts before a webhook is given up.")
    webhook_backoff_s: float = Field(
        2.0, description="Wait before the first webhook retry, seconds; doubled after each failure."
    )
    webhook_max_backoff_s: float = Field(3600.0, description="Longest wait between webhook retries, seconds.")
    key_revision_check_s: float = Field(
        1.0,
        description="How often each replica reads the key revision row; a revoked key is refused "
        "everywhere within this many seconds.",
    )
    admin_password_hash: str = Field(
        "",
        description="scrypt hash of the admin panel password (`python -m gateway.admin.password` makes one); "
        "takes precedence over admin_password.",
    )
    admin_password: SecretStr = Field(
        SecretStr(""),
        description="Admin panel password in clear (from a Secret). Without it or a hash, "
        "<data_dir>/admin_password (written by `imgen up`) is used; with none the panel is off.",
    )
    admin_session_secret: SecretStr = Field(
        SecretStr(""),
        description="Key signing admin session cookies; empty means one generated in "
        "<data_dir>/admin_session_secret (share it between replicas).",
    )
    admin_cookie_secure: bool = Field(
        False, description="Mark the admin session cookie Secure (set it when served behind TLS)."
    )
    admin_session_ttl_s: int = Field(8 * 3600, description="Lifetime of an admin session, seconds.")
    admin_login_max_failures: int = Field(
        5, description="Failed admin sign-ins allowed per client address within admin_login_window_s."
    )
    admin_login_window_s: float = Field(300.0, description="Window of the admin sign-in limit, seconds.")
    admin_grpc_port: int = Field(
        0, description="gRPC port of imgen.gateway.v1.KeysService for internal callers; 0 = off."
    )

    def resolved_database_url(self) -> str:
        """The key store URL, defaulting to SQLite in the data directory."""
        from gateway.keys import default_database_url

        return self.database_url or default_database_url(Path(self.data_dir).expanduser())


class _DrainingServer(uvicorn.Server):
    """uvicorn that exits normally after a graceful shutdown on SIGTERM/SIGINT.

    uvicorn re-raises the signal once it has drained, so the process would die with -15
    although nothing went wrong; the gRPC services return 0 after draining and the
    gateway should look the same to ``imgen up`` and to Kubernetes.
    """

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        captured = getattr(self, "_captured_signals", None)
        if isinstance(captured, list):
            captured.clear()


def loop_factory() -> asyncio.AbstractEventLoop:
    """The gateway's event loop: uvloop where installed (as uvicorn.run would pick), else asyncio's.

    ``imgen serve gateway`` runs :func:`serve` on a loop from this factory; uvicorn's own
    ``loop`` option only applies when uvicorn creates the loop itself.
    """
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


async def serve(settings: Settings) -> None:
    """Run the gateway with uvicorn until SIGTERM/SIGINT."""
    from gateway.app import create_app

    configure_logging("gateway", settings.log_level, settings.log_format)
    configure_tracing("gateway", settings.otlp_endpoint)
    start_metrics_server(settings.host, settings.metrics_port)
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        http="httptools",
        lifespan="on",
        timeout_graceful_shutdown=int(settings.shutdown_grace_s),
        server_header=False,
    )
    await _DrainingServer(config).serve()
