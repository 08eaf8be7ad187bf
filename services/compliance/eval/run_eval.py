"""Precision and recall of the prompt lexicon per category on the labelled prompt set.

Usage: ``python -m services.compliance.eval.run_eval [--policy FILE] [--prompts FILE]``.
Labels are the categories a prompt should *flag* (blocking or not), so the numbers
measure the detectors, independent of any model's policy.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import yaml

from services.compliance.categories import load_policy
from services.compliance.lexicon import Lexicon, PromptText

DEFAULT_PROMPTS = Path(__file__).with_name("prompts.yaml")


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
    """Per-category scores and the prompts that were misjudged."""

    scores: dict[str, Score]
    mistakes: list[tuple[str, set[str], set[str]]]


def evaluate(prompts_path: Path = DEFAULT_PROMPTS, policy_path: Path | None = None) -> EvalResult:
    """Run the lexicon over every labelled prompt and count per category."""
    policy = load_policy(policy_path)
    lexicon = Lexicon(policy)
    scores = {c.id: Score() for c in policy.categories}
    mistakes: list[tuple[str, set[str], set[str]]] = []
    for item in yaml.safe_load(prompts_path.read_text(encoding="utf-8"))["prompts"]:
        texts = [PromptText("user", item["text"]), PromptText("negative", item.get("negative", ""))]
        texts += [PromptText(source, item[source]) for source in ("character", "style") if source in item]
        expected = set(item.get("expect") or [])
        got = {f.category_id for f in lexicon.review(texts)}
        for category, score in scores.items():
            if category in expected and category in got:
                score.true_positive += 1
            elif category in got:
                score.false_positive += 1
            elif category in expected:
                score.false_negative += 1
        if got != expected:
            mistakes.append((item["text"], expected, got))
    return EvalResult(scores, mistakes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=Path, default=DEFAULT_PROMPTS)
    parser.add_argument("--policy", type=Path, default=None)
    args = parser.parse_args()
    result = evaluate(args.prompts, args.policy)
    print(f"{'category':<16}{'precision':>10}{'recall':>8}{'tp':>5}{'fp':>5}{'fn':>5}")
    for category, score in result.scores.items():
        print(
            f"{category:<16}{score.precision:>10.2f}{score.recall:>8.2f}"
            f"{score.true_positive:>5}{score.false_positive:>5}{score.false_negative:>5}"
        )
    for text, expected, got in result.mistakes:
        print(f"MISJUDGED: expected {sorted(expected)} got {sorted(got)}: {text!r}")


if __name__ == "__main__":
    main()
