"""Prompt construction (spec "Prompt Construction") and the silent fallbacks."""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.prompt.builder import LoraChoice, PromptBuilder, ReviewText
from services.prompt.catalog import Catalog
from services.prompt.parser import ParsedPrompt, parse_prompt
from services.shared.errors import InvalidArgument

STRAY = re.compile(r"(^\s*,)|(,\s*,)|(,\s*$)|(^\s)|(\s$)|(\s\s)")


def _catalog(*, char_pos: bool, char_neg: bool, quality: bool, base: bool, style_neg: bool) -> Catalog:
    return Catalog.model_validate(
        {
            "base_negatives": ["base neg"] if base else [],
            "vocabulary": {"subject": ["someone"]},
            "models": {
                "m": {
                    "label": "M",
                    "source": "builtin:tiny-sdxl",
                    "default_style": "s",
                    "styles": {
                        "s": {
                            "label": "S",
                            "quality_tags": ["quality tag"] if quality else [],
                            "negatives": ["style neg"] if style_neg else [],
                            "preset": {"steps": 4, "guidance_scale": 5},
                        }
                    },
                }
            },
            "characters": {
                "aya": {
                    "trigger": "trigger aya",
                    "positive": ["char pos"] if char_pos else [],
                    "negative": ["char neg"] if char_neg else [],
                }
            },
        }
    )


FLAGS = (
    "has_char",
    "char_pos",
    "user_pos",
    "quality",
    "base",
    "style_neg",
    "char_neg",
    "parsed_neg",
    "explicit",
)


# A prompt with no character, no words and no -terms is "Prompt is required" (parser tests).
COMBINATIONS = [
    dict(zip(FLAGS, flags, strict=True))
    for flags in itertools.product([False, True], repeat=len(FLAGS))
    if flags[0] or flags[2] or flags[7]
]


@pytest.mark.parametrize("f", COMBINATIONS)
def test_construction_order_for_every_combination_of_parts(
    f: dict[str, bool], builder: PromptBuilder
) -> None:
    catalog = _catalog(
        char_pos=f["char_pos"],
        char_neg=f["char_neg"],
        quality=f["quality"],
        base=f["base"],
        style_neg=f["style_neg"],
    )
    raw_parts = (["@aya"] if f["has_char"] else []) + (["user one, user two"] if f["user_pos"] else [])
    raw_parts += ["-parsed neg"] if f["parsed_neg"] else []
    built = builder.build(
        catalog,
        parse_prompt(", ".join(raw_parts), catalog.characters),
        "m",
        "s",
        "explicit neg" if f["explicit"] else "",
    )

    expected_positive = [
        *(["trigger aya"] if f["has_char"] else []),
        *(["char pos"] if f["has_char"] and f["char_pos"] else []),
        *(["user one", "user two"] if f["user_pos"] else []),
        *(["quality tag"] if f["quality"] else []),
    ]
    expected_negative = [
        *(["base neg"] if f["base"] else []),
        *(["style neg"] if f["style_neg"] else []),
        *(["char neg"] if f["has_char"] and f["char_neg"] else []),
        *(["parsed neg"] if f["parsed_neg"] else []),
        *(["explicit neg"] if f["explicit"] else []),
    ]
    assert built.positive == ", ".join(expected_positive)
    assert built.negative == ", ".join(expected_negative)
    assert not STRAY.search(built.positive) and not STRAY.search(built.negative)


def test_spec_example_on_the_default_catalog(default_catalog: Catalog, builder: PromptBuilder) -> None:
    raw = "@aya black lingerie, sitting on bed, looking_at_viewer, warm lighting, -red dress, -ugly hands"
    built = builder.build(
        default_catalog, parse_prompt(raw, default_catalog.characters), "eros", "", "extra fingers"
    )
    aya = default_catalog.characters["aya"]
    style = default_catalog.models["eros"].styles["professional"]
    assert built.model == "eros" and built.style == "professional" and built.character == "aya"
    assert built.positive == ", ".join(
        [
            aya.trigger,
            *aya.positive,
            "black lingerie",
            "sitting on bed",
            "looking_at_viewer",
            "warm lighting",
            *style.quality_tags,
        ]
    )
    assert built.negative == ", ".join(
        [
            *default_catalog.base_negatives,
            *style.negatives,
            *aya.negative,
            "red dress",
            "ugly hands",
            "extra fingers",
        ]
    )
    assert built.preset == style.preset
    assert built.model_source == "builtin:tiny-sdxl"


def test_case_insensitive_dedupe_keeps_first(small_catalog: Catalog, builder: PromptBuilder) -> None:
    parsed = parse_prompt(
        "@aya Black Hair, SHARP FOCUS, park, park, -Blurry, -cartoon", small_catalog.characters
    )
    built = builder.build(small_catalog, parsed, "first", "plain", "LOWRES, new")
    assert built.positive == "photo of aya, black hair, SHARP FOCUS, park"
    assert built.negative == "lowres, blurry, cartoon, short hair, new"


@pytest.mark.parametrize(
    ("model", "style", "expected"),
    [
        ("", "", ("first", "plain")),
        ("nope", "", ("first", "plain")),
        ("nope", "bare", ("first", "bare")),
        ("first", "nope", ("first", "plain")),
        ("second", "", ("second", "wide")),
        ("second", "plain", ("second", "wide")),
    ],
)
def test_model_and_style_fallbacks(
    small_catalog: Catalog, builder: PromptBuilder, model: str, style: str, expected: tuple[str, str]
) -> None:
    built = builder.build(small_catalog, parse_prompt("a park", small_catalog.characters), model, style)
    assert (built.model, built.style) == expected


def test_preset_lora_and_review_texts(small_catalog: Catalog, builder: PromptBuilder) -> None:
    parsed = parse_prompt("@aya red coat, -blue", small_catalog.characters)
    built = builder.build(small_catalog, parsed, "first", "bare", "green")
    assert built.lora == LoraChoice("aya", "builtin:aya", 0.7)
    assert (built.preset.width, built.preset.height, built.preset.steps) == (832, 1216, 5)
    assert built.review_texts == (
        ReviewText("user", "red coat"),
        ReviewText("negative", "blue, green"),
        ReviewText("character", "photo of aya, black hair"),
    )


def test_character_restricted_to_other_models_is_invalid(
    small_catalog: Catalog, builder: PromptBuilder
) -> None:
    parsed = parse_prompt("@zed walking", small_catalog.characters)
    assert builder.build(small_catalog, parsed, "second").character == "zed"
    with pytest.raises(InvalidArgument, match=r"^Invalid character$"):
        builder.build(small_catalog, parsed, "first")
    with pytest.raises(InvalidArgument, match=r"^Invalid character$"):
        builder.build(small_catalog, parsed, "unknown-model-falls-back-to-first")


def test_long_prompt_gets_a_chunk_note_and_keeps_every_word(
    small_catalog: Catalog, builder: PromptBuilder
) -> None:
    words = [f"detail number {i}" for i in range(40)]
    built = builder.build(small_catalog, parse_prompt(", ".join(words), small_catalog.characters))
    assert all(word in built.positive for word in words)
    assert len(built.notes) == 1
    assert re.fullmatch(r"positive prompt is \d+ tokens; encoded in [2-9] chunks of 77", built.notes[0])
    short = builder.build(small_catalog, parse_prompt("a park", small_catalog.characters))
    assert short.notes == ()


@given(
    raw=st.lists(st.sampled_from([*"ab ,-@", "aya", "Aya", "sharp focus"]), max_size=20).map("".join),
    explicit=st.lists(st.sampled_from([*"xy ,-", "blurry"]), max_size=10).map("".join),
)
def test_no_stray_commas_and_no_duplicates(raw: str, explicit: str, small_catalog: Catalog) -> None:
    builder = PromptBuilder(_WordCounter())
    try:
        parsed = parse_prompt(raw, small_catalog.characters)
    except InvalidArgument:
        return
    built = builder.build(small_catalog, parsed, "first", "", explicit)
    for text in (built.positive, built.negative):
        assert not STRAY.search(text)
        terms = [t.casefold() for t in text.split(", ")] if text else []
        assert len(terms) == len(set(terms))
    assert set(parsed.negative_terms) <= set(built.negative.split(", "))


class _WordCounter:
    """A stand-in counter for property tests that never need the real vocabulary."""

    exact = True

    def count(self, text: str) -> int:
        return len(text.split())


def test_parsed_prompt_is_built_from_dataclass_too(small_catalog: Catalog, builder: PromptBuilder) -> None:
    built = builder.build(small_catalog, ParsedPrompt(None, ("x",), ()), "first", "plain")
    assert built.positive == "x, sharp focus"
