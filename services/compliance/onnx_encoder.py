"""MiniLM on onnxruntime: the sentence-transformers pipeline without torch at serving time.

On one CPU core a one-prompt encode costs ~13 ms through torch and ~5 ms through
onnxruntime: the model is small, so torch's per-operator dispatch dominates, and
onnxruntime fuses the graph (attention, GELU, layer norm) once when the session is built.
The policy's thresholds were tuned on the sentence-transformers embeddings, so this
encoder must reproduce them, not approximate them: fp32 throughout (int8 moved cosine
scores by several hundredths), the package's own tokenizer and maximum length, and the
same pooling and normalisation arithmetic as its ``Pooling`` and ``Normalize`` modules.

The graph and tokenizer come from :mod:`services.compliance.onnx_cache` (exported once by
:mod:`services.compliance.onnx_export`); this module only runs them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

#: Sentences per graph run; sentence-transformers' default, so padding matches its batches.
BATCH_SIZE = 32


@dataclass(frozen=True)
class Pipeline:
    """What besides the graph turns text into the package's embeddings.

    ``inputs`` are the graph's input names in order (a subset of input_ids, attention_mask,
    token_type_ids); ``normalize`` says whether the package's pipeline ends in ``Normalize``.
    """

    inputs: tuple[str, ...]
    max_seq_length: int
    pad_id: int
    pad_type_id: int
    normalize: bool
    dimension: int

    def to_json(self) -> dict[str, Any]:
        """The manifest form (lists, not tuples)."""
        data = asdict(self)
        data["inputs"] = list(self.inputs)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Pipeline:
        """Parse the manifest form; raises on missing or mistyped fields."""
        pipeline = cls(
            inputs=tuple(str(name) for name in data["inputs"]),
            max_seq_length=int(data["max_seq_length"]),
            pad_id=int(data["pad_id"]),
            pad_type_id=int(data["pad_type_id"]),
            normalize=bool(data["normalize"]),
            dimension=int(data["dimension"]),
        )
        if not {"input_ids", "attention_mask"} <= set(pipeline.inputs):
            raise ValueError(f"graph inputs {pipeline.inputs} lack input_ids or attention_mask")
        return pipeline


def mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean of the unmasked token vectors, as sentence-transformers' ``Pooling(mean)`` computes it."""
    weights = mask[..., None].astype(np.float32)
    summed = (hidden * weights).sum(axis=1, dtype=np.float32)
    counts = np.clip(weights.sum(axis=1, dtype=np.float32), 1e-9, None)
    return summed / counts


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, with ``torch.nn.functional.normalize``'s epsilon."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


class OnnxSentenceEncoder:
    """A :class:`services.compliance.models.SentenceEncoder` over an exported graph and tokenizer."""

    def __init__(self, graph: bytes, tokenizer_json: str, pipeline: Pipeline, threads: int) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = onnxruntime.InferenceSession(
            graph, sess_options=options, providers=["CPUExecutionProvider"]
        )
        graph_inputs = tuple(i.name for i in self._session.get_inputs())
        if set(graph_inputs) != set(pipeline.inputs):
            raise ValueError(f"graph inputs {graph_inputs} differ from the manifest's {pipeline.inputs}")
        self._tokenizer = Tokenizer.from_str(tokenizer_json)
        self._tokenizer.no_padding()  # batches are padded here, to their own longest sentence
        self._tokenizer.enable_truncation(max_length=pipeline.max_seq_length)
        self.pipeline = pipeline

    def encode(
        self,
        sentences: Sequence[str],
        *,
        normalize_embeddings: bool = False,
        convert_to_numpy: bool = True,
        show_progress_bar: bool = False,
    ) -> np.ndarray:
        """One float32 row per sentence, in order (always numpy; no progress bar to show).

        Like sentence-transformers, sentences are sorted by length and run in batches of
        :data:`BATCH_SIZE`, so short ones are not padded to a long one's width. They are
        tokenized one by one: the tokenizer's batch call runs its own thread pool, and the
        service is allowed ``threads`` cores, not all of them.
        """
        del convert_to_numpy, show_progress_bar
        rows = np.zeros((len(sentences), self.pipeline.dimension), dtype=np.float32)
        encodings = [self._tokenizer.encode(sentence) for sentence in sentences]
        order = sorted(range(len(encodings)), key=lambda i: -len(encodings[i].ids))
        for start in range(0, len(order), BATCH_SIZE):
            batch = order[start : start + BATCH_SIZE]
            rows[batch] = self._embed([encodings[i] for i in batch])
        if normalize_embeddings or self.pipeline.normalize:
            rows = l2_normalize(rows)
        return rows

    def _embed(self, encodings: list[Any]) -> np.ndarray:
        width = max(len(e.ids) for e in encodings)
        ids = np.full((len(encodings), width), self.pipeline.pad_id, dtype=np.int64)
        types = np.full((len(encodings), width), self.pipeline.pad_type_id, dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            length = len(encoding.ids)
            ids[row, :length] = encoding.ids
            types[row, :length] = encoding.type_ids
            mask[row, :length] = encoding.attention_mask
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        (hidden,) = self._session.run(None, {name: feeds[name] for name in self.pipeline.inputs})
        return mean_pool(hidden, mask)
