"""The v2 contract against the whole mesh: every service its own process, real gRPC.

Every row of the spec's error table and silent-fallback list; the spec's own client
examples run in ``tests/e2e/test_spec_examples.py``.
"""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import pytest

from gateway.keys import KeyStore
from gateway.local_key import database_url_for

from .conftest import MeshApi

pytestmark = pytest.mark.e2e

JOB_ID = re.compile(r"run_[a-z0-9]{20}")


def poll(api: MeshApi, job: dict[str, Any], timeout: float = 240.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = api.call(
            {"action": "status", "id": job["id"], "prompt": job["prompt"], "model": job["model"]}
        )
        assert status.status_code == 200, status.text
        body = status.json()
        if body["status"] not in ("IN_QUEUE", "IN_PROGRESS"):
            return dict(body)
        time.sleep(0.5)
    raise AssertionError("job did not finish")


def test_models_shape(mesh_api: MeshApi) -> None:
    body = mesh_api.call({"action": "models"}).json()
    assert set(body) == {"characters", "models"}
    first = next(iter(body["models"].values()))
    assert set(first) == {"label", "default_style", "styles"}
    assert first["default_style"] in first["styles"]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({}, 400, "Missing action"),
        ({"action": "generate"}, 400, "Prompt is required"),
        ({"action": "generate", "prompt": "   "}, 400, "Prompt is required"),
        ({"action": "generate", "prompt": "@nobodyknows a cat"}, 400, "Invalid character"),
        ({"action": "random", "character": "nobodyknows"}, 400, "Invalid character"),
        ({"action": "status", "id": "run_abc123xyz"}, 400, "Bad ID"),
        ({"action": "status", "id": "run_" + "0" * 20}, 400, "Bad ID"),
        ({"action": "teleport"}, 400, "Unknown action"),
    ],
)
def test_error_table(mesh_api: MeshApi, body: dict[str, Any], status: int, message: str) -> None:
    response = mesh_api.call(body)
    assert response.status_code == status
    assert response.json() == {"error": message}


def test_unauthorized_missing_wrong_and_disabled_key(mesh_api: MeshApi, mesh: Any) -> None:
    assert httpx.post(mesh_api.url, json={"action": "models"}).status_code == 401
    assert mesh_api.call({"action": "models"}, key="imgen_" + "x" * 32).json() == {"error": "Unauthorized"}
    store = KeyStore(database_url_for(mesh.config.data_dir, mesh.config.environment()))
    try:
        record, key = store.create("to-disable")
        assert mesh_api.call({"action": "models"}, key=key).status_code == 200
        store.disable(record.id)
        time.sleep(2.5)  # the gateway's verification cache lives 2 s
        response = mesh_api.call({"action": "models"}, key=key)
        assert response.status_code == 401 and response.json() == {"error": "Unauthorized"}
    finally:
        store.close()


def test_bad_input_never_crashes(mesh_api: MeshApi) -> None:
    headers = {"Authorization": f"Bearer {mesh_api.api_key}", "Content-Type": "application/json"}
    for raw, status in [(b"{", 400), (b"[1]", 400), (b"\xff", 400), (b"x" * (13 * 1024 * 1024), 413)]:
        response = httpx.post(mesh_api.url, content=raw, headers=headers, timeout=60)
        assert response.status_code == status
        assert set(response.json()) == {"error"}
    weird = mesh_api.call(
        {
            "action": "generate",
            "prompt": "a cat",
            "width": {"x": 1},
            "quality": [1],
            "format": None,
            "wm_scale": "big",
            "seed": "abc",
            "optimize": "yes",
        }
    )
    assert weird.status_code == 200, weird.text
    assert weird.json()["format"] == "jpeg"


def test_silent_fallbacks_reach_the_delivered_image(mesh_api: MeshApi) -> None:
    models = mesh_api.call({"action": "models"}).json()["models"]
    first_model = next(iter(models))
    response = mesh_api.call(
        {
            "action": "generate",
            "prompt": "a quiet lake at dawn",
            "model": "no-such-model",
            "style": "no-such-style",
            "width": 1000,
            "height": 1000,
            "format": "bmp",
        }
    )
    assert response.status_code == 200, response.text
    job = response.json()
    assert list(job) == ["id", "prompt", "model", "format", "gen_id"]
    assert job["model"] == first_model and job["format"] == "jpeg"
    body = poll(mesh_api, job)
    assert body["status"] == "COMPLETED", body
    meta = body["meta"]
    assert (meta["width"], meta["height"], meta["format"]) == (1344, 768, "jpeg")
    assert meta["model"] == first_model and meta["style"] == models[first_model]["default_style"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", meta["time"])
    assert {i["type"] for i in meta["images"]} == {"signed", "thumbnail"}
    again = mesh_api.call({"action": "status", "id": job["id"]}).json()["meta"]["images"]
    for image in again:
        assert httpx.get(image["url"], timeout=30).status_code == 200


def test_optimize_and_random_shapes(mesh_api: MeshApi) -> None:
    optimized = mesh_api.call(
        {"action": "optimize", "prompt": "@aya black lingerie, on bed, -red dress", "model": "eros"}
    ).json()
    assert list(optimized) == ["prompt"] and optimized["prompt"].startswith("@aya")
    assert "-red dress" in optimized["prompt"]
    assert "@" not in mesh_api.call({"action": "random", "character": ""}).json()["prompt"]
    assert mesh_api.call({"action": "random", "character": "aya"}).json()["prompt"].startswith("@aya")
    assert mesh_api.call({"action": "random"}).json()["prompt"]
