"""Optimization keeps @name and -terms whatever the enhancer does; the OpenAI backend's wire behaviour."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from services.prompt.catalog import Catalog
from services.prompt.enhancer_openai import OpenAIEnhancer
from services.prompt.optimize import EnhanceContext, ExpansionEnhancer, optimize_prompt, optimize_raw
from services.prompt.parser import parse_prompt
from services.shared.errors import InvalidArgument, Unavailable

RAW = "@aya black lingerie, on bed, -red dress, -ugly hands"


async def test_expansion_adds_style_phrases_and_keeps_everything(default_catalog: Catalog) -> None:
    out = await optimize_raw(RAW, default_catalog, ExpansionEnhancer(), "eros", "boudoir")
    parsed = parse_prompt(out, default_catalog.characters)
    assert out.startswith("@aya black lingerie, on bed, ")
    assert parsed.character == "aya"
    assert parsed.negative_terms == ("red dress", "ugly hands")
    added = set(parsed.positive_terms) - {"black lingerie", "on bed"}
    vocabulary = default_catalog.vocabulary_of(default_catalog.models["eros"].styles["boudoir"])
    assert added and added <= {*vocabulary.detail, *vocabulary.lighting, *vocabulary.composition}
    assert out == await optimize_raw(RAW, default_catalog, ExpansionEnhancer(), "eros", "boudoir")


async def test_expansion_does_not_repeat_what_the_user_said(default_catalog: Catalog) -> None:
    out = await optimize_raw(
        "woman, warm lighting, looking at viewer", default_catalog, ExpansionEnhancer(), "", "boudoir"
    )
    parsed = parse_prompt(out, default_catalog.characters)
    lighting = default_catalog.vocabulary_of(default_catalog.models["eros"].styles["boudoir"]).lighting
    assert [t for t in parsed.positive_terms if t in lighting] == ["warm lighting"]


class _Adversary:
    """An enhancer that tries everything an LLM might: new names, negatives, control bytes, floods."""

    name = "adversary"

    def __init__(self, reply: str) -> None:
        self.reply = reply
        self.seen: list[str] = []

    async def enhance(self, positive_terms: Sequence[str], context: EnhanceContext) -> str:
        self.seen = list(positive_terms)
        return self.reply


@pytest.mark.parametrize(
    "reply",
    [
        "@bella lace, -red dress, -ugly hands, silk \x00\x1b[31m robe\x07",
        "ignore all that @aya@bella, --, -, ,,,",
        "",
        "word, " * 2000,
    ],
)
async def test_adversarial_enhancer_cannot_touch_protected_parts(
    default_catalog: Catalog, reply: str
) -> None:
    adversary = _Adversary(reply)
    parsed = await optimize_prompt(RAW, default_catalog, adversary, "eros", "", max_chars=200)
    assert adversary.seen == ["black lingerie", "on bed"]  # the enhancer never sees @aya or -terms
    assert parsed.character == "aya"
    assert parsed.negative_terms == ("red dress", "ugly hands")
    text = ", ".join(parsed.positive_terms)
    assert parsed.positive_terms and len(text) <= 200
    assert "@" not in text and all(ch.isprintable() for ch in text)
    assert not any(term.startswith("-") for term in parsed.positive_terms)


async def test_optimize_reports_parse_errors(default_catalog: Catalog) -> None:
    with pytest.raises(InvalidArgument, match=r"^Invalid character$"):
        await optimize_raw("@nobody x", default_catalog, ExpansionEnhancer())
    with pytest.raises(InvalidArgument, match=r"^Prompt is required$"):
        await optimize_raw("  ", default_catalog, ExpansionEnhancer())


# --- OpenAI-compatible backend against a real HTTP server ------------------------------


class _FakeLLM:
    """Speaks /v1/chat/completions over real HTTP; replies are scripted per call."""

    def __init__(self) -> None:
        self.script: list[tuple[int, Any, float]] = []
        self.requests: list[tuple[dict[str, str], dict[str, Any]]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status, payload, delay = fake.script.pop(0) if fake.script else (500, {}, 0.0)
                time.sleep(delay)
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    @staticmethod
    def completion(text: str) -> dict[str, Any]:
        return {
            "id": "c1",
            "object": "chat.completion",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            ],
        }


@pytest.fixture
def fake_llm() -> Iterator[_FakeLLM]:
    fake = _FakeLLM()
    thread = threading.Thread(target=fake.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


async def test_openai_backend_success(default_catalog: Catalog, fake_llm: _FakeLLM) -> None:
    fake_llm.script = [
        (200, _FakeLLM.completion('"elegant black lace lingerie, perched on bed, -blue, @bella"'), 0.0)
    ]
    enhancer = OpenAIEnhancer(fake_llm.url, "tiny", api_key="sk-test", retries=0)
    out = await optimize_raw(RAW, default_catalog, enhancer, "eros")
    await enhancer.aclose()
    assert out == "@aya elegant black lace lingerie, perched on bed, -red dress, -ugly hands"
    headers, body = fake_llm.requests[0]
    assert headers["authorization"] == "Bearer sk-test"
    assert body["model"] == "tiny" and body["messages"][1]["content"] == "black lingerie, on bed"
    assert "@aya" not in json.dumps(body) and "red dress" not in json.dumps(body)


async def test_openai_backend_retries_transient_failures(
    default_catalog: Catalog, fake_llm: _FakeLLM
) -> None:
    fake_llm.script = [(503, {}, 0.0), (429, {}, 0.0), (200, _FakeLLM.completion("soft light"), 0.0)]
    enhancer = OpenAIEnhancer(fake_llm.url, "tiny", retries=2, backoff_s=0.01)
    assert await optimize_raw("a cat, -dog", default_catalog, enhancer) == "soft light, -dog"
    assert len(fake_llm.requests) == 3
    await enhancer.aclose()


@pytest.mark.parametrize(
    "script",
    [
        [(500, {}, 0.0)] * 3,
        [(401, {"error": "bad key"}, 0.0)],
        [(200, b"not json", 0.0)],
        [(200, _FakeLLM.completion("   "), 0.0)],
        [(200, {"choices": []}, 0.0)],
        [(200, _FakeLLM.completion("late"), 1.0)] * 3,
    ],
)
async def test_openai_backend_failures_are_enhancement_failed(
    default_catalog: Catalog, fake_llm: _FakeLLM, script: list[tuple[int, Any, float]]
) -> None:
    fake_llm.script = list(script)
    enhancer = OpenAIEnhancer(fake_llm.url, "tiny", timeout_s=0.3, retries=2, backoff_s=0.01)
    with pytest.raises(Unavailable, match=r"^Enhancement failed$"):
        await optimize_raw("a cat", default_catalog, enhancer)
    await enhancer.aclose()


async def test_openai_backend_unreachable_is_enhancement_failed(default_catalog: Catalog) -> None:
    enhancer = OpenAIEnhancer("http://127.0.0.1:9/v1", "tiny", timeout_s=0.5, retries=1, backoff_s=0.01)
    with pytest.raises(Unavailable, match=r"^Enhancement failed$"):
        await optimize_raw("a cat", default_catalog, enhancer)
    await enhancer.aclose()
