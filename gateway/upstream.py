"""The gateway's gRPC clients: one channel per upstream service, opened once.

Channels are created inside the running event loop (grpc.aio binds them to it), kept
for the life of the app, and closed at shutdown.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from imgen.compliance.v1 import compliance_pb2_grpc
from imgen.inference.v1 import inference_pb2_grpc
from imgen.prompt.v1 import prompt_pb2_grpc
from imgen.storage.v1 import storage_pb2_grpc
from services.shared.channels import open_channel
from services.shared.settings import ServiceSettings


@dataclass
class Upstreams:
    """Stubs for the services the gateway calls, and their channels."""

    prompt: prompt_pb2_grpc.PromptServiceStub
    compliance: compliance_pb2_grpc.ComplianceServiceStub
    inference: inference_pb2_grpc.InferenceServiceStub
    storage: storage_pb2_grpc.StorageServiceStub
    channels: dict[str, grpc.aio.Channel]

    @classmethod
    def open(cls, settings: ServiceSettings, timeout_s: float) -> Upstreams:
        """Channels to the addresses in ``settings`` with ``timeout_s`` as the default deadline."""
        channels = {
            "prompt": open_channel(settings.prompt_addr, settings, timeout_s),
            "compliance": open_channel(settings.compliance_addr, settings, timeout_s),
            "inference": open_channel(settings.inference_addr, settings, timeout_s),
            "storage": open_channel(settings.storage_addr, settings, timeout_s),
        }
        return cls(
            prompt=prompt_pb2_grpc.PromptServiceStub(channels["prompt"]),
            compliance=compliance_pb2_grpc.ComplianceServiceStub(channels["compliance"]),
            inference=inference_pb2_grpc.InferenceServiceStub(channels["inference"]),
            storage=storage_pb2_grpc.StorageServiceStub(channels["storage"]),
            channels=channels,
        )

    async def close(self) -> None:
        """Close every channel."""
        await asyncio.gather(*(channel.close() for channel in self.channels.values()), return_exceptions=True)

    async def health(self, timeout_s: float = 2.0) -> dict[str, bool]:
        """Whether each upstream reports SERVING over grpc.health.v1."""

        async def check(channel: grpc.aio.Channel) -> bool:
            try:
                reply = await health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=timeout_s
                )
            except grpc.RpcError:
                return False
            return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

        names = list(self.channels)
        results = await asyncio.gather(*(check(self.channels[name]) for name in names))
        return dict(zip(names, results, strict=True))
