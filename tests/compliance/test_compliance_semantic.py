"""The semantic prompt stage on the real MiniLM model (slow to import, hence ``e2e``)."""

from __future__ import annotations

import pytest

from services.compliance import models
from services.compliance.categories import ClassifierRules, SemanticRules, load_policy
from services.compliance.image_review import ImageReviewer
from services.compliance.lexicon import PromptText
from services.compliance.review import ComplianceEngine
from services.compliance.semantic import (
    CHUNK_WORDS,
    CLAUSE_MIN_WORDS,
    WINDOW_WORDS,
    SemanticPromptDetector,
    chunks,
    clause_windows,
    query_pieces,
    semantic_rules,
)
from services.compliance.semantic_heads import load_heads


def test_chunks_cover_long_texts_with_overlap() -> None:
    assert chunks("") == []
    assert chunks("a  short   text") == ["a short text"]
    words = [f"w{i}" for i in range(CHUNK_WORDS * 2)]
    pieces = chunks(" ".join(words))
    assert all(len(p.split()) <= CHUNK_WORDS for p in pieces)
    assert pieces[0].split()[0] == "w0" and pieces[-1].split()[-1] == words[-1]


def test_a_long_description_is_also_read_clause_by_clause() -> None:
    text = (
        "cottagecore picnic in a sunny meadow, checkered blanket, lemonade jug with mint leaves, "
        "bowls of strawberries, a dog hanging by its neck from the oak tree, pastel colours, film grain"
    )
    windows = clause_windows(text)
    assert all(len(w.split()) <= WINDOW_WORDS for w in windows)
    assert any(w.startswith("a dog hanging by its neck from the oak tree") for w in windows)
    assert query_pieces(text) == [text.replace("  ", " "), *windows]  # the whole first, then its clauses
    short = " ".join(["word"] * CLAUSE_MIN_WORDS)
    assert clause_windows(short) == [] and query_pieces(short) == [short]


def test_a_clause_longer_than_a_window_is_read_in_windows_of_its_own() -> None:
    clause = " ".join(f"w{i}" for i in range(WINDOW_WORDS * 2))
    windows = clause_windows(f"{clause}, a short tail")
    assert windows[0].split()[0] == "w0" and all(len(w.split()) <= WINDOW_WORDS for w in windows)
    assert any(f"w{WINDOW_WORDS * 2 - 1}" in w for w in windows)


@pytest.fixture(scope="module")
def engine() -> ComplianceEngine:
    policy = load_policy()
    detector = SemanticPromptDetector(models.sentence_model(1), semantic_rules(policy))
    return ComplianceEngine(policy, ImageReviewer([]), semantic=detector)


@pytest.mark.e2e
def test_a_paraphrase_no_term_list_holds_is_caught(engine: ComplianceEngine) -> None:
    texts = [PromptText("user", "a girl who has not yet gone through puberty, posing in a seductive way")]
    assert not engine.lexicon.review(texts)  # the lexicon alone misses it
    verdict = engine.review_prompt("eros", texts)
    semantic = [f for f in verdict.findings if f.detector == "semantic"]
    assert [f.category_id for f in semantic] == ["minors"] and verdict.blocked
    finding = semantic[0]
    assert finding.stage == "prompt" and finding.score >= finding.threshold
    assert "girl" not in finding.detail  # the audit record never quotes the prompt


@pytest.mark.e2e
def test_negative_texts_and_innocent_prompts_flag_nothing(engine: ComplianceEngine) -> None:
    texts = [
        PromptText("user", "a family photo at a kid's birthday party"),
        PromptText("negative", "naked child, gore, blood, suicide"),
        PromptText("style", "professional photo, warm tones"),
    ]
    assert engine.review_prompt("eros", texts).findings == ()


@pytest.mark.e2e
def test_the_character_text_is_embedded_together_with_the_user_text(engine: ComplianceEngine) -> None:
    """Each text alone is mild; together they describe one picture, and score as one."""
    semantic = engine.semantic
    assert semantic is not None
    user, character = "posing seductively on a bed", "a girl in primary school"
    alone = max(semantic.similarities(user)["minors"][0], semantic.similarities(character)["minors"][0])
    together = semantic.similarities(f"{user}. {character}")["minors"][0]
    assert together > alone
    findings = semantic.review([PromptText("user", user), PromptText("character", character)])
    expected = together >= engine.policy.category("minors").detectors.semantic.threshold  # type: ignore[union-attr]
    assert ("minors" in {f.category_id for f in findings}) == expected


@pytest.mark.e2e
def test_exemplars_are_embedded_once_and_thresholds_apply_per_category() -> None:
    rules = {"hate": SemanticRules(threshold=0.99, exemplars=["nazi propaganda"])}
    detector = SemanticPromptDetector(models.sentence_model(1), rules)
    assert detector.size == 1
    assert detector.similarities("nazi propaganda")["hate"][0] > 0.99
    assert detector.review([PromptText("user", "a nazi propaganda poster")]) == []


#: A long prompt whose unsafe clause its whole embedding averages away (a training prompt).
BURIED = (
    "Lonely attic room on a summer afternoon, dust drifting through sunbeams, an old steamer "
    "trunk, boxes of Christmas decorations, a wooden chair kicked over beneath a rope tied to the "
    "beam, a pair of bare feet dangling in the air, quiet melancholic mood, 35mm film photo"
)


@pytest.mark.e2e
@pytest.mark.parametrize("margin", [0.0, 1.0])
def test_a_clause_window_flags_a_buried_clause_only_over_its_margin(margin: float) -> None:
    rules = {"self_harm": ClassifierRules(threshold=0.53, window_margin=margin)}
    detector = SemanticPromptDetector(models.sentence_model(1), {}, load_heads(), rules)
    whole, window = detector.head_scores(BURIED)["self_harm"]
    assert whole < 0.53 <= window < 1.0  # the chunk misses it, a window finds it
    findings = detector.review([PromptText("user", BURIED)])
    if margin == 0.0:
        [finding] = findings
        assert finding.score == window and finding.threshold == 0.53 and "clause window" in finding.detail
    else:
        assert findings == []
