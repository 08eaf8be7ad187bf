"""Character LoRAs built by the service itself for the tiny model: ``builtin:lora/<name>``.

There are no trained character weights to ship, yet ``@aya`` must change the image the
same way a real LoRA would, through the same ``load_lora_weights``/``set_adapters``
path. Each built-in LoRA is a peft adapter (r=4 on the attention projections) with
random, non-zero weights drawn from a seed derived from the name, so every machine
builds the same bytes, and two characters differ. It is written with
``save_lora_weights`` exactly like a trained file, into ``<data_dir>/loras/<name>``.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path

import services.inference  # noqa: F401  (sets HF_HUB_OFFLINE before the HF imports below)
from services.inference.tiny_model import BUILTIN_PREFIX, ensure_tiny_model

BUILTIN_LORA_PREFIX = BUILTIN_PREFIX + "lora/"
LORA_FILE = "pytorch_lora_weights.safetensors"
LORA_RANK = 4
LORA_TARGETS = ("to_q", "to_k", "to_v", "to_out.0")
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


class BuiltinLoraError(ValueError):
    """The ``builtin:lora/`` source names no valid LoRA."""


def is_builtin_lora(source: str) -> bool:
    """Whether ``source`` asks for a LoRA the service builds itself."""
    return source.startswith(BUILTIN_LORA_PREFIX)


def builtin_lora_name(source: str) -> str:
    """``builtin:lora/aya`` → ``aya``; anything but a plain lowercase name is an error."""
    name = source[len(BUILTIN_LORA_PREFIX) :]
    if not NAME_PATTERN.fullmatch(name):
        raise BuiltinLoraError(f"invalid builtin LoRA name {name!r} (lowercase letters, digits, - and _)")
    return name


def lora_seed(name: str) -> int:
    """A stable 63-bit seed from the name (Python's ``hash`` is salted per process)."""
    return int.from_bytes(hashlib.sha256(f"imgen-lora:{name}".encode()).digest()[:8], "big") >> 1


def builtin_lora_dir(data_dir: Path, name: str) -> Path:
    """Where the LoRA ``name`` lives under a service's data directory."""
    return data_dir / "loras" / name


def ensure_builtin_lora(data_dir: Path, name: str) -> Path:
    """The folder holding LoRA ``name`` for the tiny model, building it on first use.

    Built in a temporary sibling and renamed into place, so concurrent workers and
    killed builds never expose a half-written file.
    """
    target = builtin_lora_dir(data_dir, name)
    if (target / LORA_FILE).is_file():
        return target
    model_dir = ensure_tiny_model(data_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
    try:
        _write_lora(model_dir, staging, lora_seed(name))
        try:
            os.rename(staging, target)
        except OSError:
            if not (target / LORA_FILE).is_file():
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target


def _write_lora(model_dir: Path, folder: Path, seed: int) -> None:
    """Add a randomly initialised adapter to the tiny UNet and save only the adapter."""
    import torch
    from diffusers import StableDiffusionXLPipeline, UNet2DConditionModel
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    unet = UNet2DConditionModel.from_pretrained(model_dir / "unet", local_files_only=True)
    config = LoraConfig(r=LORA_RANK, target_modules=list(LORA_TARGETS), init_lora_weights=False)
    # fork_rng: seeding must not disturb the global generator other code may rely on.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet.add_adapter(config)
    StableDiffusionXLPipeline.save_lora_weights(
        folder, unet_lora_layers=get_peft_model_state_dict(unet), weight_name=LORA_FILE
    )
