"""The trained classifier heads: weights in step with their data, training, and the detector."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from services.compliance import models
from services.compliance.categories import ClassifierRules, PolicyError, load_policy, parse_policy
from services.compliance.lexicon import PromptText
from services.compliance.semantic import SemanticPromptDetector, classifier_rules
from services.compliance.semantic_heads import (
    ENCODER_ID,
    HeadsError,
    SemanticHeads,
    TrainingOptions,
    load_heads,
    neighbour_vote,
    stored_memory,
    train_heads,
)
from services.compliance.train_heads import TRAINING_FILES, repo_relative
from services.shared.digests import file_sha256
from tests.compliance.policies import default_policy

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_the_weights_file_was_trained_on_the_training_files_in_the_tree() -> None:
    """A training set edited without retraining fails here; retrain with ``train_heads``."""
    manifest = load_heads().manifest
    recorded = manifest["training_files"]
    assert isinstance(recorded, dict)
    assert sorted(recorded) == sorted(repo_relative(p) for p in TRAINING_FILES)
    for relative, digest in recorded.items():
        assert file_sha256(REPO_ROOT / relative) == digest, f"{relative} changed since the heads were trained"


def test_the_packaged_heads_load_small_and_cover_every_classifier_category() -> None:
    heads = load_heads()
    assert heads.manifest["encoder"] == ENCODER_ID and heads.dims == 384
    assert set(classifier_rules(load_policy())) <= set(heads.categories)
    # Weights plus the training rows' embeddings as int8 (the neighbours' memory): about 11,300
    # rows (prompts' chunks and safe prompts' clause windows) of 384 bytes, compressed.
    assert (Path(models.__file__).with_name("semantic_heads.npz")).stat().st_size < 6_000_000
    assert heads.memory is not None and heads.memory_labels is not None and heads.neighbours > 0
    assert heads.memory.shape == (heads.memory_labels.shape[0], heads.dims)
    rows = np.random.default_rng(0).normal(size=(3, heads.dims)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    scores = heads.probabilities(rows)
    assert set(scores) == set(heads.categories) and all(0.0 <= p <= 1.0 for p in scores.values())
    # The prompt scores as its worst chunk.
    for category in heads.categories:
        worst = max(heads.probabilities(rows[[i]])[category] for i in range(3))
        assert scores[category] == pytest.approx(worst, abs=1e-6)
    with pytest.raises(HeadsError, match="dims"):
        heads.probabilities(np.zeros((1, 5), np.float32))


def test_training_separates_a_tiny_set_and_is_deterministic() -> None:
    rng = np.random.default_rng(1)
    centre = rng.normal(size=16)
    positives = centre + 0.3 * rng.normal(size=(20, 16))
    negatives = -centre + 0.3 * rng.normal(size=(60, 16))
    features = np.vstack([positives, negatives]).astype(np.float32)
    features /= np.linalg.norm(features, axis=1, keepdims=True)
    labels = {"demo": np.array([1.0] * 20 + [0.0] * 60, dtype=np.float32)}
    options = TrainingOptions(iterations=500)
    heads = train_heads(features, labels, options)
    scores = np.array([heads.probabilities(features[[i]])["demo"] for i in range(len(features))])
    assert scores[:20].min() > 0.5 > scores[20:].max()
    again = train_heads(features, labels, options)
    assert np.array_equal(heads.weights, again.weights) and np.array_equal(heads.biases, again.biases)
    with pytest.raises(ValueError, match="both"):
        train_heads(features, {"demo": np.ones(len(features), np.float32)}, options)


def test_a_saved_file_round_trips(tmp_path: Path) -> None:
    heads = SemanticHeads(
        ("a", "b"),
        np.eye(2, 4, dtype=np.float32),
        np.zeros(2, np.float32),
        {"encoder": ENCODER_ID, "dims": 4},
    )
    heads.save(tmp_path / "h.npz")
    loaded = load_heads(tmp_path / "h.npz")
    assert loaded.categories == ("a", "b") and np.array_equal(loaded.weights, heads.weights)
    with pytest.raises(HeadsError, match="cannot read"):
        load_heads(tmp_path / "missing.npz")
    other = SemanticHeads(
        heads.categories, heads.weights, heads.biases, {"encoder": "another-model", "dims": 4}
    )
    other.save(tmp_path / "other.npz")
    with pytest.raises(HeadsError, match="trained on"):
        load_heads(tmp_path / "other.npz")


@pytest.mark.parametrize("threshold", [-0.1, 1.5])
def test_a_classifier_threshold_out_of_range_is_refused(threshold: float) -> None:
    raw: dict[str, Any] = copy.deepcopy(default_policy())
    raw["categories"][0]["detectors"]["classifier"] = {"threshold": threshold}
    with pytest.raises(PolicyError, match=r"classifier\.threshold"):
        parse_policy(raw)


class _FakeEncoder:
    """Embeds every sentence as the same unit vector, so tests need no model."""

    def encode(self, sentences: list[str], **_: object) -> np.ndarray:
        return np.tile(np.eye(1, 4, dtype=np.float32), (len(sentences), 1))


def test_a_classifier_category_without_a_head_fails_the_build() -> None:
    heads = SemanticHeads(("hate",), np.ones((1, 4), np.float32), np.zeros(1, np.float32), {"dims": 4})
    with pytest.raises(HeadsError, match="no head for"):
        SemanticPromptDetector(_FakeEncoder(), {}, heads, {"minors": ClassifierRules(threshold=0.5)})
    with pytest.raises(HeadsError, match="no heads"):
        SemanticPromptDetector(_FakeEncoder(), {}, None, {"hate": ClassifierRules(threshold=0.5)})


def test_head_findings_carry_detector_score_and_threshold() -> None:
    heads = SemanticHeads(
        ("hate", "nudity"),
        np.array([[4.0, 0, 0, 0], [-4.0, 0, 0, 0]], np.float32),
        np.zeros(2, np.float32),
        {"dims": 4},
    )
    rules = {"hate": ClassifierRules(threshold=0.9), "nudity": ClassifierRules(threshold=0.5)}
    detector = SemanticPromptDetector(_FakeEncoder(), {}, heads, rules)
    findings = detector.review([PromptText("user", "some text"), PromptText("negative", "ignored")])
    assert [(f.detector, f.category_id) for f in findings] == [("classifier", "hate")]
    assert findings[0].score >= findings[0].threshold == 0.9
    assert "some text" not in findings[0].detail
    assert detector.review([PromptText("negative", "only a negative text")]) == []


@pytest.mark.e2e
def test_an_oblique_prompt_is_caught_by_the_head_and_an_innocent_one_is_not() -> None:
    policy = load_policy()
    detector = SemanticPromptDetector(models.sentence_model(1), {}, load_heads(), classifier_rules(policy))
    oblique = detector.review(
        [PromptText("user", "a man hollowed out by a chainsaw, his insides on the floor")]
    )
    assert "violence_gore" in {f.category_id for f in oblique if f.detector == "classifier"}
    assert detector.review([PromptText("user", "a grandmother baking bread with her grandson")]) == []


def test_the_neighbour_vote_is_the_similarity_weighted_share_of_labels() -> None:
    memory = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [-1.0, 0.0]], np.float32)
    labels = np.array([[1.0], [1.0], [0.0], [0.0]], np.float32)
    vote = neighbour_vote(np.array([[1.0, 0.0]], np.float32), memory, labels, k=3)
    # Nearest three: [1,0] (cos 1.0, label 1), [0.8,0.6] (0.8, label 1), [0,1] (0.0 -> floor, label 0).
    assert vote[0, 0] == pytest.approx(1.8 / (1.8 + 1e-6), abs=1e-5)
    assert neighbour_vote(np.array([[0.0, 1.0]], np.float32), memory, labels, k=1)[0, 0] == 0.0


def test_the_score_mixes_the_linear_head_and_the_vote_and_survives_a_save(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    features = rng.normal(size=(40, 8)).astype(np.float32)
    features /= np.linalg.norm(features, axis=1, keepdims=True)
    labels = {"demo": (features[:, 0] > 0).astype(np.float32)}
    options = TrainingOptions(iterations=200, neighbours=5, linear_weight=0.5)
    heads = train_heads(features, labels, options)
    linear_only = SemanticHeads(heads.categories, heads.weights, heads.biases, heads.manifest)
    query = features[[3]]
    vote = neighbour_vote(query, heads.memory, heads.memory_labels, 5)[0, 0]
    expected = 0.5 * linear_only.probabilities(query)["demo"] + 0.5 * vote
    assert heads.probabilities(query)["demo"] == pytest.approx(expected, abs=1e-6)
    heads.save(tmp_path / "mixed.npz")
    loaded = load_heads(tmp_path / "mixed.npz")
    assert loaded.neighbours == 5 and loaded.linear_weight == 0.5
    assert loaded.probabilities(query)["demo"] == pytest.approx(heads.probabilities(query)["demo"], abs=1e-6)


def test_the_stored_memory_keeps_cosines_within_a_hundredth() -> None:
    """The memory is kept as int8 with a scale per row; neighbours are found on what is kept."""
    rows = np.random.default_rng(3).normal(size=(50, 384)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    kept = stored_memory(rows)
    assert np.abs(kept @ rows.T - rows @ rows.T).max() < 0.01
    assert np.array_equal(stored_memory(kept), kept)  # storing twice changes nothing more
