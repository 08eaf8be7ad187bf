"""The system prompt every LLM backend sends, kept in one place.

The sanitiser needs the very same sentences to recognise a model that echoes its
instructions back (a prompt-injection or a confused small model), so both read them
from here. The fixed sentences are the "distinctive" part; the style sentence carries
catalog words (quality tags) that a model may legitimately repeat.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.prompt.terms import join_terms

if TYPE_CHECKING:
    from services.prompt.optimize import EnhanceContext

#: Sentences of the system prompt that no real image prompt contains.
FIXED_INSTRUCTIONS: tuple[str, ...] = (
    "You improve prompts for an image generation model.",
    "Rewrite the user's prompt into one line of short, comma-separated descriptive phrases.",
    "Keep every idea the user gave and add concrete visual detail (clothing, pose, setting, lighting, "
    "framing).",
    "Do not add names, do not use '@' or a leading '-', do not explain.",
    "Reply with the prompt only.",
)


def instructions(context: EnhanceContext) -> str:
    """The system message: rewrite into comma-separated tags for this style, nothing else."""
    style = f"Suit the '{context.style_label}' style ({join_terms(context.quality_tags)})."
    return " ".join([*FIXED_INSTRUCTIONS[:3], style, *FIXED_INSTRUCTIONS[3:]])
