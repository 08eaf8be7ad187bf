"""The tiny model's tokenizer files, written from the real CLIP BPE.

No hub is reachable, yet the text encoders of SDXL expect OpenAI's 49,408-token BPE:
``vocab.json`` and ``merges.txt`` are written from the shared merges
(:mod:`services.shared.clip_bpe`) so a ``CLIPTokenizer`` loaded from them tokenizes the
same as the published ``openai/clip-vit-large-patch14`` one.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from services.shared.clip_bpe import (
    BOS_TOKEN,
    BPE_FILE,
    EOS_TOKEN,
    VOCAB_SIZE,
    ClipVocabUnavailable,
    build_vocab,
    find_bpe_file,
    load_merges,
)

__all__ = [
    "BOS_TOKEN",
    "BPE_FILE",
    "EOS_TOKEN",
    "VOCAB_SIZE",
    "ClipVocabUnavailable",
    "find_bpe_file",
    "load_clip_tokenizer",
    "write_tokenizer_files",
]

MERGES_HEADER = "#version: 0.2"


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
