"""A live gateway for the browser: uvicorn on a free port, the real prompt service, headless Chromium.

The gateway and the prompt service run on their own event loop in a background thread so
the synchronous Playwright API can drive Chromium from the test thread. Every log record
of the process is captured so tests can prove no secret was ever logged.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from gateway.app import create_app
from gateway.keys import KeyStore
from gateway.main import Settings
from imgen.mesh import free_port, grpc_serving

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ADMIN_PASSWORD = "correct horse battery staple 42"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "admin"


class CapturedLogs(logging.Handler):
    """Keeps every record's message and fields as text."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.getMessage()} {record.__dict__!r}")

    def text(self) -> str:
        return "\n".join(self.lines)


@dataclass
class LiveGateway:
    """Where the browser goes, and handles on the gateway behind it."""

    base_url: str
    settings: Settings
    store: KeyStore
    logs: CapturedLogs
    app: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


def require_browser() -> Any:
    """Playwright's sync API, or a skip with the reason when Chromium is missing."""
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is missing (apt-get install -y chromium)")
    return pytest.importorskip("playwright.sync_api")


def launch(playwright: Any) -> Any:
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


def screenshot(page: Any, name: str) -> None:
    """Save the page as ``test-artifacts/admin/<name>.png``."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def sign_in(page: Any, base_url: str, password: str = ADMIN_PASSWORD) -> None:
    page.goto(f"{base_url}/admin/login")
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/admin/keys")


@pytest.fixture(scope="module")
def live_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    from services.prompt.main import SERVICE_NAMES as PROMPT_NAMES
    from services.prompt.main import Settings as PromptSettings
    from services.prompt.main import build_runtime as build_prompt

    tmp_path = tmp_path_factory.mktemp("admin")
    prompt_port, http_port, grpc_port = free_port(), free_port(), free_port()
    settings = Settings(
        host="127.0.0.1",
        port=http_port,
        data_dir=tmp_path,
        log_format="json",
        log_level="DEBUG",
        prompt_addr=f"127.0.0.1:{prompt_port}",
        inference_addr="127.0.0.1:1",
        compliance_addr="127.0.0.1:1",
        storage_addr="127.0.0.1:1",
        provenance_addr="127.0.0.1:1",
        request_timeout_s=3,
        usage_flush_interval_s=0.05,
        admin_password=ADMIN_PASSWORD,
        admin_login_max_failures=3,
        admin_grpc_port=grpc_port,
    )
    store = KeyStore(settings.resolved_database_url())
    app = create_app(settings, store)
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=http_port, log_config=None, access_log=False, lifespan="on"
        )
    )
    logs = CapturedLogs()
    loop = asyncio.new_event_loop()

    async def run() -> None:
        # grpc.aio objects belong to the loop they are made on: build the runtime here
        prompt_runtime = build_prompt(PromptSettings(port=prompt_port, data_dir=tmp_path, log_format="json"))
        prompt_task = asyncio.create_task(prompt_runtime.run(PROMPT_NAMES))
        try:
            await server.serve()
        finally:
            prompt_task.cancel()
            await asyncio.gather(prompt_task, return_exceptions=True)

    thread = threading.Thread(target=loop.run_until_complete, args=(run(),), daemon=True)
    thread.start()
    for _ in range(400):
        if server.started or not thread.is_alive():
            break
        threading.Event().wait(0.025)
    assert server.started, "gateway did not start"
    for _ in range(300):
        if grpc_serving(settings.prompt_addr, timeout=0.2):
            break
        threading.Event().wait(0.05)
    else:
        raise RuntimeError("the prompt service did not start")
    logging.getLogger().addHandler(logs)
    try:
        yield LiveGateway(
            f"http://127.0.0.1:{http_port}", settings, store, logs, app, {"grpc_port": grpc_port}
        )
    finally:
        logging.getLogger().removeHandler(logs)
        server.should_exit = True
        thread.join(timeout=15)
        store.close()
