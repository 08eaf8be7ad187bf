"""Reading deployment-supplied lists of known-bad PDQ hashes.

Format, one entry a line: a 64-digit hex PDQ hash (ThreatExchange's form), optionally
followed by whitespace or a comma and the id of the category it belongs to; lines that
name no category belong to the policy's ``hash_lists.default_category``. Blank lines and
lines starting with ``#`` are ignored. Any other line is an error naming file and line:
a list that half-loads would silently let content through.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from services.shared.pdq_index import hex_to_bytes

_LINE = re.compile(r"^([0-9a-fA-F]{64})(?:[\s,]+([a-z][a-z0-9_]*))?\s*$")


class HashListError(ValueError):
    """A hash list is missing, unreadable or has a malformed line."""


@dataclass(frozen=True)
class LoadedHashes:
    """All lists' hashes as rows, with each row's category and origin (list name, line)."""

    hashes: np.ndarray  # (N, 32) uint8
    categories: tuple[str, ...]
    origins: tuple[tuple[str, int], ...]

    def __len__(self) -> int:
        return len(self.categories)


def parse_hash_lines(
    lines: Iterable[str], name: str, default_category: str, known: Sequence[str]
) -> LoadedHashes:
    """Parse one list's lines; ``known`` are the category ids a line may name."""
    known_set = set(known)
    hexes: list[str] = []
    categories: list[str] = []
    origins: list[tuple[str, int]] = []
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        parsed = _LINE.match(stripped)
        if parsed is None:
            raise HashListError(
                f"{name}:{number}: expected a 64-digit hex PDQ hash and an optional category id"
            )
        category = parsed.group(2) or default_category
        if category not in known_set:
            raise HashListError(f"{name}:{number}: category {category!r} has no pdq detector in the policy")
        hexes.append(parsed.group(1).lower())
        categories.append(category)
        origins.append((name, number))
    return LoadedHashes(hex_to_bytes(hexes), tuple(categories), tuple(origins))


def load_hash_lists(paths: Sequence[Path], default_category: str, known: Sequence[str]) -> LoadedHashes:
    """Every list in ``paths`` concatenated, in order; fails on the first bad file or line."""
    parts: list[LoadedHashes] = []
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise HashListError(f"cannot read hash list {path}: {exc}") from exc
        parts.append(parse_hash_lines(text.splitlines(), path.name, default_category, known))
    if not parts:
        return LoadedHashes(hex_to_bytes([]), (), ())
    return LoadedHashes(
        hashes=np.concatenate([p.hashes for p in parts]),
        categories=tuple(c for p in parts for c in p.categories),
        origins=tuple(o for p in parts for o in p.origins),
    )
