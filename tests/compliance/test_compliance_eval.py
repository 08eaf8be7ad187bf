"""The labelled prompt set: no minors prompt may slip through, and precision stays high."""

from __future__ import annotations

from services.compliance.eval.run_eval import evaluate


def test_minors_recall_is_perfect_and_other_categories_hold_up() -> None:
    result = evaluate()
    minors = result.scores["minors"]
    assert minors.true_positive >= 15
    assert minors.recall == 1.0, [m for m in result.mistakes if "minors" in m[1]]
    for category, score in result.scores.items():
        assert score.recall >= 0.9, (category, result.mistakes)
        assert score.precision >= 0.9, (category, result.mistakes)
