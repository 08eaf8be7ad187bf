"""Fixtures for the gateway tests.

``gateway`` runs the app in-process (httpx.ASGITransport) in front of real gRPC servers:
the real prompt and storage services, and scripted compliance and inference stand-ins
(:mod:`tests.gateway.doubles`). ``mesh_api`` is the whole mesh as separate processes,
from the session ``mesh`` fixture in ``tests/conftest.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
import pytest
import pytest_asyncio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gateway.app import create_app
from gateway.keys import KeyStore
from gateway.main import Settings
from imgen.compliance.v1 import compliance_pb2, compliance_pb2_grpc
from imgen.inference.v1 import inference_pb2, inference_pb2_grpc
from services.shared.server import ServiceRuntime, service_name
from services.shared.settings import ServiceSettings

from .doubles import ScriptedCompliance, ScriptedInference

BASE_URL = "http://gateway.test"


class _DoubleSettings(ServiceSettings):
    section = "gateway_test_doubles"


async def start_runtime(runtime: ServiceRuntime, names: list[str]) -> asyncio.Task[None]:
    """Run ``runtime`` in a task and wait until its health says SERVING."""
    task = asyncio.create_task(runtime.run(names))
    for _ in range(400):
        if task.done():
            task.result()
        if runtime.bound_port:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{runtime.bound_port}") as channel:
                try:
                    reply = await health_pb2_grpc.HealthStub(channel).Check(
                        health_pb2.HealthCheckRequest(), timeout=1
                    )
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return task
                except grpc.RpcError:
                    pass
        await asyncio.sleep(0.025)
    raise RuntimeError(f"{runtime.name} did not become ready")


@dataclass
class InProcessGateway:
    """The app under test, its key, and handles on its upstreams."""

    client: httpx.AsyncClient
    api_key: str
    store: KeyStore
    settings: Settings
    compliance: ScriptedCompliance
    inference: ScriptedInference
    storage_addr: str
    app: Any

    async def call(self, body: Any, key: str | None = None, **kwargs: Any) -> httpx.Response:
        """POST one action with the fixture's key (or ``key``)."""
        headers = {"Authorization": f"Bearer {key if key is not None else self.api_key}"}
        return await self.client.post("/api/v2", json=body, headers=headers, **kwargs)


@contextlib.asynccontextmanager
async def in_process_gateway(
    settings: Settings,
    compliance: ScriptedCompliance,
    inference: ScriptedInference,
    tasks: list[asyncio.Task[None]],
    key_name: str,
) -> AsyncIterator[InProcessGateway]:
    """The gateway app in process over ``settings``' upstreams, with one API key; stops ``tasks`` after."""
    store = KeyStore(settings.resolved_database_url())
    _record, api_key = store.create(key_name)
    app = create_app(settings, store)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
                yield InProcessGateway(
                    client=client,
                    api_key=api_key,
                    store=store,
                    settings=settings,
                    compliance=compliance,
                    inference=inference,
                    storage_addr=settings.storage_addr,
                    app=app,
                )
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        store.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def gateway_env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[InProcessGateway]:
    """Started once per module (tests there run on the module's event loop)."""
    tmp_path = tmp_path_factory.mktemp("gateway")
    from imgen.storage.v1 import storage_pb2
    from services.prompt.main import SERVICE_NAMES as PROMPT_NAMES
    from services.prompt.main import Settings as PromptSettings
    from services.prompt.main import build_runtime as build_prompt
    from services.storage.main import Settings as StorageSettings
    from services.storage.main import build_runtime as build_storage

    common = {"port": 0, "data_dir": tmp_path, "log_format": "json", "shutdown_grace_s": 0.2}
    prompt_rt = build_prompt(PromptSettings(**common))
    storage_rt, _objects = build_storage(StorageSettings(**common, public_base_url=BASE_URL))
    doubles_rt = ServiceRuntime("doubles", _DoubleSettings(**common))
    compliance, inference = ScriptedCompliance(), ScriptedInference()
    compliance_pb2_grpc.add_ComplianceServiceServicer_to_server(compliance, doubles_rt.server)
    inference_pb2_grpc.add_InferenceServiceServicer_to_server(inference, doubles_rt.server)
    tasks = [
        await start_runtime(prompt_rt, PROMPT_NAMES),
        await start_runtime(storage_rt, [service_name(storage_pb2, "StorageService")]),
        await start_runtime(
            doubles_rt,
            [
                service_name(compliance_pb2, "ComplianceService"),
                service_name(inference_pb2, "InferenceService"),
            ],
        ),
    ]
    doubles_addr = f"127.0.0.1:{doubles_rt.bound_port}"
    settings = Settings(
        port=0,
        data_dir=tmp_path,
        log_format="json",
        prompt_addr=f"127.0.0.1:{prompt_rt.bound_port}",
        storage_addr=f"127.0.0.1:{storage_rt.bound_port}",
        compliance_addr=doubles_addr,
        inference_addr=doubles_addr,
        provenance_addr="127.0.0.1:1",
        request_timeout_s=5,
        max_body_bytes=256 * 1024,
        usage_flush_interval_s=0.05,
        key_cache_ttl_s=0.1,
    )
    async with in_process_gateway(settings, compliance, inference, tasks, "tests") as gateway:
        yield gateway


@pytest.fixture
def gateway(gateway_env: InProcessGateway) -> InProcessGateway:
    """The module's gateway with its scripted upstreams reset to their defaults."""
    gateway_env.compliance.blocked_terms.clear()
    gateway_env.compliance.reviews.clear()
    gateway_env.compliance.fail_with = None
    gateway_env.inference.jobs.clear()
    gateway_env.inference.submitted.clear()
    gateway_env.inference.fail_with = None
    return gateway_env


@dataclass
class MeshApi:
    """The v2 endpoint of a running mesh and its key."""

    url: str
    base_url: str
    api_key: str

    def call(self, body: Any, key: str | None = None, timeout: float = 60.0) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key if key is not None else self.api_key}"}
        return httpx.post(self.url, json=body, headers=headers, timeout=timeout)


@pytest.fixture(scope="session")
def mesh_api(mesh: Any) -> Iterator[MeshApi]:
    """The session mesh (tests/conftest.py) seen as a v2 API endpoint."""
    yield MeshApi(url=f"{mesh.base_url}/api/v2", base_url=mesh.base_url, api_key=mesh.api_key)
