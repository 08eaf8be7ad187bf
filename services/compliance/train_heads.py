"""Train the classifier heads: ``python -m services.compliance.train_heads [--out FILE]``.

``--thresholds BUDGET`` prints, instead, the thresholds chosen on out-of-fold scores (see
:mod:`services.compliance.head_thresholds`) beside the policy's.

Embeds the labelled training sets (:data:`TRAINING_FILES`: ``prompts.yaml``, ``train.yaml`` and
the studied former blind sets ``dev2``-``dev39``) exactly as the service embeds a prompt (positive
texts joined, folded and with the policy's safe phrases blanked, in the same chunks, and a safe
prompt's clause windows too: see :func:`training_pieces`), trains one head per policy category
and writes the weights file with its manifest. The out-of-fold thresholds score each prompt on
everything the service reads of it, clause windows included. ``dev.yaml`` and the
blind ``holdout.yaml`` are never read here.

A labelled prompt whose negative text carries its label ("young teen on the beach" with
``-clothes``) is left out: the encoder never sees negative texts, so its positive text alone
would teach the head that an innocent sentence is unsafe. The lexicon's ``negative_terms``
cover those prompts.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import yaml

from services.compliance import models
from services.compliance.categories import PolicyDocument, load_policy
from services.compliance.eval.run_eval import (
    DEFAULT_PROMPTS,
    SPLITS,
    STUDIED_BLIND_SPLITS,
    TRAIN_PROMPTS,
    prompt_texts,
)
from services.compliance.head_thresholds import choose_window_margin, out_of_fold_scores, rates_at
from services.compliance.lexicon import phrase_mask
from services.compliance.models import SentenceEncoder
from services.compliance.semantic import chunks, clause_windows, positive_description, query_pieces
from services.compliance.semantic_heads import (
    DEFAULT_HEADS_PATH,
    DEFAULT_OPTIONS,
    SemanticHeads,
    TrainingOptions,
    train_heads,
)
from services.shared.digests import file_sha256

#: The training sets, in the order their prompts are stacked. dev2-dev39 are former blind sets:
#: each was measured once, blind, then studied; written by other hands than train.yaml, they are
#: the most varied data there is, so once their blind number is taken they teach the heads.
TRAINING_FILES = (DEFAULT_PROMPTS, TRAIN_PROMPTS, *(SPLITS[name] for name in STUDIED_BLIND_SPLITS))
_REPO_ROOT = Path(__file__).resolve().parents[2]
#: Categories whose prompts a head may flag without it counting against the others budget.
#: A sex act without consent is nudity as well; whether a writer adds the nudity label to
#: such a prompt is habit (one blind set always did, most rarely did), so the nudity head
#: flagging them names no wrong reason. Minors prompts are not exempt: most of them are
#: sexualised without being explicit, and "Nudity" would be one reason too many. Nor is the
#: reverse: an adult explicit prompt flagged as non-consensual would name a wrong one.
SHARED_LABELS: dict[str, frozenset[str]] = {"nudity": frozenset({"non_consensual"})}


def repo_relative(path: Path) -> str:
    """How the manifest names a training file: relative to the repository, with forward slashes."""
    return path.resolve().relative_to(_REPO_ROOT).as_posix()


def training_items(paths: Sequence[Path]) -> list[dict[str, str]]:
    """The labelled prompts of ``paths`` that can teach a head (see the module docstring)."""
    items = []
    for path in paths:
        for item in yaml.safe_load(path.read_text(encoding="utf-8"))["prompts"]:
            if item.get("expect") and item.get("negative", "").strip():
                continue
            items.append(item)
    return items


def training_pieces(item: dict[str, str], description: str) -> list[str]:
    """What the heads train on for one prompt: its chunks, and a safe prompt's clause windows too.

    A clause of a safe prompt is safe, so its windows teach the heads what innocent clauses
    look like once read on their own ("the actor holding a skull", "a nurse stitching a cut").
    An unsafe prompt's windows are left out: most of its clauses are innocent, and labelled
    as the prompt they would teach the heads that "golden hour" is violent.
    """
    pieces = chunks(description)
    if not item.get("expect"):
        pieces += [w for w in clause_windows(description) if w not in pieces]
    return pieces


def service_pieces(item: dict[str, str], description: str) -> list[str]:
    """What the service reads of one prompt (:func:`query_pieces`): the rows it is scored on."""
    return query_pieces(description)


def embed_items(
    encoder: SentenceEncoder,
    items: list[dict[str, str]],
    blank: Callable[[str], str] | None = None,
    cut: Callable[[dict[str, str], str], list[str]] = training_pieces,
) -> tuple[np.ndarray, list[int]]:
    """One row per piece of each prompt's description, and which prompt each row came from.

    ``blank`` is the policy's safe-phrase blanking, as the service applies it before embedding.
    ``cut`` makes the pieces: :func:`training_pieces` or :func:`service_pieces`.
    """
    pieces: list[str] = []
    owners: list[int] = []
    for index, item in enumerate(items):
        for piece in cut(item, positive_description(prompt_texts(item), blank)):
            pieces.append(piece)
            owners.append(index)
    vectors = encoder.encode(
        pieces, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
    )
    return np.asarray(vectors, dtype=np.float32), owners


def train(
    encoder: SentenceEncoder,
    categories: Sequence[str],
    paths: Sequence[Path] = TRAINING_FILES,
    options: TrainingOptions = DEFAULT_OPTIONS,
    blank: Callable[[str], str] | None = None,
) -> SemanticHeads:
    """Heads for ``categories`` trained on the prompts of ``paths``, with the manifest filled in."""
    items = training_items(paths)
    features, owners = embed_items(encoder, items, blank)
    labels = {
        category: np.array([category in (items[i].get("expect") or []) for i in owners], dtype=np.float32)
        for category in categories
    }
    manifest = {
        "training_files": {repo_relative(p): file_sha256(p) for p in paths},
        "prompts": len(items),
        "positives": {c: int(labels[c].sum()) for c in categories},
    }
    return train_heads(features, labels, options, manifest)


def threshold_report(
    encoder: SentenceEncoder,
    policy: PolicyDocument,
    budget: float,
    others_budget: float = 1.0,
    paths: Sequence[Path] = TRAINING_FILES,
    options: TrainingOptions = DEFAULT_OPTIONS,
) -> list[str]:
    """Per category: the threshold and window margin chosen on out-of-fold scores, beside the policy's.

    A report, not an edit: the policy file stays the one place thresholds are set.
    """
    items = training_items(paths)
    blank = phrase_mask(tuple(policy.safe_phrases)).blank
    features, owners = embed_items(encoder, items, blank)
    queries = embed_items(encoder, items, blank, service_pieces)
    descriptions = [positive_description(prompt_texts(item), blank) for item in items]
    # Which query rows are clause windows: each prompt's rows are its chunks, then its windows.
    windows = [row >= len(chunks(d)) for d in descriptions for row in range(len(service_pieces({}, d)))]
    long = np.array([bool(clause_windows(d)) for d in descriptions])
    safe = np.array([not item.get("expect") for item in items])
    long_safe = int((long & safe).sum())
    lines = [
        f"out-of-fold scores of {len(items)} training prompts ({int(safe.sum())} safe, {long_safe} "
        f"of them long); budgets: {budget:.2%} of safe prompts, {others_budget:.2%} of other categories' "
        "prompts per head, windows adding 0.50% of long safe prompts",
        f"{'category':<16}{'policy':>7}{'margin':>7}{'safe>=':>8}{'other>=':>8}{'recall':>8}"
        f"{'chosen':>8}{'margin':>7}{'safe>=':>8}{'other>=':>8}{'recall':>8}",
    ]
    for category in policy.categories:
        rules = category.detectors.classifier
        if rules is None:
            continue
        expected = np.array([category.id in (item.get("expect") or []) for item in items])
        whole, window = out_of_fold_scores(
            features,
            owners,
            expected[np.asarray(owners)].astype(np.float32),
            options=options,
            queries=queries,
            windows=np.array(windows, dtype=bool),
        )
        overlapping = SHARED_LABELS.get(category.id, frozenset())
        shared = np.array([bool(overlapping & set(item.get("expect") or [])) for item in items])
        current = rates_at(
            category.id,
            rules.threshold,
            np.maximum(whole, window - rules.window_margin),
            expected,
            safe,
            shared,
        )
        choice, margin = choose_window_margin(
            category.id, whole, window, expected, safe, long, budget, others_budget, shared
        )
        lines.append(
            f"{category.id:<16}{rules.threshold:>7.2f}{rules.window_margin:>7.2f}{current.safe_flagged:>8.3f}"
            f"{current.others_flagged:>8.3f}{current.recall:>8.3f}{choice.threshold:>8.2f}{margin:>7.2f}"
            f"{choice.safe_flagged:>8.3f}{choice.others_flagged:>8.3f}{choice.recall:>8.3f}"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_HEADS_PATH, help="weights file to write")
    parser.add_argument(
        "--thresholds",
        type=float,
        metavar="BUDGET",
        default=None,
        help="instead of training, print the thresholds whose out-of-fold false-positive share "
        "on the safe training prompts is at most BUDGET (e.g. 0.005)",
    )
    parser.add_argument(
        "--others-budget",
        type=float,
        default=1.0,
        help="with --thresholds: also cap the share of other categories' prompts a head flags",
    )
    args = parser.parse_args(argv)
    policy = load_policy()
    if args.thresholds is not None:
        encoder = models.sentence_model(1)
        print("\n".join(threshold_report(encoder, policy, args.thresholds, args.others_budget)))
        return
    blank = phrase_mask(tuple(policy.safe_phrases)).blank
    heads = train(models.sentence_model(1), [c.id for c in policy.categories], blank=blank)
    heads.save(args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes): {heads.manifest}")


if __name__ == "__main__":
    main()
