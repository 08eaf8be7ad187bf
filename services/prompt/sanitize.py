"""Turning untrusted LLM output into positive prompt terms.

Whatever an enhancer returns is treated as hostile: a model may chat, echo its system
prompt (a prompt-injection in the user's text can ask for exactly that), smuggle in
``@name`` or ``-terms``, flood, or emit control bytes. Only comma-separated positive
terms survive, from the first line that still has some after these rules:

- control, format and other non-printable characters become spaces;
- ``@name`` mentions and ``-terms`` are removed (the user's own are re-attached later),
  and so is any term still holding an ``@`` (``x@bella``: the model was told not to);
- a term that repeats the user's ``-terms`` as a positive, or carries a character's
  trigger phrase, is dropped: the LLM may not contradict or add to the user's intent;
- a term that echoes a sentence of the system prompt is dropped, and on a line that
  echoes, so are the leftovers made only of instruction words (``pose``, ``framing``);
- chatter is not a prompt: a term that talks to or about the reader (``I``, ``you``,
  ``sorry``) or runs past :data:`MAX_TERM_WORDS` words, like a sentence, is dropped;
- none of these rules drops a term the user wrote as a positive term themselves;
- whole terms are kept while the joined text fits the length cap.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from services.prompt.parser import sanitize_positive
from services.prompt.terms import clean_term, dedupe_terms

#: Output beyond this is never looked at; far more than any length cap keeps.
MAX_SCAN_CHARS = 20_000
#: Shortest run of words shared with the instructions that counts as an echo.
ECHO_SHINGLE_WORDS = 4
#: A term this long (in words) that is a phrase of the instructions is an echo too.
ECHO_PHRASE_WORDS = 3

#: A descriptive phrase is short; a longer run of words is a sentence of chatter.
MAX_TERM_WORDS = 16
#: Words of conversation (refusals, apologies, asides) that image prompts do not use.
CHATTER_WORDS = frozenset(
    {"i", "im", "ive", "me", "my", "you", "your", "youre", "we", "us", "our", "sorry", "please", "assist"}
)

_NON_WORD = re.compile(r"[^\w]+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_LABEL = re.compile(
    r"^\s*(?:here(?:'s| is| are| you go)[^:]{0,40}"
    r"|(?:the\s+)?(?:improved|enhanced|rewritten|new|final|better)?\s*prompt)\s*:\s*",
    re.IGNORECASE,
)
_QUOTES = "\"'`*“”‘’«»"


def _words(text: str) -> list[str]:
    return _NON_WORD.sub(" ", text.casefold()).split()


def _shingles(words: Sequence[str], size: int) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + size]) for i in range(len(words) - size + 1)}


@dataclass(frozen=True)
class EchoDetector:
    """Recognises text lifted from the sentences of a system prompt."""

    sentences: tuple[str, ...]
    _phrases: tuple[str, ...] = field(init=False, repr=False)
    _shingles: frozenset[tuple[str, ...]] = field(init=False, repr=False)
    _vocabulary: frozenset[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        word_lists = [_words(sentence) for sentence in self.sentences]
        shingles: set[tuple[str, ...]] = set()
        for words in word_lists:
            shingles |= _shingles(words, ECHO_SHINGLE_WORDS)
        object.__setattr__(self, "_phrases", tuple(f" {' '.join(words)} " for words in word_lists))
        object.__setattr__(self, "_shingles", frozenset(shingles))
        object.__setattr__(self, "_vocabulary", frozenset(w for words in word_lists for w in words))

    def echoes(self, term: str) -> bool:
        """Whether ``term`` repeats a phrase of the instructions."""
        words = _words(term)
        if _shingles(words, ECHO_SHINGLE_WORDS) & self._shingles:
            return True
        phrase = f" {' '.join(words)} "
        return len(words) >= ECHO_PHRASE_WORDS and any(phrase in sentence for sentence in self._phrases)

    def only_instruction_words(self, term: str) -> bool:
        """Whether every word of ``term`` appears in the instructions (``pose``, ``framing``)."""
        words = _words(term)
        return bool(words) and all(word in self._vocabulary for word in words)


@lru_cache(maxsize=128)
def echo_detector(system_prompt: str) -> EchoDetector:
    """The detector for one system prompt (one per style, so cached)."""
    return EchoDetector(tuple(part for part in _SENTENCE_END.split(system_prompt) if part.strip()))


NO_ECHO = EchoDetector(())


@dataclass(frozen=True)
class OutputGuard:
    """What generated positive terms may not contain, and how long they may be."""

    max_chars: int
    user_positives: frozenset[str] = frozenset()
    user_negatives: frozenset[str] = frozenset()
    triggers: tuple[str, ...] = ()
    echo: EchoDetector = NO_ECHO

    @classmethod
    def build(
        cls,
        max_chars: int,
        user_positives: Iterable[str],
        user_negatives: Iterable[str],
        triggers: Iterable[str],
        system_prompt: str = "",
    ) -> OutputGuard:
        """A guard from the user's terms, the catalog's trigger phrases and the system prompt."""
        return cls(
            max_chars=max_chars,
            user_positives=frozenset(term.casefold() for term in user_positives),
            user_negatives=frozenset(term.casefold() for term in user_negatives),
            triggers=tuple(trigger.casefold() for trigger in triggers if trigger),
            echo=echo_detector(system_prompt),
        )

    def is_users(self, term: str) -> bool:
        """Whether the user wrote ``term`` as a positive term: it is theirs to keep."""
        return term.casefold() in self.user_positives

    def forbids(self, term: str) -> bool:
        """Whether a generated term contradicts the user, names a character or is chatter."""
        words = _words(term.replace("'", ""))
        if len(words) > MAX_TERM_WORDS or CHATTER_WORDS.intersection(words):
            return True
        key = term.casefold()
        if "@" in term or key in self.user_negatives:
            return True
        return any(trigger in key for trigger in self.triggers)


def printable_only(text: str) -> str:
    """Every non-printable character (controls, format, private use, odd spaces) as a space."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else " " for ch in text)


def cap_terms(terms: Sequence[str], max_chars: int) -> list[str]:
    """Keep whole terms while the joined text (``a, b``) fits in ``max_chars``."""
    kept: list[str] = []
    length = 0
    for term in terms:
        added = len(term) + (2 if kept else 0)
        if length + added > max_chars:
            break
        kept.append(term)
        length += added
    return kept


def line_terms(line: str, guard: OutputGuard) -> list[str]:
    """The acceptable positive terms of one line of generated text."""
    text = _LABEL.sub("", printable_only(line)).strip().strip(_QUOTES)
    terms = [clean_term(term.strip(_QUOTES)) for term in sanitize_positive(text)]
    terms = [term for term in terms if term and not term.startswith("-")]
    terms = [term for term in terms if guard.is_users(term) or not guard.forbids(term)]
    kept = [term for term in terms if guard.is_users(term) or not guard.echo.echoes(term)]
    if len(kept) < len(terms):
        kept = [t for t in kept if guard.is_users(t) or not guard.echo.only_instruction_words(t)]
    return kept


def sanitize_enhanced(text: str, guard: OutputGuard) -> list[str]:
    """Positive terms from the first line of ``text`` that has any; ``[]`` when none does."""
    for line in text[:MAX_SCAN_CHARS].splitlines():
        terms = cap_terms(dedupe_terms(line_terms(line, guard)), guard.max_chars)
        if terms:
            return terms
    return []
