"""A model folder and a LoRA loaded from S3 prefixes on a real S3 server, downloaded once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from services.inference.builtin_lora import ensure_builtin_lora
from services.inference.models import DOWNLOAD_MARKER, DevicePlacement, ModelRegistry, S3Downloader
from services.inference.tiny_model import ensure_tiny_model
from tests.storage.seaweed import SeaweedServer, seaweed  # noqa: F401 - the fixture


def _upload_folder(client: object, bucket: str, folder: Path, prefix: str) -> int:
    count = 0
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            client.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(folder).as_posix()}")  # type: ignore[attr-defined]
            count += 1
    return count


def test_model_and_lora_from_s3(seaweed: SeaweedServer, tmp_path: Path) -> None:  # noqa: F811
    local = ensure_tiny_model(tmp_path / "source")
    lora = ensure_builtin_lora(tmp_path / "source", "aya")
    bucket = seaweed.create_bucket()
    client = seaweed.client()
    assert _upload_folder(client, bucket, local, "models/tiny") > 5
    lora_files = [p for p in lora.rglob("*") if p.is_file()] if lora.is_dir() else [lora]
    for path in lora_files:
        client.upload_file(str(path), bucket, f"loras/aya/{path.name}")

    calls: list[int] = []

    def factory() -> object:
        calls.append(1)
        return seaweed.client()

    registry = ModelRegistry(
        tmp_path / "data",
        placement=DevicePlacement("cpu", "float32"),
        s3=S3Downloader(tmp_path / "data" / "cache" / "models", client_factory=factory),
    )
    source = f"s3://{bucket}/models/tiny"
    loaded = registry.get(source)
    cached = Path(registry.resolve(source))
    assert (cached / DOWNLOAD_MARKER).is_file() and (cached / "model_index.json").is_file()
    assert type(loaded.pipeline).__name__ == "StableDiffusionXLPipeline"

    # The S3 copy produces the same pixels as the local folder it came from.
    from_s3 = loaded.pipeline(
        "a test",
        num_inference_steps=2,
        width=256,
        height=256,
        output_type="np",
        generator=torch.Generator("cpu").manual_seed(7),
    ).images[0]
    local_registry = ModelRegistry(tmp_path / "data2", placement=DevicePlacement("cpu", "float32"))
    from_disk = (
        local_registry.get(str(local))
        .pipeline(
            "a test",
            num_inference_steps=2,
            width=256,
            height=256,
            output_type="np",
            generator=torch.Generator("cpu").manual_seed(7),
        )
        .images[0]
    )
    assert np.array_equal(from_s3, from_disk)

    # Downloaded once: a second registry over the same cache does not list the bucket again.
    before = len(calls)
    again = ModelRegistry(
        tmp_path / "data",
        placement=DevicePlacement("cpu", "float32"),
        s3=S3Downloader(tmp_path / "data" / "cache" / "models", client_factory=factory),
    )
    assert again.resolve(source) == str(cached)
    assert len(calls) == before

    lora_source = f"s3://{bucket}/loras/aya"
    fetched = registry.resolve_file(lora_source)
    assert fetched.exists()


def test_missing_prefix_is_a_clear_error(seaweed: SeaweedServer, tmp_path: Path) -> None:  # noqa: F811
    from services.inference.models import ModelUnavailable

    bucket = seaweed.create_bucket()
    registry = ModelRegistry(
        tmp_path,
        placement=DevicePlacement("cpu", "float32"),
        s3=S3Downloader(tmp_path / "cache", client_factory=seaweed.client),
    )
    with pytest.raises(ModelUnavailable, match="nothing stored"):
        registry.resolve(f"s3://{bucket}/models/absent")
