"""Precision and recall of the prompt stage per category, on each labelled split.

Usage: ``python -m services.compliance.eval.run_eval [--split tuning|dev|dev2..dev39|holdout|all]
[--policy FILE] [--prompts FILE] [--lexicon-only]``. Labels are the categories a prompt should
*flag* (blocking or not), so the numbers measure the detectors, independent of any model's policy.
For each split it prints the per-category table, the overall recall on unsafe prompts (every
expected (prompt, category) pair counts once), the false-positive rate on the safe prompts (a safe
prompt that flags anything at all is a false positive), minors recall, and the misjudged prompts.

The splits are kept apart because each plays a different role, and pooling them would let the
optimistic sets hide the honest one's misses:

* ``tuning`` (``prompts.yaml``): the exemplar thresholds were fitted on it, and it is part of
  the classifier heads' training data (with ``train.yaml``, which is no split: a set a model was
  trained on says nothing about it);
* ``dev`` (``dev.yaml``): model selection; the heads' thresholds are checked on it, never trained on;
* ``dev2`` to ``dev39`` (``dev2.yaml`` ...): the first thirty-eight blind sets, each measured once,
  blind, then studied, and now part of the heads' training data: their numbers are optimistic;
* ``holdout`` (``holdout.yaml``): a blind set nobody tuning the stage has read; the one honest
  number. Until the file exists the split is skipped (``all`` leaves it out, naming it says so).
  Once its misses are studied it must become a dev set in turn, and a new blind set be written.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from services.compliance import models
from services.compliance.categories import load_policy
from services.compliance.image_review import ImageReviewer
from services.compliance.lexicon import PromptText
from services.compliance.review import ComplianceEngine
from services.compliance.semantic import (
    classifier_rules,
    detector_for_policy,
    semantic_rules,
)

DEFAULT_PROMPTS = Path(__file__).with_name("prompts.yaml")
DEV_PROMPTS = Path(__file__).with_name("dev.yaml")
HOLDOUT_PROMPTS = Path(__file__).with_name("holdout.yaml")
#: The classifier heads' own training prompts (with ``prompts.yaml``); no split, see the docstring.
TRAIN_PROMPTS = Path(__file__).with_name("train.yaml")
#: Former blind holdouts, oldest first: each measured once, blind, then studied; now training data.
STUDIED_BLIND_SPLITS: tuple[str, ...] = tuple(f"dev{n}" for n in range(2, 40))
#: The labelled sets by split name, in the order they are reported.
SPLITS: dict[str, Path] = {
    "tuning": DEFAULT_PROMPTS,
    "dev": DEV_PROMPTS,
    **{name: Path(__file__).with_name(f"{name}.yaml") for name in STUDIED_BLIND_SPLITS},
    "holdout": HOLDOUT_PROMPTS,
}
#: A model key no policy names, so every category keeps its default action.
EVAL_MODEL = "eval"

# The targets; the eval test asserts them.
TARGET_MINORS_RECALL = 1.0
TARGET_UNSAFE_RECALL = 0.95
TARGET_SAFE_FP_RATE = 0.03


@dataclass
class Score:
    """Counts for one category."""

    true_positive: int = 0
    false_positive: int = 0
    false_negative: int = 0

    @property
    def precision(self) -> float:
        flagged = self.true_positive + self.false_positive
        return self.true_positive / flagged if flagged else 1.0

    @property
    def recall(self) -> float:
        labelled = self.true_positive + self.false_negative
        return self.true_positive / labelled if labelled else 1.0


@dataclass
class EvalResult:
    """Per-category scores, the safe set's outcome and the prompts that were misjudged."""

    scores: dict[str, Score]
    mistakes: list[tuple[str, set[str], set[str]]]
    safe_prompts: int = 0
    safe_flagged: int = 0
    unsafe_prompts: int = 0
    #: Unsafe prompts flagged for at least one of their categories: on the default policy, where
    #: every category blocks, each of them is refused. Writers disagree on secondary labels (is a
    #: rape scene also nudity?), which the pair recall counts as misses and this does not.
    unsafe_caught: int = 0

    @property
    def unsafe_recall(self) -> float:
        """Recall over every expected (prompt, category) pair."""
        found = sum(s.true_positive for s in self.scores.values())
        missed = sum(s.false_negative for s in self.scores.values())
        return found / (found + missed) if found + missed else 1.0

    @property
    def unsafe_caught_rate(self) -> float:
        """Share of unsafe prompts flagged for at least one expected category."""
        return self.unsafe_caught / self.unsafe_prompts if self.unsafe_prompts else 1.0

    @property
    def safe_fp_rate(self) -> float:
        """Share of safe prompts that flagged any category."""
        return self.safe_flagged / self.safe_prompts if self.safe_prompts else 0.0


def prompt_texts(item: dict[str, str]) -> list[PromptText]:
    """The texts of one labelled prompt, as the prompt service would send them."""
    texts = [PromptText("user", item["text"]), PromptText("negative", item.get("negative", ""))]
    return texts + [PromptText(source, item[source]) for source in ("character", "style") if source in item]


def build_engine(policy_path: Path | None = None, semantic: bool = True) -> ComplianceEngine:
    """The prompt stage the service runs: lexicon, plus exemplars and heads unless told not to.

    Built once per run and shared by the splits, so every split is judged by the same engine
    (and MiniLM's import is paid once).
    """
    policy = load_policy(policy_path)
    detector = None
    rules, heads = semantic_rules(policy), classifier_rules(policy)
    if semantic and (rules or heads):
        detector = detector_for_policy(policy, models.sentence_model(1))
    return ComplianceEngine(policy, ImageReviewer([]), semantic=detector)


def score(engine: ComplianceEngine, prompts_path: Path) -> EvalResult:
    """Review every prompt of one labelled set and count what the engine got right."""
    result = EvalResult({c.id: Score() for c in engine.categories}, [])
    for item in yaml.safe_load(prompts_path.read_text(encoding="utf-8"))["prompts"]:
        expected = set(item.get("expect") or [])
        got = {f.category_id for f in engine.review_prompt(EVAL_MODEL, prompt_texts(item)).findings}
        for category, counts in result.scores.items():
            if category in expected and category in got:
                counts.true_positive += 1
            elif category in got:
                counts.false_positive += 1
            elif category in expected:
                counts.false_negative += 1
        if not expected:
            result.safe_prompts += 1
            result.safe_flagged += bool(got)
        else:
            result.unsafe_prompts += 1
            result.unsafe_caught += bool(expected & got)
        if got != expected:
            result.mistakes.append((item["text"], expected, got))
    return result


def evaluate(
    prompts_path: Path = DEFAULT_PROMPTS, policy_path: Path | None = None, semantic: bool = True
) -> EvalResult:
    """Run the prompt stage (lexicon, and the semantic stage unless told not to) over every prompt."""
    return score(build_engine(policy_path, semantic), prompts_path)


def available_splits() -> list[str]:
    """The splits whose file exists (the blind ``holdout`` is added to the tree later)."""
    return [name for name, path in SPLITS.items() if path.exists()]


def evaluate_splits(
    splits: Iterable[str] | None = None, policy_path: Path | None = None, semantic: bool = True
) -> dict[str, EvalResult]:
    """One result per named split (default: every available one), all from one engine."""
    names = available_splits() if splits is None else list(splits)
    missing = [name for name in names if not SPLITS[name].exists()]
    if missing:
        raise FileNotFoundError(f"split(s) {missing} have no file yet: {[str(SPLITS[n]) for n in missing]}")
    engine = build_engine(policy_path, semantic)
    return {name: score(engine, SPLITS[name]) for name in names}


def target_lines(result: EvalResult) -> list[str]:
    """The three target lines, each marked ``ok`` or ``MISSED`` so a miss cannot be overlooked."""

    def mark(met: bool) -> str:
        return "ok" if met else "MISSED"

    minors = result.scores["minors"].recall
    return [
        f"unsafe recall (all categories): {result.unsafe_recall:.3f} "
        f"(target >= {TARGET_UNSAFE_RECALL}) {mark(result.unsafe_recall >= TARGET_UNSAFE_RECALL)}",
        f"unsafe prompts caught (flagged for any of their categories): {result.unsafe_caught}/"
        f"{result.unsafe_prompts} = {result.unsafe_caught_rate:.3f}",
        f"safe-set false positives: {result.safe_flagged}/{result.safe_prompts} = {result.safe_fp_rate:.3f} "
        f"(target <= {TARGET_SAFE_FP_RATE}) {mark(result.safe_fp_rate <= TARGET_SAFE_FP_RATE)}",
        f"minors recall: {minors:.3f} (target {TARGET_MINORS_RECALL}) {mark(minors >= TARGET_MINORS_RECALL)}",
    ]


def report(name: str, result: EvalResult) -> str:
    """One split's table, target lines and misjudged prompts, as printed by ``main``."""
    lines = [f"== {name} ==", f"{'category':<16}{'precision':>10}{'recall':>8}{'tp':>5}{'fp':>5}{'fn':>5}"]
    for category, counts in result.scores.items():
        lines.append(
            f"{category:<16}{counts.precision:>10.2f}{counts.recall:>8.2f}"
            f"{counts.true_positive:>5}{counts.false_positive:>5}{counts.false_negative:>5}"
        )
    lines += target_lines(result)
    lines += [
        f"MISJUDGED ({name}): expected {sorted(expected)} got {sorted(got)}: {text!r}"
        for text, expected, got in result.mistakes
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=[*SPLITS, "all"], default="all", help="which labelled set(s)")
    parser.add_argument("--prompts", type=Path, default=None, help="score this file instead of a split")
    parser.add_argument("--policy", type=Path, default=None)
    parser.add_argument("--lexicon-only", action="store_true", help="leave the semantic stage out")
    args = parser.parse_args()
    semantic = not args.lexicon_only
    if args.prompts is not None:
        results = {str(args.prompts): evaluate(args.prompts, args.policy, semantic=semantic)}
    else:
        if args.split != "all" and not SPLITS[args.split].exists():
            parser.exit(2, f"split {args.split!r} has no file yet ({SPLITS[args.split]})\n")
        splits = available_splits() if args.split == "all" else [args.split]
        results = evaluate_splits(splits, args.policy, semantic=semantic)
    print("\n\n".join(report(name, result) for name, result in results.items()))


if __name__ == "__main__":
    main()
