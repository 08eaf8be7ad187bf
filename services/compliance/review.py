"""The compliance engine: everything loaded once, answering prompt and image reviews.

This is the whole service without gRPC: the servicer converts messages and calls
:meth:`ComplianceEngine.review_prompt` / :meth:`ComplianceEngine.review_image`; tests
and the eval script call them directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from services.compliance import models
from services.compliance.categories import Category, PolicyDocument, load_policy
from services.compliance.findings import Verdict
from services.compliance.hash_lists import load_hash_lists
from services.compliance.image_classifiers import (
    NudeNetDetector,
    OpenNsfwDetector,
    nudenet_rules,
    opennsfw_rules,
)
from services.compliance.image_review import ImageDetector, ImageReviewer, PdqHashListDetector, pdq_rules
from services.compliance.lexicon import Lexicon, PromptText
from services.compliance.policy import ModelPolicy
from services.compliance.semantic import (
    SemanticPromptDetector,
    classifier_rules,
    detector_for_policy,
    semantic_rules,
)
from services.shared.errors import InvalidArgument


@dataclass(frozen=True)
class Limits:
    """Bounds on what one request may ask the engine to read."""

    max_texts: int = 32
    max_text_chars: int = 20_000
    max_image_pixels: int = 64_000_000


@dataclass(frozen=True)
class ModelOptions:
    """How the learned models are loaded: thread count, MiniLM's backend, optional replacement model files."""

    threads: int = 1
    nudenet_model_path: Path | None = None
    opennsfw_model_path: Path | None = None
    semantic_backend: models.SemanticBackend = "onnx"
    onnx_cache_dir: Path | None = None


class ComplianceEngine:
    """Policy, lexicon and image detectors, ready to review."""

    def __init__(
        self,
        policy: PolicyDocument,
        images: ImageReviewer,
        limits: Limits | None = None,
        semantic: SemanticPromptDetector | None = None,
    ) -> None:
        self.policy = policy
        self.model_policy = ModelPolicy(policy)
        self.lexicon = Lexicon(policy)
        self.semantic = semantic
        self.images = images
        self.limits = limits or Limits()

    @property
    def categories(self) -> tuple[Category, ...]:
        """The configured categories in policy order."""
        return tuple(self.policy.categories)

    def review_prompt(self, model: str, texts: Sequence[PromptText]) -> Verdict:
        """The verdict on every text of one prompt, under ``model``'s policy."""
        if len(texts) > self.limits.max_texts:
            raise InvalidArgument(f"too many texts: {len(texts)} > {self.limits.max_texts}")
        for text in texts:
            if len(text.text) > self.limits.max_text_chars:
                raise InvalidArgument(
                    f"{text.source or 'a'} text is longer than {self.limits.max_text_chars} characters"
                )
        findings = self.lexicon.review(texts)
        if self.semantic is not None:
            findings += self.semantic.review(texts)
        return self.model_policy.decide(model, findings)

    def review_image(self, model: str, width: int, height: int, rgb: bytes) -> Verdict:
        """The verdict on raw RGB pixels, under ``model``'s policy."""
        return self.model_policy.decide(model, self.images.review(self.decode(width, height, rgb)))

    def decode(self, width: int, height: int, rgb: bytes) -> np.ndarray:
        """The ``(H, W, 3)`` array of a RawImage, or a clear error when it is malformed."""
        if width <= 0 or height <= 0:
            raise InvalidArgument("image width and height must be positive")
        if width * height > self.limits.max_image_pixels:
            raise InvalidArgument(f"image has more than {self.limits.max_image_pixels} pixels")
        if len(rgb) != width * height * 3:
            raise InvalidArgument(
                f"image has {len(rgb)} bytes, expected width*height*3 = {width * height * 3}"
            )
        return np.frombuffer(rgb, dtype=np.uint8).reshape(height, width, 3)


def build_engine(
    policy_path: Path | None,
    hash_list_paths: Sequence[Path],
    limits: Limits | None = None,
    options: ModelOptions | None = None,
) -> ComplianceEngine:
    """Load the policy and every detector it uses; raises (PolicyError, HashListError, ...) on any failure.

    A detector is built only when some category names it, so a policy without learned
    detectors loads in milliseconds; the models themselves are loaded once per process.
    MiniLM loads on a thread of its own while the hash lists and image models load here: on a
    first start it is exported to ONNX (seconds of torch), and the rest need not wait for it.
    """
    options = options or ModelOptions()
    policy = load_policy(policy_path)
    exemplars, heads = semantic_rules(policy), classifier_rules(policy)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="minilm-load") as pool:
        load = (models.sentence_model, options.threads, options.semantic_backend, options.onnx_cache_dir)
        encoder = pool.submit(*load) if exemplars or heads else None
        rules = pdq_rules(policy)
        hashes = load_hash_lists(list(hash_list_paths), policy.hash_lists.default_category, list(rules))
        detectors: list[ImageDetector] = [PdqHashListDetector(hashes, rules)]
        if nudity := nudenet_rules(policy):
            detector = models.nude_detector(options.threads, options.nudenet_model_path)
            detectors.append(NudeNetDetector(detector, nudity))
        if nsfw := opennsfw_rules(policy):
            classifier = models.nsfw_classifier(options.threads, options.opennsfw_model_path)
            detectors.append(OpenNsfwDetector(classifier, nsfw))
        semantic = detector_for_policy(policy, encoder.result()) if encoder is not None else None
    return ComplianceEngine(policy, ImageReviewer(detectors), limits, semantic)
