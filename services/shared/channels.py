"""Outgoing gRPC channels with the mesh's defaults: message size and deadlines."""

from __future__ import annotations

import grpc

from services.shared.interceptors import DeadlineStreamInterceptor, DeadlineUnaryInterceptor
from services.shared.settings import ServiceSettings


def channel_options(max_message_mb: int) -> list[tuple[str, int]]:
    """Options shared by servers and clients so raw frames fit in one message."""
    limit = max_message_mb * 1024 * 1024
    return [
        ("grpc.max_send_message_length", limit),
        ("grpc.max_receive_message_length", limit),
        ("grpc.keepalive_time_ms", 30_000),
        ("grpc.keepalive_timeout_ms", 10_000),
    ]


def open_channel(address: str, settings: ServiceSettings, timeout: float | None = None) -> grpc.aio.Channel:
    """An insecure aio channel to ``address`` whose calls default to a deadline.

    ``timeout`` overrides the settings' ``call_timeout_s`` for this channel's callers.
    """
    deadline = timeout if timeout is not None else settings.call_timeout_s
    return grpc.aio.insecure_channel(
        address,
        options=channel_options(settings.grpc_max_message_mb),
        interceptors=[DeadlineUnaryInterceptor(deadline), DeadlineStreamInterceptor(deadline)],
    )
