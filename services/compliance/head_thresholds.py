"""Choosing the heads' thresholds from out-of-fold scores on the training prompts.

A head scored on the prompts it was trained on is overconfident: every safe training prompt
sits far below any threshold, so a threshold picked there (or on a small dev set) lets through
whatever unseen safe prompt happens to land near the category ("a pride parade" near hate).
Out-of-fold scores fix that cheaply: the training prompts are cut into folds, a head is trained
without each fold and scores it, so every prompt gets the score of a head that never saw it.
The safe prompts' out-of-fold scores are then a fair sample of what unseen safe prompts get,
and a threshold at a small false-positive budget on them is one a new safe prompt crosses
about that often.

Folds are made per prompt, never per chunk, so a long prompt's windows never sit on both sides.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from services.compliance.semantic_heads import (
    DEFAULT_OPTIONS,
    TrainingOptions,
    neighbour_vote,
    stored_memory,
    train_head,
)

#: Candidate thresholds: the policy writes two decimals, so nothing finer is offered.
THRESHOLD_GRID = np.round(np.arange(0.50, 0.991, 0.01), 2)


@dataclass(frozen=True)
class ThresholdChoice:
    """One category's suggested threshold and what it does on the out-of-fold scores."""

    category: str
    threshold: float
    safe_flagged: float  # share of safe prompts at or over the threshold
    recall: float  # share of the category's prompts at or over the threshold
    others_flagged: float = 0.0  # share of prompts unsafe only for other categories at or over it


def fold_of_prompt(prompts: int, folds: int) -> np.ndarray:
    """A deterministic fold per prompt (round robin over a fixed shuffle, so files' order doesn't matter)."""
    order = np.random.default_rng(0).permutation(prompts)
    assignment = np.empty(prompts, dtype=np.int64)
    assignment[order] = np.arange(prompts) % folds
    return assignment


def out_of_fold_scores(
    features: np.ndarray,
    owners: Sequence[int],
    labels: np.ndarray,
    folds: int = 5,
    options: TrainingOptions = DEFAULT_OPTIONS,
    queries: tuple[np.ndarray, Sequence[int]] | None = None,
    windows: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per prompt, out of fold: the best score of its chunks, and of its clause windows.

    Each prompt gets the score heads built without its fold give it: the linear probability,
    mixed with the vote of the nearest prompts of the other folds when ``options.neighbours`` is
    set, as the service computes it. ``labels`` holds one 0/1 per training row, as
    :func:`train_head` takes them. ``queries`` (rows and their prompts) are what the service
    embeds of a prompt when that is more than its training rows (a long prompt's clause
    windows): the held prompts are scored on them. ``windows`` marks which query rows are
    clause windows (none if not given); a prompt with no window scores 0.0 there.
    """
    owner = np.asarray(owners)
    prompts = int(owner.max()) + 1
    prompt_fold = fold_of_prompt(prompts, folds)
    row_fold = prompt_fold[owner]
    stored = stored_memory(features)  # as the weights file keeps them
    query_rows, query_owner = (features, owner) if queries is None else (queries[0], np.asarray(queries[1]))
    is_window = np.zeros(len(query_owner), bool) if windows is None else np.asarray(windows, bool)
    query_fold = prompt_fold[query_owner]
    whole = np.zeros(prompts)
    window = np.zeros(prompts)
    for fold in range(folds):
        held = row_fold == fold
        asked = query_fold == fold
        weights, bias = train_head(features[~held], labels[~held], options)
        row_logits = query_rows[asked].astype(np.float64) @ weights.astype(np.float64) + bias
        row_scores = 1.0 / (1.0 + np.exp(-np.clip(row_logits, -60.0, 60.0)))
        if options.neighbours > 0:
            vote = neighbour_vote(
                query_rows[asked].astype(np.float32), stored[~held], labels[~held, None], options.neighbours
            )[:, 0]
            row_scores = options.linear_weight * row_scores + (1.0 - options.linear_weight) * vote
        asked_window = is_window[asked]
        np.maximum.at(whole, query_owner[asked][~asked_window], row_scores[~asked_window])
        np.maximum.at(window, query_owner[asked][asked_window], row_scores[asked_window])
    return whole, window


#: Candidate window margins (see :func:`choose_window_margin`).
MARGIN_GRID = (0.0, 0.05, 0.10, 0.15, 0.20, 0.25, 0.30)


def choose_window_margin(
    category: str,
    whole: np.ndarray,
    window: np.ndarray,
    positive: np.ndarray,
    safe: np.ndarray,
    long: np.ndarray,
    budget: float,
    others_budget: float = 1.0,
    shared: np.ndarray | None = None,
    window_budget: float = 0.005,
) -> tuple[ThresholdChoice, float]:
    """The window margin, with its threshold, that keeps the most recall within the budgets.

    For each margin the threshold is chosen by :func:`choose_threshold` on the score the
    service compares with it (a window counts less by the margin). A margin qualifies when the
    windows then flag at most ``window_budget`` of the ``long`` safe prompts beyond those their
    chunks alone flag: a clause read alone lacks the scene that makes it innocent ("a princess
    asleep", "a peephole view"), and long safe prompts are too few among the training prompts
    for the threshold's own budget to notice them. Of the qualifying margins, the one with the
    best recall wins, the smallest on a tie; if none qualifies, the largest.
    """
    long_safe = long & safe
    best: tuple[ThresholdChoice, float] | None = None
    for margin in MARGIN_GRID:
        effective = np.maximum(whole, window - margin)
        choice = choose_threshold(category, effective, positive, safe, budget, 0.5, others_budget, shared)
        by_windows = float((effective[long_safe] >= choice.threshold).mean()) if long_safe.any() else 0.0
        by_chunks = float((whole[long_safe] >= choice.threshold).mean()) if long_safe.any() else 0.0
        if by_windows - by_chunks <= window_budget and (best is None or choice.recall > best[0].recall):
            best = (choice, margin)
    return best if best is not None else (choice, margin)  # none qualified: the largest margin


def choose_threshold(
    category: str,
    probabilities: np.ndarray,
    positive: np.ndarray,
    safe: np.ndarray,
    budget: float,
    floor: float = 0.5,
    others_budget: float = 1.0,
    shared: np.ndarray | None = None,
) -> ThresholdChoice:
    """The lowest grid threshold ≥ ``floor`` within both budgets; the grid's top if none is.

    ``budget`` caps the share of safe prompts flagged; ``others_budget`` the share of prompts
    unsafe for *other* categories flagged as this one (a consensual explicit prompt called
    non-consensual blocks anyway, but names the wrong reason in the error). Prompts marked in
    ``shared`` are left out of that share: their categories overlap this one, so flagging
    them names no wrong reason. The lowest threshold within both keeps the most recall.
    """
    grid = [float(t) for t in THRESHOLD_GRID if t >= floor]
    candidates = [rates_at(category, t, probabilities, positive, safe, shared) for t in grid]
    for choice in candidates:
        if choice.safe_flagged <= budget and choice.others_flagged <= others_budget:
            return choice
    return candidates[-1]


def rates_at(
    category: str,
    threshold: float,
    probabilities: np.ndarray,
    positive: np.ndarray,
    safe: np.ndarray,
    shared: np.ndarray | None = None,
) -> ThresholdChoice:
    """What ``threshold`` does on the scores: shares of safe, own and other categories' prompts flagged.

    Prompts in ``shared`` (of categories overlapping this one) count in no share but their own.
    """
    others = ~positive & ~safe
    if shared is not None:
        others &= ~shared
    return ThresholdChoice(
        category,
        threshold,
        float((probabilities[safe] >= threshold).mean()),
        float((probabilities[positive] >= threshold).mean()) if positive.any() else 1.0,
        float((probabilities[others] >= threshold).mean()) if others.any() else 0.0,
    )
