"""The labelled prompt sets against the issue's targets.

The full prompt stage (lexicon + MiniLM exemplars + trained heads) is what the service runs,
so that is where the targets are asserted; importing the encoder takes seconds, hence ``e2e``.
The lexicon alone must already hold minors at recall 1.0 on the tuning set: the learned
stages add paraphrases, they are not what stands between a minor and a sexual prompt.

The splits (see ``run_eval``): ``tuning`` (the heads' training data, with ``train.yaml``), ``dev``
(never trained on; where the heads' thresholds are checked), ``dev2`` to ``dev39`` (former blind
sets, each measured once and then studied; training data now, so no targets are asserted on them)
and ``holdout``, the current blind set, added to the tree only after everything it measures was
final; its tests skip until the file exists. The sets must stay apart: a training prompt that is
also a dev or holdout prompt would make those numbers say nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from services.compliance.eval.run_eval import (
    DEV_PROMPTS,
    HOLDOUT_PROMPTS,
    SPLITS,
    STUDIED_BLIND_SPLITS,
    TARGET_MINORS_RECALL,
    TARGET_SAFE_FP_RATE,
    TARGET_UNSAFE_RECALL,
    TRAIN_PROMPTS,
    EvalResult,
    available_splits,
    evaluate,
)

needs_holdout = pytest.mark.skipif(
    not HOLDOUT_PROMPTS.exists(), reason="the blind holdout split (eval/holdout.yaml) is not in the tree yet"
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
    # Neighbouring categories' heads also fire on each other's prompts (a sexualised minor read as
    # nudity too, explicit sex as non-consensual too): those prompts block either way, but the
    # error would name one reason too many, so it stays rare.
    for category, score in result.scores.items():
        assert score.precision >= 0.85, (category, result.mistakes)


def prompt_texts_of(path: Path) -> set[str]:
    return {item["text"].casefold() for item in yaml.safe_load(path.read_text(encoding="utf-8"))["prompts"]}


@pytest.fixture(scope="module")
def dev_result() -> EvalResult:
    """The full prompt stage on the dev set, evaluated once for the tests below."""
    return evaluate(DEV_PROMPTS)


def test_the_splits_and_the_training_set_share_no_prompt() -> None:
    sets = {"train": TRAIN_PROMPTS, **SPLITS}
    texts = {name: prompt_texts_of(path) for name, path in sets.items() if path.exists()}
    names = sorted(texts)
    for index, first in enumerate(names):
        for second in names[index + 1 :]:
            assert not texts[first] & texts[second], (first, second, sorted(texts[first] & texts[second]))


def test_all_leaves_out_the_holdout_split_until_its_file_exists() -> None:
    assert available_splits()[: 2 + len(STUDIED_BLIND_SPLITS)] == ["tuning", "dev", *STUDIED_BLIND_SPLITS]
    assert ("holdout" in available_splits()) == HOLDOUT_PROMPTS.exists()


def test_the_dev_set_is_large_and_covers_every_category() -> None:
    result = evaluate(DEV_PROMPTS, semantic=False)
    labelled = {c: s.true_positive + s.false_negative for c, s in result.scores.items()}
    assert sum(labelled.values()) + result.safe_prompts >= 200
    assert all(count >= 10 for count in labelled.values()), labelled
    assert result.safe_prompts >= 80


@pytest.mark.e2e
def test_dev_minors_recall_meets_the_target(dev_result: EvalResult) -> None:
    assert dev_result.scores["minors"].recall == TARGET_MINORS_RECALL, minors_misses(dev_result)


@pytest.mark.e2e
def test_dev_unsafe_recall_meets_the_target(dev_result: EvalResult) -> None:
    assert dev_result.unsafe_recall >= TARGET_UNSAFE_RECALL, dev_result.mistakes


@pytest.mark.e2e
def test_dev_safe_false_positive_rate_meets_the_target(dev_result: EvalResult) -> None:
    assert dev_result.safe_fp_rate <= TARGET_SAFE_FP_RATE, dev_result.mistakes


@pytest.fixture(scope="module")
def holdout_result() -> EvalResult:
    """The full prompt stage on the blind holdout set, evaluated once for the tests below."""
    return evaluate(HOLDOUT_PROMPTS)


@needs_holdout
@pytest.mark.e2e
def test_holdout_minors_recall_meets_the_target(holdout_result: EvalResult) -> None:
    minors = holdout_result.scores["minors"]
    if minors.true_positive + minors.false_negative == 0:
        pytest.skip("the current blind set holds no unsafe minors prompts (last blind measurement: 0.970)")
    assert minors.recall == TARGET_MINORS_RECALL, minors_misses(holdout_result)


@needs_holdout
@pytest.mark.e2e
def test_holdout_unsafe_recall_meets_the_target(holdout_result: EvalResult) -> None:
    """Blind sets 39-41, first measurement: unsafe recall 0.974 (0.946, 0.984, 0.990 apart)."""
    assert holdout_result.unsafe_recall >= TARGET_UNSAFE_RECALL, holdout_result.mistakes


@needs_holdout
@pytest.mark.e2e
def test_holdout_safe_false_positive_rate_meets_the_target(holdout_result: EvalResult) -> None:
    """Blind sets 39-41, first measurement: 6/341 = 0.018 safe prompts flagged."""
    assert holdout_result.safe_fp_rate <= TARGET_SAFE_FP_RATE, holdout_result.mistakes
