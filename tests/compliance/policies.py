"""Policy files for tests: the shipped default, with or without its learned detectors.

Most service tests exercise gRPC, readiness and the lexicon; loading MiniLM (seconds of
imports) would make each of them slow without testing anything more. They run on the
default policy with the learned detectors taken out, written to a real file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from services.compliance.categories import DEFAULT_POLICY_PATH

LEARNED_DETECTORS = ("semantic", "classifier", "nudenet", "opennsfw")


def default_policy() -> dict[str, Any]:
    """The shipped policy as a mutable document."""
    return yaml.safe_load(DEFAULT_POLICY_PATH.read_text(encoding="utf-8"))


def without_learned_detectors(raw: dict[str, Any], keep: tuple[str, ...] = ()) -> dict[str, Any]:
    """``raw`` with every learned detector block removed except those named in ``keep``."""
    for category in raw["categories"]:
        for name in LEARNED_DETECTORS:
            if name not in keep:
                category.get("detectors", {}).pop(name, None)
    return raw


def write_policy(raw: dict[str, Any], folder: Path, name: str = "policy.yaml") -> Path:
    """``raw`` written as a policy file in ``folder``."""
    path = folder / name
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def lexicon_policy(folder: Path) -> Path:
    """The default policy without learned detectors, as a file."""
    return write_policy(without_learned_detectors(default_policy()), folder)
