"""Regenerate the Python gRPC stubs under ``imgen/`` from ``protos/``.

The generated modules are committed so that an install needs no protoc; CI runs this
script with ``--check`` so a proto edit without regenerated stubs fails the build.

Usage: ``python scripts/gen_protos.py [--check]``
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"
OUT_PACKAGE = "imgen"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")


def our_protos() -> list[Path]:
    """Only our own packages are generated; vendored third-party protos ship stubs in wheels."""
    return sorted((PROTO_ROOT / OUT_PACKAGE).rglob("*.proto"))


def generate(out_dir: Path) -> list[Path]:
    """Run protoc into ``out_dir`` and add the ``__init__.py`` files the packages need."""
    protos = our_protos()
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *[str(p.relative_to(PROTO_ROOT)) for p in protos],
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    written = [p for p in (out_dir / OUT_PACKAGE).rglob("*") if p.name.endswith(GENERATED_SUFFIXES)]
    for directory in {p.parent for p in written}:
        for package_dir in [directory, *directory.relative_to(out_dir).parents]:
            target = out_dir / package_dir
            if target == out_dir:
                continue
            init = target / "__init__.py"
            if not init.exists():
                init.write_text("")
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the committed stubs are stale")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_root = Path(tmp)
        generated = generate(tmp_root)
        stale: list[str] = []
        for path in generated:
            rel = path.relative_to(tmp_root)
            committed = ROOT / rel
            if args.check:
                if not committed.exists() or not filecmp.cmp(path, committed, shallow=False):
                    stale.append(str(rel))
            else:
                committed.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, committed)
                init_dir = committed.parent
                while init_dir != ROOT:
                    (init_dir / "__init__.py").touch(exist_ok=True)
                    init_dir = init_dir.parent
        expected = {str(p.relative_to(tmp_root)) for p in generated}
        extra = [
            str(p.relative_to(ROOT))
            for p in (ROOT / OUT_PACKAGE).rglob("*")
            if p.name.endswith(GENERATED_SUFFIXES) and str(p.relative_to(ROOT)) not in expected
        ]
        if args.check:
            if stale or extra:
                print("generated stubs are stale; run: python scripts/gen_protos.py", file=sys.stderr)
                for name in stale + extra:
                    print(f"  {name}", file=sys.stderr)
                return 1
            print(f"{len(generated)} generated files are up to date")
            return 0
        for name in extra:
            (ROOT / name).unlink()
        print(f"wrote {len(generated)} files under {OUT_PACKAGE}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
