"""Memory benchmark: resident memory (RSS) of every mesh process at idle and under load.

Run from the repository root: ``python -m bench services_memory [--jobs=N]``. It starts
the mesh as processes (as ``imgen up`` does), reads each process's RSS with psutil once
everything is ready and idle, then submits ``--jobs`` images at once and samples every
process's RSS every 0.2 s until they are done, keeping the peak. Baselines measured in
the same run: for idle, a bare Python interpreter (the floor of any process); for the
peak under load, the same process at idle.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from imgen.client import AsyncImgenClient, PollPolicy
from imgen.mesh import MeshConfig, running_mesh

MIB = 1024 * 1024


def rss(pid: int) -> int:
    """RSS of a process and its children (a service may fork helpers)."""
    process = psutil.Process(pid)
    total = process.memory_info().rss
    for child in process.children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total


def bare_interpreter_rss() -> int:
    """RSS of ``python -c`` doing nothing: what any Python process costs."""
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3)"]) as proc:
        time.sleep(1.0)
        size = psutil.Process(proc.pid).memory_info().rss
        proc.kill()
    return size


async def load(api_url: str, api_key: str, jobs: int) -> None:
    async with AsyncImgenClient(api_url, api_key, timeout=120) as client:
        submitted = await asyncio.gather(
            *(client.submit(f"a lighthouse on a cliff, study {i}", seed=i) for i in range(jobs))
        )
        policy = PollPolicy(interval_s=0.25, max_polls=2400)
        await asyncio.gather(*(client.wait(job, policy) for job in submitted))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench services_memory")
    parser.add_argument("--jobs", type=int, default=4, help="images submitted at once for the load phase")
    args = parser.parse_args(argv)
    floor = bare_interpreter_rss()
    with (
        tempfile.TemporaryDirectory(prefix="imgen-bench-mem-") as root,
        running_mesh(MeshConfig.ephemeral(Path(root) / "data"), timeout=300) as mesh,
    ):
        asyncio.run(load(mesh.api_url, mesh.api_key, 1))  # warm: model loaded, first image made
        time.sleep(2.0)
        pids = {name: proc.pid for name, proc in mesh.processes.items()}
        idle = {name: rss(pid) for name, pid in pids.items()}
        peak = dict(idle)
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.2):
                for name, pid in pids.items():
                    try:
                        peak[name] = max(peak[name], rss(pid))
                    except psutil.NoSuchProcess:
                        continue

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        asyncio.run(load(mesh.api_url, mesh.api_key, args.jobs))
        done.set()
        sampler.join()

    print(f"RSS per process; idle after one image, peak while {args.jobs} images run at once")
    print(
        f"{'process':<12} {'idle MiB':>9} {'bare python':>12} {'ratio':>7} | "
        f"{'peak MiB':>9} {'idle':>7} {'ratio':>7}"
    )
    for name in pids:
        print(
            f"{name:<12} {idle[name] / MIB:>9.0f} {floor / MIB:>12.0f} {idle[name] / floor:>7.1f} | "
            f"{peak[name] / MIB:>9.0f} {idle[name] / MIB:>7.0f} {peak[name] / idle[name]:>7.2f}"
        )
    total_idle, total_peak = sum(idle.values()), sum(peak.values())
    print(
        f"{'all':<12} {total_idle / MIB:>9.0f} {'':>12} {'':>7} | {total_peak / MIB:>9.0f} "
        f"{total_idle / MIB:>7.0f} {total_peak / total_idle:>7.2f}"
    )
    return 0
