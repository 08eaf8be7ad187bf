"""Text folding that undoes the usual tricks for slipping a word past a filter.

A lexicon is only as good as the text it sees. Users (and scripts) evade word lists with
look-alike letters from other scripts, full-width or mathematical letters, accents,
zero-width characters, leetspeak, stretched letters and letters split by dots or spaces.
This module turns a text into a :class:`FoldedText`: plain lowercase Latin tokens that
the lexicon can match with ordinary word boundaries, so "𝐤.1.d" and "kіd" (Cyrillic i)
read as "kid" while "kidney" stays "kidney".

Repeated letters are *not* collapsed here: collapsing would turn "teen" into "ten". The
lexicon instead lets each letter run of a term match that many letters *or more*.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

#: Look-alike letters from Cyrillic, Greek and a few IPA/Latin-extended blocks, folded to
#: the Latin letter they imitate. Applied after NFKC and casefolding, so lowercase only.
CONFUSABLES: dict[str, str] = {
    # Cyrillic
    "а": "a",
    "в": "b",
    "г": "r",
    "д": "d",
    "е": "e",
    "ё": "e",
    "ж": "x",
    "з": "3",
    "и": "u",
    "й": "u",
    "к": "k",
    "л": "n",
    "м": "m",
    "н": "h",
    "о": "o",
    "п": "n",
    "р": "p",
    "с": "c",
    "т": "t",
    "у": "y",
    "ф": "o",
    "х": "x",
    "ц": "u",
    "ч": "4",
    "ш": "w",
    "щ": "w",
    "ъ": "b",
    "ы": "bi",
    "ь": "b",
    "э": "e",
    "ю": "io",
    "я": "r",
    "і": "i",
    "ї": "i",
    "ј": "j",
    "ѕ": "s",
    "ԁ": "d",
    "ԛ": "q",
    "ԝ": "w",
    "ҡ": "k",
    "ӏ": "l",
    "һ": "h",
    "ү": "y",
    "ҳ": "x",
    "є": "e",
    # Greek
    "α": "a",
    "β": "b",
    "γ": "y",
    "δ": "d",
    "ε": "e",
    "ζ": "z",
    "η": "n",
    "θ": "o",
    "ι": "i",
    "κ": "k",
    "λ": "l",
    "μ": "u",
    "ν": "v",
    "ξ": "e",
    "ο": "o",
    "π": "n",
    "ρ": "p",
    "σ": "o",
    "ς": "s",
    "τ": "t",
    "υ": "u",
    "φ": "o",
    "χ": "x",
    "ψ": "w",
    "ω": "w",
    "ϲ": "c",
    "ϳ": "j",
    # Latin extended / IPA letters that NFKC leaves alone
    "ı": "i",
    "ȷ": "j",
    "ɑ": "a",
    "ɡ": "g",
    "ɩ": "i",
    "ɪ": "i",
    "ʏ": "y",
    "ʀ": "r",
    "ɴ": "n",
    "ʜ": "h",
    "ʟ": "l",
    "ᴀ": "a",
    "ᴄ": "c",
    "ᴅ": "d",
    "ᴇ": "e",
    "ᴋ": "k",
    "ᴍ": "m",
    "ᴏ": "o",
    "ᴘ": "p",
    "ᴛ": "t",
    "ᴜ": "u",
    "ᴠ": "v",
    "ᴡ": "w",
    "ᴢ": "z",
    "ß": "ss",
    "ø": "o",
    "đ": "d",
    "ħ": "h",
    "ł": "l",
    "ŧ": "t",
    "æ": "ae",
    "œ": "oe",
    "þ": "p",
    # Armenian
    "ս": "u",
    "օ": "o",
    "ո": "n",
    "հ": "h",
    "ց": "g",
    "ք": "p",
    "զ": "q",
}

#: Digits of other scripts as ASCII digits: "١٠ سنوات" (Arabic-Indic) and "१० साल"
#: (Devanagari) state an age as surely as "10 years" does. NFKC already folds full-width ones.
DECIMAL_DIGITS: dict[str, str] = {
    chr(code): str(unicodedata.decimal(chr(code)))
    for code in range(0x80, 0x10000)
    if unicodedata.category(chr(code)) == "Nd"
}
_CHARACTER_FOLDS: dict[str, str] = {**DECIMAL_DIGITS, **CONFUSABLES}

#: Cyrillic letters as Latin (Russian/Ukrainian romanisation). A text with Cyrillic letters is
#: read twice: folded by :data:`CONFUSABLES` (a disguise: "sеxy" with a Cyrillic е) and
#: romanised ("Меркель" is the name Merkel, "Pуtin" is Putin). Accents are stripped first,
#: so й, ё and ї arrive as и, е and і.
CYRILLIC_LATIN: dict[str, str] = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ж": "zh", "з": "z", "и": "i",
    "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t",
    "у": "u", "ф": "f", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "shch", "ъ": "", "ы": "y",
    "ь": "", "э": "e", "ю": "yu", "я": "ya", "і": "i", "є": "ye", "ґ": "g", "ѕ": "s", "ј": "j",
}  # fmt: skip
#: Greek letters as Latin (ELOT 743, simplified), read the same two ways as Cyrillic: "αφίσα"
#: is "afisa", while a lone Greek ο in "sεxy" is a disguise.
GREEK_LATIN: dict[str, str] = {
    "α": "a", "β": "v", "γ": "g", "δ": "d", "ε": "e", "ζ": "z", "η": "i", "θ": "th", "ι": "i",
    "κ": "k", "λ": "l", "μ": "m", "ν": "n", "ξ": "x", "ο": "o", "π": "p", "ρ": "r", "σ": "s",
    "ς": "s", "τ": "t", "υ": "y", "φ": "f", "χ": "ch", "ψ": "ps", "ω": "o",
}  # fmt: skip
_ROMANISATION: dict[str, str] = {**CYRILLIC_LATIN, **GREEK_LATIN}
#: Runs of Greek or Cyrillic letters: the scripts a text is also read romanised for.
_ROMANISABLE = re.compile(r"[\u0370-\u03ff\u0400-\u04ff]+")

#: Leetspeak digits and symbols. Only applied inside a word that has at least one letter,
#: so "2024" and "18" stay numbers. "1" and "|" are ambiguous (i or l): both readings are
#: produced.
LEET: dict[str, str] = {
    "0": "o",
    "3": "e",
    "4": "a",
    "5": "s",
    "7": "t",
    "8": "b",
    "6": "g",
    "9": "g",
    "@": "a",
    "$": "s",
    "!": "i",
    "+": "t",
    "€": "e",
    "£": "l",
}
AMBIGUOUS_LEET: tuple[str, ...] = ("1", "|")

_WORD_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789") | set(LEET) | set(AMBIGUOUS_LEET)
_SPLIT = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class FoldedText:
    """A text as the lexicon sees it.

    ``plain`` is the character-folded text with digits intact (for age patterns such as
    "15yo"). ``readings`` are token streams, one per reading of the ambiguous leet
    characters, with every piece separated by one space: terms match them on word
    boundaries. ``joined`` holds chunks whose pieces punctuation split apart, glued back
    ("k-i-d", "n.ude" → "kid", "nude"). ``spelled`` holds runs of one-letter pieces glued
    together ("k i d s" → "kids"); terms match inside them without boundaries, since the
    letters' own boundaries are the trick.
    """

    plain: str
    readings: tuple[str, ...]
    joined: tuple[str, ...]
    spelled: tuple[str, ...]
    #: ``plain`` with Cyrillic and Greek letters romanised ("" when it has none); patterns see both.
    romanised: str = ""

    @property
    def plains(self) -> tuple[str, ...]:
        """The texts raw patterns are matched against."""
        return (self.plain, self.romanised) if self.romanised else (self.plain,)


#: Flag emoji read as the country's adjective ("🇷🇺 president" is "russian president"): a flag
#: is two regional-indicator letters spelling the ISO code. Only flags that, before a title,
#: name one office holder; others stay emoji.
FLAG_WORDS: dict[str, str] = {
    "us": "american", "ru": "russian", "cn": "chinese", "ua": "ukrainian", "kp": "north korean",
    "kr": "south korean", "fr": "french", "gb": "british", "de": "german", "in": "indian",
    "br": "brazilian", "tr": "turkish", "il": "israeli", "ir": "iranian", "jp": "japanese",
    "it": "italian", "es": "spanish", "ca": "canadian", "mx": "mexican", "ar": "argentine",
    "va": "vatican",
}  # fmt: skip
_FLAG = re.compile("[\U0001f1e6-\U0001f1ff]{2}")


def _flag_word(match: re.Match[str]) -> str:
    code = "".join(chr(ord(ch) - 0x1F1E6 + ord("a")) for ch in match.group())
    word = FLAG_WORDS.get(code)
    return f" {word} " if word else match.group()


def fold_characters(text: str, transliterate: bool = False) -> str:
    """NFKC, drop invisible format characters, casefold, strip accents, fold look-alikes.

    Flag emoji of the countries in :data:`FLAG_WORDS` become their adjective.

    With ``transliterate``, Cyrillic and Greek letters are romanised first (see
    :data:`CYRILLIC_LATIN`, :data:`GREEK_LATIN`); :func:`fold` reads a text both ways when it has any.
    """
    text = unicodedata.normalize("NFKC", text)
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    text = _FLAG.sub(_flag_word, text).casefold()
    decomposed = unicodedata.normalize("NFD", text)
    text = "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")
    text = unicodedata.normalize("NFC", text)
    if transliterate:
        text = _romanise(text)
    return "".join(_CHARACTER_FOLDS.get(ch, ch) for ch in text)


def _romanise(text: str) -> str:
    """Every Cyrillic and Greek letter romanised, also inside a Latin word ("Pуtin" is Putin as Russian)."""
    return _ROMANISABLE.sub(lambda m: "".join(_ROMANISATION.get(ch, ch) for ch in _digraphs(m.group())), text)


def _digraphs(run: str) -> str:
    """Greek "ου" is one sound, "ou" ("μουσουλμάνοι" → "mousoulmanoi", not "moysoylmanoi")."""
    return run.replace("ου", "ou")


def _leet_letter(ch: str, ambiguous_as: str) -> str | None:
    """The letter a leet character stands for in this reading, or None if ``ch`` is no leet."""
    return LEET.get(ch) or (ambiguous_as if ch in AMBIGUOUS_LEET else None)


def _deleet_chunk(chunk: str, ambiguous_as: str) -> str:
    """Read leet characters in ``chunk`` as letters when the chunk is a word, not a number.

    Symbols such as "!" only count inside a word ("k!d"), so that "kid!" and "kid!!" keep
    their exclamation marks as punctuation: a symbol with no letter or digit after it in the
    chunk is trailing punctuation, however many of them there are.
    """
    if not any("a" <= ch <= "z" for ch in chunk):
        return chunk
    last_alnum = max(i for i, ch in enumerate(chunk) if ch.isalnum())
    out: list[str] = []
    for index, ch in enumerate(chunk):
        mapped = _leet_letter(ch, ambiguous_as)
        if mapped is None or ch.isdigit():
            out.append(mapped or ch)
            continue
        before = chunk[index - 1] if index else ""
        after = chunk[index + 1] if index + 1 < len(chunk) else ""
        inside = before in _WORD_CHARS and after in _WORD_CHARS and (index < last_alnum or ch in "@$")
        leading = not before and after in _WORD_CHARS and ch in "@$"
        trailing = not after and before in _WORD_CHARS and ch in "@$"  # "n1gg@", "cla$$"
        out.append(mapped if inside or leading or trailing else ch)
    return "".join(out)


def fold(text: str, blank: Callable[[str], str] | None = None) -> FoldedText:
    """Fold ``text`` into the readings, glued words and spelled-out runs the lexicon matches.

    A text with Cyrillic or Greek letters is read twice: with look-alikes folded (the disguise
    reading) and romanised (the Russian or Greek reading, "голая" → "golaya", "γυμνή" → "gymni").
    ``blank`` is applied to each character-folded reading before it is split (the lexicon blanks
    its safe phrases there).
    """
    blank = blank or _unchanged
    plain = blank(fold_characters(text))
    plains = [plain]
    if _ROMANISABLE.search(text):  # NFKC and casefolding neither make nor unmake these letters
        plains.append(blank(fold_characters(text, transliterate=True)))
    readings: list[str] = []
    joined: list[str] = []
    spelled: list[str] = []
    for variant in plains:
        chunks = variant.split()
        for ambiguous_as in ("i", "l"):
            deleeted = (_deleet_chunk(chunk, ambiguous_as) for chunk in chunks)
            pieces_per_chunk = [[p for p in _SPLIT.split(chunk) if p] for chunk in deleeted]
            readings.append(" ".join(" ".join(pieces) for pieces in pieces_per_chunk if pieces))
            joined.extend("".join(pieces) for pieces in pieces_per_chunk if len(pieces) > 1)
            spelled.extend(_single_letter_runs(pieces_per_chunk, ambiguous_as))
    return FoldedText(
        plain=plain,
        readings=tuple(dict.fromkeys(readings)),
        joined=tuple(dict.fromkeys(joined)),
        spelled=tuple(dict.fromkeys(spelled)),
        romanised=plains[1] if len(plains) > 1 else "",
    )


def _unchanged(text: str) -> str:
    return text


def _single_letter_runs(pieces_per_chunk: list[list[str]], ambiguous_as: str) -> list[str]:
    """Runs of two or more one-letter pieces in a row ("k i d", "n.u.d.e"), glued together.

    A lone digit is a chunk of its own, so chunk-wise de-leeting leaves it a digit; inside a
    run that has letters it is one of the spelled word's letters ("p 0 r n"), so such a run
    is also given read as letters (the digits stay in the first form for "1 4 y o").
    """
    letters = [piece for pieces in pieces_per_chunk for piece in pieces]
    runs: list[str] = []
    current: list[str] = []
    for piece in [*letters, ""]:
        if len(piece) == 1:
            current.append(piece)
            continue
        if len(current) >= 2:
            run = "".join(current)
            runs.append(run)
            if any(ch.isdigit() for ch in run) and any("a" <= ch <= "z" for ch in run):
                runs.append("".join(_leet_letter(ch, ambiguous_as) or ch for ch in run))
        current = []
    return runs


#: One character standing alone: a letter, digit or leet symbol between separators.
_LONE = r"[a-z0-9@$!|]"
#: Three or more lone characters in a row, split by spaces, dots, dashes, underscores or stars.
_SPELLED_RUN = re.compile(rf"(?<![a-z0-9]){_LONE}(?:[\s.\-_*]{{1,3}}{_LONE}(?![a-z0-9])){{2,}}")
#: A word with a leet character between two letters ("t4yl0r", "sw1ft", "s3x").
_LEET_WORD = re.compile(r"\S*[a-z][0-9@$!|]+[a-z]\S*")
#: The image boards' head-count tags ("1girl", "2boys", "6+girls"): how many characters of which
#: sex, with no age in them.
_COUNT_TAG = re.compile(r"(?<![a-z0-9])(\d{1,2})\+?(girl|boy)s?(?![a-z0-9])")
_COUNT_WORDS = ("no", "one", "two", "three", "four", "five", "six")
#: Symbols the sentence model has no token for, named in words so it reads what is drawn. The
#: swastika is named, not judged: the heads tell a flag at a rally from a temple door.
SYMBOL_WORDS: dict[str, str] = {"卐": "swastika", "卍": "swastika"}
_SYMBOL = re.compile("|".join(map(re.escape, SYMBOL_WORDS)))


def readable(folded: str) -> str:
    """A character-folded text with its disguises taken off, for a reader such as MiniLM.

    The lexicon matches every reading of a text at once; a sentence model embeds one text,
    and "s u i c i d e" or "t4yl0r sw1ft" are noise to it. So spelled-out runs are glued
    ("s u i c i d e" → "suicide", a leading "a" or "i" kept as the article it usually is)
    and leet is read as letters inside words that have letters on both sides of it. Words
    that only start with digits keep them ("14yo", "3d"): the age is the point. The image
    boards' head-count tags are the exception: "1girl" tags any female character, adult or
    not, and read as "girl" it pulled adult anime prompts towards the minors head, so it is
    read as what it means, "one female character". Symbols MiniLM has no token for
    (:data:`SYMBOL_WORDS`) are written as the word for them.
    """
    text = _SPELLED_RUN.sub(_glue_run, folded)
    text = _COUNT_TAG.sub(_count_words, text)
    text = _SYMBOL.sub(lambda m: f" {SYMBOL_WORDS[m.group()]} ", text)
    return _LEET_WORD.sub(lambda m: _deleet_chunk(m.group(), "i"), text)


def _count_words(match: re.Match[str]) -> str:
    count = int(match.group(1))
    number = _COUNT_WORDS[count] if count < len(_COUNT_WORDS) else "several"
    sex = "female" if match.group(2) == "girl" else "male"
    return f"{number} {sex} character" + ("s" if count != 1 else "")


def _glue_run(match: re.Match[str]) -> str:
    characters = [ch for ch in match.group() if ch.isalnum() or ch in "@$!|"]
    if sum(ch.isalpha() for ch in characters) < 2:
        return match.group()  # a number written with gaps, "1 2 3", is no word
    article = ""
    if characters[0] in "ai" and len(characters) > 3:
        article, characters = characters[0] + " ", characters[1:]
    glued = "".join(characters)
    first_letter = next(i for i, ch in enumerate(glued) if ch.isalpha())
    # Digits before the first letter are a number ("1 4 y o" is 14yo); after it, letters ("p 0 r n").
    return article + glued[:first_letter] + _deleet_chunk(glued[first_letter:], "i")
