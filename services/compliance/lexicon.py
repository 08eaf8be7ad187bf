"""The prompt lexicon: terms and term combinations from the policy, matched on folded text.

Matching runs on :mod:`services.compliance.normalize`'s folded text, so look-alike
letters, leetspeak, accents, invisible characters and split-up letters are already
undone. Terms match on word boundaries ("kid" does not fire inside "kidney" or
"skidmark"), accept common inflections ("kids", "raped") and stretched letters
("kiiid"), and a trailing ``*`` in a term matches any ending ("decapitat*").

Which texts count (decided here, documented in the README of the eval):

* positive texts (``user``, ``character``, ``style`` and any unknown source, to fail
  closed) are matched against every category's terms and term groups;
* ``negative`` texts steer the model *away* from their words, so a category's ordinary
  terms there flag nothing ("-nude" is a safe request); only each category's
  ``negative_terms`` count there, the words whose *absence* is asked for to get the
  category (e.g. "-clothes" asks for nudity). They count both on their own and as the
  group's side of a combination, so "teen, -clothes" is a ``minors`` hit.

The policy's ``safe_phrases`` are blanked out of every text before matching: a listed word
with an everyday sense ("nude lipstick", "nude heels": a colour) would otherwise flag. They
match the plainly written phrase only, so an evasive spelling ("n.u.d.e lipstick") is still
read as the term, failing closed.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from services.compliance.categories import LexiconRules, PolicyDocument
from services.compliance.findings import Finding
from services.compliance.known_words import known_words
from services.compliance.normalize import FoldedText, fold, fold_characters

#: Inflections a term accepts without listing them ("kid" → "kids", "rape" → "raped").
#: Deliberately no "y": "teeny" is not "teen".
SUFFIXES = r"(?:s|es|d|ed|ing|er|ers)?"
NEGATIVE_SOURCE = "negative"
_PIECE = re.compile(r"[^a-z0-9]+")
_MAX_TERMS_IN_DETAIL = 4
#: Scripts the word splitter does not read: kana, CJK ideographs and Hangul (written without
#: spaces between words), and Arabic, Hebrew, Devanagari and Thai (letters outside a-z). Terms in
#: them match as substrings of the character-folded text. Cyrillic and Greek are romanised instead.
_UNSPACED_SCRIPT = re.compile(
    "[\u0590-\u06ff\u0900-\u097f\u0e00-\u0e7f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]"
)
#: Letters a name written as one word needs to count ("#taylorswift" does; "lina" is not Li Na).
MIN_SPELLED_NAME = 7
#: Letters a name's token needs before it is also matched one typing slip away ("ronaldoo").
MIN_SLIP_TOKEN = 5
#: The shortest spelling a slip can leave of such a token (a letter missing: "bidn" for Biden);
#: a name with a shorter word ("Al Gore") is matched exactly only.
_SHORTEST_SLIP = MIN_SLIP_TOKEN - 1


@dataclass(frozen=True)
class PromptText:
    """One text of a prompt and where it came from ("user", "negative", "character", "style")."""

    source: str
    text: str

    @property
    def is_negative(self) -> bool:
        """Negative texts say what to avoid; see the module docstring for how they count."""
        return self.source == NEGATIVE_SOURCE


def _run_pattern(token: str) -> str:
    """``token`` with each run of a letter matching that many copies or more ("teen" → t+e{2,}n+)."""
    parts: list[str] = []
    index = 0
    while index < len(token):
        end = index
        while end < len(token) and token[end] == token[index]:
            end += 1
        count = end - index
        char = re.escape(token[index])
        parts.append(f"{char}+" if count == 1 else f"{char}{{{count},}}")
        index = end
    return "".join(parts)


def term_patterns(term: str) -> tuple[str, str]:
    """The (spaced, glued) regular expressions of a policy term, without boundaries.

    Spaced matches the token stream ("self harm" between pieces); glued matches words
    that were written together or re-assembled from split letters ("selfharm").
    """
    wildcard = term.rstrip().endswith("*")
    tokens = [t for t in _PIECE.split(fold_characters(term.rstrip().rstrip("*"))) if t]
    if not tokens:
        raise ValueError(f"term {term!r} has no letters or digits")
    ending = "[a-z0-9]*" if wildcard else SUFFIXES
    runs = [_run_pattern(t) for t in tokens]
    return " ".join(runs) + ending, _run_pattern("".join(tokens)) + ending


@functools.cache
def phrase_mask(phrases: tuple[str, ...]) -> PhraseMask:
    """The mask of a policy's safe phrases, compiled once however many stages blank with it."""
    return PhraseMask(phrases)


class PhraseMask:
    """Blanks the policy's safe phrases out of a text (word boundaries, any punctuation between words;
    a phrase in a script written without spaces wherever it stands)."""

    def __init__(self, phrases: Iterable[str]) -> None:
        alternatives = []
        for phrase in dict.fromkeys(p.strip() for p in phrases if p.strip()):
            if _UNSPACED_SCRIPT.search(phrase):  # as its terms are, matched inside the text ("裸足")
                alternatives.append(re.escape(fold_characters(phrase)))
                continue
            wildcard = phrase.endswith("*")
            tokens = [t for t in _PIECE.split(fold_characters(phrase.rstrip("*"))) if t]
            if tokens:
                ending = "[a-z0-9]*" if wildcard else SUFFIXES
                alternatives.append("[^a-z0-9]+".join(re.escape(t) for t in tokens) + ending)
        self._pattern = (
            re.compile("(?<![a-z0-9])(?:" + "|".join(alternatives) + ")(?![a-z0-9])")
            if alternatives
            else None
        )

    def apply(self, text: str) -> str:
        """``text`` character-folded, with every safe phrase replaced by a space."""
        return self.blank(fold_characters(text))

    def blank(self, folded: str) -> str:
        """An already character-folded text with every safe phrase replaced by a space."""
        return folded if self._pattern is None else self._pattern.sub(" ", folded)


def _squeeze(token: str) -> str:
    """``token`` with every run of one letter cut to a single letter ("jennnifer" → "jenifer")."""
    return re.sub(r"(.)\1+", r"\1", token)


def _one_slip_keys(token: str) -> set[str]:
    """``token`` and each spelling of it with one letter left out.

    Two spellings share a key when one typing slip separates them: a letter missing or extra
    ("ronaldoo"), wrong ("cristiaho") or two letters swapped ("cirstiano").
    """
    return {token, *(token[:index] + token[index + 1 :] for index in range(len(token)))}


#: Words before a name that make it a style, not a subject: "in the style of", "art by".
_STYLE_BEFORE = frozenset(
    (_squeeze(first), second)
    for first, second in (
        *((word, "of") for word in ("style", "manner")),
        *(
            (word, "by")
            for word in (
                "inspired", "art", "artwork", "painting", "painted", "drawn", "illustrated", "illustration",
                "directed", "shot", "photographed", "photography", "cinematography", "lighting",
            )
        ),
    )
)  # fmt: skip
#: Words after a name that make it a style: "Wes Anderson symmetry", "Tim Burton style". Both
#: sets are written as the name matcher sees words, letter runs squeezed ("symmetry": "symetry").
_STYLE_AFTER = frozenset(
    _squeeze(word)
    for word in (
        "style", "styled", "inspired", "esque", "aesthetic", "symmetry", "palette", "colour", "color",
        "vibes",
    )
)  # fmt: skip


def named_as_style(tokens: Sequence[str], start: int, end: int) -> bool:
    """Whether the name at ``tokens[start:end]`` names a style ("in the style of Wes Anderson").

    A director's framing or a painter's brushwork borrows no one's face; the person is not in
    the picture. Anything else about the prompt is still read as usual.
    """
    return tuple(tokens[max(start - 2, 0) : start]) in _STYLE_BEFORE or (
        end < len(tokens) and tokens[end] in _STYLE_AFTER
    )


class NameSet:
    """Proper names found by hash lookup on the folded token stream, at any list size.

    A regular-expression alternation of thousands of names would cost milliseconds per prompt;
    a set of token tuples costs one lookup per word n-gram. Both sides are folded and have
    letter runs squeezed, so stretched letters, accents, look-alikes and leetspeak are undone
    as for terms. A name also matches written as one word ("#taylorswift", "t a y l o r s w i f t").
    Names take no endings except the possessive, which folding already splits off ("trump's").

    A name of two or more words also matches with its longer words misspelt by one slip each
    ("Chrstiano Ronaldoo"), found through an index of one-letter deletions. A misspelling that
    is itself an everyday word (``known_words``: "amber heart" is not Amber Heard) is taken as
    meant, and words under five letters must be spelt right ("Kim Kardashain" is Kim Kardashian,
    "Kin Kardashian" is not).
    """

    def __init__(self, names: Iterable[str], known_words: frozenset[str] = frozenset()) -> None:
        self._by_tokens: dict[tuple[str, ...], str] = {}
        self._by_glued: dict[str, str] = {}
        for name in dict.fromkeys(n.strip() for n in names if n.strip()):
            tokens = tuple(_squeeze(t) for t in _PIECE.split(fold_characters(name)) if t)
            if not tokens:
                raise ValueError(f"name {name!r} has no letters or digits")
            # A name with digits is also kept as the text folder reads it ("CR7" reads "crt").
            read = {tuple(_squeeze(t) for t in reading.split()) for reading in fold(name).readings}
            for spelling in (tokens, *sorted(read - {tokens, ()})):
                self._by_tokens.setdefault(spelling, name)
            if len(tokens) > 1:
                self._by_glued.setdefault("".join(tokens), name)
        self._longest = max((len(t) for t in self._by_tokens), default=0)
        self._glued_lengths = sorted({len(g) for g in self._by_glued if len(g) >= MIN_SPELLED_NAME})
        self._known_words = known_words
        self._slips: dict[str, set[str]] = {}
        slip_names = [
            tokens
            for tokens in self._by_tokens
            if len(tokens) > 1
            and all(t.isalpha() for t in tokens)
            and any(len(t) >= MIN_SLIP_TOKEN for t in tokens)
        ]
        for tokens in slip_names:
            for token in tokens:
                if len(token) >= MIN_SLIP_TOKEN:
                    for key in _one_slip_keys(token):
                        self._slips.setdefault(key, set()).add(token)
        self._slip_names = frozenset(slip_names)
        self._slip_longest = max((len(t) for t in slip_names), default=0)

    def _spellings(self, token: str) -> set[str]:
        """Name tokens ``token`` may stand for: itself, and those one slip away unless it is a word."""
        if len(token) < _SHORTEST_SLIP or token in self._known_words:
            return {token}
        found = {token}
        for key in _one_slip_keys(token):
            found |= self._slips.get(key, set())
        return found

    def _misspelt(self, tokens: list[str], found: dict[str, None], seen: dict[str, set[str]]) -> None:
        """Add the names of two or more words that ``tokens`` hold with slips in them.

        ``seen`` keeps each word's spellings for the other readings of the same text, which
        mostly repeat its words.
        """
        spellings = [seen[t] if t in seen else seen.setdefault(t, self._spellings(t)) for t in tokens]
        for start in range(len(tokens) - 1):
            for size in range(2, min(self._slip_longest, len(tokens) - start) + 1):
                window = spellings[start : start + size]
                if all(len(options) == 1 for options in window):
                    continue  # nothing to correct: the exact lookup has seen these words
                if named_as_style(tokens, start, start + size):
                    continue
                for candidate in itertools.product(*window):
                    if candidate in self._slip_names:
                        found[self._by_tokens[candidate]] = None

    def __bool__(self) -> bool:
        return bool(self._by_tokens)

    def matches(self, folded: FoldedText) -> list[str]:
        """The listed names found in ``folded``, each once, in list order of first sight."""
        found: dict[str, None] = {}
        spellings: dict[str, set[str]] = {}
        for reading in folded.readings:
            tokens = [_squeeze(t) for t in reading.split()]
            for start in range(len(tokens)):
                for size in range(1, min(self._longest, len(tokens) - start) + 1):
                    name = self._by_tokens.get(tuple(tokens[start : start + size]))
                    if name is not None and not named_as_style(tokens, start, start + size):
                        found[name] = None
                glued = self._by_glued.get(tokens[start]) if len(tokens[start]) >= MIN_SPELLED_NAME else None
                if glued is not None:
                    found[glued] = None
            if self._slips:
                self._misspelt(tokens, found, spellings)
        for run in folded.joined:  # "taylor-swift", "b.e.y.o.n.c.e": the whole chunk is the name
            squeezed = _squeeze(run)
            name = self._by_glued.get(squeezed) or self._by_tokens.get((squeezed,))
            if name is not None:
                found[name] = None
        for run in folded.spelled:  # "e l o n m u s k a s": letters carry no word boundaries
            squeezed = _squeeze(run)
            whole = self._by_tokens.get((squeezed,))  # "Lionel M e s s i": one word spelled out
            if whole is not None:
                found[whole] = None
            for size in self._glued_lengths:
                for start in range(len(squeezed) - size + 1):
                    name = self._by_glued.get(squeezed[start : start + size])
                    if name is not None:
                        found[name] = None
        return list(found)


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str]:
    """``re.compile`` without a size limit: groups share terms, and ``re``'s own cache holds only
    512 patterns, so a policy of a thousand terms would otherwise compile each one several times."""
    return re.compile(pattern)


@functools.cache
def _term_sources(term: str) -> tuple[str, str]:
    """The (bounded either-form, glued) regular expressions of one policy term, as source text."""
    spaced, joined = term_patterns(term)
    return f"(?<![a-z0-9])(?:{spaced}|{joined})(?![a-z0-9])", joined


def _term_regexes(term: str) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """The compiled forms of :func:`_term_sources`, compiled the first time a text needs them.

    Only a text that the set's combined expression already matched asks which term it was,
    so most of a thousand terms are never compiled one by one: startup stays short.
    """
    either, joined = _term_sources(term)
    return _compiled(either), _compiled(joined)


class TermSet:
    """Terms, names and raw patterns compiled once; answers which of them a folded text contains."""

    def __init__(self, terms: Iterable[str], patterns: Iterable[str] = (), names: Iterable[str] = ()) -> None:
        names = tuple(names)
        self._names = NameSet(names, known_words() if names else frozenset())
        self.terms: tuple[str, ...] = tuple(dict.fromkeys(t.strip() for t in terms if t.strip()))
        # Terms in scripts the splitter does not read match as substrings (see _UNSPACED_SCRIPT).
        self._unspaced = [(t, fold_characters(t)) for t in self.terms if _UNSPACED_SCRIPT.search(t)]
        self._per_term: list[str] = [t for t in self.terms if not _UNSPACED_SCRIPT.search(t)]
        bounded: list[str] = []
        glued: list[str] = []
        for term in self._per_term:
            either, joined = _term_sources(term)
            bounded.append(either)
            glued.append(joined)
        self._any_bounded = _compiled("|".join(bounded)) if bounded else None
        self._any_glued = _compiled("|".join(glued)) if glued else None
        self._patterns = [(p, _compiled(p)) for p in dict.fromkeys(patterns)]

    def __bool__(self) -> bool:
        return bool(self.terms or self._patterns or self._names)

    def matches(self, folded: FoldedText) -> list[str]:
        """Policy terms and names (and ``pattern#N`` for the Nth raw pattern) found in ``folded``.

        A spelled-out run that spells one everyday word ("s e x y") is read as that word, with
        its boundaries; any other run ("c h i l d p 0 r n") is searched for terms anywhere in it.
        """
        everyday = known_words()
        spelled = [s for s in folded.spelled if s not in everyday]
        words = (*folded.readings, *folded.joined, *(s for s in folded.spelled if s in everyday))
        hit = [
            f"pattern#{n}"
            for n, (_, compiled) in enumerate(self._patterns, 1)
            if any(compiled.search(plain) for plain in folded.plains)
        ]
        hit += self._names.matches(folded) if self._names else []
        hit += [term for term, folded_term in self._unspaced if any(folded_term in p for p in folded.plains)]
        quick_words = self._any_bounded is not None and any(self._any_bounded.search(w) for w in words)
        quick_spelled = self._any_glued is not None and any(self._any_glued.search(s) for s in spelled)
        if quick_words or quick_spelled:
            for term in self._per_term:
                either, joined = _term_regexes(term)
                if any(either.search(w) for w in words) or any(joined.search(s) for s in spelled):
                    hit.append(term)
        return hit


#: A word with letters hidden behind stars ("r*pe", "tr*mp", "su**ide"): letters on both sides.
_MASKED_WORD = re.compile(r"(?<![a-z0-9*])[a-z0-9]+(?:\*+[a-z0-9]+)+(?![a-z0-9*])")
#: The most readings one text gets from its starred words (each can stand for several words).
_MAX_UNMASKED = 4


class MaskedWords:
    """Reads starred words as the policy's words they hide ("r*pe" is "rape", "tr*mp" "trump").

    Starring letters out is how people write a word they know is unwelcome, so a starred word
    is read as every policy word (term or name word) of its length whose other letters agree;
    a star per hidden letter, as the habit is. Only the policy's own words are candidates, so
    "b*by" never becomes anything the policy does not name.
    """

    def __init__(self, words: Iterable[str]) -> None:
        self._by_length: dict[int, list[str]] = {}
        for word in sorted({w for w in words if len(w) >= 3 and w.isalpha()}):
            self._by_length.setdefault(len(word), []).append(word)

    def readings(self, folded: str) -> list[str]:
        """``folded`` with its starred words read as policy words (none if it has none)."""
        if "*" not in folded:
            return []
        variants = [folded]
        for masked in {m.group() for m in _MASKED_WORD.finditer(folded)}:
            candidates = self._candidates(masked)
            if candidates:
                variants = [
                    re.sub(rf"(?<![a-z0-9*]){re.escape(masked)}(?![a-z0-9*])", word, v)
                    for v in variants
                    for word in candidates
                ][:_MAX_UNMASKED]
        return [v for v in variants if v != folded]

    def _candidates(self, masked: str) -> list[str]:
        shape = re.compile(masked.replace("*", "[a-z]"))
        return [w for w in self._by_length.get(len(masked), ()) if shape.fullmatch(w)]


def policy_words(policy: PolicyDocument) -> set[str]:
    """Every word of every term and name in ``policy``, character-folded."""
    words: set[str] = set()
    for name in policy.term_groups:
        members = policy.group_members(name)
        for text in (*members.terms, *members.names):
            words.update(_PIECE.split(fold_characters(text)))
    for category in policy.categories:
        rules = category.detectors.lexicon
        if rules is not None:
            for text in rules.terms:
                words.update(_PIECE.split(fold_characters(text)))
    return words


@dataclass
class _CategoryLexicon:
    """The compiled rules of one category."""

    category_id: str
    threshold: float
    direct: TermSet
    negative: TermSet
    combinations: list[tuple[str, ...]] = field(default_factory=list)


@dataclass(frozen=True)
class _Group:
    positive: TermSet
    negative: TermSet


class Lexicon:
    """The prompt stage's detector: policy terms and combinations over every prompt text."""

    name = "lexicon"

    def __init__(self, policy: PolicyDocument) -> None:
        self._mask = phrase_mask(tuple(policy.safe_phrases))
        self._masked = MaskedWords(policy_words(policy))
        self._groups: dict[str, _Group] = {}
        for name in policy.term_groups:
            members = policy.group_members(name)
            self._groups[name] = _Group(
                TermSet(members.terms, members.patterns, members.names), TermSet(members.negative_terms)
            )
        self._categories: list[_CategoryLexicon] = []
        for category in policy.categories:
            rules = category.detectors.lexicon
            if rules is not None:
                self._categories.append(self._compile(category.id, rules, policy))

    def _compile(self, category_id: str, rules: LexiconRules, policy: PolicyDocument) -> _CategoryLexicon:
        terms, negatives, patterns, names = list(rules.terms), list(rules.negative_terms), [], []
        for name in rules.groups:
            members = policy.group_members(name)
            terms += members.terms
            negatives += members.negative_terms
            patterns += members.patterns
            names += members.names
        return _CategoryLexicon(
            category_id=category_id,
            threshold=rules.threshold,
            direct=TermSet(terms, patterns, names),
            negative=TermSet(negatives),
            combinations=[tuple(c) for c in rules.combinations],
        )

    def review(self, texts: Sequence[PromptText]) -> list[Finding]:
        """Findings for every category the texts hit, in policy order."""
        folded = [
            (t.source or "user", t.is_negative, reading)
            for t in texts
            if t.text.strip()
            for reading in self._readings(t.text)
        ]
        group_hits = {name: self._group_hits(group, folded) for name, group in self._groups.items()}
        findings: list[Finding] = []
        for rules in self._categories:
            direct = _hits(rules.direct, [(s, f) for s, neg, f in folded if not neg])
            if direct:
                findings.append(self._finding(rules, "term", direct))
            negative = _hits(rules.negative, [(s, f) for s, neg, f in folded if neg])
            if negative:
                findings.append(self._finding(rules, "negative-term", negative))
            for combination in rules.combinations:
                if all(group_hits[g] for g in combination):
                    evidence = [(f"{g}/{src}", term) for g in combination for src, term in group_hits[g][:2]]
                    findings.append(self._finding(rules, "combination " + "+".join(combination), evidence))
        return findings

    def _readings(self, text: str) -> list[FoldedText]:
        """``text`` folded, and once more per way its starred words can be read (:class:`MaskedWords`)."""
        first = fold(text, self._mask.blank)
        return [first, *(fold(unmasked, self._mask.blank) for unmasked in self._masked.readings(first.plain))]

    @staticmethod
    def _group_hits(group: _Group, folded: list[tuple[str, bool, FoldedText]]) -> list[tuple[str, str]]:
        positive = _hits(group.positive, [(s, f) for s, neg, f in folded if not neg])
        return positive + _hits(group.negative, [(s, f) for s, neg, f in folded if neg])

    def _finding(self, rules: _CategoryLexicon, rule: str, evidence: list[tuple[str, str]]) -> Finding:
        shown = "; ".join(f"{source}: {term!r}" for source, term in evidence[:_MAX_TERMS_IN_DETAIL])
        more = (
            f" (+{len(evidence) - _MAX_TERMS_IN_DETAIL} more)" if len(evidence) > _MAX_TERMS_IN_DETAIL else ""
        )
        return Finding(
            stage="prompt",
            detector=self.name,
            category_id=rules.category_id,
            score=1.0,
            threshold=rules.threshold,
            detail=f"rule={rule}; {shown}{more}",
        )


def _hits(terms: TermSet, texts: list[tuple[str, FoldedText]]) -> list[tuple[str, str]]:
    """(source, policy term) pairs for every term of ``terms`` found in ``texts``."""
    if not terms:
        return []
    return [(source, term) for source, folded in texts for term in terms.matches(folded)]
