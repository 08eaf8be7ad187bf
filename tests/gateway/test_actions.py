"""Request normalization: every default, fallback, clamp and wrong type of the spec."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from gateway.actions import (
    normalize_generate,
    normalize_job,
    normalize_optimize,
    normalize_random,
)
from gateway.errors import ApiError
from gateway.request_model import MAX_SEED, VALID_SIZES, BrandOptions, CredentialOverrides, Limits

LIMITS = Limits(max_prompt_chars=100, max_text_chars=20, max_wm_image_bytes=64)


def gen(**fields: Any) -> Any:
    return normalize_generate({"action": "generate", "prompt": "@aya a cat", **fields}, LIMITS)


def test_generate_defaults_match_the_spec() -> None:
    request = gen()
    assert request.prompt == "@aya a cat"
    assert request.model == "eros"
    assert request.negative == ""
    assert request.optimize is False
    assert (request.width, request.height) == (1344, 768)
    assert request.size_given is False
    assert request.style == ""
    assert request.format == "jpeg"
    assert request.quality == 95
    assert request.lossless is False
    assert request.brand == BrandOptions(
        image="", position="bottom-right", scale=5, transparency=100, rotation=0, padding_x=10, padding_y=10
    )
    assert request.credentials == CredentialOverrides()
    assert request.seed is None


@pytest.mark.parametrize("prompt", [None, "", "   ", "\n\t", 5, ["a"], {"a": 1}, True])
def test_prompt_missing_blank_or_wrong_type_is_required(prompt: Any) -> None:
    body = {"action": "generate"} if prompt is None else {"action": "generate", "prompt": prompt}
    with pytest.raises(ApiError) as info:
        normalize_generate(body, LIMITS)
    assert (info.value.status, info.value.message) == (400, "Prompt is required")


def test_prompt_over_the_limit_is_refused_with_a_clear_message() -> None:
    with pytest.raises(ApiError) as info:
        gen(prompt="x" * 101)
    assert info.value.status == 400
    assert "too long" in info.value.message
    assert gen(prompt="x" * 100).prompt == "x" * 100


def test_raw_prompt_is_kept_verbatim() -> None:
    raw = "  @aya t-shirt, -red dress  "
    assert gen(prompt=raw).prompt == raw


@pytest.mark.parametrize(("size", "expected"), [(pair, pair) for pair in sorted(VALID_SIZES)])
def test_every_valid_size_is_kept(size: tuple[int, int], expected: tuple[int, int]) -> None:
    request = gen(width=size[0], height=size[1])
    assert (request.width, request.height) == expected
    assert request.size_given is True


@pytest.mark.parametrize(
    "fields",
    [
        {"width": 1000, "height": 1000},
        {"width": 768, "height": 768},
        {"width": 1344, "height": 1344},
        {"width": "1024", "height": "1024"},
        {"width": 1024.5, "height": 1024},
        {"width": None, "height": 1024},
        {"width": True, "height": 1024},
        {"width": 1024},  # pairs with the default height 768: not a valid pair
        {"height": 1344},
        {"width": -1344, "height": -768},
    ],
)
def test_invalid_sizes_fall_back_to_1344x768(fields: dict[str, Any]) -> None:
    request = gen(**fields)
    assert (request.width, request.height) == (1344, 768)
    assert request.size_given is True


def test_integral_floats_count_as_integers() -> None:
    request = gen(width=1024.0, height=1024.0, quality=80.0)
    assert (request.width, request.height, request.quality) == (1024, 1024, 80)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("png", "png"),
        ("PNG", "png"),
        (" WebP ", "webp"),
        ("avif", "avif"),
        ("jpeg", "jpeg"),
        ("jpg", "jpeg"),
        ("gif", "jpeg"),
        ("", "jpeg"),
        (5, "jpeg"),
        (None, "jpeg"),
        (["png"], "jpeg"),
    ],
)
def test_format_is_case_insensitive_and_falls_back_to_jpeg(value: Any, expected: str) -> None:
    assert gen(format=value).format == expected


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("quality", 0, 1),
        ("quality", -50, 1),
        ("quality", 101, 100),
        ("quality", 50, 50),
        ("quality", "80", 95),
        ("wm_scale", 0, 1),
        ("wm_scale", 1000, 100),
        ("wm_scale", 33, 33),
        ("wm_scale", "big", 5),
        ("wm_transparency", -1, 0),
        ("wm_transparency", 101, 100),
        ("wm_transparency", 40, 40),
        ("wm_transparency", None, 100),
        ("wm_rotation", -361, -360),
        ("wm_rotation", 720, 360),
        ("wm_rotation", -45, -45),
        ("wm_rotation", 4.5, 0),
        ("wm_padding_x", -5, 0),
        ("wm_padding_x", 501, 500),
        ("wm_padding_x", 20, 20),
        ("wm_padding_x", [], 10),
        ("wm_padding_y", -5, 0),
        ("wm_padding_y", 9999, 500),
        ("wm_padding_y", 0, 0),
        ("wm_padding_y", False, 10),
    ],
)
def test_numeric_ranges_are_clamped_and_wrong_types_default(field: str, value: Any, expected: int) -> None:
    request = gen(**{field: value})
    actual = {
        "quality": request.quality,
        "wm_scale": request.brand.scale,
        "wm_transparency": request.brand.transparency,
        "wm_rotation": request.brand.rotation,
        "wm_padding_x": request.brand.padding_x,
        "wm_padding_y": request.brand.padding_y,
    }[field]
    assert actual == expected


@pytest.mark.parametrize(
    ("value", "expected"), [(True, True), (False, False), ("true", False), (1, False), (None, False)]
)
def test_booleans_accept_only_json_booleans(value: Any, expected: bool) -> None:
    assert gen(optimize=value).optimize is expected
    assert gen(lossless=value).lossless is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("eros", "eros"),
        ("unknown-model", "unknown-model"),
        ("", "eros"),
        ("  ", "eros"),
        (7, "eros"),
        (None, "eros"),
    ],
)
def test_model_passes_through_and_defaults_to_eros(value: Any, expected: str) -> None:
    assert gen(model=value).model == expected


def test_style_and_negative_pass_through_with_wrong_types_defaulting() -> None:
    assert gen(style="boudoir").style == "boudoir"
    assert gen(style=3).style == ""
    assert gen(negative="blurry").negative == "blurry"
    assert gen(negative={"x": 1}).negative == ""


@pytest.mark.parametrize(
    ("value", "expected"),
    [("top-left", "top-left"), ("CENTER", "center"), ("middle", "bottom-right"), (3, "bottom-right")],
)
def test_wm_position_falls_back_to_bottom_right(value: Any, expected: str) -> None:
    assert gen(wm_position=value).brand.position == expected


def test_wm_image_accepts_a_base64_data_uri() -> None:
    uri = "data:image/png;base64," + base64.b64encode(b"\x89PNG....").decode()
    assert gen(wm_image=uri).brand.image == uri
    assert gen(wm_image=123).brand.image == ""


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("https://example.com/logo.png", "data URI"),
        ("data:image/png;base64,@@@", "base64"),
        ("data:image/png;base64," + base64.b64encode(b"x" * 200).decode(), "too large"),
    ],
)
def test_wm_image_that_is_not_a_usable_data_uri_is_refused(value: str, fragment: str) -> None:
    with pytest.raises(ApiError) as info:
        gen(wm_image=value)
    assert info.value.status == 400
    assert fragment in info.value.message


def test_credentials_are_taken_and_limited() -> None:
    request = gen(cs_author="Ann", cs_title="T", cs_description="D", cs_organization="O", cs_vendor="V")
    assert request.credentials == CredentialOverrides("Ann", "T", "D", "O", "V")
    assert gen(cs_author=42).credentials.author == ""
    with pytest.raises(ApiError) as info:
        gen(cs_title="x" * 21)
    assert info.value.status == 400 and "cs_title" in info.value.message


@pytest.mark.parametrize(
    ("value", "expected"),
    [(42, 42), (0, 0), (-3, 0), (2**70, MAX_SEED), ("42", None), (1.5, None), (True, None), (None, None)],
)
def test_seed_is_optional_and_clamped(value: Any, expected: int | None) -> None:
    assert gen(seed=value).seed == expected


@pytest.mark.parametrize("job_id", ["run_abcdefghij0123456789", "run_00000000000000000000"])
def test_well_formed_job_ids_pass(job_id: str) -> None:
    assert normalize_job({"id": job_id}).id == job_id


@pytest.mark.parametrize(
    "job_id",
    [
        None,
        "",
        "run_",
        "run_abc123xyz",
        "run_ABCDEFGHIJ0123456789",
        "run_abcdefghij01234567890",
        "job_abcdefghij0123456789",
        " run_abcdefghij0123456789",
        "run_abcdefghij012345678-",
        12345,
        ["run_abcdefghij0123456789"],
        "run_abcdefghij0123456789\n",
    ],
)
def test_malformed_job_ids_are_bad_id(job_id: Any) -> None:
    body = {} if job_id is None else {"id": job_id}
    with pytest.raises(ApiError) as info:
        normalize_job(body)
    assert (info.value.status, info.value.message) == (400, "Bad ID")


def test_optimize_needs_a_prompt_and_defaults_model() -> None:
    request = normalize_optimize({"prompt": "@aya a cat", "model": ""}, LIMITS)
    assert (request.prompt, request.model, request.style) == ("@aya a cat", "eros", "")
    with pytest.raises(ApiError) as info:
        normalize_optimize({"prompt": " "}, LIMITS)
    assert info.value.message == "Prompt is required"


def test_random_keeps_omitted_empty_and_named_character_apart() -> None:
    assert normalize_random({}).character is None
    assert normalize_random({"character": ""}).character == ""
    assert normalize_random({"character": "aya"}).character == "aya"
    assert normalize_random({"character": None}).character is None
    assert normalize_random({"character": 3}).character is None
