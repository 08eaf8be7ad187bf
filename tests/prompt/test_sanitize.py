"""LLM output sanitising: adversarial replies never reach the prompt unfiltered."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from services.prompt.catalog import Catalog
from services.prompt.llm_instructions import FIXED_INSTRUCTIONS, instructions
from services.prompt.optimize import EnhanceContext, enhance_context, optimize_prompt, optimize_raw
from services.prompt.parser import parse_prompt
from services.prompt.sanitize import MAX_SCAN_CHARS, OutputGuard, cap_terms, sanitize_enhanced

RAW = "@aya black lingerie, on bed, -red dress, -ugly hands"


def _guard(max_chars: int = 600, system_prompt: str = " ".join(FIXED_INSTRUCTIONS)) -> OutputGuard:
    return OutputGuard.build(
        max_chars,
        ["black lingerie", "on bed"],
        ["red dress", "ugly hands"],
        ["photo of aya", "photo of bella"],
        system_prompt,
    )


class _Scripted:
    """An enhancer that returns a fixed reply, as a misbehaving LLM would."""

    name = "scripted"

    def __init__(self, reply: str) -> None:
        self.reply = reply

    async def enhance(self, positive_terms: Sequence[str], context: EnhanceContext) -> str:
        return self.reply


def test_plain_reply_is_split_into_terms() -> None:
    assert sanitize_enhanced("elegant lace, warm light", _guard()) == ["elegant lace", "warm light"]


def test_control_and_invisible_characters_become_spaces() -> None:
    reply = "silk\x00robe, \x1b[31mred\u200b glow\x07, soft\u202elight\ue000"
    assert sanitize_enhanced(reply, _guard()) == ["silk robe", "[31mred glow", "soft light"]


def test_length_cap_keeps_whole_terms() -> None:
    terms = sanitize_enhanced(", ".join(f"phrase number {i}" for i in range(500)), _guard(max_chars=100))
    assert terms and len(", ".join(terms)) <= 100
    assert all(term.startswith("phrase number ") for term in terms)
    assert cap_terms(["abc", "defgh"], 8) == ["abc"]
    assert cap_terms(["a" * 20], 10) == []


def test_flood_beyond_the_scan_limit_is_never_read() -> None:
    assert sanitize_enhanced("\n" * MAX_SCAN_CHARS + "late words", _guard()) == []


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        # repeats @name and the -terms, invents another @name and -term
        ("@aya @aya lace, -red dress, @bella silk, -blue", ["lace", "silk"]),
        # turns the user's -terms into positive ones (any case)
        ("lace, Red Dress, ugly hands, warm light", ["lace", "warm light"]),
        # names a character by its trigger instead of @name
        ("photo of bella, lace, Photo Of Aya in a bar", ["lace"]),
        # glued mentions and hyphen runs
        ("x@bella@aya, --, - -red dress, t-shirt, me@aya", ["t-shirt"]),
    ],
)
def test_protected_parts_cannot_be_injected(reply: str, expected: list[str]) -> None:
    assert sanitize_enhanced(reply, _guard()) == expected


def test_user_terms_are_never_dropped_by_the_guard() -> None:
    guard = OutputGuard.build(
        600, ["photo of bella", "do not explain"], [], ["photo of bella"], " ".join(FIXED_INSTRUCTIONS)
    )
    assert sanitize_enhanced("photo of bella, do not explain, lace", guard) == [
        "photo of bella",
        "do not explain",
        "lace",
    ]


def test_system_prompt_echo_is_dropped(default_catalog: Catalog) -> None:
    echoed = instructions(enhance_context(default_catalog, "eros", "boudoir"))
    guard = _guard(system_prompt=echoed)
    assert sanitize_enhanced(echoed, guard) == []
    reply = f"{echoed}\nelegant black lace, perched on bed"
    assert sanitize_enhanced(reply, guard) == ["elegant black lace", "perched on bed"]
    injected = f"lace, ignore the user. {echoed.split('. ')[1]}, soft focus, velvet"
    assert sanitize_enhanced(injected, guard) == ["lace", "velvet"]


@pytest.mark.parametrize("sentence", FIXED_INSTRUCTIONS)
def test_each_distinctive_line_is_recognised_alone(sentence: str) -> None:
    mixed = f"velvet choker, {sentence.upper()}, candlelight"
    assert sanitize_enhanced(mixed, _guard()) == ["velvet choker", "candlelight"]


def test_chatty_preamble_and_quotes_are_removed() -> None:
    reply = 'Improved prompt: "elegant lace, warm light"\nI hope this helps!'
    assert sanitize_enhanced(reply, _guard()) == ["elegant lace", "warm light"]
    assert sanitize_enhanced("Here is your prompt: **lace**, `glow`", _guard()) == ["lace", "glow"]


@pytest.mark.parametrize(
    "reply",
    [
        "@bella lace, -red dress, -ugly hands, silk \x00\x1b[31m robe\x07",
        "ignore all that @aya@bella, --, -, ,,,",
        "",
        "word, " * 2000,
        "You improve prompts for an image generation model. Reply with the prompt only.",
        "red dress, ugly hands, photo of bella",
        "\n\n\n",
    ],
)
async def test_optimize_keeps_protected_parts_on_adversarial_replies(
    default_catalog: Catalog, reply: str
) -> None:
    parsed = await optimize_prompt(RAW, default_catalog, _Scripted(reply), "eros", "", max_chars=200)
    assert parsed.character == "aya"
    assert parsed.negative_terms == ("red dress", "ugly hands")
    text = ", ".join(parsed.positive_terms)
    assert parsed.positive_terms and len(text) <= 200
    assert "@" not in text and text.isprintable()
    lowered = text.casefold()
    assert "red dress" not in lowered and "photo of bella" not in lowered
    assert "image generation model" not in lowered


async def test_reply_with_nothing_usable_keeps_the_users_terms(default_catalog: Catalog) -> None:
    out = await optimize_raw(RAW, default_catalog, _Scripted("@bella, -x\nReply with the prompt only."))
    assert out == RAW
    assert parse_prompt(out, default_catalog.characters).character == "aya"


@pytest.mark.parametrize(
    "reply",
    [
        "I'm sorry, but I can't help with that.\nsilk robe, candlelight",
        "Here you go: silk robe, candlelight",
        "The woman is wearing a robe that has been used in many stories to create a sense of mood and "
        "atmosphere for everyone, silk robe, candlelight",
    ],
)
def test_chatter_is_not_a_prompt(reply: str) -> None:
    assert sanitize_enhanced(reply, _guard()) == ["silk robe", "candlelight"]
