"""Run benchmarks with one command: ``python -m bench [NAME ...]`` (no name: all of them).

Each module in this folder exposes ``main(argv: list[str]) -> int`` and prints a table
of measurements, each beside the baseline it is compared with (a bare library call or
endpoint measured in the same run) and the ratio, so a reader sees at once how close
the service is to the floor. ``python -m bench --list`` names them.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def available() -> list[str]:
    """Benchmark modules in this folder."""
    folder = Path(__file__).parent
    return sorted(m.name for m in pkgutil.iter_modules([str(folder)]) if not m.name.startswith("_"))


def main(argv: list[str]) -> int:
    names = [a for a in argv if not a.startswith("-")]
    passthrough = [a for a in argv if a.startswith("-") and a != "--list"]
    if "--list" in argv:
        print("\n".join(available()))
        return 0
    status = 0
    for name in names or available():
        if name not in available():
            print(f"unknown benchmark {name!r}; have: {', '.join(available())}", file=sys.stderr)
            return 2
        print(f"\n=== bench {name} ===", flush=True)
        module = importlib.import_module(f"bench.{name}")
        status |= int(module.main(passthrough))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
