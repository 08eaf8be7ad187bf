"""The real CLIP BPE vocabulary, built offline.

No hub is reachable, yet the text encoders of SDXL expect OpenAI's 49,408-token BPE.
The ``open-clip-torch`` wheel ships the merge list (``bpe_simple_vocab_16e6.txt.gz``);
this module rebuilds ``vocab.json`` and ``merges.txt`` from it exactly as OpenAI's
tokenizer derives them, so a ``CLIPTokenizer`` loaded from the result tokenizes the
same as the published ``openai/clip-vit-large-patch14`` one. ``open_clip`` itself is
never imported: its import pulls torchvision, which is not installed.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
import tempfile
from functools import lru_cache
from pathlib import Path

BPE_FILE = "bpe_simple_vocab_16e6.txt.gz"
#: OpenAI keeps the first 49152 - 256 - 2 merges of the file (the first line is a header).
MERGE_COUNT = 49152 - 256 - 2
BOS_TOKEN = "<|startoftext|>"
EOS_TOKEN = "<|endoftext|>"
VOCAB_SIZE = 49408
MERGES_HEADER = "#version: 0.2"


class ClipVocabUnavailable(RuntimeError):
    """The packaged BPE file cannot be found (``open-clip-torch`` is not installed)."""


def find_bpe_file() -> Path:
    """Locate the merge list inside the installed ``open_clip`` package without importing it."""
    spec = importlib.util.find_spec("open_clip")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        candidate = Path(location) / BPE_FILE
        if candidate.is_file():
            return candidate
    raise ClipVocabUnavailable(
        f"{BPE_FILE} not found: install it with `pip install --no-deps open-clip-torch==3.3.0`"
    )


@lru_cache(maxsize=1)
def bytes_to_unicode() -> dict[int, str]:
    """OpenAI's reversible byte → printable character map that the vocabulary is written in."""
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
    with gzip.open(bpe_file or find_bpe_file()) as stream:
        text = stream.read().decode("utf-8")
    lines = text.split("\n")[1 : MERGE_COUNT + 1]
    merges: list[tuple[str, str]] = []
    for line in lines:
        first, second = line.split()
        merges.append((first, second))
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


def write_tokenizer_files(directory: Path, bpe_file: Path | None = None) -> Path:
    """Write ``vocab.json`` and ``merges.txt`` into ``directory`` (atomically each) and return it."""
    merges = load_merges(bpe_file)
    vocab = build_vocab(merges)
    directory.mkdir(parents=True, exist_ok=True)
    _write_atomic(directory / "vocab.json", json.dumps(vocab, ensure_ascii=False))
    merge_lines = [MERGES_HEADER, *(f"{first} {second}" for first, second in merges)]
    _write_atomic(directory / "merges.txt", "\n".join(merge_lines) + "\n")
    return directory


def load_clip_tokenizer(directory: Path, model_max_length: int = 77):  # type: ignore[no-untyped-def]
    """A ``CLIPTokenizer`` over the files in ``directory``, writing them first if missing."""
    from transformers import CLIPTokenizer

    if not (directory / "vocab.json").is_file() or not (directory / "merges.txt").is_file():
        write_tokenizer_files(directory)
    return CLIPTokenizer(
        vocab=str(directory / "vocab.json"),
        merges=str(directory / "merges.txt"),
        model_max_length=model_max_length,
    )


def _write_atomic(path: Path, content: str) -> None:
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(content)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
