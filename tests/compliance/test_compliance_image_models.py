"""NudeNet and OpenNSFW behind the image-detector interface: policy mapping and the real models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from services.compliance.categories import NudeNetRules, OpenNsfwRules, PolicyError, parse_policy
from services.compliance.image_classifiers import (
    MODEL_SIDE,
    NudeNetDetector,
    OpenNsfwDetector,
    nudenet_findings,
    opennsfw_findings,
    shrink,
)
from services.compliance.review import ComplianceEngine, ModelOptions, build_engine
from tests.compliance.policies import default_policy, without_learned_detectors, write_policy

NUDITY = {"nudity": NudeNetRules(threshold=0.5, classes=["FEMALE_BREAST_EXPOSED", "BUTTOCKS_EXPOSED"])}


def noise(width: int = 1344, height: int = 768, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_exposure_classes_map_to_categories_over_their_threshold() -> None:
    detections = [
        {"class": "FEMALE_BREAST_EXPOSED", "score": 0.61, "box": [0, 0, 5, 5]},
        {"class": "BUTTOCKS_EXPOSED", "score": 0.83, "box": [0, 0, 5, 5]},
        {"class": "FEMALE_BREAST_COVERED", "score": 0.99, "box": [0, 0, 5, 5]},  # covered: not nudity
        {"class": "FACE_FEMALE", "score": 0.95, "box": [0, 0, 5, 5]},
    ]
    [finding] = nudenet_findings(detections, NUDITY)
    assert (finding.stage, finding.detector, finding.category_id) == ("image", "nudenet", "nudity")
    assert (finding.score, finding.threshold) == (0.83, 0.5)
    assert finding.detail == "class=BUTTOCKS_EXPOSED"
    below = [{"class": "FEMALE_BREAST_EXPOSED", "score": 0.49, "box": [0, 0, 5, 5]}]
    assert nudenet_findings(below, NUDITY) == []


def test_the_nsfw_score_flags_every_category_whose_threshold_it_reaches() -> None:
    rules = {"nudity": OpenNsfwRules(threshold=0.85), "minors": OpenNsfwRules(threshold=0.95)}
    assert [f.category_id for f in opennsfw_findings(0.9, rules)] == ["nudity"]
    assert {f.category_id for f in opennsfw_findings(0.95, rules)} == {"nudity", "minors"}
    assert opennsfw_findings(0.5, rules) == []


def test_policy_refuses_unknown_nudenet_classes() -> None:
    raw = default_policy()
    nudity = next(c for c in raw["categories"] if c["id"] == "nudity")
    nudity["detectors"]["nudenet"]["classes"] = ["BREASTS"]
    with pytest.raises(PolicyError, match="unknown NudeNet classes"):
        parse_policy(raw)


def test_shrink_keeps_aspect_and_never_enlarges() -> None:
    assert shrink(noise()).shape == (366, MODEL_SIDE, 3)
    small = noise(100, 50)
    assert shrink(small) is small


@pytest.fixture(scope="module")
def image_engine(tmp_path_factory: pytest.TempPathFactory) -> ComplianceEngine:
    """The default policy's image detectors with the real models, without the text model."""
    raw = without_learned_detectors(default_policy(), keep=("nudenet", "opennsfw"))
    return build_engine(write_policy(raw, tmp_path_factory.mktemp("policy")), [], options=ModelOptions())


def test_real_models_load_and_pass_an_image_without_people(image_engine: ComplianceEngine) -> None:
    names = [d.name for d in image_engine.images.detectors]
    assert names == ["pdq", "nudenet", "opennsfw"]
    assert isinstance(image_engine.images.detectors[1], NudeNetDetector)
    image = noise()
    verdict = image_engine.review_image("default", 1344, 768, image.tobytes())
    assert not verdict.blocked and verdict.findings == ()


def test_the_real_nsfw_score_reaches_the_verdict(tmp_path: Path) -> None:
    """A zero threshold turns the real score into a finding: the wiring from model to audit record."""
    raw = without_learned_detectors(default_policy(), keep=("opennsfw",))
    nudity = next(c for c in raw["categories"] if c["id"] == "nudity")
    nudity["detectors"]["opennsfw"]["threshold"] = 0.0
    engine = build_engine(write_policy(raw, tmp_path), [])
    verdict = engine.review_image("default", 1344, 768, noise(seed=4).tobytes())
    [finding] = verdict.findings
    assert (finding.detector, finding.category_id, finding.threshold) == ("opennsfw", "nudity", 0.0)
    assert 0.0 <= finding.score < 0.5 and finding.detail.startswith("nsfw=")
    assert verdict.blocked and [c.id for c in verdict.blocking] == ["nudity"]
    assert isinstance(engine.images.detectors[-1], OpenNsfwDetector)
