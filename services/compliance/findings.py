"""The evidence detectors produce and the verdict the policy turns it into.

Plain dataclasses so that detectors, the policy and the eval script share one vocabulary
without touching protobuf; the servicer converts them at the edge.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services.compliance.categories import Category


@dataclass(frozen=True)
class Finding:
    """One detector's evidence for one category; ``detail`` never quotes the user's text."""

    stage: str  # "prompt" or "image"
    detector: str  # e.g. "lexicon", "pdq"
    category_id: str
    score: float
    threshold: float
    detail: str
    blocking: bool = False

    def with_blocking(self, blocking: bool) -> Finding:
        """The same finding, marked as blocking (or not) on the requested model."""
        return replace(self, blocking=blocking)


@dataclass(frozen=True)
class Verdict:
    """What the gateway and the worker act on.

    ``blocking`` drives the API's ``filter_categories`` and error message, ``codes`` its
    ``compliance_codes``; ``findings`` is the audit record.
    """

    blocking: tuple[Category, ...] = ()
    codes: tuple[str, ...] = ()
    findings: tuple[Finding, ...] = field(default_factory=tuple)

    @property
    def blocked(self) -> bool:
        """True when at least one category blocks on the model under review."""
        return bool(self.blocking)

    @property
    def flagged(self) -> tuple[str, ...]:
        """Every category id that was flagged, blocking or not, in verdict order."""
        return tuple(c.id for c in self.blocking) + self.codes
