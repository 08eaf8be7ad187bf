"""The semantic prompt stage: similarity to per-category exemplar sentences.

The lexicon catches words; this stage catches meaning written in words no list holds
("a girl who has not reached puberty, posing suggestively"). Every category with a
``semantic`` block in the policy contributes exemplar sentences, embedded once when the
engine is built; a prompt's positive texts are joined into one description (a
character's text and the style's tags combine with the user's words, as they do in the
image) and embedded in one call, in chunks when long, and the nearest exemplar's cosine
similarity per category is compared with that category's threshold. A long description is also
read in clause windows (:func:`clause_windows`), which the heads score too.

The same embedding feeds the trained heads (:mod:`services.compliance.semantic_heads`,
detector ``classifier``) of the categories with a ``classifier`` block, so a prompt costs one
encoder call whichever of the two a policy uses.

Negative texts are not embedded: they describe what to avoid, so their meaning is the
opposite of what the words say (the lexicon's ``negative_terms`` cover the inversions).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np

from services.compliance.categories import ClassifierRules, PolicyDocument, SemanticRules
from services.compliance.findings import Finding
from services.compliance.lexicon import PromptText, phrase_mask
from services.compliance.models import SentenceEncoder
from services.compliance.normalize import fold_characters, readable
from services.compliance.semantic_heads import DETECTOR as CLASSIFIER_DETECTOR
from services.compliance.semantic_heads import HeadsError, SemanticHeads, load_heads

#: Words per embedded chunk: well inside MiniLM's 256-token window, so nothing is truncated.
CHUNK_WORDS = 48
#: A description longer than this is also read clause by clause (see :func:`clause_windows`).
CLAUSE_MIN_WORDS = 16
#: The most words a clause window gathers from consecutive clauses.
WINDOW_WORDS = 14
#: Where a description breaks into clauses: punctuation, brackets, a spaced dash, a new line.
_CLAUSE_BREAK = re.compile(r"\s*(?:[,;:.!?()\[\]{}|]+|\s-\s|\n)\s*")
DETECTOR = "semantic"


def semantic_rules(policy: PolicyDocument) -> dict[str, SemanticRules]:
    """The categories the semantic stage feeds, with their exemplars and thresholds."""
    return {c.id: c.detectors.semantic for c in policy.categories if c.detectors.semantic is not None}


def classifier_rules(policy: PolicyDocument) -> dict[str, ClassifierRules]:
    """The categories the trained heads feed, with their thresholds."""
    return {c.id: c.detectors.classifier for c in policy.categories if c.detectors.classifier is not None}


def positive_description(texts: Sequence[PromptText], blank: Callable[[str], str] | None = None) -> str:
    """The positive texts joined into the one description that is embedded.

    Look-alike letters and invisible characters are folded (the model has never seen
    "ᴋɪᴅ"), and the disguises a reader sees through are taken off (:func:`readable`:
    "s u i c i d e", "t4yl0r sw1ft"), keeping the digits that start a word ("14yo").
    ``blank`` removes the policy's safe phrases, as for the lexicon: "suicide prevention
    hotline poster" otherwise sits next to suicide in the embedding space. The training entry
    point embeds its prompts through this same function, with the same ``blank``.
    """
    folded = (readable(fold_characters(t.text)) for t in texts if not t.is_negative and t.text.strip())
    pieces = (" ".join((blank(f) if blank else f).split()) for f in folded)
    return ". ".join(piece for piece in pieces if piece)


def chunks(text: str, size: int = CHUNK_WORDS) -> list[str]:
    """``text`` cut into overlapping word windows (half a window of overlap keeps phrases whole)."""
    words = text.split()
    if len(words) <= size:
        return [" ".join(words)] if words else []
    step = size // 2
    return [" ".join(words[start : start + size]) for start in range(0, len(words) - step, step)]


def clause_windows(text: str, size: int = WINDOW_WORDS) -> list[str]:
    """Short windows of consecutive clauses of a long description, one starting at each clause.

    A whole-prompt embedding is an average of everything the prompt says: one unsafe clause
    ("a dog hanging from the oak tree") among sixty words of picnic, light and lens is diluted
    until no head sees it. Each window holds one clause and as many of the following ones as
    fit in ``size`` words, so every clause is also read with little around it. Short
    descriptions get none: their whole embedding already is that close reading. A clause
    longer than a window is read in overlapping windows of its own.
    """
    if len(text.split()) <= CLAUSE_MIN_WORDS:
        return []
    clauses = [piece for part in _CLAUSE_BREAK.split(text) for piece in chunks(part, size)]
    windows: list[str] = []
    for start in range(len(clauses)):
        gathered = [clauses[start]]
        count = len(gathered[0].split())
        for following in clauses[start + 1 :]:
            count += len(following.split())
            if count > size:
                break
            gathered.append(following)
        window = ", ".join(gathered)
        if not windows or window not in windows[-1]:
            windows.append(window)
    return windows


def query_pieces(text: str) -> list[str]:
    """Everything of a description the service embeds: its chunks, then its clause windows."""
    pieces = chunks(text)
    return pieces + [w for w in clause_windows(text) if w not in pieces]


class SemanticPromptDetector:
    """Exemplar embeddings per category, ready to score prompts."""

    name = DETECTOR

    def __init__(
        self,
        encoder: SentenceEncoder,
        rules: dict[str, SemanticRules],
        heads: SemanticHeads | None = None,
        classifier: dict[str, ClassifierRules] | None = None,
        blank: Callable[[str], str] | None = None,
    ) -> None:
        self._encoder = encoder
        self._blank = blank
        self._rules = rules
        self._heads = heads
        self._classifier = classifier or {}
        if self._classifier:
            if heads is None:
                raise HeadsError(
                    f"categories {sorted(self._classifier)} have a classifier block but no heads"
                )
            untrained = sorted(set(self._classifier) - set(heads.categories))
            if untrained:
                raise HeadsError(f"the classifier heads have no head for {untrained}; retrain them")
        sentences = [s for r in rules.values() for s in r.exemplars]
        owners = [c for c, r in rules.items() for _ in r.exemplars]
        self._exemplars = self._embed(sentences) if sentences else np.zeros((0, 0), np.float32)
        self._owner_rows = {c: np.flatnonzero(np.array(owners) == c) for c in rules}
        if self._classifier and heads is not None:
            probe = self._embed(["a probe sentence"])
            if probe.shape[1] != heads.dims:
                raise HeadsError(f"the encoder gives {probe.shape[1]} dims, the heads expect {heads.dims}")

    @property
    def size(self) -> int:
        """How many exemplars were embedded."""
        return int(self._exemplars.shape[0])

    def _embed(self, sentences: list[str]) -> np.ndarray:
        vectors = self._encoder.encode(
            sentences, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return np.asarray(vectors, dtype=np.float32)

    def embed_description(self, text: str) -> np.ndarray:
        """The normalised embeddings of ``text``'s pieces (:func:`query_pieces`), one row each.

        The chunks and the short clause windows are encoded in separate calls: one batch pads
        every row to its longest, and six 14-word windows padded to a 60-word chunk cost five
        times what they cost alone.
        """
        pieces = query_pieces(text)
        if not pieces:
            return np.zeros((0, 0), np.float32)
        whole = chunks(text)
        windows = pieces[len(whole) :]
        return np.concatenate([self._embed(whole), self._embed(windows)]) if windows else self._embed(whole)

    def similarities(self, text: str, embedded: np.ndarray | None = None) -> dict[str, tuple[float, int]]:
        """Per category: the best cosine similarity of any chunk of ``text`` and which exemplar gave it.

        Chunks only, not clause windows: the exemplar thresholds were tuned on whole prompts, and a
        clause alone sits nearer every exemplar than the scene it belongs to.
        """
        vectors = self.embed_description(text) if embedded is None else embedded
        vectors = vectors[: len(chunks(text))]
        if vectors.shape[0] == 0 or self.size == 0:
            return {}
        scores = vectors @ self._exemplars.T  # (chunks, exemplars)
        best_per_exemplar = scores.max(axis=0)
        result: dict[str, tuple[float, int]] = {}
        for category, rows in self._owner_rows.items():
            local = int(np.argmax(best_per_exemplar[rows]))
            result[category] = (float(best_per_exemplar[rows[local]]), local)
        return result

    def head_scores(self, text: str, embedded: np.ndarray | None = None) -> dict[str, tuple[float, float]]:
        """Per category with a ``classifier`` block: its head's best score over ``text``'s chunks,
        and over its clause windows (0.0 when it has none)."""
        if self._heads is None or not self._classifier:
            return {}
        vectors = self.embed_description(text) if embedded is None else embedded
        if vectors.shape[0] == 0:
            return {}
        scores = self._heads.row_scores(vectors)
        whole = len(chunks(text))
        result: dict[str, tuple[float, float]] = {}
        for index, category in enumerate(self._heads.categories):
            if category in self._classifier:
                windows = scores[whole:, index]
                best_window = float(windows.max()) if windows.size else 0.0
                result[category] = (float(scores[:whole, index].max()), best_window)
        return result

    def review(self, texts: Sequence[PromptText]) -> list[Finding]:
        """Findings for categories whose nearest exemplar or head score is at or over its threshold.

        A clause window must clear the threshold plus the category's ``window_margin``.
        """
        joined = positive_description(texts, self._blank)
        embedded = self.embed_description(joined)
        findings = []
        for category, (score, exemplar) in self.similarities(joined, embedded).items():
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
        for category, (whole, window) in self.head_scores(joined, embedded).items():
            rules = self._classifier[category]
            if whole >= rules.threshold:
                score, threshold, where = whole, rules.threshold, ""
            elif window >= rules.threshold + rules.window_margin:
                score, threshold, where = window, rules.threshold + rules.window_margin, " (clause window)"
            else:
                continue
            findings.append(
                Finding(
                    stage="prompt",
                    detector=CLASSIFIER_DETECTOR,
                    category_id=category,
                    score=score,
                    threshold=threshold,
                    detail=f"head probability={score:.3f}{where}",
                )
            )
        return findings


def detector_for_policy(policy: PolicyDocument, encoder: SentenceEncoder) -> SemanticPromptDetector:
    """The semantic stage a policy asks for: its exemplars, the packaged heads if any category
    has a ``classifier`` block, and its safe phrases blanked before embedding."""
    heads = classifier_rules(policy)
    return SemanticPromptDetector(
        encoder,
        semantic_rules(policy),
        load_heads() if heads else None,
        heads,
        phrase_mask(tuple(policy.safe_phrases)).blank,
    )
