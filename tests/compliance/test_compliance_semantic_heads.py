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
    assert (Path(models.__file__).with_name("semantic_heads.npz")).stat().st_size < 64_000
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
