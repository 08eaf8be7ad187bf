"""Precision and recall of the prompt stage per category on the labelled prompt set.

Usage: ``python -m services.compliance.eval.run_eval [--policy FILE] [--prompts FILE] [--lexicon-only]``.
Labels are the categories a prompt should *flag* (blocking or not), so the numbers
measure the detectors, independent of any model's policy. Besides the per-category
table it prints the overall recall on unsafe prompts (every expected (prompt, category)
pair counts once) and the false-positive rate on the safe set (a safe prompt that flags
anything at all is a false positive).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import yaml

from services.compliance import models
from services.compliance.categories import load_policy
from services.compliance.image_review import ImageReviewer
from services.compliance.lexicon import PromptText
from services.compliance.review import ComplianceEngine
from services.compliance.semantic import SemanticPromptDetector, semantic_rules

DEFAULT_PROMPTS = Path(__file__).with_name("prompts.yaml")
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

    @property
    def unsafe_recall(self) -> float:
        """Recall over every expected (prompt, category) pair."""
        found = sum(s.true_positive for s in self.scores.values())
        missed = sum(s.false_negative for s in self.scores.values())
        return found / (found + missed) if found + missed else 1.0

    @property
    def safe_fp_rate(self) -> float:
        """Share of safe prompts that flagged any category."""
        return self.safe_flagged / self.safe_prompts if self.safe_prompts else 0.0


def prompt_texts(item: dict[str, str]) -> list[PromptText]:
    """The texts of one labelled prompt, as the prompt service would send them."""
    texts = [PromptText("user", item["text"]), PromptText("negative", item.get("negative", ""))]
    return texts + [PromptText(source, item[source]) for source in ("character", "style") if source in item]


def evaluate(
    prompts_path: Path = DEFAULT_PROMPTS, policy_path: Path | None = None, semantic: bool = True
) -> EvalResult:
    """Run the prompt stage (lexicon, and the semantic stage unless told not to) over every prompt."""
    policy = load_policy(policy_path)
    detector = None
    if semantic and (rules := semantic_rules(policy)):
        detector = SemanticPromptDetector(models.sentence_model(1), rules)
    engine = ComplianceEngine(policy, ImageReviewer([]), semantic=detector)
    result = EvalResult({c.id: Score() for c in policy.categories}, [])
    for item in yaml.safe_load(prompts_path.read_text(encoding="utf-8"))["prompts"]:
        expected = set(item.get("expect") or [])
        got = {f.category_id for f in engine.review_prompt(EVAL_MODEL, prompt_texts(item)).findings}
        for category, score in result.scores.items():
            if category in expected and category in got:
                score.true_positive += 1
            elif category in got:
                score.false_positive += 1
            elif category in expected:
                score.false_negative += 1
        if not expected:
            result.safe_prompts += 1
            result.safe_flagged += bool(got)
        if got != expected:
            result.mistakes.append((item["text"], expected, got))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=Path, default=DEFAULT_PROMPTS)
    parser.add_argument("--policy", type=Path, default=None)
    parser.add_argument("--lexicon-only", action="store_true", help="leave the semantic stage out")
    args = parser.parse_args()
    result = evaluate(args.prompts, args.policy, semantic=not args.lexicon_only)
    print(f"{'category':<16}{'precision':>10}{'recall':>8}{'tp':>5}{'fp':>5}{'fn':>5}")
    for category, score in result.scores.items():
        print(
            f"{category:<16}{score.precision:>10.2f}{score.recall:>8.2f}"
            f"{score.true_positive:>5}{score.false_positive:>5}{score.false_negative:>5}"
        )
    print(
        f"unsafe recall (all categories): {result.unsafe_recall:.3f} (target >= {TARGET_UNSAFE_RECALL})\n"
        f"safe-set false positives: {result.safe_flagged}/{result.safe_prompts} = "
        f"{result.safe_fp_rate:.3f} (target <= {TARGET_SAFE_FP_RATE})\n"
        f"minors recall: {result.scores['minors'].recall:.3f} (target {TARGET_MINORS_RECALL})"
    )
    for text, expected, got in result.mistakes:
        print(f"MISJUDGED: expected {sorted(expected)} got {sorted(got)}: {text!r}")


if __name__ == "__main__":
    main()
