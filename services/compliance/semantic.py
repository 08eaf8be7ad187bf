"""The semantic prompt stage: similarity to per-category exemplar sentences.

The lexicon catches words; this stage catches meaning written in words no list holds
("a girl who has not reached puberty, posing suggestively"). Every category with a
``semantic`` block in the policy contributes exemplar sentences, embedded once when the
engine is built; a prompt's positive texts are joined into one description (a
character's text and the style's tags combine with the user's words, as they do in the
image) and embedded in one call, in chunks when long, and the nearest exemplar's cosine
similarity per category is compared with that category's threshold.

Negative texts are not embedded: they describe what to avoid, so their meaning is the
opposite of what the words say (the lexicon's ``negative_terms`` cover the inversions).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from services.compliance.categories import PolicyDocument, SemanticRules
from services.compliance.findings import Finding
from services.compliance.lexicon import PromptText
from services.compliance.models import SentenceEncoder
from services.compliance.normalize import fold_characters

#: Words per embedded chunk: well inside MiniLM's 256-token window, so nothing is truncated.
CHUNK_WORDS = 48
DETECTOR = "semantic"


def semantic_rules(policy: PolicyDocument) -> dict[str, SemanticRules]:
    """The categories the semantic stage feeds, with their exemplars and thresholds."""
    return {c.id: c.detectors.semantic for c in policy.categories if c.detectors.semantic is not None}


def chunks(text: str, size: int = CHUNK_WORDS) -> list[str]:
    """``text`` cut into overlapping word windows (half a window of overlap keeps phrases whole)."""
    words = text.split()
    if len(words) <= size:
        return [" ".join(words)] if words else []
    step = size // 2
    return [" ".join(words[start : start + size]) for start in range(0, len(words) - step, step)]


class SemanticPromptDetector:
    """Exemplar embeddings per category, ready to score prompts."""

    name = DETECTOR

    def __init__(self, encoder: SentenceEncoder, rules: dict[str, SemanticRules]) -> None:
        self._encoder = encoder
        self._rules = rules
        sentences = [s for r in rules.values() for s in r.exemplars]
        owners = [c for c, r in rules.items() for _ in r.exemplars]
        self._exemplars = self._embed(sentences) if sentences else np.zeros((0, 0), np.float32)
        self._owner_rows = {c: np.flatnonzero(np.array(owners) == c) for c in rules}

    @property
    def size(self) -> int:
        """How many exemplars were embedded."""
        return int(self._exemplars.shape[0])

    def _embed(self, sentences: list[str]) -> np.ndarray:
        vectors = self._encoder.encode(
            sentences, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return np.asarray(vectors, dtype=np.float32)

    def similarities(self, text: str) -> dict[str, tuple[float, int]]:
        """Per category: the best cosine similarity of any chunk of ``text`` and which exemplar gave it."""
        pieces = chunks(text)
        if not pieces or self.size == 0:
            return {}
        scores = self._embed(pieces) @ self._exemplars.T  # (chunks, exemplars)
        best_per_exemplar = scores.max(axis=0)
        result: dict[str, tuple[float, int]] = {}
        for category, rows in self._owner_rows.items():
            local = int(np.argmax(best_per_exemplar[rows]))
            result[category] = (float(best_per_exemplar[rows[local]]), local)
        return result

    def review(self, texts: Sequence[PromptText]) -> list[Finding]:
        """Findings for categories whose nearest exemplar is at or over the threshold."""
        # Look-alike letters and invisible characters are folded (the model has never seen
        # "ᴋɪᴅ"); leetspeak is left to the lexicon, since folding it would also eat digits ("14yo").
        joined = ". ".join(
            fold_characters(t.text).strip() for t in texts if not t.is_negative and t.text.strip()
        )
        findings = []
        for category, (score, exemplar) in self.similarities(joined).items():
            threshold = self._rules[category].threshold
            if score >= threshold:
                findings.append(
                    Finding(
                        stage="prompt",
                        detector=self.name,
                        category_id=category,
                        score=score,
                        threshold=threshold,
                        detail=f"exemplar={exemplar} similarity={score:.3f}",
                    )
                )
        return findings
