"""Turning findings into a verdict under the per-model policy.

Detectors say *what* they saw; only this module says what that means on a given model:
a category blocks, is reported as a non-blocking code, or is ignored (kept in the audit
findings only). Blocking categories and codes come out in the policy's category order,
each once, so the gateway's "flagged for: A, B." message is stable.
"""

from __future__ import annotations

from collections.abc import Iterable

from services.compliance.categories import MINORS, Action, Category, PolicyDocument
from services.compliance.findings import Finding, Verdict


class ModelPolicy:
    """The actions of every category per model key, with minors pinned to block."""

    def __init__(self, document: PolicyDocument) -> None:
        self.categories: tuple[Category, ...] = tuple(document.categories)
        self._default: dict[str, Action] = {
            c.id: document.policies.default.get(c.id, "block") for c in self.categories
        }
        self._models: dict[str, dict[str, Action]] = {
            model: {**self._default, **overrides} for model, overrides in document.policies.models.items()
        }
        for actions in [self._default, *self._models.values()]:
            actions[MINORS] = "block"  # belt and braces: the document validator already forced it

    def action(self, model: str, category_id: str) -> Action:
        """What ``category_id`` does on ``model`` (the default policy for an unknown model)."""
        actions = self._models.get(model, self._default)
        if category_id == MINORS:
            return "block"
        return actions.get(category_id, "block")

    def decide(self, model: str, findings: Iterable[Finding]) -> Verdict:
        """The verdict on ``model`` for ``findings`` (which must already have crossed their thresholds)."""
        marked: list[Finding] = []
        hit: set[str] = set()
        for finding in findings:
            blocking = self.action(model, finding.category_id) == "block"
            marked.append(finding.with_blocking(blocking))
            hit.add(finding.category_id)
        blocking_categories = tuple(
            c for c in self.categories if c.id in hit and self.action(model, c.id) == "block"
        )
        codes = tuple(c.id for c in self.categories if c.id in hit and self.action(model, c.id) == "flag")
        known = {c.id for c in self.categories}
        unknown = sorted(hit - known)
        if unknown:
            # A detector reported a category the policy does not know: fail closed.
            raise ValueError(f"findings for unknown categories {unknown}")
        return Verdict(blocking=blocking_categories, codes=codes, findings=tuple(marked))
