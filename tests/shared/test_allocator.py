"""The worker's allocator setting: freed buffers are reused, not faulted in from the kernel again.

Each case runs in a fresh interpreter, since the setting is process-wide and the test
process's own heap history would blur the count.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from services.shared.allocator import retain_freed_memory

PROBE = textwrap.dedent(
    """
    import json, resource, sys
    import numpy as np
    if sys.argv[1] == "retain":
        from services.shared.allocator import retain_freed_memory
        assert retain_freed_memory().applied
    def cycle():
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        buffer = np.empty(200 * 2**20, dtype=np.uint8)
        buffer.fill(1)  # touch every page
        del buffer
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    cycle()
    print(json.dumps([cycle() for _ in range(3)]))
    """
)


def second_cycle_faults(mode: str) -> int:
    """Minor page faults of allocating, touching and freeing 200 MB again, after a first time."""
    # 4 KiB pages, so the count is the number of pages touched (numpy would ask for huge pages).
    env = {**os.environ, "NUMPY_MADVISE_HUGEPAGE": "0"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True, timeout=60, env=env
    )
    return min(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc only")
def test_freed_memory_is_reused_instead_of_faulted_in_again() -> None:
    plain = second_cycle_faults("plain")
    retained = second_cycle_faults("retain")
    pages = 200 * 2**20 // 4096
    assert plain > pages // 2, f"without the setting every cycle should fault its pages in: {plain}"
    assert retained < pages // 100, f"with it the second cycle should reuse the heap: {retained}"


def test_report_says_whether_it_applied() -> None:
    report = retain_freed_memory()
    assert report.applied == sys.platform.startswith("linux") or report.reason
