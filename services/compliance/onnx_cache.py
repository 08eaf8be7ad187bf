"""The exported MiniLM graph on disk: written once per model version, verified on every load.

Why a cache: exporting needs torch and sentence-transformers (seconds to import, hundreds
of MB resident); loading a cached export needs neither, so a warm start skips them.

Why keyed by a digest of the model package's files: a new version of the model (or its
tokenizer or pooling config) must never be served through the old graph. The folder name
carries the digest and :data:`FORMAT`, so versions live side by side and a rollback finds
its own export still there.

Why a scratch folder renamed into place: two replicas sharing a data dir may start
together. Each exports into its own scratch folder and renames it to the final name; the
first rename wins, a later one fails on the existing folder and the loser reads the
winner's. Nobody ever reads a half-written export.

Why digests in the manifest: a file cut short or overwritten (a full disk, a bad copy)
would otherwise load as a broken or, worse, a different model. Every load re-hashes the
files (about 0.1 s) and an export that does not match is discarded and rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from services.compliance.onnx_encoder import Pipeline
from services.shared.digests import file_sha256
from services.shared.logging import get_logger

log = get_logger(__name__)

#: Bump when the exported graph or the manifest changes meaning: old exports are then ignored.
FORMAT = 1
GRAPH_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
MANIFEST_FILE = "manifest.json"
#: A scratch folder this old belongs to an export that crashed (a live one takes seconds).
STALE_SCRATCH_S = 3600.0

#: Writes GRAPH_FILE and TOKENIZER_FILE into the folder it is given and describes the pipeline.
Exporter = Callable[[Path], Pipeline]


class CorruptExport(Exception):
    """A cached export that exists but cannot be trusted (its message says why)."""


@dataclass(frozen=True)
class CachedExport:
    """A verified export: the graph's bytes, the tokenizer and the pipeline around them."""

    folder: Path
    pipeline: Pipeline
    graph: bytes
    tokenizer_json: str


def source_digest(model_dir: Path) -> str:
    """sha256 over every file of the model folder (relative path, size and content)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in model_dir.rglob("*") if p.is_file()):
        digest.update(path.relative_to(model_dir).as_posix().encode() + b"\0")
        digest.update(str(path.stat().st_size).encode() + b"\0")
        with path.open("rb") as handle:
            digest.update(hashlib.file_digest(handle, "sha256").digest())
    return digest.hexdigest()


def export_folder(cache_dir: Path, label: str, digest: str) -> Path:
    """Where the export of the model with ``digest`` lives."""
    return cache_dir / f"{label}-v{FORMAT}-{digest[:16]}"


def read_export(folder: Path, digest: str) -> CachedExport | None:
    """The export in ``folder``; None when there is none, :class:`CorruptExport` when it is unusable."""
    try:
        manifest_text = (folder / MANIFEST_FILE).read_text(encoding="utf-8")
    except FileNotFoundError:
        if folder.is_dir():
            raise CorruptExport(f"{folder} has no {MANIFEST_FILE}") from None
        return None
    try:
        manifest = json.loads(manifest_text)
        if manifest["format"] != FORMAT or manifest["source_digest"] != digest:
            raise CorruptExport(f"{folder} was exported from other model files or by another version")
        pipeline = Pipeline.from_json(manifest["pipeline"])
        expected = {
            GRAPH_FILE: manifest["files"][GRAPH_FILE],
            TOKENIZER_FILE: manifest["files"][TOKENIZER_FILE],
        }
    except (ValueError, KeyError, TypeError) as exc:
        raise CorruptExport(f"{folder / MANIFEST_FILE} is unreadable: {exc!r}") from exc
    contents: dict[str, bytes] = {}
    for name, sha in expected.items():
        try:
            contents[name] = (folder / name).read_bytes()
        except FileNotFoundError:
            raise CorruptExport(f"{folder / name} is missing") from None
        if hashlib.sha256(contents[name]).hexdigest() != sha:
            raise CorruptExport(f"{folder / name} does not match its digest in {MANIFEST_FILE}")
    try:
        tokenizer_json = contents[TOKENIZER_FILE].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorruptExport(f"{folder / TOKENIZER_FILE} is not UTF-8") from exc
    return CachedExport(folder, pipeline, contents[GRAPH_FILE], tokenizer_json)


def ensure_exported(
    model_dir: Path, cache_dir: Path, exporter: Exporter, label: str = "minilm"
) -> CachedExport:
    """The verified export of the model in ``model_dir``, running ``exporter`` only when none is cached.

    Raises whatever the exporter raises (and OSError when the cache cannot be written): a
    failed export must keep the service from serving, never fall back to something else.
    """
    digest = source_digest(model_dir)
    target = export_folder(cache_dir, label, digest)
    try:
        cached = read_export(target, digest)
    except CorruptExport as exc:
        log.warning("cached ONNX export is unusable, rebuilding it", reason=str(exc))
        _discard(target)
        cached = None
    if cached is not None:
        return cached
    cache_dir.mkdir(parents=True, exist_ok=True)
    _remove_stale_scratch(cache_dir, label)
    log.info("exporting the sentence model to ONNX once", folder=str(target))
    started = time.perf_counter()
    scratch = Path(tempfile.mkdtemp(prefix=f".{label}-", dir=cache_dir))
    try:
        pipeline = exporter(scratch)
        manifest = {
            "format": FORMAT,
            "source_digest": digest,
            "pipeline": pipeline.to_json(),
            "files": {name: file_sha256(scratch / name) for name in (GRAPH_FILE, TOKENIZER_FILE)},
        }
        (scratch / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        scratch.chmod(0o755)  # mkdtemp's 0700 would hide an export baked into an image from other users
        try:
            scratch.rename(target)
        except OSError:
            if not target.is_dir():
                raise
            log.info("another process placed the ONNX export first; using it", folder=str(target))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    placed = read_export(target, digest)
    if placed is None:
        raise CorruptExport(f"{target} vanished right after it was written")
    log.info("ONNX export ready", folder=str(target), seconds=round(time.perf_counter() - started, 1))
    return placed


def _discard(folder: Path) -> None:
    """Move ``folder`` out of the way first (one rename), then delete it at leisure."""
    trash = folder.with_name(f".discard-{folder.name}-{uuid.uuid4().hex[:8]}")
    try:
        folder.rename(trash)
    except FileNotFoundError:  # another process discarded it already
        return
    shutil.rmtree(trash, ignore_errors=True)


def _remove_stale_scratch(cache_dir: Path, label: str) -> None:
    """Delete scratch and discarded folders left by processes that crashed (each is model-sized)."""
    now = time.time()
    leftovers = [*cache_dir.glob(f".{label}-*"), *cache_dir.glob(f".discard-{label}-*")]
    for path in leftovers:
        try:
            if now - path.stat().st_mtime > STALE_SCRATCH_S:
                shutil.rmtree(path, ignore_errors=True)
        except FileNotFoundError:
            continue
