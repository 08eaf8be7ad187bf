"""Exporting a sentence-transformers model folder to an ONNX graph and a tokenizer file.

Only the transformer becomes a graph (token ids in, token vectors out); pooling and
normalisation stay in :mod:`services.compliance.onnx_encoder`, where they are a few numpy
lines. Only the pipeline shape all-MiniLM-L6-v2 has is accepted (``Transformer`` →
``Pooling(mean)`` → optional ``Normalize``, read from the folder's ``modules.json``):
anything else raises rather than export a graph that would embed differently.

Why from the folder with transformers alone, not through a loaded SentenceTransformer:
importing sentence-transformers costs about 3 s on top of torch and transformers, and the
export happens on a service's very first start, inside its startup budget. The folder's
config files say everything the pipeline needs; the tests hold the exported graph to the
SentenceTransformer's own embeddings.

The export is checked before it is handed to the cache: the graph and the torch network
(pooled the way the pipeline pools) embed the same sentences, and any cosine below
:data:`MIN_COSINE` fails the export, so a graph that traced wrongly can never be cached
and served.

Torch and transformers are imported only inside :func:`export_model_folder`.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from services.compliance.onnx_cache import GRAPH_FILE, TOKENIZER_FILE
from services.compliance.onnx_encoder import OnnxSentenceEncoder, Pipeline

#: The graph must reproduce the torch embeddings to this cosine (fp32 gives ~0.9999999).
MIN_COSINE = 0.9999
ONNX_OPSET = 17
INPUT_ORDER = ("input_ids", "attention_mask", "token_type_ids")
#: Sentences the finished export is checked on: varied lengths, so one batch is padded.
CHECK_SENTENCES = [
    "a cat",
    "a watercolor painting of a lighthouse on a cliff at dawn",
    "Ünïcode, CAPITALS and punctuation!? 14yo — ᴋɪᴅ",
    " ".join(["a long prompt that repeats itself to fill many tokens"] * 8),
]
#: The module types of the one pipeline shape the ONNX encoder reproduces.
TRANSFORMER, POOLING, NORMALIZE = (
    f"sentence_transformers.models.{name}" for name in ("Transformer", "Pooling", "Normalize")
)
#: Pooling flags other than mean: any of them set means the model pools differently.
OTHER_POOLING_MODES = (
    "pooling_mode_cls_token",
    "pooling_mode_max_tokens",
    "pooling_mode_mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens",
    "pooling_mode_lasttoken",
)


class UnsupportedPipeline(ValueError):
    """The model folder is not a Transformer → mean Pooling (→ Normalize) pipeline."""


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise UnsupportedPipeline(f"the model folder has no {path.name}") from error


def describe(model_dir: Path, tokenizer: Any) -> Pipeline:
    """The pipeline of the model in ``model_dir`` as the ONNX encoder will run it.

    Raises :class:`UnsupportedPipeline` for any other shape, pooling or tokenizer.
    """
    modules = sorted(_read_json(model_dir / "modules.json"), key=lambda module: int(module["idx"]))
    kinds = [module["type"] for module in modules]
    if kinds not in ([TRANSFORMER, POOLING], [TRANSFORMER, POOLING, NORMALIZE]) or modules[0]["path"] != "":
        raise UnsupportedPipeline(f"the ONNX backend runs Transformer → Pooling [→ Normalize], not {kinds}")
    pooling = _read_json(model_dir / modules[1]["path"] / "config.json")
    others = [mode for mode in OTHER_POOLING_MODES if pooling.get(mode)]
    if not pooling.get("pooling_mode_mean_tokens") or others or not pooling.get("include_prompt", True):
        raise UnsupportedPipeline(f"the ONNX backend mean-pools; the model's pooling is {pooling}")
    if getattr(tokenizer, "backend_tokenizer", None) is None:
        raise UnsupportedPipeline("the model's tokenizer is not a fast (tokenizers) tokenizer")
    settings = _read_json(model_dir / "sentence_bert_config.json")
    if settings.get("do_lower_case"):
        raise UnsupportedPipeline("the pipeline lower-cases before its tokenizer; the ONNX encoder does not")
    if settings.get("max_seq_length") is None:
        raise UnsupportedPipeline("the model has no max_seq_length")
    produced = tokenizer(["a"])
    return Pipeline(
        inputs=tuple(name for name in INPUT_ORDER if name in produced),
        max_seq_length=int(settings["max_seq_length"]),
        pad_id=int(tokenizer.pad_token_id),
        pad_type_id=int(getattr(tokenizer, "pad_token_type_id", 0)),
        normalize=len(modules) == 3,
        dimension=int(pooling["word_embedding_dimension"]),
    )


def export_model_folder(model_dir: Path, folder: Path) -> Pipeline:
    """Write the model's transformer as GRAPH_FILE and its tokenizer as TOKENIZER_FILE into ``folder``."""
    import torch
    from tokenizers import Tokenizer
    from transformers import AutoModel, AutoTokenizer

    from services.shared.hf_quiet import disable_loading_bars

    disable_loading_bars()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    pipeline = describe(model_dir, tokenizer)
    network = AutoModel.from_pretrained(model_dir).eval()
    names = pipeline.inputs

    class TokenVectors(torch.nn.Module):
        """The transformer's last hidden state from positional tensors (what the exporter traces)."""

        def __init__(self) -> None:
            super().__init__()
            self.network = network

        def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
            return self.network(**dict(zip(names, tensors, strict=True))).last_hidden_state

    # Traced on a padded batch: with no padding in the example, transformers may drop the
    # all-ones attention mask while tracing, and the graph would then ignore padding.
    sample = tokenizer(CHECK_SENTENCES[:2], padding=True, return_tensors="pt")
    axes = {name: {0: "batch", 1: "sequence"} for name in (*names, "token_embeddings")}
    with torch.no_grad(), warnings.catch_warnings():
        # The tracer warns about Python branches on shapes and the exporter about its own
        # deprecation; :func:`check` below is what decides whether the graph is right, and
        # the warnings would only break the service's one-JSON-object-per-line log.
        for category in (torch.jit.TracerWarning, DeprecationWarning, UserWarning):
            warnings.simplefilter("ignore", category)
        torch.onnx.export(
            TokenVectors().eval(),
            tuple(sample[name] for name in names),
            str(folder / GRAPH_FILE),
            dynamo=False,
            input_names=list(names),
            output_names=["token_embeddings"],
            dynamic_axes=axes,
            opset_version=ONNX_OPSET,
            do_constant_folding=True,
        )
    backend = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    backend.no_padding()
    backend.no_truncation()
    (folder / TOKENIZER_FILE).write_text(backend.to_str(), encoding="utf-8")
    check(torch_embeddings(network, tokenizer, pipeline, CHECK_SENTENCES), folder, pipeline)
    return pipeline


def torch_embeddings(network: Any, tokenizer: Any, pipeline: Pipeline, sentences: list[str]) -> np.ndarray:
    """What the pipeline makes of ``sentences`` through torch: mean of the unpadded token vectors."""
    import torch

    batch = tokenizer(
        sentences, padding=True, truncation=True, max_length=pipeline.max_seq_length, return_tensors="pt"
    )
    with torch.no_grad():
        tokens = network(**{name: batch[name] for name in pipeline.inputs}).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(tokens.dtype)
    pooled = (tokens * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
    if pipeline.normalize:
        pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
    return pooled.numpy().astype(np.float32)


def check(expected: np.ndarray, folder: Path, pipeline: Pipeline) -> None:
    """Raise unless the exported files embed :data:`CHECK_SENTENCES` as ``expected`` says."""
    encoder = OnnxSentenceEncoder(
        (folder / GRAPH_FILE).read_bytes(), (folder / TOKENIZER_FILE).read_text(encoding="utf-8"), pipeline, 1
    )
    kwargs = {"normalize_embeddings": True, "convert_to_numpy": True, "show_progress_bar": False}
    produced = encoder.encode(CHECK_SENTENCES, **kwargs)
    unit = expected / np.linalg.norm(expected, axis=1, keepdims=True)
    cosines = (produced * unit).sum(axis=1)
    if float(cosines.min()) < MIN_COSINE:
        raise ValueError(f"the ONNX export embeds differently from the model (cosines {cosines.round(6)})")


def main(argv: list[str] | None = None) -> None:
    """Export ahead of time, e.g. while building an image whose pods start with an empty data dir."""
    import argparse

    from services.compliance import models

    parser = argparse.ArgumentParser(
        prog="python -m services.compliance.onnx_export",
        description="Export MiniLM to ONNX into a folder that compliance.onnx_cache_dir then names.",
    )
    parser.add_argument("cache_dir", type=Path)
    models.sentence_model(1, "onnx", parser.parse_args(argv).cache_dir)


if __name__ == "__main__":
    main()
