"""Exporting a loaded SentenceTransformer to an ONNX graph and a tokenizer file.

Only the transformer becomes a graph (token ids in, token vectors out); pooling and
normalisation stay in :mod:`services.compliance.onnx_encoder`, where they are a few numpy
lines. Only the pipeline shape all-MiniLM-L6-v2 has is accepted (``Transformer`` →
``Pooling(mean)`` → optional ``Normalize``): anything else raises rather than export a
graph that would embed differently.

The export is checked before it is handed to the cache: the graph and the original model
embed the same sentences, and any cosine below :data:`MIN_COSINE` fails the export, so a
graph that traced wrongly can never be cached and served.

Torch and sentence-transformers are imported by the caller that loads the model; this
module imports torch only inside :func:`export_sentence_transformer`.
"""

from __future__ import annotations

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


class UnsupportedPipeline(ValueError):
    """The SentenceTransformer is not a Transformer → mean Pooling (→ Normalize) pipeline."""


def describe(model: Any) -> Pipeline:
    """The pipeline of ``model`` as the ONNX encoder will run it; raises :class:`UnsupportedPipeline`."""
    modules = list(model)
    kinds = [type(m).__name__ for m in modules]
    if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        raise UnsupportedPipeline(f"the ONNX backend runs Transformer → Pooling [→ Normalize], not {kinds}")
    transformer, pooling = modules[0], modules[1]
    if pooling.pooling_mode not in ("mean", ("mean",)) or not pooling.include_prompt:
        raise UnsupportedPipeline(f"the ONNX backend mean-pools; the model pools {pooling.pooling_mode!r}")
    tokenizer = transformer.tokenizer
    if getattr(tokenizer, "backend_tokenizer", None) is None:
        raise UnsupportedPipeline("the model's tokenizer is not a fast (tokenizers) tokenizer")
    if model.max_seq_length is None:
        raise UnsupportedPipeline("the model has no max_seq_length")
    produced = tokenizer(["a"])
    return Pipeline(
        inputs=tuple(name for name in INPUT_ORDER if name in produced),
        max_seq_length=int(model.max_seq_length),
        pad_id=int(tokenizer.pad_token_id),
        pad_type_id=int(getattr(tokenizer, "pad_token_type_id", 0)),
        normalize=len(modules) == 3,
        dimension=int(model.get_embedding_dimension()),
    )


def export_sentence_transformer(model: Any, folder: Path) -> Pipeline:
    """Write ``model``'s transformer as GRAPH_FILE and its tokenizer as TOKENIZER_FILE into ``folder``."""
    import torch
    from tokenizers import Tokenizer

    pipeline = describe(model)
    transformer = model[0]
    network = transformer.auto_model
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
    sample = transformer.tokenizer(CHECK_SENTENCES[:2], padding=True, return_tensors="pt")
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
    tokenizer = Tokenizer.from_str(transformer.tokenizer.backend_tokenizer.to_str())
    tokenizer.no_padding()
    tokenizer.no_truncation()
    (folder / TOKENIZER_FILE).write_text(tokenizer.to_str(), encoding="utf-8")
    check(model, folder, pipeline)
    return pipeline


def check(model: Any, folder: Path, pipeline: Pipeline) -> None:
    """Raise unless the exported files embed :data:`CHECK_SENTENCES` as ``model`` does."""
    encoder = OnnxSentenceEncoder(
        (folder / GRAPH_FILE).read_bytes(), (folder / TOKENIZER_FILE).read_text(encoding="utf-8"), pipeline, 1
    )
    kwargs = {"normalize_embeddings": True, "convert_to_numpy": True, "show_progress_bar": False}
    expected = np.asarray(model.encode(CHECK_SENTENCES, **kwargs), dtype=np.float32)
    cosines = (encoder.encode(CHECK_SENTENCES, **kwargs) * expected).sum(axis=1)
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
