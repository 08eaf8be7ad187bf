"""HTTP contract of the gateway, in-process, against real gRPC upstreams.

The prompt and storage services are the real ones; compliance and inference are the
scripted stand-ins of :mod:`tests.gateway.doubles`, so every job state and upstream
failure can be produced on demand.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import grpc
import httpx
import pytest
import pytest_asyncio

from gateway.app import create_app
from gateway.keys import KeyStore
from gateway.main import Settings
from imgen.compliance.v1 import compliance_pb2
from imgen.inference.v1 import inference_pb2
from imgen.mesh import free_port
from imgen.provenance.v1 import provenance_pb2
from imgen.storage.v1 import storage_pb2, storage_pb2_grpc
from services.shared.errors import Unavailable

from .conftest import InProcessGateway

pytestmark = pytest.mark.asyncio(loop_scope="module")

JOB_ID = re.compile(r"run_[a-z0-9]{20}")
GEN_ID = re.compile(r"[a-z0-9]{20}")
META_KEYS = [
    "id",
    "gen_id",
    "time",
    "prompt",
    "positive",
    "negative",
    "character",
    "model",
    "style",
    "width",
    "height",
    "format",
    "quality",
    "lossless",
    "optimized",
    "compliance",
    "compliance_codes",
    "fingerprint",
    "images",
    "enable_invisimark",
    "enable_c2pa",
    "compute_pdq",
    "wm_position",
    "wm_scale",
    "wm_transparency",
    "wm_rotation",
    "wm_padding_x",
    "wm_padding_y",
    "cs_author",
    "cs_title",
    "cs_description",
    "cs_organization",
    "cs_vendor",
    "seed",
    "watermark",
    "notes",
]


def error_of(response: httpx.Response) -> str:
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}, body
    return str(body["error"])


# ---------------------------------------------------------------- transport, JSON, auth, action


@pytest.mark.parametrize(
    "raw",
    [
        b"{",
        b"",
        b"not json",
        b'{"action": "models",}',
        b'{"action": NaN}',
        b"\xff\xfe{}",
        b"{'action': 'models'}",
    ],
)
async def test_invalid_json_is_400(gateway: InProcessGateway, raw: bytes) -> None:
    response = await gateway.client.post(
        "/api/v2", content=raw, headers={"Authorization": f"Bearer {gateway.api_key}"}
    )
    assert response.status_code == 400
    assert error_of(response) == "Invalid JSON"


@pytest.mark.parametrize("document", [[], ["action", "models"], "models", 5, None, True])
async def test_body_that_is_not_an_object_is_400(gateway: InProcessGateway, document: Any) -> None:
    response = await gateway.client.post(
        "/api/v2", content=json.dumps(document), headers={"Authorization": f"Bearer {gateway.api_key}"}
    )
    assert response.status_code == 400
    assert "JSON object" in error_of(response)


async def test_huge_body_is_413_with_or_without_content_length(gateway: InProcessGateway) -> None:
    huge = json.dumps({"action": "generate", "prompt": "x" * (300 * 1024)}).encode()
    headers = {"Authorization": f"Bearer {gateway.api_key}"}
    response = await gateway.client.post("/api/v2", content=huge, headers=headers)
    assert response.status_code == 413
    assert "too large" in error_of(response)

    async def chunked() -> Any:
        for start in range(0, len(huge), 16 * 1024):
            yield huge[start : start + 16 * 1024]

    response = await gateway.client.post("/api/v2", content=chunked(), headers=headers)
    assert response.status_code == 413
    assert "too large" in error_of(response)


async def test_deeply_nested_json_is_refused_not_crashing(gateway: InProcessGateway) -> None:
    raw = b'{"action": "models", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    response = await gateway.client.post(
        "/api/v2", content=raw, headers={"Authorization": f"Bearer {gateway.api_key}"}
    )
    assert response.status_code == 400
    assert error_of(response) == "Invalid JSON"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer imgen_" + "A" * 32},
        {"Authorization": "Bearer nonsense"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": ""},
    ],
)
async def test_missing_or_wrong_key_is_401(gateway: InProcessGateway, headers: dict[str, str]) -> None:
    response = await gateway.client.post("/api/v2", json={"action": "models"}, headers=headers)
    assert response.status_code == 401
    assert error_of(response) == "Unauthorized"
    assert response.headers["www-authenticate"] == "Bearer"


async def test_auth_comes_before_the_action(gateway: InProcessGateway) -> None:
    response = await gateway.client.post("/api/v2", json={"action": "no-such-action"})
    assert response.status_code == 401


async def test_disabled_key_is_refused_within_the_cache_ttl(gateway: InProcessGateway) -> None:
    record, key = gateway.store.create("to-disable")
    assert (await gateway.call({"action": "models"}, key=key)).status_code == 200
    gateway.store.disable(record.id)
    await asyncio.sleep(gateway.settings.key_cache_ttl_s + 0.05)
    response = await gateway.call({"action": "models"}, key=key)
    assert response.status_code == 401
    assert error_of(response) == "Unauthorized"
    gateway.store.enable(record.id)
    await asyncio.sleep(gateway.settings.key_cache_ttl_s + 0.05)
    assert (await gateway.call({"action": "models"}, key=key)).status_code == 200


async def test_requests_are_counted_per_key(gateway: InProcessGateway) -> None:
    record, key = gateway.store.create("counted")
    for _ in range(5):
        await gateway.call({"action": "nope"}, key=key)  # counted even when the action is wrong
    for _ in range(100):
        await asyncio.sleep(0.02)
        if gateway.store.get(record.id).request_count == 5:
            break
    assert gateway.store.get(record.id).request_count == 5


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "Missing action"),
        ({"action": ""}, "Missing action"),
        ({"action": None}, "Missing action"),
        ({"prompt": "x"}, "Missing action"),
        ({"action": "explode"}, "Unknown action"),
        ({"action": 5}, "Unknown action"),
        ({"action": ["models"]}, "Unknown action"),
        ({"action": "Models "}, "Unknown action"),
    ],
)
async def test_missing_and_unknown_action(
    gateway: InProcessGateway, body: dict[str, Any], message: str
) -> None:
    response = await gateway.call(body)
    assert response.status_code == 400
    assert error_of(response) == message


async def test_every_response_has_a_request_id(gateway: InProcessGateway) -> None:
    ok = await gateway.call({"action": "models"})
    bad = await gateway.client.post("/api/v2", content=b"{")
    assert ok.headers["x-request-id"] and bad.headers["x-request-id"]
    assert ok.headers["x-request-id"] != bad.headers["x-request-id"]
    kept = await gateway.client.get("/healthz", headers={"X-Request-Id": "trace-12345678"})
    assert kept.headers["x-request-id"] == "trace-12345678"
    replaced = await gateway.client.get("/healthz", headers={"X-Request-Id": "bad id\twith tabs"})
    assert replaced.headers["x-request-id"] != "bad id\twith tabs"


async def test_other_methods_and_paths_answer_json(gateway: InProcessGateway) -> None:
    response = await gateway.client.get("/api/v2")
    assert response.status_code == 405 and error_of(response)
    response = await gateway.client.post("/nothing-here", json={})
    assert response.status_code == 404 and error_of(response)


async def test_health_readiness_and_metrics(gateway: InProcessGateway) -> None:
    assert (await gateway.client.get("/healthz")).json() == {"status": "ok"}
    ready = await gateway.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    await gateway.call({"action": "models"})
    metrics = await gateway.client.get("/metrics")
    assert 'imgen_gateway_requests_total{action="models",status="200"}' in metrics.text


# ---------------------------------------------------------------- models


async def test_models_shape_and_order(gateway: InProcessGateway) -> None:
    response = await gateway.call({"action": "models"})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"characters", "models"}
    assert body["characters"] and all(isinstance(c, str) for c in body["characters"])
    assert "eros" in body["models"]
    for model in body["models"].values():
        assert set(model) == {"label", "default_style", "styles"}
        assert model["default_style"] in model["styles"]
        for style in model["styles"].values():
            assert set(style) == {"label"} and isinstance(style["label"], str)
    # Order is the catalog's, as the prompt service lists it.
    from imgen.prompt.v1 import prompt_pb2, prompt_pb2_grpc

    async with grpc.aio.insecure_channel(gateway.settings.prompt_addr) as channel:
        listed = await prompt_pb2_grpc.PromptServiceStub(channel).ListModels(prompt_pb2.ListModelsRequest())
    assert body["characters"] == list(listed.characters)
    assert list(body["models"]) == [m.key for m in listed.models]
    for model in listed.models:
        assert list(body["models"][model.key]["styles"]) == [s.key for s in model.styles]


# ---------------------------------------------------------------- generate


async def test_generate_answers_the_spec_shape_and_queues_the_spec(gateway: InProcessGateway) -> None:
    prompt = "@aya black dress, sitting on bed, -red dress"
    response = await gateway.call({"action": "generate", "prompt": prompt})
    assert response.status_code == 200, response.text
    body = response.json()
    assert list(body) == ["id", "prompt", "model", "format", "gen_id"]
    assert JOB_ID.fullmatch(body["id"]) and GEN_ID.fullmatch(body["gen_id"])
    assert body["prompt"] == prompt
    assert body["model"] == "eros" and body["format"] == "jpeg"

    submitted = gateway.inference.submitted[-1]
    spec = submitted.spec
    assert spec.raw_prompt == prompt
    assert spec.prompt.character == "aya" and "red dress" in spec.prompt.negative
    assert spec.prompt.style == "professional"
    assert (spec.width, spec.height, spec.format, spec.quality, spec.lossless) == (
        1344,
        768,
        "jpeg",
        95,
        False,
    )
    assert spec.brand == provenance_pb2.BrandWatermark(
        position="bottom-right", scale=5, transparency=100, rotation=0, padding_x=10, padding_y=10
    )
    assert spec.enable_invisimark and spec.enable_c2pa and spec.compute_pdq
    assert spec.api_key_id == gateway.store.verify(gateway.api_key).id
    assert 0 <= spec.seed < 2**32
    review = gateway.compliance.reviews[-1]
    assert review.model == "eros" and review.style == "professional"
    assert any(t.source == "user" for t in review.texts)


async def test_generate_passes_options_through(gateway: InProcessGateway) -> None:
    response = await gateway.call(
        {
            "action": "generate",
            "prompt": "a cat",
            "width": 832,
            "height": 1216,
            "format": "WEBP",
            "quality": 250,
            "lossless": True,
            "seed": 1234,
            "wm_position": "top-left",
            "wm_scale": 0,
            "wm_rotation": -400,
            "cs_author": "Ann",
            "cs_vendor": "Acme",
            "style": "boudoir",
            "negative": "extra fingers",
        }
    )
    assert response.status_code == 200, response.text
    assert response.json()["format"] == "webp"
    spec = gateway.inference.submitted[-1].spec
    assert (spec.width, spec.height, spec.format, spec.quality, spec.lossless, spec.seed) == (
        832,
        1216,
        "webp",
        100,
        True,
        1234,
    )
    assert (spec.brand.position, spec.brand.scale, spec.brand.rotation) == ("top-left", 1, -360)
    assert (spec.credentials.author, spec.credentials.vendor) == ("Ann", "Acme")
    assert spec.prompt.style == "boudoir"
    assert spec.prompt.negative.endswith("extra fingers")


@pytest.mark.parametrize(
    ("fields", "check"),
    [
        (
            {"model": "no-such-model"},
            lambda body, spec: body["model"] == "eros" and spec.prompt.model == "eros",
        ),
        ({"width": 1000, "height": 1000}, lambda body, spec: (spec.width, spec.height) == (1344, 768)),
        ({"width": "1024", "height": 1024}, lambda body, spec: (spec.width, spec.height) == (1344, 768)),
        ({"style": "no-such-style"}, lambda body, spec: spec.prompt.style == "professional"),
        ({"style": ""}, lambda body, spec: spec.prompt.style == "professional"),
        ({"format": "gif"}, lambda body, spec: body["format"] == "jpeg" and spec.format == "jpeg"),
        ({"format": 7}, lambda body, spec: body["format"] == "jpeg"),
        (
            {"optimize": "yes", "lossless": "no", "quality": "high", "wm_scale": None, "negative": 5},
            lambda body, spec: (
                not spec.prompt.optimized
                and not spec.lossless
                and spec.quality == 95
                and spec.brand.scale == 5
            ),
        ),
    ],
)
async def test_generate_silent_fallbacks(
    gateway: InProcessGateway, fields: dict[str, Any], check: Any
) -> None:
    response = await gateway.call({"action": "generate", "prompt": "a cat", **fields})
    assert response.status_code == 200, response.text
    assert check(response.json(), gateway.inference.submitted[-1].spec)


@pytest.mark.parametrize(
    "fields", [{}, {"prompt": ""}, {"prompt": "   "}, {"prompt": 42}, {"prompt": None}, {"prompt": ["a"]}]
)
async def test_generate_without_prompt_is_400(gateway: InProcessGateway, fields: dict[str, Any]) -> None:
    response = await gateway.call({"action": "generate", **fields})
    assert response.status_code == 400
    assert error_of(response) == "Prompt is required"
    assert not gateway.inference.submitted


async def test_generate_with_unknown_character_is_400(gateway: InProcessGateway) -> None:
    response = await gateway.call({"action": "generate", "prompt": "@nobodyknows a cat"})
    assert response.status_code == 400
    assert error_of(response) == "Invalid character"
    assert not gateway.inference.submitted


async def test_generate_with_optimize_echoes_the_optimized_prompt(gateway: InProcessGateway) -> None:
    prompt = "@aya black dress, -red dress"
    response = await gateway.call({"action": "generate", "prompt": prompt, "optimize": True})
    assert response.status_code == 200, response.text
    spec = gateway.inference.submitted[-1].spec
    assert spec.prompt.optimized is True
    assert response.json()["prompt"] == spec.raw_prompt
    assert response.json()["prompt"].startswith("@aya") and "-red dress" in response.json()["prompt"]


@pytest.mark.parametrize("failing", ["compliance", "inference"])
async def test_generate_upstream_failure_is_502(gateway: InProcessGateway, failing: str) -> None:
    getattr(gateway, failing).fail_with = Unavailable("database unreachable")
    response = await gateway.call({"action": "generate", "prompt": "a cat"})
    assert response.status_code == 502
    assert error_of(response) == "Generation failed"


# ---------------------------------------------------------------- status


@pytest.mark.parametrize(
    "job_id",
    [
        None,
        "",
        "run_abc123xyz",
        "RUN_abcdefghij0123456789",
        12,
        "run_abcdefghij0123456789/../x",
        "run_ABCDEFGHIJ0123456789",
    ],
)
async def test_status_with_malformed_id_is_bad_id(gateway: InProcessGateway, job_id: Any) -> None:
    body = {"action": "status"} if job_id is None else {"action": "status", "id": job_id}
    response = await gateway.call(body)
    assert response.status_code == 400
    assert error_of(response) == "Bad ID"


async def test_status_of_unknown_job_is_bad_id(gateway: InProcessGateway) -> None:
    response = await gateway.call({"action": "status", "id": "run_" + "0" * 20})
    assert response.status_code == 400
    assert error_of(response) == "Bad ID"


async def generate(gateway: InProcessGateway, **fields: Any) -> dict[str, Any]:
    response = await gateway.call({"action": "generate", "prompt": "@aya a cat, -red dress", **fields})
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_status_pending_states(gateway: InProcessGateway) -> None:
    job = await generate(gateway)
    status = {"action": "status", "id": job["id"], "prompt": job["prompt"], "model": job["model"]}
    gateway.inference.jobs[job["id"]].queue_position = 3
    body = (await gateway.call(status)).json()
    assert body == {"status": "IN_QUEUE", "queue_position": 3}
    record = gateway.inference.jobs[job["id"]]
    record.state, record.step, record.total_steps = inference_pb2.JOB_STATE_IN_PROGRESS, 5, 20
    body = (await gateway.call(status)).json()
    assert body == {"status": "IN_PROGRESS", "progress": 0.25, "step": 5, "total_steps": 20}


async def store_object(gateway: InProcessGateway, key: str, data: bytes, content_type: str) -> None:
    async with grpc.aio.insecure_channel(gateway.storage_addr) as channel:
        await storage_pb2_grpc.StorageServiceStub(channel).PutObject(
            storage_pb2.PutObjectRequest(key=key, data=data, content_type=content_type)
        )


async def complete_job(gateway: InProcessGateway, job_id: str) -> tuple[bytes, bytes]:
    """Mark a job delivered with two real stored objects, as a worker would."""
    record = gateway.inference.jobs[job_id]
    image, thumb = b"\xff\xd8signed-image-bytes" * 100, b"\xff\xd8thumb"
    prefix = f"images/2026/11/23/{record.gen_id}"
    names = [f"{record.gen_id}_abcdef_00001.jpg", f"{record.gen_id}_abcdef_00001_thumb.jpg"]
    await store_object(gateway, f"{prefix}/{names[0]}", image, "image/jpeg")
    await store_object(gateway, f"{prefix}/{names[1]}", thumb, "image/jpeg")
    record.state = inference_pb2.JOB_STATE_COMPLETED
    record.compliance = "safe"
    record.compliance_codes.append("suggestive")
    record.finished_at = "2026-11-23T19:02:50.123456+00:00"
    record.result.CopyFrom(
        inference_pb2.JobResult(
            fingerprint="ab" * 32,
            watermark_payload="0123456789abcdef",
            credentials=provenance_pb2.Credentials(
                author="Ann", title="AI Image", description="d", organization="Org", vendor="imgen"
            ),
            images=[
                inference_pb2.StoredImage(
                    key=f"{prefix}/{names[0]}",
                    filename=names[0],
                    type="signed",
                    mime_type="image/jpeg",
                    size=len(image),
                ),
                inference_pb2.StoredImage(
                    key=f"{prefix}/{names[1]}",
                    filename=names[1],
                    type="thumbnail",
                    mime_type="image/jpeg",
                    size=len(thumb),
                ),
            ],
            notes=["lossless honoured as near-lossless"],
        )
    )
    return image, thumb


async def test_status_completed_safe_has_the_spec_meta(gateway: InProcessGateway) -> None:
    job = await generate(gateway, seed=77, wm_padding_x=25)
    image, thumb = await complete_job(gateway, job["id"])
    response = await gateway.call(
        {"action": "status", "id": job["id"], "prompt": job["prompt"], "model": "eros"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert list(body) == ["status", "meta"] and body["status"] == "COMPLETED"
    meta = body["meta"]
    assert list(meta) == META_KEYS
    assert meta["id"] == job["id"] and meta["gen_id"] == job["gen_id"]
    assert meta["time"] == "2026-11-23T19:02:50Z"
    assert meta["prompt"] == job["prompt"] and meta["character"] == "aya"
    assert meta["model"] == "eros" and meta["style"] == "professional"
    assert (meta["width"], meta["height"], meta["format"], meta["quality"]) == (1344, 768, "jpeg", 95)
    assert meta["lossless"] is False and meta["optimized"] is False
    assert meta["compliance"] == "safe" and meta["compliance_codes"] == ["suggestive"]
    assert meta["fingerprint"] == "ab" * 32
    assert (meta["enable_invisimark"], meta["enable_c2pa"], meta["compute_pdq"]) == (True, True, True)
    assert (meta["wm_position"], meta["wm_scale"], meta["wm_transparency"]) == ("bottom-right", 5, 100)
    assert (meta["wm_rotation"], meta["wm_padding_x"], meta["wm_padding_y"]) == (0, 25, 10)
    assert (meta["cs_author"], meta["cs_title"], meta["cs_vendor"]) == ("Ann", "AI Image", "imgen")
    assert meta["seed"] == 77 and meta["watermark"] == "0123456789abcdef"
    assert meta["notes"] == ["lossless honoured as near-lossless"]
    assert [(i["type"], set(i)) for i in meta["images"]] == [
        ("signed", {"url", "filename", "type"}),
        ("thumbnail", {"url", "filename", "type"}),
    ]
    signed = next(i for i in meta["images"] if i["type"] == "signed")  # the spec's own client code
    fetched = await gateway.client.get(signed["url"])
    assert fetched.status_code == 200 and fetched.content == image
    assert fetched.headers["content-type"] == "image/jpeg" and fetched.headers["cache-control"]
    thumb_url = meta["images"][1]["url"]
    assert (await gateway.client.get(thumb_url)).content == thumb


def tamper(url: str, name: str) -> str:
    parts = urlsplit(url)
    query = [
        (k, ("0" if v[0] != "0" else "1") + v[1:] if k == name else v) for k, v in parse_qsl(parts.query)
    ]
    return urlunsplit(parts._replace(query=urlencode(query)))


async def test_files_refuse_tampered_expired_and_missing(gateway: InProcessGateway) -> None:
    job = await generate(gateway)
    await complete_job(gateway, job["id"])
    meta = (await gateway.call({"action": "status", "id": job["id"]})).json()["meta"]
    url = meta["images"][0]["url"]
    for bad in (tamper(url, "signature"), tamper(url, "expires")):
        response = await gateway.client.get(bad)
        assert response.status_code == 403 and error_of(response)
    response = await gateway.client.get(urlsplit(url).path)  # no query at all
    assert response.status_code == 403 and error_of(response)
    expired = urlunsplit(urlsplit(url)._replace(query="expires=1000&signature=" + "0" * 64))
    assert (await gateway.client.get(expired)).status_code == 403
    # A valid signature for an object that is gone.
    async with grpc.aio.insecure_channel(gateway.storage_addr) as channel:
        await storage_pb2_grpc.StorageServiceStub(channel).DeleteObjects(
            storage_pb2.DeleteObjectsRequest(keys=[gateway.inference.jobs[job["id"]].result.images[0].key])
        )
    gone = await gateway.client.get(url)
    assert gone.status_code == 404 and error_of(gone)


async def test_status_completed_blocked(gateway: InProcessGateway) -> None:
    gateway.compliance.blocked_terms = {
        "cat": compliance_pb2.Category(id="animals", name="Animal Content"),
        "dress": compliance_pb2.Category(id="fashion", name="Fashion"),
    }
    job = await generate(gateway)
    body = (await gateway.call({"action": "status", "id": job["id"]})).json()
    assert body == {
        "status": "COMPLETED",
        "compliance": "unsafe",
        "error": "Content blocked — flagged for: Animal Content, Fashion.",
        "filter_categories": ["animals", "fashion"],
    }


@pytest.mark.parametrize(
    ("state", "error", "expected"),
    [
        (
            inference_pb2.JOB_STATE_FAILED,
            "Generation failed",
            {"status": "FAILED", "error": "Generation failed"},
        ),
        (inference_pb2.JOB_STATE_FAILED, "", {"status": "FAILED", "error": "Generation failed"}),
        (
            inference_pb2.JOB_STATE_TIMED_OUT,
            "Ran past 600 s",
            {"status": "TIMED_OUT", "error": "Ran past 600 s"},
        ),
        (inference_pb2.JOB_STATE_CANCELLED, "", {"status": "CANCELLED", "error": "Job cancelled"}),
    ],
)
async def test_status_terminal_failures(
    gateway: InProcessGateway, state: int, error: str, expected: dict[str, str]
) -> None:
    job = await generate(gateway)
    record = gateway.inference.jobs[job["id"]]
    record.state, record.error = state, error
    assert (await gateway.call({"action": "status", "id": job["id"]})).json() == expected


async def test_status_upstream_failure_is_502(gateway: InProcessGateway) -> None:
    gateway.inference.fail_with = Unavailable("db down")
    response = await gateway.call({"action": "status", "id": "run_" + "a" * 20})
    assert response.status_code == 502
    assert error_of(response) == "Generation failed"


# ---------------------------------------------------------------- cancel


async def test_cancel(gateway: InProcessGateway) -> None:
    job = await generate(gateway)
    response = await gateway.call({"action": "cancel", "id": job["id"]})
    assert response.status_code == 200 and response.json() == {"status": "CANCELLED"}
    status = (await gateway.call({"action": "status", "id": job["id"]})).json()
    assert status["status"] == "CANCELLED" and status["error"]
    again = await gateway.call({"action": "cancel", "id": job["id"]})
    assert again.status_code == 409 and error_of(again)
    unknown = await gateway.call({"action": "cancel", "id": "run_" + "1" * 20})
    assert unknown.status_code == 400 and error_of(unknown) == "Bad ID"
    malformed = await gateway.call({"action": "cancel", "id": "nope"})
    assert malformed.status_code == 400 and error_of(malformed) == "Bad ID"


# ---------------------------------------------------------------- optimize and random


async def test_optimize(gateway: InProcessGateway) -> None:
    prompt = "@aya black lingerie, on bed, -red dress"
    response = await gateway.call({"action": "optimize", "prompt": prompt, "model": "eros"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert list(body) == ["prompt"]
    assert body["prompt"].startswith("@aya") and "-red dress" in body["prompt"]
    for bad in (
        {"action": "optimize"},
        {"action": "optimize", "prompt": " "},
        {"action": "optimize", "prompt": 1},
    ):
        response = await gateway.call(bad)
        assert response.status_code == 400 and error_of(response) == "Prompt is required"
    response = await gateway.call({"action": "optimize", "prompt": "@nobodyknows hi"})
    assert response.status_code == 400 and error_of(response) == "Invalid character"


async def test_random_character_omitted_empty_or_named(gateway: InProcessGateway) -> None:
    characters = (await gateway.call({"action": "models"})).json()["characters"]
    for _ in range(5):
        body = (await gateway.call({"action": "random"})).json()
        assert list(body) == ["prompt"] and body["prompt"].strip()
    for _ in range(5):
        assert "@" not in (await gateway.call({"action": "random", "character": ""})).json()["prompt"]
    named = (await gateway.call({"action": "random", "character": characters[0]})).json()["prompt"]
    assert named.startswith(f"@{characters[0]}")
    response = await gateway.call({"action": "random", "character": "nobodyknows"})
    assert response.status_code == 400 and error_of(response) == "Invalid character"


async def test_random_with_seed_is_reproducible(gateway: InProcessGateway) -> None:
    first = (await gateway.call({"action": "random", "seed": 5})).json()
    second = (await gateway.call({"action": "random", "seed": 5})).json()
    assert first == second


# ---------------------------------------------------------------- upstream down


@pytest_asyncio.fixture(loop_scope="module")
async def gateway_without_upstreams(tmp_path: Any) -> Any:
    dead = f"127.0.0.1:{free_port()}"
    settings = Settings(
        data_dir=tmp_path,
        log_format="json",
        prompt_addr=dead,
        compliance_addr=dead,
        inference_addr=dead,
        storage_addr=dead,
        request_timeout_s=2,
    )
    store = KeyStore(settings.resolved_database_url())
    _record, key = store.create("t")
    app = create_app(settings, store)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://gw") as client,
    ):
        yield client, key
    store.close()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"action": "models"}, "Generation failed"),
        ({"action": "generate", "prompt": "a cat"}, "Generation failed"),
        ({"action": "generate", "prompt": "a cat", "optimize": True}, "Enhancement failed"),
        ({"action": "optimize", "prompt": "a cat"}, "Enhancement failed"),
        ({"action": "status", "id": "run_" + "a" * 20}, "Generation failed"),
        ({"action": "random"}, "Generation failed"),
    ],
)
async def test_upstream_down_is_502(
    gateway_without_upstreams: Any, body: dict[str, Any], message: str
) -> None:
    client, key = gateway_without_upstreams
    response = await client.post("/api/v2", json=body, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 502
    assert error_of(response) == message


async def test_readiness_fails_when_upstreams_are_down(gateway_without_upstreams: Any) -> None:
    client, _key = gateway_without_upstreams
    assert (await client.get("/healthz")).status_code == 200
    ready = await client.get("/readyz")
    assert ready.status_code == 503 and ready.json()["status"] == "not ready"
    files = await client.get("/files/images/x.jpg?expires=9999999999&signature=" + "0" * 64)
    assert files.status_code == 502 and error_of(files)
