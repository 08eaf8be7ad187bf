"""Validation and normalization of each action's JSON body, as pure functions.

The spec is lenient on purpose: optional fields of the wrong JSON type silently take
their default, numeric ranges are clamped rather than rejected, unknown formats become
jpeg and invalid sizes 1344×768. Only what the spec's error table names is refused
(``Prompt is required``, ``Bad ID``), plus limits the spec leaves to us (prompt length,
watermark size), which get a clear 400. Model and style keys pass through unchanged:
the prompt service owns the catalog and resolves unknown keys.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from typing import Any

from gateway.errors import BAD_ID, PROMPT_REQUIRED, ApiError, bad_request
from gateway.request_model import (
    DEFAULT_MODEL,
    DEFAULT_SIZE,
    FORMATS,
    MAX_SEED,
    VALID_SIZES,
    WM_POSITIONS,
    BrandOptions,
    CredentialOverrides,
    GenerateRequest,
    JobRequest,
    Limits,
    OptimizeRequest,
    RandomRequest,
)
from gateway.webhooks.events import webhook_events, webhook_url

JOB_ID = re.compile(r"run_[a-z0-9]{20}")
_DATA_URI = re.compile(r"data:image/[a-z0-9.+-]+;base64,", re.IGNORECASE)

Body = dict[str, Any]


def as_int(value: Any) -> int | None:
    """``value`` as an integer if JSON gave one (``1024`` or ``1024.0``), else None.

    Booleans are not integers here even though Python says so.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return None


def clamped_int(body: Body, key: str, default: int, low: int, high: int) -> int:
    """An integer field clamped into [low, high]; a missing or non-integer value is the default."""
    value = as_int(body.get(key))
    if value is None:
        return default
    return max(low, min(high, value))


def text(body: Body, key: str, default: str = "") -> str:
    """A string field; anything that is not a string is the default."""
    value = body.get(key)
    return value if isinstance(value, str) else default


def flag(body: Body, key: str, default: bool = False) -> bool:
    """A boolean field; anything that is not a JSON boolean is the default."""
    value = body.get(key)
    return value if isinstance(value, bool) else default


def model_key(body: Body) -> str:
    """The requested model key; empty or not a string means the spec's default "eros"."""
    value = text(body, "model").strip()
    return value or DEFAULT_MODEL


def required_prompt(body: Body, limits: Limits) -> str:
    """The raw prompt, which must be a non-blank string within the length limit."""
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise bad_request(PROMPT_REQUIRED)
    if len(prompt) > limits.max_prompt_chars:
        raise bad_request(f"Prompt is too long (max {limits.max_prompt_chars} characters)")
    return prompt


def bounded_text(body: Body, key: str, max_chars: int) -> str:
    """A free-text field within ``max_chars``; a longer one is refused, never cut silently."""
    value = text(body, key)
    if len(value) > max_chars:
        raise bad_request(f"{key} is too long (max {max_chars} characters)")
    return value


def output_format(body: Body) -> str:
    """jpeg, png, webp or avif, case-insensitively; anything else is jpeg."""
    value = text(body, "format").strip().lower()
    return value if value in FORMATS else "jpeg"


def image_size(body: Body) -> tuple[int, int, bool]:
    """(width, height, given): one of the seven valid pairs, else 1344×768.

    A single given dimension pairs with the other's default. ``given`` is False only when
    the client sent neither, so the style's own size may still apply.
    """
    given = "width" in body or "height" in body
    width = as_int(body.get("width")) if "width" in body else DEFAULT_SIZE[0]
    height = as_int(body.get("height")) if "height" in body else DEFAULT_SIZE[1]
    if width is None or height is None or (width, height) not in VALID_SIZES:
        return DEFAULT_SIZE[0], DEFAULT_SIZE[1], given
    return width, height, given


def seed(body: Body) -> int | None:
    """The beyond-spec ``seed``: an integer clamped to [0, 2**53-1], or None (random)."""
    value = as_int(body.get("seed"))
    if value is None:
        return None
    return max(0, min(MAX_SEED, value))


def watermark_image(body: Body, limits: Limits) -> str:
    """``wm_image``: empty, or a base64 ``data:image/...`` URI within the size limit."""
    value = text(body, "wm_image").strip()
    if not value:
        return ""
    match = _DATA_URI.match(value)
    if match is None:
        raise bad_request("wm_image must be a base64 data URI (data:image/...;base64,...)")
    payload = value[match.end() :]
    if len(payload) * 3 // 4 > limits.max_wm_image_bytes:
        raise bad_request(f"wm_image is too large (max {limits.max_wm_image_bytes} bytes)")
    try:
        base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise bad_request("wm_image is not valid base64") from None
    return value


def brand_options(body: Body, limits: Limits) -> BrandOptions:
    """The ``wm_*`` fields with the spec's defaults and ranges."""
    position = text(body, "wm_position").strip().lower()
    return BrandOptions(
        image=watermark_image(body, limits),
        position=position if position in WM_POSITIONS else "bottom-right",
        scale=clamped_int(body, "wm_scale", 5, 1, 100),
        transparency=clamped_int(body, "wm_transparency", 100, 0, 100),
        rotation=clamped_int(body, "wm_rotation", 0, -360, 360),
        padding_x=clamped_int(body, "wm_padding_x", 10, 0, 500),
        padding_y=clamped_int(body, "wm_padding_y", 10, 0, 500),
    )


def credential_overrides(body: Body, limits: Limits) -> CredentialOverrides:
    """The ``cs_*`` fields; empty ones leave the configured defaults in place."""
    return CredentialOverrides(
        author=bounded_text(body, "cs_author", limits.max_text_chars),
        title=bounded_text(body, "cs_title", limits.max_text_chars),
        description=bounded_text(body, "cs_description", limits.max_text_chars),
        organization=bounded_text(body, "cs_organization", limits.max_text_chars),
        vendor=bounded_text(body, "cs_vendor", limits.max_text_chars),
    )


def normalize_generate(body: Body, limits: Limits) -> GenerateRequest:
    """A ``generate`` body with every default, fallback and clamp of the spec applied."""
    prompt = required_prompt(body, limits)
    width, height, size_given = image_size(body)
    return GenerateRequest(
        prompt=prompt,
        model=model_key(body),
        negative=bounded_text(body, "negative", limits.max_prompt_chars),
        optimize=flag(body, "optimize"),
        width=width,
        height=height,
        size_given=size_given,
        style=text(body, "style").strip(),
        format=output_format(body),
        quality=clamped_int(body, "quality", 95, 1, 100),
        lossless=flag(body, "lossless"),
        brand=brand_options(body, limits),
        credentials=credential_overrides(body, limits),
        seed=seed(body),
        webhook=webhook_url(body),
        webhook_events=webhook_events(body) if "webhook" in body else (),
    )


def normalize_job(body: Body) -> JobRequest:
    """A ``status`` or ``cancel`` body: ``id`` must look like ``run_`` + 20 of [a-z0-9]."""
    job_id = body.get("id")
    if not isinstance(job_id, str) or JOB_ID.fullmatch(job_id) is None:
        raise ApiError(400, BAD_ID)
    return JobRequest(id=job_id)


def normalize_optimize(body: Body, limits: Limits) -> OptimizeRequest:
    """An ``optimize`` body: a required prompt and the model/style that guide the rewrite."""
    return OptimizeRequest(
        prompt=required_prompt(body, limits),
        model=model_key(body),
        style=text(body, "style").strip(),
    )


def normalize_random(body: Body) -> RandomRequest:
    """A ``random`` body, keeping "character omitted" apart from ``""`` (no character).

    A ``character`` that is not a string (or null) counts as omitted.
    """
    character = body.get("character")
    return RandomRequest(
        character=character if isinstance(character, str) else None,
        model=model_key(body),
        style=text(body, "style").strip(),
        seed=seed(body),
    )
