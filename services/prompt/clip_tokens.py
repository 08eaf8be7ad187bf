"""Count CLIP tokens the way the text encoder will see them.

SDXL's text encoders read 77 tokens (75 after the start and end markers); what is
beyond that is either chunked by the inference service or lost, so the prompt service
tells the client when a prompt is long. A word count would be wrong by a factor of two
on tags like ``looking_at_viewer``; this is OpenAI CLIP's byte-level BPE, rebuilt
offline from the ``bpe_simple_vocab_16e6.txt.gz`` merges file that ships inside the
``open-clip-torch`` wheel (located without importing ``open_clip``, which would pull
torch). Without that file a clearly labelled estimate is used instead.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Protocol

import regex

from services.shared import clip_bpe
from services.shared.logging import get_logger

log = get_logger(__name__)

CLIP_WINDOW = 77
#: Tokens of prompt text one window holds, after the start and end markers.
CLIP_CONTENT_TOKENS = CLIP_WINDOW - 2
_PATTERN = regex.compile(
    r"""<start_of_text>|<end_of_text>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
    regex.IGNORECASE,
)
_WHITESPACE = regex.compile(r"\s+")
_CACHE_LIMIT = 65536


class TokenCounter(Protocol):
    """Counts prompt tokens; ``exact`` says whether the count is the real tokenizer's."""

    exact: bool

    def count(self, text: str) -> int:
        """Tokens of ``text`` without the start and end markers."""
        ...


def find_bpe_file() -> Path | None:
    """The merges file inside the installed ``open_clip`` package, or None."""
    try:
        return clip_bpe.find_bpe_file()
    except clip_bpe.ClipVocabUnavailable:
        return None


class ClipBpeTokenizer:
    """OpenAI CLIP's tokenizer (49,408 ids), the same algorithm as open_clip's SimpleTokenizer."""

    exact = True

    def __init__(self, bpe_path: Path) -> None:
        merges = clip_bpe.load_merges(bpe_path)
        self.encoder: dict[str, int] = clip_bpe.build_vocab(merges)
        self._ranks: dict[tuple[str, ...], int] = {merge: rank for rank, merge in enumerate(merges)}
        self._byte_chars = clip_bpe.bytes_to_unicode()
        self._cache: dict[str, tuple[int, ...]] = {}
        self.start_id = self.encoder[clip_bpe.BOS_TOKEN]
        self.end_id = self.encoder[clip_bpe.EOS_TOKEN]

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` without start/end markers (lowercased, as CLIP does)."""
        cleaned = _WHITESPACE.sub(" ", html.unescape(html.unescape(text))).strip().lower()
        ids: list[int] = []
        for word in _PATTERN.findall(cleaned):
            cached = self._cache.get(word)
            if cached is None:
                cached = self._encode_word(word)
                if len(self._cache) >= _CACHE_LIMIT:
                    self._cache.clear()
                self._cache[word] = cached
            ids.extend(cached)
        return ids

    def count(self, text: str) -> int:
        """Number of tokens of ``text`` without start/end markers."""
        return len(self.encode(text))

    def _encode_word(self, word: str) -> tuple[int, ...]:
        symbols = "".join(self._byte_chars[byte] for byte in word.encode("utf-8"))
        parts = [*symbols[:-1], symbols[-1] + "</w>"]
        while len(parts) > 1:
            pairs = {(parts[i], parts[i + 1]) for i in range(len(parts) - 1)}
            best = min(pairs, key=lambda pair: self._ranks.get(pair, math.inf))
            if best not in self._ranks:
                break
            merged: list[str] = []
            i = 0
            while i < len(parts):
                if i < len(parts) - 1 and (parts[i], parts[i + 1]) == best:
                    merged.append(parts[i] + parts[i + 1])
                    i += 2
                else:
                    merged.append(parts[i])
                    i += 1
            parts = merged
        return tuple(self.encoder[part] for part in parts)


class EstimatedTokenCounter:
    """Fallback when the merges file is missing: ~1.3 tokens per word or symbol run.

    Only used to decide whether to warn; every note it produces says it is an estimate.
    """

    exact = False

    def count(self, text: str) -> int:
        """Rough token count of ``text``."""
        pieces = _PATTERN.findall(_WHITESPACE.sub(" ", text).strip().lower())
        return math.ceil(len(pieces) * 1.3)


def load_token_counter(bpe_path: Path | None = None) -> TokenCounter:
    """The real CLIP tokenizer when its merges file can be found, else the estimate."""
    path = bpe_path or find_bpe_file()
    if path is not None:
        try:
            return ClipBpeTokenizer(path)
        except (clip_bpe.ClipVocabUnavailable, KeyError, IndexError) as exc:
            log.warning(
                "clip merges file unusable; token counts are estimates", path=str(path), error=str(exc)
            )
            return EstimatedTokenCounter()
    log.warning("clip merges file not found; token counts are estimates", file=clip_bpe.BPE_FILE)
    return EstimatedTokenCounter()


def length_note(label: str, counter: TokenCounter, text: str) -> str | None:
    """A note when ``text`` needs more than one encoder window, else None."""
    tokens = counter.count(text)
    if tokens <= CLIP_CONTENT_TOKENS:
        return None
    chunks = math.ceil(tokens / CLIP_CONTENT_TOKENS)
    if counter.exact:
        return f"{label} prompt is {tokens} tokens; encoded in {chunks} chunks of {CLIP_WINDOW}"
    return (
        f"{label} prompt is about {tokens} tokens (estimated: CLIP vocabulary unavailable); "
        f"encoded in about {chunks} chunks of {CLIP_WINDOW}"
    )
