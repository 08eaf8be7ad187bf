"""Random prompts: a small combinatorial grammar over the style's vocabulary.

``subject-or-outfit, setting, lighting, composition[, detail]`` with each slot drawn
from the style's vocabulary (the catalog-wide one filling gaps), so every style yields
prompts that suit it and every phrase is a catalog term that survives parsing. A seed
makes the draw reproducible; the character rule is the API's: omitted → a random
character allowed on the model, ``""`` → none, a name → that one.
"""

from __future__ import annotations

import random
import secrets

from services.prompt.catalog import Catalog
from services.prompt.parser import INVALID_CHARACTER, ParsedPrompt, render
from services.prompt.terms import dedupe_terms
from services.shared.errors import InvalidArgument


def pick_character(catalog: Catalog, model_key: str, requested: str | None, rng: random.Random) -> str | None:
    """Apply the API's character rule; an unknown or disallowed name is ``Invalid character``."""
    if requested is None:
        pool = catalog.characters_for(model_key)
        return rng.choice(pool) if pool else None
    name = requested.strip().removeprefix("@").casefold()
    if not name:
        return None
    character = catalog.characters.get(name)
    if character is None or not character.allowed_on(model_key):
        raise InvalidArgument(INVALID_CHARACTER)
    return name


def random_prompt(
    catalog: Catalog,
    character: str | None = None,
    model_key: str = "",
    style_key: str = "",
    seed: int | None = None,
) -> str:
    """A random raw prompt; the same arguments and seed always give the same prompt."""
    rng = random.Random(seed if seed is not None else secrets.randbits(64))
    model_key, model = catalog.resolve_model(model_key)
    if style_key:
        _, style = catalog.resolve_style(model, style_key)
    else:
        style = model.styles[rng.choice(list(model.styles))]
    name = pick_character(catalog, model_key, character, rng)
    vocabulary = catalog.vocabulary_of(style)

    lead = (vocabulary.outfit or vocabulary.subject) if name else vocabulary.subject
    terms = [rng.choice(lead)]
    for slot in (vocabulary.setting, vocabulary.lighting, vocabulary.composition):
        if slot:
            terms.append(rng.choice(slot))
    if vocabulary.detail and rng.random() < 0.5:
        terms.append(rng.choice(vocabulary.detail))
    return render(ParsedPrompt(name, tuple(dedupe_terms(terms)), ()))
