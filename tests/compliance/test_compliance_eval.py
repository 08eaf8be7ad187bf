"""The labelled prompt set against the issue's targets.

The full prompt stage (lexicon + MiniLM) is what the service runs, so that is where the
targets are asserted; importing sentence-transformers takes seconds, hence ``e2e``. The
lexicon alone must already hold minors at recall 1.0: the semantic stage adds
paraphrases, it is not what stands between a minor and a sexual prompt.
"""

from __future__ import annotations

import pytest

from services.compliance.eval.run_eval import (
    TARGET_MINORS_RECALL,
    TARGET_SAFE_FP_RATE,
    TARGET_UNSAFE_RECALL,
    EvalResult,
    evaluate,
)


def minors_misses(result: EvalResult) -> list[tuple[str, set[str], set[str]]]:
    return [m for m in result.mistakes if "minors" in m[1] and "minors" not in m[2]]


def test_the_set_is_large_and_covers_every_category() -> None:
    result = evaluate(semantic=False)
    labelled = {c: s.true_positive + s.false_negative for c, s in result.scores.items()}
    assert sum(labelled.values()) + result.safe_prompts >= 200
    assert all(count >= 10 for count in labelled.values()), labelled
    assert result.safe_prompts >= 80


def test_lexicon_alone_never_misses_minors_and_rarely_flags_safe_prompts() -> None:
    result = evaluate(semantic=False)
    assert result.scores["minors"].recall == TARGET_MINORS_RECALL, minors_misses(result)
    assert result.safe_fp_rate <= TARGET_SAFE_FP_RATE, result.mistakes


@pytest.mark.e2e
def test_full_prompt_stage_meets_the_targets() -> None:
    result = evaluate()
    assert result.scores["minors"].recall == TARGET_MINORS_RECALL, minors_misses(result)
    assert result.unsafe_recall >= TARGET_UNSAFE_RECALL, result.mistakes
    assert result.safe_fp_rate <= TARGET_SAFE_FP_RATE, result.mistakes
    for category, score in result.scores.items():
        assert score.precision >= 0.9, (category, result.mistakes)
