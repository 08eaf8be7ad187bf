"""OpenAI CLIP's byte-level BPE, rebuilt offline from the merges file in ``open-clip-torch``.

Two services need the same vocabulary: inference writes ``vocab.json``/``merges.txt``
for the tiny model's ``CLIPTokenizer``, and prompt counts tokens against the text
encoder's 77-token window. Both read the merges from here so they can never disagree.
The file is located inside the installed ``open_clip`` package without importing it
(its import pulls torchvision, which is not installed); `scripts/bootstrap` installs
that wheel with ``--no-deps`` for this one file.
"""

from __future__ import annotations

import gzip
import importlib.util
from functools import cache
from pathlib import Path

BPE_FILE = "bpe_simple_vocab_16e6.txt.gz"
#: OpenAI keeps the first 49152 - 256 - 2 merges of the file (the first line is a header).
MERGE_COUNT = 49152 - 256 - 2
VOCAB_SIZE = 49408
BOS_TOKEN = "<|startoftext|>"
EOS_TOKEN = "<|endoftext|>"


class ClipVocabUnavailable(RuntimeError):
    """The packaged merges file cannot be found or read."""


def find_bpe_file() -> Path:
    """The merges file inside the installed ``open_clip`` package."""
    try:
        spec = importlib.util.find_spec("open_clip")
    except (ImportError, ValueError):
        spec = None
    for location in list(spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / BPE_FILE
        if candidate.is_file():
            return candidate
    raise ClipVocabUnavailable(
        f"{BPE_FILE} not found: install it with `pip install --no-deps open-clip-torch==3.3.0`"
    )


@cache
def bytes_to_unicode() -> dict[int, str]:
    """OpenAI's reversible byte → printable character map the vocabulary is written in."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    codes = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return dict(zip(printable, (chr(code) for code in codes), strict=True))


def load_merges(bpe_file: Path | None = None) -> list[tuple[str, str]]:
    """The merges OpenAI's tokenizer uses, in rank order."""
    try:
        with gzip.open(bpe_file or find_bpe_file()) as stream:
            text = stream.read().decode("utf-8")
        merges: list[tuple[str, str]] = []
        for line in text.split("\n")[1 : MERGE_COUNT + 1]:
            first, second = line.split()
            merges.append((first, second))
    except (OSError, ValueError) as exc:
        raise ClipVocabUnavailable(f"{BPE_FILE} is unreadable: {exc}") from exc
    return merges


def build_vocab(merges: list[tuple[str, str]]) -> dict[str, int]:
    """Token → id in OpenAI's order: bytes, bytes with ``</w>``, merges, then the two specials."""
    byte_tokens = list(bytes_to_unicode().values())
    tokens = byte_tokens + [token + "</w>" for token in byte_tokens]
    tokens.extend(first + second for first, second in merges)
    tokens.extend([BOS_TOKEN, EOS_TOKEN])
    vocab = {token: index for index, token in enumerate(tokens)}
    if len(vocab) != VOCAB_SIZE:
        raise ClipVocabUnavailable(f"{BPE_FILE} yields {len(vocab)} tokens, expected {VOCAB_SIZE}")
    return vocab
