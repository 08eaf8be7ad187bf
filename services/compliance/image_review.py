"""The image stage: a list of detectors behind one interface, each turning pixels into findings.

The main path ships one detector, the PDQ hash-list matcher (known-bad images, also
when flipped or rotated). Classifiers such as NudeNet or OpenNSFW plug in as further
:class:`ImageDetector` implementations; :class:`ImageReviewer` only concatenates
what its detectors report, so adding one changes nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import pdqhash

from services.compliance.categories import PdqRules, PolicyDocument
from services.compliance.findings import Finding
from services.compliance.hash_lists import LoadedHashes
from services.shared.pdq_index import PdqIndex, bits_to_bytes

#: pdqhash.compute_dihedral's order of the eight transforms.
DIHEDRAL = ("original", "rot90", "rot180", "rot270", "flip_x", "flip_y", "flip_diag_plus", "flip_diag_minus")
HASH_BITS = 256


class ImageDetector(Protocol):
    """One way of looking at pixels; thresholds come from the policy it was built with."""

    name: str

    def review(self, image: np.ndarray) -> list[Finding]:
        """Findings (already over their thresholds) for an ``(H, W, 3)`` uint8 RGB array."""
        ...


class PdqHashListDetector:
    """Matches the image's PDQ hash (and its seven flips/rotations) against the hash lists.

    A match needs the reviewed image's PDQ quality at or above the category's
    ``min_quality`` (flat images hash unreliably) and a distance within its
    ``max_distance``; the nearest match per category becomes one finding.
    """

    name = "pdq"

    def __init__(self, hashes: LoadedHashes, rules: dict[str, PdqRules]) -> None:
        self._hashes = hashes
        self._rules = rules
        self._index = PdqIndex(hashes.hashes)
        self._max_distance = max((r.max_distance for r in rules.values()), default=0)

    @property
    def size(self) -> int:
        """How many hashes the lists hold."""
        return self._index.size

    def review(self, image: np.ndarray) -> list[Finding]:
        if self._index.size == 0:
            return []
        variants, quality = pdqhash.compute_dihedral(np.ascontiguousarray(image))
        best: dict[str, tuple[int, int, int]] = {}  # category → (distance, row, transform)
        for transform, bits in enumerate(variants):
            for match in self._index.search(bits_to_bytes(bits), self._max_distance):
                category = self._hashes.categories[match.row]
                rules = self._rules[category]
                if match.distance > rules.max_distance or quality < rules.min_quality:
                    continue
                if category not in best or match.distance < best[category][0]:
                    best[category] = (match.distance, match.row, transform)
        findings = []
        for category, (distance, row, transform) in best.items():
            list_name, line = self._hashes.origins[row]
            findings.append(
                Finding(
                    stage="image",
                    detector=self.name,
                    category_id=category,
                    score=1.0 - distance / HASH_BITS,
                    threshold=1.0 - self._rules[category].max_distance / HASH_BITS,
                    detail=f"list={list_name} line={line} distance={distance} quality={quality} "
                    f"transform={DIHEDRAL[transform]}",
                )
            )
        return findings


def pdq_rules(policy: PolicyDocument) -> dict[str, PdqRules]:
    """The categories the hash lists may feed, with their thresholds."""
    return {c.id: c.detectors.pdq for c in policy.categories if c.detectors.pdq is not None}


class ImageReviewer:
    """Runs every configured image detector over one image."""

    def __init__(self, detectors: Sequence[ImageDetector]) -> None:
        self.detectors = tuple(detectors)

    def review(self, image: np.ndarray) -> list[Finding]:
        """All detectors' findings; a detector that raises fails the review (never a silent pass)."""
        findings: list[Finding] = []
        for detector in self.detectors:
            findings.extend(detector.review(image))
        return findings
