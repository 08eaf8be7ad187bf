"""The interface every object store implements, and the values it returns.

The servicer only talks to :class:`ObjectStore`, so the local default and S3 are
interchangeable and the same contract tests run against both. Methods are blocking
(file and network I/O); the servicer runs them off the event loop.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

#: Content type used when a caller gives none.
DEFAULT_CONTENT_TYPE = "application/octet-stream"


@dataclass(frozen=True)
class StoredObject:
    """What a put wrote: callers record the digest to detect corruption later."""

    key: str
    size: int
    sha256: str


@dataclass(frozen=True)
class SignedUrl:
    """An expiring URL a client can GET without credentials."""

    key: str
    url: str
    expires_at: int


@dataclass(frozen=True)
class ObjectMeta:
    """Headers the HTTP layer sends with an object's bytes."""

    content_type: str
    cache_control: str
    size: int


class ObjectStore(ABC):
    """Objects under safe relative keys (see :mod:`services.storage.keys`)."""

    @abstractmethod
    def put(self, key: str, data: bytes, content_type: str, cache_control: str) -> StoredObject:
        """Store ``data`` under ``key``, replacing any previous object atomically."""

    @abstractmethod
    def presign(self, key: str, expires_in: int) -> SignedUrl:
        """A URL for ``key`` valid for ``expires_in`` seconds from now; no I/O."""

    @abstractmethod
    def open_signed(self, key: str, expires: int, signature: str) -> tuple[ObjectMeta, Iterator[bytes]]:
        """Check a URL's expiry and signature, then open the object for streaming.

        Raises PermissionDenied for an expired or tampered URL, NotFound when the
        object is gone, FailedPrecondition where the store serves its URLs itself.
        """

    @abstractmethod
    def delete(self, keys: Iterable[str]) -> int:
        """Remove objects by exact key; returns how many existed and were removed."""

    @abstractmethod
    def delete_prefix(self, prefix: str) -> int:
        """Remove every object whose key starts with ``prefix``; returns the count."""

    def close(self) -> None:  # noqa: B027 - optional hook, most stores hold nothing
        """Release connections or handles; the default holds none."""
