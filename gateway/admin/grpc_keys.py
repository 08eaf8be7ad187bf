"""``imgen.gateway.v1.KeysService``: key administration over gRPC for internal callers.

Thin glue over :class:`gateway.keys.KeyStore`, served by the gateway process on
``admin_grpc_port``. After each change it drops this replica's verification cache, so
the change applies here at once; other replicas see it through the revision row.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import anyio.to_thread
import grpc

from gateway.keys import ApiKeyRecord, KeyStore
from imgen.gateway.v1 import keys_pb2, keys_pb2_grpc
from services.shared.errors import InvalidArgument, NotFound
from services.shared.logging import get_logger

log = get_logger(__name__)


def _time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else ""


def key_message(record: ApiKeyRecord) -> keys_pb2.ApiKey:
    """The wire form of a key record (never a secret)."""
    return keys_pb2.ApiKey(
        id=record.id,
        name=record.name,
        prefix=record.prefix,
        enabled=record.enabled,
        status=record.status(),
        created_at=_time(record.created_at),
        last_used_at=_time(record.last_used_at),
        request_count=record.request_count,
        expires_at=_time(record.expires_at),
        rate_limit_per_minute=record.rate_limit_per_minute or 0,
    )


class KeysServicer(keys_pb2_grpc.KeysServiceServicer):
    """CreateKey, ListKeys, SetKeyEnabled, RotateKey, DeleteKey."""

    def __init__(self, store: KeyStore, on_change: Callable[[], None] = lambda: None) -> None:
        self._store = store
        self._on_change = on_change

    async def CreateKey(
        self, request: keys_pb2.CreateKeyRequest, context: grpc.aio.ServicerContext
    ) -> keys_pb2.CreateKeyResponse:
        try:
            expires_at = datetime.fromisoformat(request.expires_at) if request.expires_at else None
            record, secret = await anyio.to_thread.run_sync(
                lambda: self._store.create(
                    request.name,
                    expires_at=expires_at,
                    rate_limit_per_minute=request.rate_limit_per_minute or None,
                )
            )
        except ValueError as exc:
            raise InvalidArgument(str(exc)) from exc
        log.info("key created over gRPC", key_id=record.id)
        return keys_pb2.CreateKeyResponse(key=key_message(record), secret=secret)

    async def ListKeys(
        self, request: keys_pb2.ListKeysRequest, context: grpc.aio.ServicerContext
    ) -> keys_pb2.ListKeysResponse:
        records = await anyio.to_thread.run_sync(self._store.list)
        return keys_pb2.ListKeysResponse(keys=[key_message(r) for r in records])

    async def SetKeyEnabled(
        self, request: keys_pb2.SetKeyEnabledRequest, context: grpc.aio.ServicerContext
    ) -> keys_pb2.SetKeyEnabledResponse:
        record = await anyio.to_thread.run_sync(self._store.set_enabled, request.ref, request.enabled)
        if record is None:
            raise NotFound(f"no key {request.ref!r}")
        self._on_change()
        return keys_pb2.SetKeyEnabledResponse(key=key_message(record))

    async def RotateKey(
        self, request: keys_pb2.RotateKeyRequest, context: grpc.aio.ServicerContext
    ) -> keys_pb2.RotateKeyResponse:
        rotated = await anyio.to_thread.run_sync(self._store.rotate, request.ref)
        if rotated is None:
            raise NotFound(f"no key {request.ref!r}")
        self._on_change()
        record, secret = rotated
        log.info("key rotated over gRPC", key_id=record.id)
        return keys_pb2.RotateKeyResponse(key=key_message(record), secret=secret)

    async def DeleteKey(
        self, request: keys_pb2.DeleteKeyRequest, context: grpc.aio.ServicerContext
    ) -> keys_pb2.DeleteKeyResponse:
        record = await anyio.to_thread.run_sync(self._store.get, request.ref)
        if record is None or not await anyio.to_thread.run_sync(self._store.delete, record.id):
            raise NotFound(f"no key {request.ref!r}")
        self._on_change()
        return keys_pb2.DeleteKeyResponse(id=record.id)


async def start_keys_server(
    store: KeyStore, host: str, port: int, on_change: Callable[[], None]
) -> tuple[grpc.aio.Server, int]:
    """Serve KeysService on ``host:port`` (0 picks a free port): (the server, its bound port).

    The shared interceptor maps domain errors to status codes, counts and logs calls.
    """
    from services.shared.interceptors import ServerInterceptor

    server = grpc.aio.server(interceptors=[ServerInterceptor("gateway-keys")])
    keys_pb2_grpc.add_KeysServiceServicer_to_server(KeysServicer(store, on_change), server)
    bound = server.add_insecure_port(f"{host}:{port}")
    await server.start()
    return server, bound
