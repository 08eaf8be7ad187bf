"""Enhancement through any OpenAI-compatible ``/chat/completions`` endpoint.

vLLM, llama.cpp's server, Ollama, LiteLLM and hosted APIs all speak this protocol, so
one small client covers self-hosted and hosted LLMs. Transient failures (transport
errors, 429, 5xx) are retried with a short backoff; anything else, or a reply without
text, is ``Unavailable("Enhancement failed")`` — the gateway maps that to the API's 502.
The API key is sent only in the Authorization header and never logged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import httpx

from services.prompt.llm_instructions import instructions
from services.prompt.optimize import EnhanceContext
from services.prompt.terms import join_terms
from services.shared.errors import Unavailable
from services.shared.logging import get_logger

log = get_logger(__name__)

ENHANCEMENT_FAILED = "Enhancement failed"
_RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


class OpenAIEnhancer:
    """Calls ``{base_url}/chat/completions`` with a per-call timeout and bounded retries."""

    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout_s: float = 20.0,
        retries: int = 2,
        backoff_s: float = 0.5,
        max_tokens: int = 160,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        if not base_url:
            raise ValueError("openai optimizer needs a base URL (prompt.openai_base_url)")
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._model = model
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._timeout = httpx.Timeout(timeout_s)
        self._retries = max(0, retries)
        self._backoff_s = backoff_s
        self._max_tokens = max_tokens
        self._client = client or httpx.AsyncClient()

    async def aclose(self) -> None:
        """Close the connection pool at shutdown."""
        await self._client.aclose()

    async def enhance(self, positive_terms: Sequence[str], context: EnhanceContext) -> str:
        """Ask the endpoint for an enhanced prompt; raise ``Unavailable`` after the last retry."""
        body = {
            "model": self._model,
            "messages": [
                {"role": "system", "content": instructions(context)},
                {"role": "user", "content": join_terms(positive_terms) or "a portrait"},
            ],
            "temperature": 0.7,
            "max_tokens": self._max_tokens,
            "stream": False,
        }
        for attempt in range(self._retries + 1):
            if attempt:
                await asyncio.sleep(self._backoff_s * 2 ** (attempt - 1))
            try:
                response = await self._client.post(
                    self._url, json=body, headers=self._headers, timeout=self._timeout
                )
            except httpx.HTTPError as exc:
                log.warning("enhancer call failed", attempt=attempt + 1, error=type(exc).__name__)
                continue
            if response.status_code in _RETRYABLE_STATUS:
                log.warning("enhancer call failed", attempt=attempt + 1, status=response.status_code)
                continue
            if response.status_code != 200:
                log.warning("enhancer refused the call", status=response.status_code)
                raise Unavailable(ENHANCEMENT_FAILED)
            return _reply_text(response)
        raise Unavailable(ENHANCEMENT_FAILED)


def _reply_text(response: httpx.Response) -> str:
    """The first choice's message content, or ``Unavailable`` when there is none."""
    try:
        payload: Any = response.json()
        content = payload["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        log.warning("enhancer reply is not a chat completion")
        raise Unavailable(ENHANCEMENT_FAILED) from None
    if not isinstance(content, str) or not content.strip():
        log.warning("enhancer reply is empty")
        raise Unavailable(ENHANCEMENT_FAILED)
    # Untrusted text: the sanitiser picks the prompt line out of preambles and echoes.
    return content
