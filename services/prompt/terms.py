"""The one definition of a prompt "term" shared by the parser, the builder and the catalog.

A term is what sits between two commas. Keeping the normalisation in one place is what
makes ``parse(render(p)) == p`` hold and lets the catalog refuse vocabulary that would
not survive a round trip (a comma, a leading ``-``, an ``@name``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

_WHITESPACE = re.compile(r"\s+")
#: ``@name`` not glued to a preceding word (``me@example`` is text, not a character).
MENTION = re.compile(r"(?<!\w)@(\w+)")


def strip_controls(text: str) -> str:
    """Replace control and format characters by spaces: they have no meaning in a prompt."""
    if text.isprintable():
        return text
    return "".join(" " if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") else ch for ch in text)


def clean_term(text: str) -> str:
    """Collapse runs of whitespace, trim, and compose to Unicode NFC.

    NFC makes canonically equal spellings one term (``café`` typed with a combining
    accent and with a precomposed ``é`` dedupe as one); compatibility forms (full-width
    letters, ligatures) are kept as written, since they can be deliberate.
    """
    text = _WHITESPACE.sub(" ", text).strip()
    return text if text.isascii() else unicodedata.normalize("NFC", text)


def split_terms(text: str) -> list[str]:
    """Comma-separated text → cleaned, non-empty terms (no sign handling)."""
    return [term for term in (clean_term(part) for part in strip_controls(text).split(",")) if term]


def join_terms(terms: Iterable[str]) -> str:
    """Terms → ``a, b, c`` with no empty parts, so absent pieces leave no stray commas."""
    return ", ".join(term for term in terms if term)


def dedupe_terms(terms: Iterable[str]) -> list[str]:
    """Drop case-insensitive repeats, keeping the first spelling and position."""
    seen: set[str] = set()
    kept: list[str] = []
    for term in terms:
        key = term.casefold()
        if term and key not in seen:
            seen.add(key)
            kept.append(term)
    return kept


def term_problem(term: str) -> str | None:
    """Why ``term`` cannot be used as a single catalog term, or None when it can."""
    if not term:
        return "must not be empty"
    if term != unicodedata.normalize("NFC", term):
        return "must be in Unicode NFC form (precomposed accents)"
    if term != clean_term(strip_controls(term)):
        return "must not have leading/trailing or repeated whitespace or control characters"
    if "," in term:
        return "must be a single term (no commas)"
    if term.startswith("-"):
        return "must not start with '-' (that marks a negative term)"
    if MENTION.search(term):
        return "must not contain an @name"
    return None
