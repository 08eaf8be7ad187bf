"""What only the local backend does: files on disk, sidecars, the signing key, chunking."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from services.shared.errors import InvalidArgument, NotFound, PermissionDenied
from services.storage.local import CHUNK_SIZE, LocalObjectStore, sign
from services.storage.main import Settings, build_store
from services.storage.signing_key import load_or_create_signing_key

from .harness import LocalHarness


def test_object_is_a_plain_file_with_a_hidden_sidecar(local_harness: LocalHarness) -> None:
    local_harness.store.put("a/b/c.jpg", b"bytes", "image/jpeg", "no-cache")
    root = local_harness.store.root  # type: ignore[attr-defined]
    assert (root / "a" / "b" / "c.jpg").read_bytes() == b"bytes"
    names = sorted(os.listdir(root / "a" / "b"))
    assert names == [".c.jpg.meta.json", "c.jpg"]  # no temp file left behind


def test_streams_in_64k_chunks(local_harness: LocalHarness) -> None:
    data = os.urandom(CHUNK_SIZE * 3 + 5)
    local_harness.store.put("big.bin", data, "application/octet-stream", "")
    signed = local_harness.store.presign("big.bin", 60)
    expires = signed.expires_at
    signature = signed.url.rsplit("signature=", 1)[1]
    meta, chunks = local_harness.store.open_signed("big.bin", expires, signature)
    sizes = [len(c) for c in chunks]
    assert sizes == [CHUNK_SIZE, CHUNK_SIZE, CHUNK_SIZE, 5]
    assert meta.size == len(data)


def test_url_shape(local_harness: LocalHarness) -> None:
    signed = local_harness.store.presign("x/y.png", 100)
    secret = local_harness.store._secret  # type: ignore[attr-defined]
    expected = sign(secret, "x/y.png", signed.expires_at)
    assert signed.url == f"http://files.test/files/x/y.png?expires={signed.expires_at}&signature={expected}"


def test_checks_expiry_then_signature_then_existence(local_harness: LocalHarness) -> None:
    store = local_harness.store
    with pytest.raises(PermissionDenied, match="URL expired"):
        store.open_signed("gone.jpg", int(local_harness.now) - 1, "0" * 64)
    with pytest.raises(PermissionDenied, match="invalid signature"):
        store.open_signed("gone.jpg", int(local_harness.now) + 60, "0" * 64)
    with pytest.raises(PermissionDenied, match="invalid signature"):
        store.open_signed("gone.jpg", int(local_harness.now) + 60, "ü")
    signed = store.presign("gone.jpg", 60)
    with pytest.raises(NotFound):
        store.open_signed("gone.jpg", signed.expires_at, signed.url.rsplit("=", 1)[1])


def test_urls_signed_with_another_secret_are_refused(tmp_path: Path) -> None:
    first = LocalObjectStore(tmp_path, b"a" * 32, "http://h")
    second = LocalObjectStore(tmp_path, b"b" * 32, "http://h")
    first.put("k.jpg", b"x", "image/jpeg", "")
    signed = first.presign("k.jpg", 60)
    with pytest.raises(PermissionDenied):
        second.open_signed("k.jpg", signed.expires_at, signed.url.rsplit("=", 1)[1])


def test_key_conflicting_with_a_directory_is_refused(local_harness: LocalHarness) -> None:
    local_harness.store.put("a/b/c.jpg", b"x", "image/jpeg", "")
    with pytest.raises(InvalidArgument):
        local_harness.store.put("a/b", b"x", "image/jpeg", "")
    with pytest.raises(InvalidArgument):
        local_harness.store.put("a/b/c.jpg/d", b"x", "image/jpeg", "")


def test_delete_prunes_empty_directories(local_harness: LocalHarness) -> None:
    local_harness.store.put("a/b/c.jpg", b"x", "image/jpeg", "")
    local_harness.store.put("a/keep.jpg", b"x", "image/jpeg", "")
    assert local_harness.store.delete(["a/b/c.jpg"]) == 1
    root = local_harness.store.root  # type: ignore[attr-defined]
    assert not (root / "a" / "b").exists()
    assert (root / "a" / "keep.jpg").exists()


def test_symlink_out_of_the_store_is_not_followed(local_harness: LocalHarness, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    root = local_harness.store.root  # type: ignore[attr-defined]
    os.symlink(outside, root / "link")
    with pytest.raises(InvalidArgument):
        local_harness.store.put("link/secret.txt", b"overwrite", "text/plain", "")
    assert local_harness.store.delete_prefix("link") == 0
    assert (outside / "secret.txt").read_text() == "secret"


def test_signing_key_is_generated_once_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "storage" / "url-signing.key"
    key = load_or_create_signing_key(path)
    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_signing_key(path) == key
    assert os.listdir(path.parent) == ["url-signing.key"]


def test_urls_survive_a_restart(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    first = build_store(settings)
    first.put("k.jpg", b"kept", "image/jpeg", "")
    signed = first.presign("k.jpg", 60)
    again = build_store(Settings(data_dir=tmp_path))
    _meta, chunks = again.open_signed("k.jpg", signed.expires_at, signed.url.rsplit("=", 1)[1])
    assert b"".join(chunks) == b"kept"
    assert (tmp_path / "objects" / "k.jpg").exists()


def test_configured_secret_must_be_long_enough(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        build_store(Settings(data_dir=tmp_path, url_signing_key="short"))
    store = build_store(Settings(data_dir=tmp_path, url_signing_key="s" * 32))
    assert not (tmp_path / "storage").exists()
    signed = store.presign("k", 10)
    assert signed.url.endswith(f"signature={sign(b's' * 32, 'k', signed.expires_at)}")
