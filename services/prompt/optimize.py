"""Prompt optimization: an enhancer rewrites the positive terms, nothing else.

The ``@character`` and the user's ``-terms`` are the user's intent and the API promises
to keep them, so they never reach an enhancer: the prompt is parsed first, only the
positive terms are handed over, and the enhancer's text is sanitised (see
:mod:`services.prompt.sanitize`: control characters out, any ``@name`` or ``-term`` it
invents dropped, echoes of the system prompt dropped, length capped) before the
protected parts are re-attached and the result rendered back to raw syntax.

The embedded default is :class:`ExpansionEnhancer`, a deterministic expansion from the
style's vocabulary in the spirit of Fooocus's prompt expansion; LLM backends live in
their own modules (``enhancer_openai``, ``enhancer_local``) behind the same interface.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from services.prompt.builder import require_character_allowed
from services.prompt.catalog import Catalog, Vocabulary
from services.prompt.llm_instructions import instructions
from services.prompt.parser import ParsedPrompt, parse_prompt, render
from services.prompt.sanitize import OutputGuard, sanitize_enhanced

#: Longest positive text an enhancer may contribute; beyond it whole terms are cut.
DEFAULT_MAX_ENHANCED_CHARS = 600


@dataclass(frozen=True)
class EnhanceContext:
    """What an enhancer may know about the target: the resolved model and style."""

    model_key: str
    style_key: str
    style_label: str
    quality_tags: tuple[str, ...]
    vocabulary: Vocabulary


class Enhancer(Protocol):
    """Rewrites positive terms into richer positive text (comma-separated).

    Implementations raise ``Unavailable("Enhancement failed")`` when their backend fails.
    Whatever they return is treated as untrusted text.
    """

    name: str

    async def enhance(self, positive_terms: Sequence[str], context: EnhanceContext) -> str:
        """Return the enhanced positive text for ``positive_terms``."""
        ...


class ExpansionEnhancer:
    """Deterministic expansion: the user's terms plus a few phrases of the style's vocabulary.

    The phrases are chosen by a seed derived from the prompt and style, so the same
    request always optimizes to the same text (cacheable, testable, reproducible images),
    and a phrase whose words the prompt already has is not added again.
    """

    name = "expand"

    def __init__(self, details: int = 2) -> None:
        self._details = details

    async def enhance(self, positive_terms: Sequence[str], context: EnhanceContext) -> str:
        """User terms first, then a subject if there is none, then details, lighting, framing."""
        rng = random.Random(_seed_of(positive_terms, context.style_key))
        vocabulary = context.vocabulary
        present = " ".join(positive_terms).casefold()
        terms = list(positive_terms)

        def fresh(phrases: Sequence[str]) -> list[str]:
            return [phrase for phrase in phrases if not _overlaps(phrase, present)]

        if not terms and vocabulary.subject:
            terms.append(rng.choice(vocabulary.subject))
        details = fresh(vocabulary.detail)
        terms.extend(rng.sample(details, min(self._details, len(details))))
        for category in (vocabulary.lighting, vocabulary.composition):
            options = fresh(category)
            # Only add lighting/framing when the user set none of that category's phrases.
            if options and len(options) == len(category):
                terms.append(rng.choice(options))
        return ", ".join(terms)


def _seed_of(terms: Sequence[str], style_key: str) -> int:
    digest = hashlib.sha256("\x1f".join([style_key, *(t.casefold() for t in terms)]).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def _overlaps(phrase: str, present: str) -> bool:
    """Whether the prompt already says this phrase or its main words."""
    words = [word for word in phrase.casefold().split() if len(word) > 3]
    return phrase.casefold() in present or (bool(words) and all(word in present for word in words))


def enhance_context(catalog: Catalog, model_key: str, style_key: str) -> EnhanceContext:
    """Resolve model and style (silent fallbacks) into what an enhancer sees."""
    model_key, model = catalog.resolve_model(model_key)
    style_key, style = catalog.resolve_style(model, style_key)
    return EnhanceContext(
        model_key=model_key,
        style_key=style_key,
        style_label=style.label,
        quality_tags=tuple(style.quality_tags),
        vocabulary=catalog.vocabulary_of(style),
    )


async def optimize_prompt(
    raw: str,
    catalog: Catalog,
    enhancer: Enhancer,
    model_key: str = "",
    style_key: str = "",
    max_chars: int = DEFAULT_MAX_ENHANCED_CHARS,
) -> ParsedPrompt:
    """Parse ``raw``, enhance its positive terms, and re-attach ``@name`` and ``-terms``.

    Parse errors surface as for BuildPrompt; an enhancer that returns nothing usable
    leaves the user's positive terms as they were.
    """
    parsed = parse_prompt(raw, catalog.characters)
    context = enhance_context(catalog, model_key, style_key)
    require_character_allowed(catalog, parsed, context.model_key)
    text = await enhancer.enhance(parsed.positive_terms, context)
    triggers = [character.trigger for character in catalog.characters.values()]
    guard = OutputGuard.build(
        max_chars, parsed.positive_terms, parsed.negative_terms, triggers, instructions(context)
    )
    enhanced = sanitize_enhanced(text, guard)
    positive = tuple(enhanced) if enhanced else parsed.positive_terms
    return ParsedPrompt(parsed.character, positive, parsed.negative_terms)


async def optimize_raw(
    raw: str,
    catalog: Catalog,
    enhancer: Enhancer,
    model_key: str = "",
    style_key: str = "",
    max_chars: int = DEFAULT_MAX_ENHANCED_CHARS,
) -> str:
    """:func:`optimize_prompt` rendered back to raw syntax, as the API returns it."""
    return render(await optimize_prompt(raw, catalog, enhancer, model_key, style_key, max_chars))
