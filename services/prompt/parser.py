"""The raw prompt syntax: ``@character``, ``-negative`` terms and everything else.

Parsing is the only place that interprets the syntax; everything downstream works on
:class:`ParsedPrompt`. Terms are normalised here (whitespace collapsed, empty terms
dropped) and :func:`render` writes the canonical form back, so that
``parse(render(p)) == p`` — which is what lets the optimizer rewrite the positive terms
and still hand the client a prompt with its ``@name`` and ``-terms`` intact.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass

from services.prompt.terms import MENTION, clean_term, strip_controls
from services.shared.errors import InvalidArgument

PROMPT_REQUIRED = "Prompt is required"
INVALID_CHARACTER = "Invalid character"


@dataclass(frozen=True)
class ParsedPrompt:
    """A raw prompt split into its parts; terms are normalised and never empty."""

    character: str | None
    positive_terms: tuple[str, ...]
    negative_terms: tuple[str, ...]


def parse_prompt(raw: str, known_characters: Container[str]) -> ParsedPrompt:
    """Parse ``raw``; ``known_characters`` holds lowercase names usable with ``@``.

    Raises ``InvalidArgument("Prompt is required")`` for an empty prompt and
    ``InvalidArgument("Invalid character")`` for an unknown name or two different names.
    """
    text = strip_controls(raw)
    if not text.strip():
        raise InvalidArgument(PROMPT_REQUIRED)
    names, text = extract_mentions(text)
    if len(names) > 1:
        raise InvalidArgument(INVALID_CHARACTER)
    character = names[0] if names else None
    if character is not None and character not in known_characters:
        raise InvalidArgument(INVALID_CHARACTER)
    positive, negative = split_signed_terms(text)
    if character is None and not positive and not negative:
        # Only commas and hyphens: nothing to generate from.
        raise InvalidArgument(PROMPT_REQUIRED)
    return ParsedPrompt(character, tuple(positive), tuple(negative))


def extract_mentions(text: str) -> tuple[list[str], str]:
    """Remove every ``@name`` and return the distinct lowercase names in order of appearance.

    Removal repeats until nothing is left to remove: taking ``@aya`` out of
    ``@aya@bella`` exposes ``@bella``, and a name must never survive into the text.
    """
    names: list[str] = []

    def take(match: object) -> str:
        name = match.group(1).casefold()  # type: ignore[attr-defined]
        if name not in names:
            names.append(name)
        return " "

    while True:
        stripped = MENTION.sub(take, text)
        if stripped == text:
            return names, text
        text = stripped


def split_signed_terms(text: str) -> tuple[list[str], list[str]]:
    """Split on commas; a term starting with ``-`` (after trimming) is a negative.

    Only a leading ``-`` counts (``t-shirt`` stays positive); all leading hyphens go, so
    ``--x``, ``- -x`` and ``-x`` mean the same and a bare ``-`` is an empty term, dropped.
    """
    positive: list[str] = []
    negative: list[str] = []
    for part in text.split(","):
        term = clean_term(part)
        if term.startswith("-"):
            term = term.lstrip("- ")
            if term:
                negative.append(term)
        elif term:
            positive.append(term)
    return positive, negative


def render(prompt: ParsedPrompt) -> str:
    """The canonical raw form: ``@name term, term, -neg``."""
    body = ", ".join([*prompt.positive_terms, *(f"-{term}" for term in prompt.negative_terms)])
    if prompt.character is None:
        return body
    return f"@{prompt.character} {body}" if body else f"@{prompt.character}"


def sanitize_positive(text: str) -> list[str]:
    """Positive terms from untrusted generated text: names and negatives are not its to add.

    Used on enhancer output, which may try to introduce ``@someone`` or ``-terms``.
    """
    _, without_names = extract_mentions(strip_controls(text))
    positive, _ = split_signed_terms(without_names)
    return positive
