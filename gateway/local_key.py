"""The developer's local API key for ``imgen up``, ``imgen demo`` and the tests.

On a laptop nobody wants to copy a key by hand after every start, so the first key is
created automatically and its plaintext kept in the data directory, readable only by its
owner (0600). The store itself still holds only the hash. Deployed gateways never call
this: their keys come from ``imgen keys create``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from gateway.keys import KeyStore, looks_like_key

LOCAL_KEY_FILE = "local_api_key"
LOCAL_KEY_NAME = "local"


def local_key_path(data_dir: Path) -> Path:
    """Where the local key's plaintext is kept."""
    return Path(data_dir) / LOCAL_KEY_FILE


def database_url_for(data_dir: Path, env: Mapping[str, str] | None = None) -> str:
    """The key store URL a gateway started with ``env`` and ``data_dir`` uses."""
    from gateway.main import Settings

    overrides: dict[str, object] = {"data_dir": Path(data_dir)}
    url = (env or {}).get("IMGEN_GATEWAY_DATABASE_URL")
    if url:
        overrides["database_url"] = url
    return Settings(**overrides).resolved_database_url()  # type: ignore[arg-type]


def read_local_key(data_dir: Path) -> str | None:
    """The saved local key, or None when there is none."""
    path = local_key_path(data_dir)
    try:
        value = path.read_text().strip()
    except OSError:
        return None
    return value if looks_like_key(value) else None


def ensure_local_key(data_dir: Path, env: Mapping[str, str] | None = None) -> str:
    """The local key, created (and saved 0600) when missing or no longer valid."""
    store = KeyStore(database_url_for(data_dir, env))
    try:
        existing = read_local_key(data_dir)
        if existing and store.verify(existing) is not None:
            return existing
        _record, plaintext = store.create(LOCAL_KEY_NAME)
    finally:
        store.close()
    path = local_key_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(plaintext + "\n")
    os.chmod(path, 0o600)
    return plaintext
