"""The compliance engine: everything loaded once, answering prompt and image reviews.

This is the whole service without gRPC: the servicer converts messages and calls
:meth:`ComplianceEngine.review_prompt` / :meth:`ComplianceEngine.review_image`; tests
and the eval script call them directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from services.compliance.categories import Category, PolicyDocument, load_policy
from services.compliance.findings import Verdict
from services.compliance.hash_lists import load_hash_lists
from services.compliance.image_review import ImageReviewer, PdqHashListDetector, pdq_rules
from services.compliance.lexicon import Lexicon, PromptText
from services.compliance.policy import ModelPolicy
from services.shared.errors import InvalidArgument


@dataclass(frozen=True)
class Limits:
    """Bounds on what one request may ask the engine to read."""

    max_texts: int = 32
    max_text_chars: int = 20_000
    max_image_pixels: int = 64_000_000


class ComplianceEngine:
    """Policy, lexicon and image detectors, ready to review."""

    def __init__(self, policy: PolicyDocument, images: ImageReviewer, limits: Limits | None = None) -> None:
        self.policy = policy
        self.model_policy = ModelPolicy(policy)
        self.lexicon = Lexicon(policy)
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
        return self.model_policy.decide(model, self.lexicon.review(texts))

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
    policy_path: Path | None, hash_list_paths: Sequence[Path], limits: Limits | None = None
) -> ComplianceEngine:
    """Load the policy and every detector; raises (PolicyError, HashListError, ...) on any failure."""
    policy = load_policy(policy_path)
    rules = pdq_rules(policy)
    hashes = load_hash_lists(list(hash_list_paths), policy.hash_lists.default_category, list(rules))
    return ComplianceEngine(policy, ImageReviewer([PdqHashListDetector(hashes, rules)]), limits)
