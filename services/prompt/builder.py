"""Prompt construction: from a parsed prompt and the catalog to positive and negative text.

The order is the API's contract (spec "Prompt Construction"):
positive = ``[trigger], [character_positive], {user prompt}[, style quality tags]``;
negative = ``{base negatives}[, style negatives][, character negatives][, parsed -terms]``
``[, explicit negative]``.
Terms are de-duplicated case-insensitively keeping the first occurrence, so a user who
repeats a quality tag does not weight it twice, and empty parts leave no stray commas.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.prompt.catalog import Catalog, Character, Preset
from services.prompt.clip_tokens import TokenCounter, length_note
from services.prompt.parser import INVALID_CHARACTER, ParsedPrompt
from services.prompt.terms import dedupe_terms, join_terms, split_terms
from services.shared.errors import InvalidArgument


@dataclass(frozen=True)
class LoraChoice:
    """The character LoRA a job must load."""

    name: str
    source: str
    weight: float


@dataclass(frozen=True)
class ReviewText:
    """Text compliance must review, with its origin: user, negative, character or style."""

    source: str
    text: str


@dataclass(frozen=True)
class BuiltPrompt:
    """Everything the gateway needs to queue a job for one prompt."""

    model: str
    style: str
    character: str | None
    positive: str
    negative: str
    model_source: str
    preset: Preset
    lora: LoraChoice | None
    review_texts: tuple[ReviewText, ...]
    notes: tuple[str, ...]


def require_character_allowed(catalog: Catalog, parsed: ParsedPrompt, model_key: str) -> Character | None:
    """The prompt's character, refusing one the resolved model may not use.

    A character that exists but is restricted to other models is as invalid for this
    request as an unknown one: ``InvalidArgument("Invalid character")``.
    """
    if not parsed.character:
        return None
    character = catalog.characters.get(parsed.character)
    if character is None or not character.allowed_on(model_key):
        raise InvalidArgument(INVALID_CHARACTER)
    return character


class PromptBuilder:
    """Builds prompts against a catalog; holds the token counter, which is costly to load."""

    def __init__(self, token_counter: TokenCounter) -> None:
        self._tokens = token_counter

    def build(
        self,
        catalog: Catalog,
        parsed: ParsedPrompt,
        model_key: str = "",
        style_key: str = "",
        explicit_negative: str = "",
    ) -> BuiltPrompt:
        """Resolve model and style with the API's silent fallbacks and build both prompts.

        A character the resolved model may not use is ``InvalidArgument("Invalid character")``.
        """
        model_key, model = catalog.resolve_model(model_key)
        style_key, style = catalog.resolve_style(model, style_key)
        character = require_character_allowed(catalog, parsed, model_key)

        character_head = [character.trigger, *character.positive] if character else []
        positive = join_terms(dedupe_terms([*character_head, *parsed.positive_terms, *style.quality_tags]))
        explicit_terms = split_terms(explicit_negative)
        negative = join_terms(
            dedupe_terms(
                [
                    *catalog.base_negatives,
                    *style.negatives,
                    *(character.negative if character else ()),
                    *parsed.negative_terms,
                    *explicit_terms,
                ]
            )
        )

        lora = None
        if character and character.lora and character.lora.source:
            lora = LoraChoice(parsed.character or "", character.lora.source, character.lora.weight)

        reviews = [
            ReviewText("user", join_terms(parsed.positive_terms)),
            ReviewText("negative", join_terms([*parsed.negative_terms, *explicit_terms])),
            ReviewText("character", join_terms(character_head)),
            ReviewText("style", join_terms(style.quality_tags)),
        ]
        notes = [
            note
            for note in (
                length_note("positive", self._tokens, positive),
                length_note("negative", self._tokens, negative),
            )
            if note
        ]
        return BuiltPrompt(
            model=model_key,
            style=style_key,
            character=parsed.character,
            positive=positive,
            negative=negative,
            model_source=model.source,
            preset=style.preset,
            lora=lora,
            review_texts=tuple(review for review in reviews if review.text),
            notes=tuple(notes),
        )
