"""Typed settings shared by every service, read from ``IMGEN_*`` variables and YAML.

Each service declares one subclass of :class:`ServiceSettings` with its own section
name. A value is taken from the first of these that sets it:

1. keyword arguments (tests, the CLI),
2. ``IMGEN_<SECTION>_<FIELD>`` environment variables (e.g. ``IMGEN_PROMPT_PORT``),
3. ``IMGEN_<FIELD>`` for the fields every service shares (e.g. ``IMGEN_DATA_DIR``,
   ``IMGEN_PROMPT_ADDR``), so one variable configures the whole mesh,
4. the ``<section>`` mapping of the YAML file named by ``IMGEN_CONFIG``,
5. its ``common`` mapping,
6. the field's default.

``docs/configuration.md`` lists every field; it is generated from these classes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

import yaml
from pydantic import Field
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

CONFIG_ENV = "IMGEN_CONFIG"


def default_data_dir() -> Path:
    """Where state lives when nothing says otherwise: the XDG data home."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "imgen"


class ServiceSettings(BaseSettings):
    """Fields every service has; subclasses add their own and set ``section``."""

    section: ClassVar[str] = "common"
    #: Fields also read from ``IMGEN_<FIELD>`` because they concern the whole mesh.
    shared_fields: ClassVar[frozenset[str]] = frozenset(
        {
            "data_dir",
            "log_level",
            "log_format",
            "call_timeout_s",
            "prompt_addr",
            "inference_addr",
            "compliance_addr",
            "provenance_addr",
            "storage_addr",
            "grpc_max_message_mb",
            "otlp_endpoint",
            "tls_cert_path",
            "tls_key_path",
            "tls_ca_path",
            "tls_require_client_cert",
        }
    )

    host: str = Field("127.0.0.1", description="Address the service listens on (0.0.0.0 in a pod).")
    port: int = Field(0, description="Port of the service's gRPC (or HTTP for the gateway) listener.")
    metrics_port: int = Field(0, description="Port of the Prometheus /metrics listener; 0 disables it.")
    data_dir: Path = Field(default_factory=default_data_dir, description="Directory for local state.")
    log_level: str = Field("INFO", description="Log level: DEBUG, INFO, WARNING, ERROR.")
    log_format: str = Field("auto", description="'json', 'console', or 'auto' (console on a TTY).")
    call_timeout_s: float = Field(30.0, description="Default deadline of outgoing gRPC calls, seconds.")
    grpc_max_message_mb: int = Field(
        32, description="Largest gRPC message accepted or sent, MiB (raw 1344x768 frames are ~3 MiB)."
    )
    shutdown_grace_s: float = Field(10.0, description="Seconds in-flight calls get to finish on SIGTERM.")
    prompt_addr: str = Field("127.0.0.1:50061", description="host:port of the prompt service.")
    inference_addr: str = Field("127.0.0.1:50062", description="host:port of the inference service.")
    compliance_addr: str = Field("127.0.0.1:50063", description="host:port of the compliance service.")
    provenance_addr: str = Field("127.0.0.1:50064", description="host:port of the provenance service.")
    storage_addr: str = Field("127.0.0.1:50065", description="host:port of the storage service.")
    otlp_endpoint: str = Field(
        "", description="OTLP/gRPC collector for traces (e.g. http://otel-collector:4317); empty: off."
    )
    tls_cert_path: str = Field(
        "", description="PEM certificate this process presents (server, and client for mTLS); empty: no TLS."
    )
    tls_key_path: str = Field("", description="PEM private key of tls_cert_path.")
    tls_ca_path: str = Field(
        "", description="PEM CA bundle that peers' certificates must chain to; set to dial services over TLS."
    )
    tls_require_client_cert: bool = Field(
        False, description="Servers refuse clients without a certificate signed by tls_ca_path (mutual TLS)."
    )

    model_config = SettingsConfigDict(extra="ignore", env_prefix="IMGEN_COMMON_")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        own_env = EnvSettingsSource(settings_cls, env_prefix=f"IMGEN_{cls.section.upper()}_")
        return (
            init_settings,
            own_env,
            _SharedEnvSource(settings_cls, cls.shared_fields),
            _YamlSectionSource(settings_cls, cls.section),
        )


class _SharedEnvSource(PydanticBaseSettingsSource):
    """``IMGEN_<FIELD>`` for the mesh-wide fields only."""

    def __init__(self, settings_cls: type[BaseSettings], fields: frozenset[str]) -> None:
        super().__init__(settings_cls)
        self._fields = fields

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return os.environ.get(f"IMGEN_{field_name.upper()}"), field_name, False

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name in self.settings_cls.model_fields:
            if name in self._fields:
                raw = os.environ.get(f"IMGEN_{name.upper()}")
                if raw is not None:
                    values[name] = raw
        return values


class _YamlSectionSource(PydanticBaseSettingsSource):
    """The ``common`` and ``<section>`` mappings of the YAML file named by ``IMGEN_CONFIG``."""

    def __init__(self, settings_cls: type[BaseSettings], section: str) -> None:
        super().__init__(settings_cls)
        self._section = section

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = os.environ.get(CONFIG_ENV)
        if not path:
            return {}
        document = load_yaml_config(Path(path))
        merged: dict[str, Any] = {}
        for key in ("common", self._section):
            part = document.get(key) or {}
            if not isinstance(part, dict):
                raise ValueError(f"{path}: section '{key}' must be a mapping")
            merged.update(part)
        return merged


def load_yaml_config(path: Path) -> dict[str, Any]:
    """Read the YAML config file, failing with the file name on a bad document."""
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"cannot read config file {path}: {exc}") from exc
    if not isinstance(document, dict):
        raise ValueError(f"{path}: top level must be a mapping of sections")
    return document
