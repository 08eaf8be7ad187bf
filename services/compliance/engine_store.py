"""Loading the engine, retrying a failed load, and reloading when its files change.

A deployment updates hash lists and the policy by replacing files (a ConfigMap, a
mounted volume). The store checks their modification times every few seconds and
rebuilds the engine off the event loop. A failed *first* load leaves the service
without an engine (NOT_SERVING, every review UNAVAILABLE) and is retried; a failed
*reload* keeps the last good engine, which still protects, and logs the error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from services.compliance.categories import policy_files
from services.compliance.review import ComplianceEngine, Limits, ModelOptions, build_engine
from services.shared.logging import get_logger

log = get_logger(__name__)

Fingerprint = tuple[tuple[str, float, int], ...]


class EngineStore:
    """Holds the current engine (None until a load succeeds)."""

    def __init__(
        self,
        policy_path: Path | None,
        hash_list_paths: Sequence[Path],
        limits: Limits | None = None,
        options: ModelOptions | None = None,
    ) -> None:
        self.policy_path = policy_path
        self.hash_list_paths = tuple(hash_list_paths)
        self.limits = limits
        self.options = options
        self.engine: ComplianceEngine | None = None
        self._loaded: Fingerprint | None = None

    def fingerprint(self) -> Fingerprint:
        """Path, mtime and size of every file the engine is built from (-1 for a missing one).

        The policy's names files count too: a deployment adds a public figure by editing one.
        """
        marks = []
        for path in (*policy_files(self.policy_path), *self.hash_list_paths):
            try:
                stat = path.stat()
                marks.append((str(path), stat.st_mtime, stat.st_size))
            except OSError:
                marks.append((str(path), -1.0, -1))
        return tuple(marks)

    async def load(self) -> bool:
        """Build a fresh engine; True when the store has one afterwards that matches the files."""
        marks = self.fingerprint()
        try:
            engine = await asyncio.to_thread(
                build_engine, self.policy_path, self.hash_list_paths, self.limits, self.options
            )
        except Exception as exc:
            # Messages name files and lines, never content; keep the old engine if there is one.
            log.error("compliance load failed", error=str(exc), keeping_previous=self.engine is not None)
            self._loaded = marks
            return False
        self.engine = engine
        self._loaded = marks
        log.info(
            "compliance loaded",
            categories=[c.id for c in engine.categories],
            detectors=[d.name for d in engine.images.detectors],
            hashes=sum(getattr(d, "size", 0) for d in engine.images.detectors if d.name == "pdq"),
            exemplars=engine.semantic.size if engine.semantic else 0,
        )
        return True

    async def watch(self, interval_s: float, on_status: Callable[[bool], Awaitable[None]]) -> None:
        """Forever: retry while there is no engine, reload when a file changed, report readiness."""
        while True:
            await asyncio.sleep(interval_s)
            if self.engine is None or self.fingerprint() != self._loaded:
                await self.load()
                await on_status(self.engine is not None)
