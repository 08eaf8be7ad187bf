"""Policy validation and verdicts: per-model actions, the minors rule, ordering and codes."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from structlog.testing import capture_logs

from services.compliance.categories import DEFAULT_POLICY_PATH, PolicyError, load_policy, parse_policy
from services.compliance.findings import Finding
from services.compliance.image_review import ImageReviewer
from services.compliance.lexicon import PromptText
from services.compliance.policy import ModelPolicy
from services.compliance.review import ComplianceEngine


@pytest.fixture(scope="module")
def raw_policy() -> dict[str, Any]:
    return yaml.safe_load(DEFAULT_POLICY_PATH.read_text())


def engine_for(raw: dict[str, Any]) -> ComplianceEngine:
    return ComplianceEngine(parse_policy(raw), ImageReviewer([]))


@pytest.fixture(scope="module")
def default_engine() -> ComplianceEngine:
    return ComplianceEngine(load_policy(), ImageReviewer([]))


def finding(category: str) -> Finding:
    return Finding("image", "test", category, 0.9, 0.5, "test evidence")


def test_default_policy_loads_with_the_seven_categories() -> None:
    policy = load_policy()
    assert [c.id for c in policy.categories] == [
        "minors",
        "non_consensual",
        "violence_gore",
        "self_harm",
        "hate",
        "real_people",
        "nudity",
    ]
    assert all(c.name and c.description for c in policy.categories)


def test_nudity_blocks_by_default_but_is_only_a_code_on_the_adult_model(
    default_engine: ComplianceEngine,
) -> None:
    engine = default_engine
    texts = [PromptText("user", "nude woman on a beach")]
    default = engine.review_prompt("some_model", texts)
    assert default.blocked and [c.id for c in default.blocking] == ["nudity"]
    adult = engine.review_prompt("eros", texts)
    assert not adult.blocked and adult.codes == ("nudity",)
    assert all(not f.blocking for f in adult.findings)


def test_minors_blocks_on_every_model_including_the_adult_one(default_engine: ComplianceEngine) -> None:
    engine = default_engine
    verdict = engine.review_prompt("eros", [PromptText("user", "teen, nude")])
    assert verdict.blocked
    assert [c.id for c in verdict.blocking] == ["minors"]
    assert verdict.codes == ("nudity",)


def test_config_cannot_switch_minors_off(raw_policy: dict[str, Any]) -> None:
    raw = copy.deepcopy(raw_policy)
    raw["policies"]["default"]["minors"] = "off"
    raw["policies"]["models"]["eros"]["minors"] = "flag"
    with capture_logs() as logs:
        engine = engine_for(raw)
    warnings = [e for e in logs if e["log_level"] == "warning" and "relax minors" in e["event"]]
    assert {(e["policy"], e["requested"]) for e in warnings} == {("default", "off"), ("eros", "flag")}
    for model in ("eros", "other"):
        assert engine.model_policy.action(model, "minors") == "block"
        verdict = engine.review_prompt(model, [PromptText("user", "k1d, nude")])
        assert verdict.blocked and verdict.blocking[0].id == "minors"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda raw: raw.__setitem__("categories", [c for c in raw["categories"] if c["id"] != "minors"]),
            "'minors' is required",
        ),
        (lambda raw: raw["categories"][0]["detectors"].pop("lexicon"), "must keep its lexicon"),
        (lambda raw: raw["categories"][0]["detectors"].pop("pdq"), "must keep its pdq"),
        (
            lambda raw: raw["policies"]["models"].__setitem__("eros", {"nudity": "maybe"}),
            "policies.models.eros.nudity",
        ),
        (lambda raw: raw["policies"]["default"].__setitem__("weapons", "block"), "unknown categories"),
        (lambda raw: raw["categories"][1].__setitem__("id", "minors"), "duplicate category ids"),
        (lambda raw: raw["categories"][1]["detectors"]["lexicon"].__setitem__("threshold", 2), "threshold"),
        (
            lambda raw: raw["categories"][0]["detectors"]["lexicon"]["combinations"].append(
                ["minor", "nope"]
            ),
            "unknown term groups",
        ),
        (lambda raw: raw["term_groups"]["minor"]["patterns"].append("(unclosed"), "does not compile"),
        (lambda raw: raw["term_groups"]["sexual"].__setitem__("include", ["sexual"]), "cycle"),
        (lambda raw: raw.__setitem__("surprise", 1), "surprise"),
    ],
)
def test_invalid_policies_are_refused_with_clear_errors(
    raw_policy: dict[str, Any], mutate: Any, message: str
) -> None:
    raw = copy.deepcopy(raw_policy)
    mutate(raw)
    with pytest.raises(PolicyError, match=message):
        parse_policy(raw)


def test_unreadable_policy_file_is_a_policy_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("categories: [")
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(bad)


def test_verdict_orders_blocking_by_category_order_each_once() -> None:
    policy = ModelPolicy(load_policy())
    findings = [
        finding("nudity"),
        finding("hate"),
        finding("minors"),
        finding("hate"),
        finding("real_people"),
    ]
    verdict = policy.decide("default", findings)
    assert [c.id for c in verdict.blocking] == ["minors", "hate", "real_people", "nudity"]
    assert [c.name for c in verdict.blocking] == ["Minors", "Hate", "Real people", "Nudity"]
    assert verdict.codes == ()
    assert len(verdict.findings) == 5 and all(f.blocking for f in verdict.findings)


def test_flag_and_off_actions(raw_policy: dict[str, Any]) -> None:
    raw = copy.deepcopy(raw_policy)
    raw["policies"]["models"]["studio"] = {"nudity": "flag", "real_people": "flag", "violence_gore": "off"}
    policy = ModelPolicy(parse_policy(raw))
    verdict = policy.decide("studio", [finding("violence_gore"), finding("nudity"), finding("real_people")])
    assert not verdict.blocked
    assert verdict.codes == ("real_people", "nudity")
    assert {f.category_id for f in verdict.findings} == {"violence_gore", "nudity", "real_people"}
    assert not any(f.blocking for f in verdict.findings)


def test_unknown_model_uses_the_default_and_a_missing_default_entry_blocks(
    raw_policy: dict[str, Any],
) -> None:
    raw = copy.deepcopy(raw_policy)
    del raw["policies"]["default"]["hate"]
    policy = ModelPolicy(parse_policy(raw))
    assert policy.action("never-heard-of-it", "hate") == "block"
    assert policy.action("eros", "nudity") == "flag"


def test_safe_prompt_gives_an_empty_verdict(default_engine: ComplianceEngine) -> None:
    engine = default_engine
    verdict = engine.review_prompt(
        "eros", [PromptText("user", "@aya black lingerie, on bed"), PromptText("negative", "red dress")]
    )
    assert not verdict.blocked and verdict.codes == () and verdict.findings == ()
