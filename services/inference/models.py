"""Where a model's weights come from, and the pipelines kept loaded in memory.

A style's ``GenerationPreset.model_source`` names the weights in one string:

- ``builtin:tiny-sdxl`` — the project's own tiny model, built on first use (and
  ``builtin:lora/<name>`` a character LoRA for it, see :mod:`services.inference.builtin_lora`);
- a local folder holding a diffusers ``model_index.json``;
- ``s3://bucket/prefix`` — downloaded once into ``<data_dir>/cache/models/bucket/prefix``;
- anything else is a Hugging Face hub id, handed to ``from_pretrained`` as-is (it only
  works where a hub is reachable and ``HF_HUB_OFFLINE`` is not set).

The pipeline class is read from the model's ``model_index.json`` so an SD 1.5 or SD3
folder loads with its own class. Loaded pipelines stay resident in a small LRU cache,
since loading is far slower than a denoising run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import services.inference  # noqa: F401  (sets HF_HUB_OFFLINE before any HF import)
from services.inference.builtin_lora import (
    BuiltinLoraError,
    builtin_lora_name,
    ensure_builtin_lora,
    is_builtin_lora,
)
from services.inference.tiny_model import BUILTIN_PREFIX, TINY_MODEL_NAME, ensure_tiny_model
from services.shared.hf_quiet import disable_loading_bars
from services.shared.logging import get_logger

log = get_logger(__name__)

MODEL_INDEX = "model_index.json"
S3_PREFIX = "s3://"
#: Marker written last into a downloaded folder: without it the download is incomplete.
DOWNLOAD_MARKER = ".imgen-complete"
#: "org/name" or "name": anything else that is not a folder is a typo, not a hub id.
HUB_ID_PATTERN = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")


class ModelUnavailable(Exception):
    """The model or LoRA named by a job cannot be found or loaded; retrying will not help."""


class SourceKind(StrEnum):
    """How a model source string is resolved."""

    BUILTIN = "builtin"
    LOCAL = "local"
    S3 = "s3"
    HUB = "hub"


@dataclass(frozen=True)
class ModelSource:
    """A parsed ``model_source`` string."""

    kind: SourceKind
    location: str

    @property
    def text(self) -> str:
        """The source as written in the catalog."""
        if self.kind is SourceKind.BUILTIN:
            return BUILTIN_PREFIX + self.location
        return self.location


def parse_model_source(source: str) -> ModelSource:
    """Classify ``source``; a path-looking string that does not exist is an error, not a hub id."""
    text = source.strip()
    if not text:
        raise ModelUnavailable("no model source configured for this style")
    if text.startswith(BUILTIN_PREFIX):
        name = text[len(BUILTIN_PREFIX) :]
        if name != TINY_MODEL_NAME:
            raise ModelUnavailable(f"unknown builtin model {name!r}")
        return ModelSource(SourceKind.BUILTIN, name)
    if text.startswith(S3_PREFIX):
        bucket, _ = split_s3_url(text)
        if not bucket:
            raise ModelUnavailable(f"malformed S3 model source {text!r}")
        return ModelSource(SourceKind.S3, text)
    if text.startswith(("/", "./", "../", "~")) or Path(text).expanduser().is_dir():
        return ModelSource(SourceKind.LOCAL, str(Path(text).expanduser()))
    if not HUB_ID_PATTERN.fullmatch(text):
        raise ModelUnavailable(f"model source {text!r} is neither a folder, an s3:// prefix nor a hub id")
    return ModelSource(SourceKind.HUB, text)


def split_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` → (``bucket``, ``some/prefix``)."""
    bucket, _, prefix = url[len(S3_PREFIX) :].partition("/")
    return bucket, prefix.strip("/")


S3ClientFactory = Callable[[], Any]


class S3Downloader:
    """Copies an S3 prefix (a model folder) or key (a LoRA file) into the local cache once.

    Downloads go to a temporary sibling and are renamed into place with a marker, so a
    killed download is redone rather than used half-written.
    """

    def __init__(self, cache_dir: Path, client_factory: S3ClientFactory | None = None) -> None:
        self.cache_dir = cache_dir
        self._client_factory = client_factory or _default_s3_client
        self._lock = threading.Lock()

    def local_path(self, url: str) -> Path:
        """Where ``url`` lives in the cache (whether downloaded yet or not)."""
        bucket, prefix = split_s3_url(url)
        relative = Path(bucket) / prefix
        target = (self.cache_dir / relative).resolve()
        if not str(target).startswith(str(self.cache_dir.resolve())):
            raise ModelUnavailable(f"S3 source {url!r} escapes the model cache")
        return target

    def fetch(self, url: str) -> Path:
        """The local copy of ``url``, downloading it first if needed; a folder or a file."""
        target = self.local_path(url)
        with self._lock:
            if (target / DOWNLOAD_MARKER).is_file() or (target.is_file()):
                return target
            return self._download(url, target)

    def _download(self, url: str, target: Path) -> Path:
        bucket, prefix = split_s3_url(url)
        client = self._client_factory()
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
        try:
            keys = self._list(client, bucket, prefix)
            if keys == [prefix]:
                file_target = staging / "object"
                client.download_file(bucket, prefix, str(file_target))
                os.replace(file_target, target)
                return target
            if not keys:
                raise ModelUnavailable(f"nothing stored under {url}")
            for key in keys:
                relative = key[len(prefix) :].lstrip("/") if prefix else key
                if not relative or relative.endswith("/"):
                    continue
                destination = (staging / relative).resolve()
                if not str(destination).startswith(str(staging.resolve())):
                    raise ModelUnavailable(f"S3 key {key!r} escapes the model cache")
                destination.parent.mkdir(parents=True, exist_ok=True)
                client.download_file(bucket, key, str(destination))
            (staging / DOWNLOAD_MARKER).write_text(url)
            if target.exists():
                shutil.rmtree(target)
            os.rename(staging, target)
            return target
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)

    @staticmethod
    def _list(client: Any, bucket: str, prefix: str) -> list[str]:
        keys: list[str] = []
        paginator = client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                key = item["Key"]
                # "models/a" must not match "models/ab/...": only the key itself or its folder.
                if key == prefix or not prefix or key.startswith(prefix.rstrip("/") + "/"):
                    keys.append(key)
        return keys


def _default_s3_client() -> Any:
    """A boto3 client configured the standard AWS way (env, profile, or instance role)."""
    import boto3

    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    return boto3.client("s3", endpoint_url=endpoint) if endpoint else boto3.client("s3")


@dataclass(frozen=True)
class DevicePlacement:
    """Where pipelines run: CUDA in half precision when there is a GPU, else CPU in fp32."""

    device: str
    dtype_name: str

    @property
    def dtype(self) -> Any:
        import torch

        return getattr(torch, self.dtype_name)


def choose_device(preference: str = "auto") -> DevicePlacement:
    """Resolve ``auto``/``cpu``/``cuda``; asking for CUDA on a machine without one is an error."""
    import torch

    wanted = preference.lower()
    if wanted not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, not {preference!r}")
    has_cuda = torch.cuda.is_available()
    if wanted == "cuda" and not has_cuda:
        raise ValueError("device 'cuda' requested but no CUDA device is available")
    if wanted == "cuda" or (wanted == "auto" and has_cuda):
        return DevicePlacement("cuda", "float16")
    return DevicePlacement("cpu", "float32")


def pipeline_class_for(folder: Path) -> Any:
    """The diffusers pipeline class named in ``folder``'s ``model_index.json``."""
    import diffusers

    index = folder / MODEL_INDEX
    try:
        class_name = json.loads(index.read_text())["_class_name"]
    except (OSError, ValueError, KeyError) as exc:
        raise ModelUnavailable(f"{index} is missing or unreadable: {exc}") from exc
    pipeline_class = getattr(diffusers, class_name, None)
    if pipeline_class is None:
        raise ModelUnavailable(f"{index} names an unknown pipeline class {class_name!r}")
    return pipeline_class


@dataclass
class LoadedModel:
    """A resident pipeline and what jobs need alongside it.

    ``lock`` serializes runs: LoRA adapters and scheduler state live on the shared
    modules, so one job at a time per pipeline.
    """

    source: str
    pipeline: Any
    placement: DevicePlacement
    #: Bytes of the pipeline's parameters and buffers on its device (what the budget counts).
    nbytes: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    schedulers: dict[str, Any] = field(default_factory=dict)
    adapters: set[str] = field(default_factory=set)


class ModelRegistry:
    """Resolves model sources to folders and keeps recently used pipelines loaded (LRU).

    Two limits bound what stays resident: a count, and a memory budget in bytes (0 = none)
    measured on the loaded modules, so a GPU holding a few SDXL checkpoints never runs
    out of memory for the next one. The most recently used pipeline always stays, even
    alone over budget: evicting it would only force a reload for the job that needs it.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        placement: DevicePlacement,
        max_resident: int = 1,
        memory_budget_bytes: int = 0,
        s3: S3Downloader | None = None,
    ) -> None:
        if max_resident < 1:
            raise ValueError("max_resident must be at least 1")
        if memory_budget_bytes < 0:
            raise ValueError("memory_budget_bytes must be 0 (no budget) or positive")
        self.data_dir = data_dir
        self.placement = placement
        self.max_resident = max_resident
        self.memory_budget_bytes = memory_budget_bytes
        self.s3 = s3 or S3Downloader(data_dir / "cache" / "models")
        self._resident: OrderedDict[str, LoadedModel] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}

    def resolve(self, source: str) -> str:
        """The folder (or hub id) ``from_pretrained`` should load for ``source``."""
        parsed = parse_model_source(source)
        if parsed.kind is SourceKind.BUILTIN:
            return str(ensure_tiny_model(self.data_dir))
        if parsed.kind is SourceKind.S3:
            return str(self.s3.fetch(parsed.location))
        if parsed.kind is SourceKind.LOCAL:
            folder = Path(parsed.location)
            if not (folder / MODEL_INDEX).is_file():
                raise ModelUnavailable(f"{folder} is not a diffusers model folder (no {MODEL_INDEX})")
            return str(folder)
        return parsed.location

    def resolve_file(self, source: str) -> Path:
        """A LoRA file or folder: built in, local, or downloaded from ``s3://``; absent is an error."""
        if is_builtin_lora(source):
            try:
                return ensure_builtin_lora(self.data_dir, builtin_lora_name(source))
            except BuiltinLoraError as exc:
                raise ModelUnavailable(str(exc)) from exc
        path = self.s3.fetch(source) if source.startswith(S3_PREFIX) else Path(source).expanduser()
        if not path.exists():
            raise ModelUnavailable(f"LoRA weights not found at {source}")
        return path

    def get(self, source: str) -> LoadedModel:
        """The resident pipeline for ``source``, loading it (and evicting the oldest) if needed."""
        with self._lock:
            loaded = self._resident.get(source)
            if loaded is not None:
                self._resident.move_to_end(source)
                return loaded
            loading = self._loading.setdefault(source, threading.Lock())
        with loading:
            with self._lock:
                loaded = self._resident.get(source)
                if loaded is not None:
                    return loaded
            pipeline = self._load(source)
            loaded = LoadedModel(source, pipeline, self.placement, nbytes=pipeline_nbytes(pipeline))
            with self._lock:
                self._resident[source] = loaded
                evicted = self._evict_over_limits()
                self._loading.pop(source, None)
            if evicted:
                log.info("evicted models", sources=evicted, budget_bytes=self.memory_budget_bytes)
                self._release_device_memory()
        return loaded

    def resident(self) -> list[str]:
        """Sources currently loaded, least recently used first."""
        with self._lock:
            return list(self._resident)

    def resident_bytes(self) -> int:
        """Bytes held by the resident pipelines, as the budget counts them."""
        with self._lock:
            return sum(model.nbytes for model in self._resident.values())

    def _evict_over_limits(self) -> list[str]:
        """Drop least recently used pipelines until both limits hold (caller holds the lock)."""
        evicted: list[str] = []

        def over() -> bool:
            if len(self._resident) > self.max_resident:
                return True
            total = sum(model.nbytes for model in self._resident.values())
            return bool(self.memory_budget_bytes) and total > self.memory_budget_bytes

        while len(self._resident) > 1 and over():
            source, _model = self._resident.popitem(last=False)
            evicted.append(source)
        return evicted

    def _release_device_memory(self) -> None:
        """Give the CUDA caching allocator's freed blocks back so the budget is real."""
        if self.placement.device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()

    def _load(self, source: str) -> Any:
        disable_loading_bars()
        location = self.resolve(source)
        folder = Path(location)
        is_folder = folder.is_dir()
        if is_folder:
            pipeline_class = pipeline_class_for(folder)
        else:
            from diffusers import DiffusionPipeline

            pipeline_class = DiffusionPipeline
        try:
            pipeline = pipeline_class.from_pretrained(
                location, dtype=self.placement.dtype, local_files_only=is_folder
            )
        except (OSError, ValueError) as exc:
            raise ModelUnavailable(f"cannot load model {source!r}: {exc}") from exc
        pipeline = pipeline.to(self.placement.device)
        pipeline.set_progress_bar_config(disable=True)
        return without_builtin_watermark(pipeline)


def without_builtin_watermark(pipeline: Any) -> Any:
    """Switch off the invisible watermark some diffusers pipelines add on their own.

    SDXL pipelines stamp a fixed dwtDct mark on every image whenever ``imwatermark`` is
    installed (it is: provenance uses it). The provenance service applies the watermark the
    API asks for (``enable_invisimark``, ``wm_*``); a second, unrequested one would make
    ``enable_invisimark: false`` untrue, overlay the requested mark and cost ~50 ms a
    1344x768 image on the CPU.
    """
    if getattr(pipeline, "watermark", None) is not None:
        pipeline.watermark = None
    return pipeline


def pipeline_nbytes(pipeline: Any) -> int:
    """Bytes of every parameter and buffer of the pipeline's modules (shared tensors once)."""
    seen: set[int] = set()
    total = 0
    for component in getattr(pipeline, "components", {}).values():
        tensors = []
        if hasattr(component, "parameters") and hasattr(component, "buffers"):
            tensors = [*component.parameters(), *component.buffers()]
        for tensor in tensors:
            pointer = tensor.data_ptr()
            if pointer in seen:
                continue
            seen.add(pointer)
            total += tensor.numel() * tensor.element_size()
    return total
