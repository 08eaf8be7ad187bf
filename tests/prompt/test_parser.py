"""The raw prompt syntax (spec "Prompt Syntax")."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.prompt.parser import ParsedPrompt, parse_prompt, render, sanitize_positive
from services.shared.errors import InvalidArgument

KNOWN = frozenset({"aya", "bella", "aaliyah"})


def test_spec_example_parses_exactly_as_the_spec_says() -> None:
    parsed = parse_prompt(
        "@aya black lingerie, sitting on bed, looking_at_viewer, warm lighting, -red dress, -ugly hands",
        KNOWN,
    )
    assert parsed == ParsedPrompt(
        "aya",
        ("black lingerie", "sitting on bed", "looking_at_viewer", "warm lighting"),
        ("red dress", "ugly hands"),
    )


@pytest.mark.parametrize(
    "raw",
    [
        "@aya black dress, on bed",
        "black dress @aya, on bed",
        "black @aya dress, on bed",
        "black dress, @aya, on bed",
        "black dress, on bed @AYA",
        "black dress,on bed,@Aya",
        "@aya black dress, on bed, @aya",
    ],
)
def test_one_name_anywhere_case_insensitive(raw: str) -> None:
    parsed = parse_prompt(raw, KNOWN)
    assert parsed.character == "aya"
    assert parsed.positive_terms == ("black dress", "on bed")


def test_hyphen_inside_a_word_is_not_a_negative() -> None:
    parsed = parse_prompt("t-shirt, well-lit room, -low-res", KNOWN)
    assert parsed.positive_terms == ("t-shirt", "well-lit room")
    assert parsed.negative_terms == ("low-res",)


def test_negative_after_trimming_and_bare_hyphen_dropped() -> None:
    parsed = parse_prompt("  -  red dress , - , -- blurry,-,photo", KNOWN)
    assert parsed.positive_terms == ("photo",)
    assert parsed.negative_terms == ("red dress", "blurry")


def test_whitespace_and_commas_collapse_and_unicode_is_kept() -> None:
    parsed = parse_prompt(",, café   au\tlait ,,\n 日本の 庭園 ,, -ñandú ,", KNOWN)
    assert parsed.positive_terms == ("café au lait", "日本の 庭園")
    assert parsed.negative_terms == ("ñandú",)


def test_canonically_equal_unicode_is_one_term() -> None:
    decomposed, composed = "cafe\u0301 terrace", "caf\u00e9 terrace"
    parsed = parse_prompt(f"{decomposed}, -{decomposed}, 東京の夜, ＡＢＣ", KNOWN)
    assert parsed.positive_terms == (composed, "東京の夜", "ＡＢＣ")
    assert parsed.negative_terms == (composed,)


def test_only_negatives_is_allowed() -> None:
    assert parse_prompt("-red dress, -blurry", KNOWN) == ParsedPrompt(None, (), ("red dress", "blurry"))


def test_email_like_text_is_not_a_character() -> None:
    assert parse_prompt("logo of me@aya.com", KNOWN).character is None


@pytest.mark.parametrize("raw", ["", "   ", "\n\t ", "\x00\x07", "-", " , ,- ,"])
def test_empty_prompt_is_required(raw: str) -> None:
    with pytest.raises(InvalidArgument, match=r"^Prompt is required$"):
        parse_prompt(raw, KNOWN)


@pytest.mark.parametrize(
    "raw", ["@nobody black dress", "@aya black dress, @bella", "@aya@bella dress", "dress, -@zed"]
)
def test_unknown_or_second_character_is_invalid(raw: str) -> None:
    with pytest.raises(InvalidArgument, match=r"^Invalid character$"):
        parse_prompt(raw, KNOWN)


def test_render_is_canonical() -> None:
    parsed = ParsedPrompt("aya", ("black lingerie", "on bed"), ("red dress",))
    assert render(parsed) == "@aya black lingerie, on bed, -red dress"
    assert render(ParsedPrompt("aya", (), ("red dress",))) == "@aya -red dress"
    assert render(ParsedPrompt("aya", (), ())) == "@aya"
    assert render(ParsedPrompt(None, ("a",), ())) == "a"


def test_sanitize_positive_drops_names_and_negatives() -> None:
    assert sanitize_positive("@bella lace, -red dress, \x00soft\x07 light") == ["lace", "soft light"]


# --- properties ---------------------------------------------------------------------

_word = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Cf", "Zl", "Zp"), blacklist_characters=",@-"),
    min_size=1,
    max_size=8,
)
_term = (
    st.lists(_word, min_size=1, max_size=3)
    .map(" ".join)
    .map(lambda t: " ".join(unicodedata.normalize("NFC", t).split()))
    .filter(bool)
)


@given(
    character=st.sampled_from([None, "aya", "bella"]),
    positive=st.lists(_term, max_size=6),
    negative=st.lists(_term, max_size=4),
)
def test_render_then_parse_round_trips(
    character: str | None, positive: list[str], negative: list[str]
) -> None:
    prompt = ParsedPrompt(character, tuple(positive), tuple(negative))
    if not (character or positive or negative):
        return
    assert parse_prompt(render(prompt), KNOWN) == prompt


@given(
    positive=st.lists(_term, max_size=6),
    negative=st.lists(_term, max_size=4),
    position=st.integers(min_value=0, max_value=10),
)
def test_no_term_lost_or_duplicated(positive: list[str], negative: list[str], position: int) -> None:
    parts = [*positive, *(f"-{term}" for term in negative)]
    parts.insert(min(position, len(parts)), "@Bella")
    parsed = parse_prompt(" , ".join(parts), KNOWN)
    assert parsed.character == "bella"
    assert list(parsed.positive_terms) == positive
    assert list(parsed.negative_terms) == negative


@given(st.text(max_size=80))
def test_any_text_parses_to_clean_terms_or_a_domain_error(raw: str) -> None:
    try:
        parsed = parse_prompt(raw, KNOWN)
    except InvalidArgument as exc:
        assert exc.message in ("Prompt is required", "Invalid character")
        return
    for term in (*parsed.positive_terms, *parsed.negative_terms):
        assert term and term == " ".join(term.split())
        assert "," not in term and not term.startswith("-")
    assert parse_prompt(render(parsed), KNOWN) == parsed
