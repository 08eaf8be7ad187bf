"""Thresholds from out-of-fold scores: folds per prompt, held-out scoring, the budget rule."""

from __future__ import annotations

import numpy as np

from services.compliance.head_thresholds import (
    THRESHOLD_GRID,
    choose_threshold,
    choose_window_margin,
    fold_of_prompt,
    out_of_fold_scores,
)
from services.compliance.semantic_heads import TrainingOptions

FAST = TrainingOptions(iterations=300)


def out_of_fold_probabilities(*args: object, **kwargs: object) -> np.ndarray:
    """A prompt's out-of-fold score over all its rows, chunks and windows alike."""
    return np.maximum(*out_of_fold_scores(*args, **kwargs))  # type: ignore[arg-type]


def test_folds_are_balanced_deterministic_and_cover_every_prompt() -> None:
    first = fold_of_prompt(103, 5)
    assert np.array_equal(first, fold_of_prompt(103, 5))
    assert sorted(np.bincount(first)) == [20, 20, 21, 21, 21]


def separable(rows: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors whose first coordinate's sign is the label."""
    rng = np.random.default_rng(seed)
    labels = (np.arange(rows) % 4 == 0).astype(np.float32)
    features = rng.normal(size=(rows, 8))
    features[:, 0] = np.where(labels == 1, 2.5, -2.5) + rng.normal(scale=0.3, size=rows)
    return (features / np.linalg.norm(features, axis=1, keepdims=True)).astype(np.float32), labels


def test_out_of_fold_scores_separate_a_learnable_category() -> None:
    features, labels = separable(80)
    owners = list(range(80))
    probabilities = out_of_fold_probabilities(features, owners, labels, folds=4, options=FAST)
    assert probabilities.shape == (80,)
    assert probabilities[labels == 1].min() > probabilities[labels == 0].max()


def test_a_prompt_is_scored_by_a_head_that_never_saw_it() -> None:
    """A mislabelled prompt keeps its true score out of fold; trained on, it would be pulled over."""
    features, labels = separable(80)
    flipped = labels.copy()
    flipped[1] = 1.0  # a safe-looking prompt labelled unsafe
    probabilities = out_of_fold_probabilities(features, list(range(80)), flipped, folds=4, options=FAST)
    assert probabilities[1] < 0.5


def test_a_prompts_chunks_stay_in_one_fold_and_its_score_is_their_maximum() -> None:
    features, labels = separable(60)
    owners = [i // 2 for i in range(60)]  # 30 prompts of two chunks each
    probabilities = out_of_fold_probabilities(features, owners, labels, folds=3, options=FAST)
    assert probabilities.shape == (30,)
    assert (probabilities[[i // 2 for i in range(0, 60, 4)]] > 0.5).all()  # each holds an unsafe chunk


def test_held_prompts_are_scored_on_the_rows_the_service_reads() -> None:
    """Queries (a long prompt's clause windows) score the held prompts; training rows train."""
    features, labels = separable(40)
    owners = list(range(40))
    unsafe_rows = features[labels == 1]
    # Every prompt read as one extra row taken from an unsafe prompt: all score high.
    queries = (np.concatenate([features, np.repeat(unsafe_rows[:1], 40, axis=0)]), owners + owners)
    plain = out_of_fold_probabilities(features, owners, labels, folds=4, options=FAST)
    read = out_of_fold_probabilities(features, owners, labels, folds=4, options=FAST, queries=queries)
    assert (plain[labels == 0] < 0.5).all()
    assert (read > 0.5).all() and (read >= plain - 1e-9).all()


def test_choose_threshold_takes_the_lowest_threshold_within_budget() -> None:
    safe_scores = np.array([0.1] * 196 + [0.55, 0.62, 0.71, 0.93])
    positive_scores = np.array([0.6, 0.8, 0.95, 0.99])
    scores = np.concatenate([safe_scores, positive_scores])
    positive = np.arange(len(scores)) >= 200
    choice = choose_threshold("hate", scores, positive, ~positive, budget=0.01)
    assert choice.threshold == 0.63  # 0.71 and 0.93 stay over it: 2 of 200 safe prompts, the 1% budget
    assert choice.safe_flagged <= 0.01
    assert choice.recall == 0.75
    strict = choose_threshold("hate", scores, positive, ~positive, budget=0.0)
    assert strict.threshold == 0.94 and strict.safe_flagged == 0.0
    everything_high = np.full(10, 0.999)
    no_budget_met = choose_threshold("hate", everything_high, np.ones(10, bool), np.ones(10, bool), 0.0)
    assert no_budget_met.threshold == THRESHOLD_GRID[-1]


def test_the_others_budget_keeps_a_head_off_its_neighbours_prompts() -> None:
    """A head that also scores high on another category's prompts gets a higher threshold."""
    safe_scores = np.full(100, 0.1)
    neighbour_scores = np.array([0.7] * 10 + [0.2] * 90)  # other categories' prompts
    positive_scores = np.array([0.75, 0.9, 0.95, 0.99])
    scores = np.concatenate([safe_scores, neighbour_scores, positive_scores])
    safe = np.arange(len(scores)) < 100
    positive = np.arange(len(scores)) >= 200
    loose = choose_threshold("non_consensual", scores, positive, safe, budget=0.0)
    assert loose.threshold == 0.5 and loose.others_flagged == 0.1
    tight = choose_threshold("non_consensual", scores, positive, safe, budget=0.0, others_budget=0.01)
    assert tight.threshold == 0.71 and tight.others_flagged == 0.0 and tight.recall == 1.0


def test_prompts_of_overlapping_categories_do_not_count_against_the_others_budget() -> None:
    """The nudity head flagging a rape prompt labelled only non-consensual names no wrong reason."""
    safe_scores = np.full(100, 0.1)
    overlapping_scores = np.array([0.7] * 10 + [0.2] * 90)
    positive_scores = np.array([0.75, 0.9, 0.95, 0.99])
    scores = np.concatenate([safe_scores, overlapping_scores, positive_scores])
    index = np.arange(len(scores))
    safe, positive = index < 100, index >= 200
    shared = (index >= 100) & (index < 200)
    choice = choose_threshold("nudity", scores, positive, safe, 0.0, others_budget=0.01, shared=shared)
    assert choice.threshold == 0.5 and choice.others_flagged == 0.0 and choice.recall == 1.0


def test_chunk_and_window_scores_are_kept_apart() -> None:
    features, labels = separable(40)
    owners = list(range(40))
    unsafe_row = features[labels == 1][:1]
    queries = (np.concatenate([features, np.repeat(unsafe_row, 40, axis=0)]), owners + owners)
    windows = np.array([False] * 40 + [True] * 40)
    whole, window = out_of_fold_scores(features, owners, labels, 4, FAST, queries, windows)
    assert (whole[labels == 0] < 0.5).all() and (window > 0.5).all()
    unmarked, none = out_of_fold_scores(features, owners, labels, 4, FAST, queries)
    assert np.allclose(unmarked, np.maximum(whole, window)) and not none.any()  # unmarked rows are chunks


def test_the_window_margin_keeps_long_safe_prompts_clean_without_raising_the_threshold() -> None:
    """Windows of long safe prompts score 0.72 out of fold: a threshold over them would lose the
    short unsafe prompts (0.51); a margin of 0.25 puts the windows under 0.5 instead."""
    safe = np.arange(400) < 300
    positive = ~safe
    long = safe & (np.arange(400) % 2 == 0)
    whole = np.where(positive, 0.51, 0.1)
    window = np.where(long, 0.72, 0.0)
    choice, margin = choose_window_margin("hate", whole, window, positive, safe, long, budget=0.005)
    assert margin == 0.25 and choice.threshold == 0.5 and choice.recall == 1.0
    calm = np.minimum(window, 0.4)
    unneeded, no_margin = choose_window_margin("hate", whole, calm, positive, safe, long, budget=0.005)
    assert no_margin == 0.0 and unneeded.threshold == 0.5
