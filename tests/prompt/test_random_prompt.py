"""Random prompts: reproducible, always parseable, and the API's character rule."""

from __future__ import annotations

import pytest

from services.prompt.catalog import Catalog
from services.prompt.parser import parse_prompt
from services.prompt.random_prompt import random_prompt
from services.shared.errors import InvalidArgument


def test_same_seed_same_prompt(default_catalog: Catalog) -> None:
    assert random_prompt(default_catalog, seed=7) == random_prompt(default_catalog, seed=7)
    assert len({random_prompt(default_catalog, seed=s) for s in range(30)}) > 20


@pytest.mark.parametrize("character", [None, "", "aya", "AYA", "@bella"])
def test_every_prompt_parses_and_follows_the_character_rule(
    default_catalog: Catalog, character: str | None
) -> None:
    names = set()
    for seed in range(60):
        raw = random_prompt(default_catalog, character, seed=seed)
        parsed = parse_prompt(raw, default_catalog.characters)
        assert parsed.positive_terms and not parsed.negative_terms
        names.add(parsed.character)
    if character is None:
        assert len(names) > 2 and None not in names
    elif character == "":
        assert names == {None}
    else:
        assert names == {character.lstrip("@").lower()}


def test_style_shapes_the_vocabulary(default_catalog: Catalog) -> None:
    style = default_catalog.models["eros"].styles["boudoir"]
    vocabulary = default_catalog.vocabulary_of(style)
    allowed = {
        *vocabulary.outfit,
        *vocabulary.setting,
        *vocabulary.lighting,
        *vocabulary.composition,
        *vocabulary.detail,
    }
    for seed in range(20):
        parsed = parse_prompt(
            random_prompt(default_catalog, "aya", "eros", "boudoir", seed), default_catalog.characters
        )
        assert set(parsed.positive_terms) <= allowed


def test_unknown_or_disallowed_character_is_invalid(small_catalog: Catalog) -> None:
    with pytest.raises(InvalidArgument, match=r"^Invalid character$"):
        random_prompt(small_catalog, "nobody", seed=1)
    with pytest.raises(InvalidArgument, match=r"^Invalid character$"):
        random_prompt(small_catalog, "zed", "first", seed=1)
    assert random_prompt(small_catalog, "zed", "second", seed=1).startswith("@zed ")
    assert all(random_prompt(small_catalog, None, "first", seed=s).startswith("@aya ") for s in range(10))


def test_without_seed_it_still_parses(default_catalog: Catalog) -> None:
    parse_prompt(random_prompt(default_catalog), default_catalog.characters)


@pytest.mark.parametrize("style_key", ["professional", "boudoir", "cinematic", "anime", "glamour", "film"])
def test_every_style_has_its_own_varied_prompts(default_catalog: Catalog, style_key: str) -> None:
    """Each slot of the grammar (subject, setting, lighting, composition) varies within the style."""
    vocabulary = default_catalog.vocabulary_of(default_catalog.models["eros"].styles[style_key])
    prompts = [random_prompt(default_catalog, "", "eros", style_key, seed) for seed in range(120)]
    assert len(set(prompts)) >= 90
    slots: dict[str, set[str]] = {"subject": set(), "setting": set(), "lighting": set(), "composition": set()}
    for raw in prompts:
        terms = parse_prompt(raw, default_catalog.characters).positive_terms
        assert terms[0] in vocabulary.subject
        for name, used in slots.items():
            used.update(term for term in terms if term in getattr(vocabulary, name))
    for name, used in slots.items():
        assert len(used) >= min(3, len(getattr(vocabulary, name))), name
    # a style's own setting phrases show up, so styles read differently
    own = default_catalog.models["eros"].styles[style_key].vocabulary.setting
    assert not own or slots["setting"] & set(own)
