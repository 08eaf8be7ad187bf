"""The live catalog: loaded at startup, reloaded when its file changes.

Operators edit the catalog (a ConfigMap in Kubernetes) without restarting pods, so the
service polls the file's content. A change that does not validate is logged with every
issue and the last good catalog keeps serving: a typo must never take the prompt
service, and with it every ``generate``, down.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

from services.prompt.catalog import Catalog, CatalogError, CatalogIssue, catalog_sizes, parse_catalog
from services.shared.logging import get_logger

log = get_logger(__name__)


class CatalogStore:
    """Holds the current :class:`Catalog`; :meth:`refresh` swaps in a changed, valid file."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        content = self._read()
        if content is None:
            raise CatalogError(str(self.path), [CatalogIssue((), 0, "cannot read file")])
        # A bad catalog at startup is fatal: there is no last good one to fall back to.
        self._catalog = parse_catalog(content.decode("utf-8"), str(self.path))
        self._digest = hashlib.sha256(content).hexdigest()
        self._rejected_digest: str | None = None
        log.info("catalog loaded", path=str(self.path), **catalog_sizes(self._catalog))

    @property
    def current(self) -> Catalog:
        """The catalog requests should use right now."""
        return self._catalog

    def refresh(self) -> bool:
        """Reload if the file's content changed and validates; True when a new catalog is in use."""
        content = self._read()
        if content is None:
            return False
        digest = hashlib.sha256(content).hexdigest()
        if digest in (self._digest, self._rejected_digest):
            return False
        try:
            catalog = parse_catalog(content.decode("utf-8"), str(self.path))
        except (CatalogError, UnicodeDecodeError) as exc:
            self._rejected_digest = digest
            log.error(
                "catalog change rejected; keeping the last good catalog", path=str(self.path), error=str(exc)
            )
            return False
        self._catalog = catalog
        self._digest = digest
        self._rejected_digest = None
        log.info("catalog reloaded", path=str(self.path), **catalog_sizes(catalog))
        return True

    async def watch(self, interval_s: float) -> None:
        """Poll forever (a ServiceRuntime background task, cancelled at shutdown)."""
        while True:
            await asyncio.sleep(interval_s)
            self.refresh()

    def _read(self) -> bytes | None:
        try:
            return self.path.read_bytes()
        except OSError as exc:
            log.error(
                "catalog file unreadable; keeping the last good catalog", path=str(self.path), error=str(exc)
            )
            return None
