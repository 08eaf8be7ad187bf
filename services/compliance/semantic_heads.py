"""Trained per-category heads on the prompt's MiniLM embedding (detector ``classifier``).

Exemplar similarity only recognises wordings close to a handful of sentences; a prompt that
says the same thing obliquely ("her first year of middle school, in a boudoir shoot") lands
far from every exemplar. A logistic-regression head per category, trained on a few hundred
labelled prompts, learns which directions of the embedding space mean the category, and costs
one dot product per category on the embedding the semantic stage computes anyway.

A linear head draws one flat boundary per category; the training prompts themselves know more
(a prompt that sits among explicit ones is explicit, whatever direction the boundary took). So
each head's score is a mix: its logistic probability, and the similarity-weighted vote of the
category among the ``k`` nearest training prompts (cosine on the same embedding). On
out-of-fold scores the mix finds 5-10 points more of each category than the linear head alone
at the same false-positive budget; the memory costs one (1 x 384) @ (384 x N) product.

The heads are data: an ``.npz`` committed beside this module (weights, and the training
prompts' embeddings as int8 with a scale per row, and their labels), written by
:mod:`services.compliance.train_heads`, with a manifest naming the encoder, the embedding
size and the SHA-256 of every training file (a test keeps data and weights in step). Training
is plain numpy and deterministic (zero init, full-batch gradient descent for a fixed number of
iterations), so retraining on the same files gives the same weights.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: The packaged heads, trained by ``python -m services.compliance.train_heads``.
DEFAULT_HEADS_PATH = Path(__file__).with_name("semantic_heads.npz")
#: The sentence encoder the heads were trained on; any other encoder's space means nothing to them.
ENCODER_ID = "sentence-transformers/all-MiniLM-L6-v2"
DETECTOR = "classifier"


class HeadsError(ValueError):
    """The weights file is missing, malformed, or does not fit the encoder or the policy."""


@dataclass(frozen=True)
class TrainingOptions:
    """The knobs of :func:`train_head` and of the mix; recorded in the manifest so a run can be repeated."""

    l2: float = 1e-3
    iterations: int = 2000
    learning_rate: float = 2.0
    #: Nearest training prompts whose labels vote (0: the linear head alone).
    neighbours: int = 7
    #: Weight of the linear head's probability in the score; the vote has the rest.
    linear_weight: float = 0.5


DEFAULT_OPTIONS = TrainingOptions()


@dataclass(frozen=True)
class SemanticHeads:
    """One logistic-regression head per category over L2-normalised embeddings."""

    categories: tuple[str, ...]
    weights: np.ndarray  # (categories, dims)
    biases: np.ndarray  # (categories,)
    manifest: dict[str, object] = field(default_factory=dict)
    memory: np.ndarray | None = None  # (training rows, dims): the training prompts' embeddings
    memory_labels: np.ndarray | None = None  # (training rows, categories): 0/1
    neighbours: int = 0
    linear_weight: float = 1.0

    @property
    def dims(self) -> int:
        """The embedding size the heads expect."""
        return int(self.weights.shape[1])

    def row_scores(self, embeddings: np.ndarray) -> np.ndarray:
        """The score of every row (chunk or window) per category: (rows, categories)."""
        if embeddings.shape[1] != self.dims:
            raise HeadsError(f"embeddings have {embeddings.shape[1]} dims, the heads expect {self.dims}")
        rows = embeddings.astype(np.float32)
        scores = _sigmoid(rows @ self.weights.T + self.biases)
        if self.memory is not None and self.memory_labels is not None and self.neighbours > 0:
            vote = neighbour_vote(rows, self.memory, self.memory_labels, self.neighbours)
            scores = self.linear_weight * scores + (1.0 - self.linear_weight) * vote
        return scores

    def probabilities(self, embeddings: np.ndarray) -> dict[str, float]:
        """Per category, the highest score over the rows (chunks) of ``embeddings``.

        The maximum, not the mean: a long prompt is as unsafe as its worst window. The score is
        the linear probability mixed with the neighbours' vote (see the module docstring).
        """
        if embeddings.shape[0] == 0:
            return {}
        best = self.row_scores(embeddings).max(axis=0)
        return {category: float(p) for category, p in zip(self.categories, best, strict=True)}

    def save(self, path: Path) -> None:
        """Write weights, memory and manifest to one ``.npz`` (the manifest as a JSON string)."""
        memory = {}
        if self.memory is not None and self.memory_labels is not None:
            codes, scales = _quantise(self.memory)
            memory = {
                "memory_codes": codes,
                "memory_scales": scales,
                "memory_labels": self.memory_labels.astype(np.uint8),
            }
        np.savez_compressed(
            path,
            categories=np.array(self.categories),
            weights=self.weights.astype(np.float32),
            biases=self.biases.astype(np.float32),
            manifest=np.array(json.dumps(self.manifest, indent=1, sort_keys=True)),
            **memory,
        )


def load_heads(path: Path | None = None) -> SemanticHeads:
    """Read a weights file written by :meth:`SemanticHeads.save` (the packaged one by default)."""
    source = path or DEFAULT_HEADS_PATH
    try:
        with np.load(source, allow_pickle=False) as data:
            categories = tuple(str(c) for c in data["categories"])
            weights = np.asarray(data["weights"], dtype=np.float32)
            biases = np.asarray(data["biases"], dtype=np.float32)
            manifest = json.loads(str(data["manifest"]))
            kept = "memory_codes" in data
            memory = _dequantise(data["memory_codes"], data["memory_scales"]) if kept else None
            memory_labels = np.asarray(data["memory_labels"], dtype=np.float32) if kept else None
    except (OSError, KeyError, ValueError) as exc:
        raise HeadsError(f"cannot read classifier heads {source}: {exc}") from exc
    if weights.shape != (len(categories), int(manifest.get("dims", -1))) or biases.shape != (
        len(categories),
    ):
        raise HeadsError(f"{source}: weights {weights.shape} do not match the manifest")
    if manifest.get("encoder") != ENCODER_ID:
        raise HeadsError(f"{source}: trained on {manifest.get('encoder')!r}, the service runs {ENCODER_ID!r}")
    mix = manifest.get("mix") if isinstance(manifest.get("mix"), dict) else {}
    if (
        memory is not None
        and memory_labels is not None
        and (
            memory.shape[1:] != weights.shape[1:] or memory_labels.shape != (memory.shape[0], len(categories))
        )
    ):
        raise HeadsError(f"{source}: memory {memory.shape} does not match the heads")
    return SemanticHeads(
        categories,
        weights,
        biases,
        manifest,
        memory,
        memory_labels,
        int(mix.get("neighbours", 0)) if memory is not None else 0,
        float(mix.get("linear_weight", 1.0)) if memory is not None else 1.0,
    )


def stored_memory(rows: np.ndarray) -> np.ndarray:
    """``rows`` as the weights file gives them back: int8 codes with a float16 scale per row.

    A quarter of float32 (the memory is most of the file); on unit vectors the rounding moves a
    cosine by about 0.002, far below the gaps between neighbours that decide a vote.
    """
    return _dequantise(*_quantise(rows))


def _quantise(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scales = (np.abs(rows).max(axis=1, keepdims=True) / 127.0).astype(np.float16)
    safe = np.where(scales == 0, np.float16(1), scales).astype(np.float32)
    return np.clip(np.rint(rows / safe), -127, 127).astype(np.int8), scales


def _dequantise(codes: np.ndarray, scales: np.ndarray) -> np.ndarray:
    return (np.asarray(codes, dtype=np.float32) * np.asarray(scales, dtype=np.float32)).astype(np.float32)


def neighbour_vote(queries: np.ndarray, memory: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Per query row and category: the cosine-weighted share of its ``k`` nearest memory rows
    labelled with the category (rows are L2-normalised, so the dot product is the cosine)."""
    similarity = queries @ memory.T  # (queries, memory)
    k = min(k, memory.shape[0])
    nearest = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
    weights = np.clip(np.take_along_axis(similarity, nearest, axis=1), 1e-6, None)  # (queries, k)
    votes = np.einsum("qk,qkc->qc", weights, labels[nearest])
    return (votes / weights.sum(axis=1, keepdims=True)).astype(np.float32)


def train_head(
    features: np.ndarray, labels: np.ndarray, options: TrainingOptions = DEFAULT_OPTIONS
) -> tuple[np.ndarray, float]:
    """Weights and bias of one L2-regularised logistic regression, classes weighted to balance.

    Positives are rare (a few dozen per category among hundreds of prompts); weighting each
    class to half the total loss keeps the head from learning "always safe".
    """
    x = features.astype(np.float64)
    y = labels.astype(np.float64)
    positives = float(y.sum())
    if positives == 0 or positives == len(y):
        raise ValueError("a head needs both positive and negative examples")
    sample_weight = np.where(y == 1, 0.5 / positives, 0.5 / (len(y) - positives))
    w = np.zeros(x.shape[1])
    b = 0.0
    for _ in range(options.iterations):
        p = _sigmoid(x @ w + b)
        residual = (p - y) * sample_weight
        w -= options.learning_rate * (x.T @ residual + options.l2 * w)
        b -= options.learning_rate * float(residual.sum())
    return w.astype(np.float32), b


def train_heads(
    features: np.ndarray,
    labels: dict[str, np.ndarray],
    options: TrainingOptions = DEFAULT_OPTIONS,
    manifest: dict[str, object] | None = None,
) -> SemanticHeads:
    """One head per category of ``labels`` (category → 0/1 per row of ``features``), with the
    rows kept as the neighbours' memory when ``options.neighbours`` is set."""
    categories = tuple(labels)
    trained = [train_head(features, labels[c], options) for c in categories]
    keep = options.neighbours > 0
    return SemanticHeads(
        categories,
        np.stack([w for w, _ in trained]).astype(np.float32),
        np.array([b for _, b in trained], dtype=np.float32),
        {
            "encoder": ENCODER_ID,
            "dims": int(features.shape[1]),
            "training": {
                "l2": options.l2,
                "iterations": options.iterations,
                "learning_rate": options.learning_rate,
            },
            "mix": {"neighbours": options.neighbours, "linear_weight": options.linear_weight},
            **(manifest or {}),
        },
        # As saved, so scores in the process that trained equal scores after a load.
        stored_memory(features) if keep else None,
        np.stack([labels[c] for c in categories], axis=1).astype(np.float32) if keep else None,
        options.neighbours,
        options.linear_weight if keep else 1.0,
    )


def _sigmoid(values: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(values, -60.0, 60.0)))
