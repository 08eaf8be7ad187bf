"""Fixtures shared by the prompt service tests."""

from __future__ import annotations

import textwrap

import pytest

from services.prompt.builder import PromptBuilder
from services.prompt.catalog import Catalog, default_catalog_path, load_catalog_file, parse_catalog
from services.prompt.clip_tokens import ClipBpeTokenizer, find_bpe_file

#: A small catalog with two models, so fallbacks and per-model character rules are visible.
SMALL_CATALOG = textwrap.dedent(
    """\
    base_negatives: [lowres, blurry]
    vocabulary:
      subject: [woman in a coat]
      outfit: [grey coat]
      setting: [in a park]
      lighting: [soft light]
      composition: [close-up]
      detail: [fine detail, calm mood]
    models:
      first:
        label: First
        source: builtin:tiny-sdxl
        default_style: plain
        styles:
          plain:
            label: Plain
            quality_tags: [sharp focus]
            negatives: [cartoon]
            preset: {scheduler: EulerDiscreteScheduler, steps: 4, guidance_scale: 5.0}
          bare:
            label: Bare
            preset: {steps: 5, guidance_scale: 3.0, width: 832, height: 1216}
      second:
        label: Second
        source: s3://bucket/models/second
        default_style: wide
        styles:
          wide:
            label: Wide
            quality_tags: [cinematic]
            preset: {scheduler: DDIMScheduler, steps: 8, guidance_scale: 6.0, width: 1344, height: 768}
    characters:
      aya:
        trigger: photo of aya
        positive: [black hair]
        negative: [short hair]
        lora: {source: builtin:aya, weight: 0.7}
      zed:
        trigger: zed person
        models: [second]
    """
)


@pytest.fixture(scope="session")
def default_catalog() -> Catalog:
    return load_catalog_file(default_catalog_path())


@pytest.fixture(scope="session")
def small_catalog() -> Catalog:
    return parse_catalog(SMALL_CATALOG, "small.yaml")


@pytest.fixture(scope="session")
def clip_tokenizer() -> ClipBpeTokenizer:
    path = find_bpe_file()
    if path is None:
        pytest.skip("open-clip-torch's bpe_simple_vocab_16e6.txt.gz is not installed")
    return ClipBpeTokenizer(path)


@pytest.fixture(scope="session")
def builder(clip_tokenizer: ClipBpeTokenizer) -> PromptBuilder:
    return PromptBuilder(clip_tokenizer)
