"""The embedded default store: files on local disk and HMAC-signed expiring URLs.

Objects live under ``<data_dir>/objects/<key>``; their content type and Cache-Control
sit beside them in a hidden sidecar (``.<name>.meta.json``) that no key can name
(keys never start with a dot). Writes go to a temporary file that is fsynced and
renamed into place, so a reader sees the old object or the new one, never half of
one, and a crash leaves no torn object.

URLs are ``{public_base_url}/files/{key}?expires={unix}&signature={hex}`` with
signature = HMAC-SHA256(secret, "{key}\\n{expires}"); the gateway serves them by
calling ReadSignedObject, so only this service ever holds the secret.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

from services.shared.errors import InvalidArgument, NotFound, PermissionDenied
from services.storage.backend import DEFAULT_CONTENT_TYPE, ObjectMeta, ObjectStore, SignedUrl, StoredObject
from services.storage.keys import validate_key, validate_prefix

#: Bytes per streamed chunk: small enough for gRPC messages, large enough to be cheap.
CHUNK_SIZE = 64 * 1024
_SIDECAR_SUFFIX = ".meta.json"
# A concurrent prefix delete may remove an empty parent directory between our
# mkdir and our write; retrying the put a few times closes that window.
_PUT_ATTEMPTS = 3


def sign(secret: bytes, key: str, expires: int) -> str:
    """The hex HMAC that authorises GETs of ``key`` until ``expires``."""
    return hmac.new(secret, f"{key}\n{expires}".encode(), hashlib.sha256).hexdigest()


class LocalObjectStore(ObjectStore):
    """Objects as files under ``objects_dir``; URLs served through the gateway."""

    def __init__(
        self,
        objects_dir: Path,
        signing_key: bytes,
        public_base_url: str,
        clock: Callable[[], float] = time.time,
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        objects_dir.mkdir(parents=True, exist_ok=True)
        self._root = objects_dir.resolve()
        self._secret = signing_key
        self._base_url = public_base_url.rstrip("/")
        self._clock = clock
        self._chunk_size = chunk_size

    @property
    def root(self) -> Path:
        """The directory holding the objects."""
        return self._root

    def put(self, key: str, data: bytes, content_type: str, cache_control: str) -> StoredObject:
        path = self._path(validate_key(key))
        meta = json.dumps({"content_type": content_type, "cache_control": cache_control}).encode()
        for attempt in range(_PUT_ATTEMPTS):
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                _atomic_write(_sidecar(path), meta)
                _atomic_write(path, data)
                _fsync_dir(path.parent)
                break
            except (FileExistsError, NotADirectoryError, IsADirectoryError) as exc:
                raise InvalidArgument("object key conflicts with an existing object path") from exc
            except FileNotFoundError:
                if attempt == _PUT_ATTEMPTS - 1:
                    raise
        return StoredObject(key=key, size=len(data), sha256=hashlib.sha256(data).hexdigest())

    def presign(self, key: str, expires_in: int) -> SignedUrl:
        validate_key(key)
        expires_at = int(self._clock()) + expires_in
        signature = sign(self._secret, key, expires_at)
        url = f"{self._base_url}/files/{quote(key, safe='/')}?expires={expires_at}&signature={signature}"
        return SignedUrl(key=key, url=url, expires_at=expires_at)

    def open_signed(self, key: str, expires: int, signature: str) -> tuple[ObjectMeta, Iterator[bytes]]:
        if expires < self._clock():
            raise PermissionDenied("URL expired")
        expected = sign(self._secret, key, expires)
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise PermissionDenied("invalid signature")
        path = self._path(validate_key(key))
        try:
            handle = open(path, "rb")  # noqa: SIM115 - closed by the chunk iterator
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise NotFound("object not found") from exc
        size = os.fstat(handle.fileno()).st_size
        content_type, cache_control = _read_sidecar(path)
        meta = ObjectMeta(content_type=content_type, cache_control=cache_control, size=size)
        return meta, _chunks(handle, self._chunk_size)

    def delete(self, keys: Iterable[str]) -> int:
        paths = [self._path(validate_key(key)) for key in list(keys)]
        return sum(self._remove(path) for path in paths)

    def delete_prefix(self, prefix: str) -> int:
        validate_prefix(prefix)
        directory, _, _ = prefix.rpartition("/")
        base = self._path(directory) if directory else self._root
        if not base.is_dir():
            return 0
        doomed: list[Path] = []
        for current, dirs, files in os.walk(base):
            dirs[:] = [name for name in dirs if not name.startswith(".")]
            for name in files:
                if name.startswith("."):
                    continue
                path = Path(current, name)
                if path.relative_to(self._root).as_posix().startswith(prefix):
                    doomed.append(path)
        return sum(self._remove(path) for path in doomed)

    def _path(self, key: str) -> Path:
        """The file for a validated key; refuses anything that resolves outside the root."""
        path = self._root.joinpath(*key.split("/"))
        if not os.path.realpath(path).startswith(str(self._root) + os.sep):
            raise InvalidArgument("object key resolves outside the object store")
        return path

    def _remove(self, path: Path) -> int:
        try:
            path.unlink()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError):
            return 0
        _sidecar(path).unlink(missing_ok=True)
        self._prune(path.parent)
        return 1

    def _prune(self, directory: Path) -> None:
        """Remove directories left empty, up to (not including) the root."""
        while directory != self._root and directory.is_relative_to(self._root):
            try:
                directory.rmdir()
            except OSError:
                return
            directory = directory.parent


def _sidecar(path: Path) -> Path:
    return path.with_name(f".{path.name}{_SIDECAR_SUFFIX}")


def _read_sidecar(path: Path) -> tuple[str, str]:
    try:
        meta = json.loads(_sidecar(path).read_bytes())
        return str(meta.get("content_type") or DEFAULT_CONTENT_TYPE), str(meta.get("cache_control") or "")
    except (OSError, ValueError):
        return DEFAULT_CONTENT_TYPE, ""


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a fsynced temporary file and a rename."""
    temp = path.with_name(f".tmp-{secrets.token_hex(8)}-{path.name[:64]}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise


def _fsync_dir(directory: Path) -> None:
    """Make the renames durable: a rename is only on disk once its directory is."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _chunks(handle: BinaryIO, size: int) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(size):
            yield chunk
