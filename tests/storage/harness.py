"""One way to drive either backend in tests: store, fetch a URL, tamper with it, age it.

The local backend's URLs are served through ``open_signed`` (as the gateway does);
S3's are fetched with plain HTTP, as a browser would. Both answer with an HTTP-like
status so the same assertions hold for both.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import httpx

from services.shared.errors import NotFound, PermissionDenied
from services.storage.backend import ObjectStore
from services.storage.local import LocalObjectStore
from services.storage.s3 import S3Config, S3ObjectStore

from .seaweed import SeaweedServer


@dataclass
class Fetched:
    """What a client got for a URL."""

    status: int
    body: bytes = b""
    content_type: str = ""
    cache_control: str = ""


class Harness:
    """A store plus what a test needs to play the client."""

    name: str
    store: ObjectStore
    signature_param: str
    expiry_param: str

    def fetch(self, url: str) -> Fetched:
        raise NotImplementedError

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass as far as URL expiry is concerned."""
        raise NotImplementedError

    def tamper_param(self, url: str, name: str) -> str:
        """The URL with one query parameter changed but still well-formed."""
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        changed = [(k, _altered(v) if k == name else v) for k, v in query]
        assert changed != query, f"{name} not in {url}"
        return urlunsplit(parts._replace(query=urlencode(changed)))

    def swap_key(self, url: str, old_key: str, new_key: str) -> str:
        """The URL with its object key replaced, signature untouched."""
        parts = urlsplit(url)
        assert parts.path.endswith(old_key)
        return urlunsplit(parts._replace(path=parts.path[: -len(old_key)] + new_key))


class LocalHarness(Harness):
    name = "local"
    signature_param = "signature"
    expiry_param = "expires"

    def __init__(self, root: Path, secret: bytes) -> None:
        self.now = time.time()
        self.store = LocalObjectStore(root, secret, "http://files.test", clock=lambda: self.now)

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def fetch(self, url: str) -> Fetched:
        parts = urlsplit(url)
        assert parts.path.startswith("/files/")
        key = unquote(parts.path[len("/files/") :])
        query = dict(parse_qsl(parts.query))
        try:
            meta, chunks = self.store.open_signed(key, int(query["expires"]), query["signature"])
        except PermissionDenied:
            return Fetched(403)
        except NotFound:
            return Fetched(404)
        return Fetched(200, b"".join(chunks), meta.content_type, meta.cache_control)


class S3Harness(Harness):
    name = "s3"
    signature_param = "X-Amz-Signature"
    expiry_param = "X-Amz-Expires"

    def __init__(self, server: SeaweedServer, bucket: str, **overrides: object) -> None:
        self.server = server
        self.bucket = bucket
        options: dict[str, object] = {
            "endpoint_url": server.endpoint_url,
            "addressing_style": "path",
            "access_key_id": server.access_key,
            "secret_access_key": server.secret_key,
            **overrides,
        }
        self.config = S3Config(bucket=bucket, **options)  # type: ignore[arg-type]
        self.store = S3ObjectStore(self.config)

    def advance(self, seconds: float) -> None:
        time.sleep(seconds)

    def fetch(self, url: str) -> Fetched:
        response = httpx.get(url, timeout=10)
        if response.status_code != 200:
            return Fetched(response.status_code)
        return Fetched(
            200,
            response.content,
            response.headers.get("content-type", ""),
            response.headers.get("cache-control", ""),
        )


def _altered(value: str) -> str:
    """A different value of the same shape (digit or hex stays digit or hex)."""
    last = value[-1]
    replacement = "1" if last == "0" else "0"
    return value[:-1] + replacement
