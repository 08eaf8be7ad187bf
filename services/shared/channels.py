"""Outgoing gRPC channels with the mesh's defaults: message size, deadlines, TLS, request context."""

from __future__ import annotations

import grpc

from services.shared.call_context import ContextStreamInterceptor, ContextUnaryInterceptor
from services.shared.interceptors import DeadlineStreamInterceptor, DeadlineUnaryInterceptor
from services.shared.settings import ServiceSettings
from services.shared.tls import channel_credentials


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
    """An aio channel to ``address`` whose calls default to a deadline.

    ``timeout`` overrides the settings' ``call_timeout_s`` for this channel's callers.
    The channel uses TLS (mutual when the process has a certificate) once ``tls_ca_path``
    is set, and every call carries the request id and trace of its caller.
    """
    deadline = timeout if timeout is not None else settings.call_timeout_s
    options = channel_options(settings.grpc_max_message_mb)
    interceptors: list[grpc.aio.ClientInterceptor] = [
        DeadlineUnaryInterceptor(deadline),
        DeadlineStreamInterceptor(deadline),
        ContextUnaryInterceptor(),
        ContextStreamInterceptor(),
    ]
    credentials = channel_credentials(settings)
    if credentials is None:
        return grpc.aio.insecure_channel(address, options=options, interceptors=interceptors)
    return grpc.aio.secure_channel(address, credentials, options=options, interceptors=interceptors)
