"""The project's own tiny SDXL pipeline: real diffusers code, random weights, built offline.

The mesh must run end to end on a CPU with no weights to download, yet exercise the
same code path as a real SDXL checkpoint. This builds a ``StableDiffusionXLPipeline``
from configs with weights drawn from a fixed seed, so every machine builds the same
bytes and tests can compare pixels. The layout is the fast one measured in FACTS.md:
UNet blocks (32, 32, 64) with cross-attention only at the lowest resolution, a 4-block
VAE (8, 16, 32, 32) without mid-block attention (so latents are 1/8 of the image, as in
SDXL), two small CLIP text encoders (the second with a projection) and the real CLIP
BPE tokenizer. The pixels mean nothing; the shapes, schedulers, LoRA hooks and
conditioning are those of SDXL.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import services.inference  # noqa: F401  (sets HF_HUB_OFFLINE before the HF imports below)
from services.inference.clip_vocab import BOS_TOKEN, EOS_TOKEN, VOCAB_SIZE, load_clip_tokenizer

TINY_MODEL_NAME = "tiny-sdxl"
BUILTIN_PREFIX = "builtin:"
DEFAULT_SEED = 20240601
TEXT_HIDDEN = 32
TEXT_PROJECTION = 32
TIME_EMBED_DIM = 8
MAX_TOKENS = 77


def tiny_model_dir(data_dir: Path) -> Path:
    """Where the tiny model lives under a service's data directory."""
    return data_dir / "models" / TINY_MODEL_NAME


def build_tiny_pipeline(seed: int = DEFAULT_SEED, tokenizer_dir: Path | None = None) -> Any:
    """Build the tiny pipeline in memory (CPU, fp32), each component from its own seed.

    Seeding each component separately keeps its weights stable when another one's
    config changes, which keeps old test images meaningful for longer.
    """
    import torch
    from diffusers import (
        AutoencoderKL,
        EulerDiscreteScheduler,
        StableDiffusionXLPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    with tempfile.TemporaryDirectory(prefix="imgen-clip-") as scratch:
        tokenizer = load_clip_tokenizer(tokenizer_dir or Path(scratch), MAX_TOKENS)
        bos_id = tokenizer.convert_tokens_to_ids(BOS_TOKEN)
        eos_id = tokenizer.convert_tokens_to_ids(EOS_TOKEN)

    text_config = CLIPTextConfig(
        vocab_size=VOCAB_SIZE,
        hidden_size=TEXT_HIDDEN,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=MAX_TOKENS,
        layer_norm_eps=1e-5,
        hidden_act="gelu",
        projection_dim=TEXT_PROJECTION,
        bos_token_id=bos_id,
        eos_token_id=eos_id,
        pad_token_id=eos_id,
    )
    torch.manual_seed(seed)
    text_encoder = CLIPTextModel(text_config)
    torch.manual_seed(seed + 1)
    text_encoder_2 = CLIPTextModelWithProjection(text_config)
    torch.manual_seed(seed + 2)
    unet = UNet2DConditionModel(
        sample_size=128,
        in_channels=4,
        out_channels=4,
        block_out_channels=(32, 32, 64),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 2, 4),
        transformer_layers_per_block=1,
        use_linear_projection=True,
        cross_attention_dim=TEXT_HIDDEN * 2,
        addition_embed_type="text_time",
        addition_time_embed_dim=TIME_EMBED_DIM,
        projection_class_embeddings_input_dim=6 * TIME_EMBED_DIM + TEXT_PROJECTION,
        norm_num_groups=8,
    )
    torch.manual_seed(seed + 3)
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        block_out_channels=(8, 16, 32, 32),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=8,
        sample_size=1024,
        scaling_factor=0.13025,
        mid_block_add_attention=False,
        force_upcast=False,
    )
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        steps_offset=1,
        timestep_spacing="leading",
    )
    return StableDiffusionXLPipeline(
        vae=vae,
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,
        tokenizer=tokenizer,
        tokenizer_2=tokenizer,
        unet=unet,
        scheduler=scheduler,
        force_zeros_for_empty_prompt=True,
    )


def ensure_tiny_model(data_dir: Path, seed: int = DEFAULT_SEED) -> Path:
    """Return the saved tiny model's folder, building it first if it is not there yet.

    The model is written to a temporary sibling and renamed into place, so a process
    killed mid-build, or two processes building at once, never leave a half-written
    folder behind: whoever renames first wins and the other discards its copy.
    """
    target = tiny_model_dir(data_dir)
    if (target / "model_index.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{TINY_MODEL_NAME}-", dir=target.parent))
    try:
        pipe = build_tiny_pipeline(seed)
        pipe.save_pretrained(staging, safe_serialization=True)
        try:
            os.rename(staging, target)
        except OSError:
            if not (target / "model_index.json").is_file():
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target
