"""Entry point of the storage service: settings, store selection, server."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, SecretStr

from imgen.storage.v1 import storage_pb2, storage_pb2_grpc
from services.shared.server import ServiceRuntime, service_name
from services.shared.settings import ServiceSettings
from services.storage.backend import ObjectStore
from services.storage.local import LocalObjectStore
from services.storage.s3 import S3Config, S3ObjectStore
from services.storage.servicer import StorageServicer
from services.storage.signing_key import key_from_setting, load_or_create_signing_key


class Settings(ServiceSettings):
    """Storage settings: section ``storage`` (``IMGEN_STORAGE_*``)."""

    section: ClassVar[str] = "storage"

    port: int = Field(50065, description="Port of the storage gRPC listener.")
    backend: Literal["local", "s3"] = Field(
        "local", description="'local' (files under data_dir/objects, URLs served by the gateway) or 's3'."
    )
    public_base_url: str = Field(
        "http://127.0.0.1:8470", description="Base of local-backend URLs: the gateway's public address."
    )
    url_ttl_s: int = Field(3600, ge=1, description="Default lifetime of pre-signed URLs, seconds.")
    url_max_ttl_s: int = Field(
        604800, ge=1, description="Longest lifetime a caller may ask for, seconds (SigV4 allows 7 days)."
    )
    default_cache_control: str = Field(
        "private, max-age=86400, immutable",
        description="Cache-Control stored with objects whose PutObject gives none.",
    )
    url_signing_key: SecretStr | None = Field(
        None, description="Secret for local-backend URL signatures (>= 16 bytes); empty uses the key file."
    )
    url_signing_key_file: Path | None = Field(
        None,
        description="File of the generated URL-signing key (0600); default data_dir/storage/url-signing.key.",
    )
    s3_bucket: str = Field("", description="Bucket for the s3 backend.")
    s3_endpoint_url: str = Field("", description="S3 endpoint URL (MinIO, SeaweedFS, R2); empty for AWS.")
    s3_region: str = Field("us-east-1", description="S3 region used for SigV4 signing.")
    s3_addressing_style: Literal["auto", "path", "virtual"] = Field(
        "auto", description="Bucket addressing: 'path' (most self-hosted stores), 'virtual' or 'auto'."
    )
    s3_access_key_id: SecretStr | None = Field(
        None, description="S3 access key id; empty uses boto3's credential chain (env, IRSA, profile)."
    )
    s3_secret_access_key: SecretStr | None = Field(None, description="S3 secret access key.")
    s3_session_token: SecretStr | None = Field(
        None, description="S3 session token for temporary credentials."
    )
    s3_sse: Literal["", "AES256", "aws:kms"] = Field(
        "", description="Server-side encryption for uploads: '', 'AES256' or 'aws:kms'."
    )
    s3_sse_kms_key_id: str = Field("", description="KMS key id when s3_sse is 'aws:kms'.")
    s3_public_base_url: str = Field(
        "", description="Public/CDN base URL; when set, URLs are unsigned '{base}/{key}' ones."
    )
    s3_max_attempts: int = Field(5, ge=1, description="Attempts per S3 call (adaptive retry with backoff).")
    s3_connect_timeout_s: float = Field(5.0, gt=0, description="S3 connect timeout, seconds.")
    s3_read_timeout_s: float = Field(30.0, gt=0, description="S3 read timeout, seconds.")
    s3_multipart_threshold_bytes: int = Field(
        16 * 1024 * 1024, ge=5 * 1024 * 1024, description="Objects at least this large upload multipart."
    )
    s3_multipart_chunk_bytes: int = Field(
        8 * 1024 * 1024, ge=5 * 1024 * 1024, description="Part size of multipart uploads, bytes."
    )
    s3_create_bucket: bool = Field(False, description="Create the bucket at startup if it does not exist.")

    def signing_key_path(self) -> Path:
        """Where the generated URL-signing key lives."""
        return self.url_signing_key_file or self.data_dir / "storage" / "url-signing.key"

    def s3_config(self) -> S3Config:
        """The S3 backend's options from these settings."""
        return S3Config(
            bucket=self.s3_bucket,
            endpoint_url=self.s3_endpoint_url or None,
            region=self.s3_region,
            addressing_style=self.s3_addressing_style,
            access_key_id=_secret(self.s3_access_key_id),
            secret_access_key=_secret(self.s3_secret_access_key),
            session_token=_secret(self.s3_session_token),
            sse=self.s3_sse or None,
            sse_kms_key_id=self.s3_sse_kms_key_id or None,
            public_base_url=self.s3_public_base_url or None,
            max_attempts=self.s3_max_attempts,
            connect_timeout_s=self.s3_connect_timeout_s,
            read_timeout_s=self.s3_read_timeout_s,
            multipart_threshold_bytes=self.s3_multipart_threshold_bytes,
            multipart_chunk_bytes=self.s3_multipart_chunk_bytes,
        )


def build_store(settings: Settings) -> ObjectStore:
    """The configured backend, ready to use."""
    if settings.backend == "s3":
        return S3ObjectStore(settings.s3_config())
    secret = _secret(settings.url_signing_key)
    key = key_from_setting(secret) if secret else load_or_create_signing_key(settings.signing_key_path())
    return LocalObjectStore(settings.data_dir / "objects", key, settings.public_base_url)


def build_runtime(settings: Settings) -> tuple[ServiceRuntime, ObjectStore]:
    """A runtime with the storage servicer registered (tests run it in-process)."""
    runtime = ServiceRuntime("storage", settings)
    store = build_store(settings)
    servicer = StorageServicer(
        store,
        url_ttl_s=min(settings.url_ttl_s, settings.url_max_ttl_s),
        url_max_ttl_s=settings.url_max_ttl_s,
        default_cache_control=settings.default_cache_control,
    )
    storage_pb2_grpc.add_StorageServiceServicer_to_server(servicer, runtime.server)
    if isinstance(store, S3ObjectStore) and settings.s3_create_bucket:
        s3_store = store

        async def ensure_bucket() -> None:
            await asyncio.to_thread(s3_store.ensure_bucket)

        runtime.on_startup(ensure_bucket)

    async def close_store() -> None:
        store.close()

    runtime.on_shutdown(close_store)
    return runtime, store


async def serve(settings: Settings) -> None:
    """Run the storage service until SIGTERM/SIGINT."""
    runtime, _ = build_runtime(settings)
    await runtime.run([service_name(storage_pb2, "StorageService")])


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None and value.get_secret_value() else None
