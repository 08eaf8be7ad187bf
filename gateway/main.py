"""Entry point of the gateway process: its settings and ``serve``.

``imgen serve gateway`` builds :class:`Settings` from ``IMGEN_GATEWAY_*``, the shared
``IMGEN_*`` variables and the YAML file, and awaits :func:`serve`.
"""

from __future__ import annotations

from pathlib import Path
from types import FrameType
from typing import ClassVar

import uvicorn
from pydantic import Field

from services.shared.logging import configure_logging, get_logger
from services.shared.metrics import start_metrics_server
from services.shared.settings import ServiceSettings

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


async def serve(settings: Settings) -> None:
    """Run the gateway with uvicorn until SIGTERM/SIGINT."""
    from gateway.app import create_app

    configure_logging("gateway", settings.log_level, settings.log_format)
    start_metrics_server(settings.host, settings.metrics_port)
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=int(settings.shutdown_grace_s),
        server_header=False,
    )
    await _DrainingServer(config).serve()
