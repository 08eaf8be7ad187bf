"""Trained per-category heads on the prompt's MiniLM embedding (detector ``classifier``).

Exemplar similarity only recognises wordings close to a handful of sentences; a prompt that
says the same thing obliquely ("her first year of middle school, in a boudoir shoot") lands
far from every exemplar. A logistic-regression head per category, trained on a few hundred
labelled prompts, learns which directions of the embedding space mean the category, and costs
one dot product per category on the embedding the semantic stage computes anyway.

The heads are data: a small ``.npz`` committed beside this module, written by
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
    """The knobs of :func:`train_head`; recorded in the manifest so a run can be repeated."""

    l2: float = 1e-3
    iterations: int = 2000
    learning_rate: float = 2.0


DEFAULT_OPTIONS = TrainingOptions()


@dataclass(frozen=True)
class SemanticHeads:
    """One logistic-regression head per category over L2-normalised embeddings."""

    categories: tuple[str, ...]
    weights: np.ndarray  # (categories, dims)
    biases: np.ndarray  # (categories,)
    manifest: dict[str, object] = field(default_factory=dict)

    @property
    def dims(self) -> int:
        """The embedding size the heads expect."""
        return int(self.weights.shape[1])

    def probabilities(self, embeddings: np.ndarray) -> dict[str, float]:
        """Per category, the highest probability over the rows (chunks) of ``embeddings``.

        The maximum, not the mean: a long prompt is as unsafe as its worst window.
        """
        if embeddings.shape[0] == 0:
            return {}
        if embeddings.shape[1] != self.dims:
            raise HeadsError(f"embeddings have {embeddings.shape[1]} dims, the heads expect {self.dims}")
        logits = embeddings.astype(np.float32) @ self.weights.T + self.biases  # (chunks, categories)
        best = _sigmoid(logits.max(axis=0))
        return {category: float(p) for category, p in zip(self.categories, best, strict=True)}

    def save(self, path: Path) -> None:
        """Write weights and manifest to one ``.npz`` (the manifest as a JSON string)."""
        np.savez_compressed(
            path,
            categories=np.array(self.categories),
            weights=self.weights.astype(np.float32),
            biases=self.biases.astype(np.float32),
            manifest=np.array(json.dumps(self.manifest, indent=1, sort_keys=True)),
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
    except (OSError, KeyError, ValueError) as exc:
        raise HeadsError(f"cannot read classifier heads {source}: {exc}") from exc
    if weights.shape != (len(categories), int(manifest.get("dims", -1))) or biases.shape != (
        len(categories),
    ):
        raise HeadsError(f"{source}: weights {weights.shape} do not match the manifest")
    if manifest.get("encoder") != ENCODER_ID:
        raise HeadsError(f"{source}: trained on {manifest.get('encoder')!r}, the service runs {ENCODER_ID!r}")
    return SemanticHeads(categories, weights, biases, manifest)


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
    """One head per category of ``labels`` (category → 0/1 per row of ``features``)."""
    categories = tuple(labels)
    trained = [train_head(features, labels[c], options) for c in categories]
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
            **(manifest or {}),
        },
    )


def _sigmoid(values: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(values, -60.0, 60.0)))
