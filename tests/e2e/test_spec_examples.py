"""The spec's own client examples, run unchanged against our gateway.

The examples are read from the spec document at test time (not copied into the
project); only the base URL and the token are swapped, exactly as a user would do.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.e2e

SPEC_URL = "https://imgen-stage.api.efficientstack.com/api/v2"
SPEC_TOKEN = "your-api-key"


def _spec_text() -> str:
    candidates = [
        Path(os.environ.get("IMGEN_SPEC_PATH", "")),
        Path(__file__).resolve().parents[3] / "shared" / "spec" / "imgen-api-v2.txt",
    ]
    for path in candidates:
        if path.is_file():
            return path.read_text()
    pytest.skip("the API spec document is not beside the repository")


def _block(text: str, first_line: str, last_line_prefix: str) -> str:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(first_line))
    end = next(i for i in range(start, len(lines)) if lines[i].startswith(last_line_prefix))
    return "\n".join(lines[start : end + 1]) + "\n"


def _swap(code: str, mesh: Any) -> str:
    return code.replace(SPEC_URL, mesh.api_url).replace(SPEC_TOKEN, mesh.api_key)


def test_python_example(mesh: Any) -> None:
    code = _swap(_block(_spec_text(), "import requests, time", 'print("URL:"'), mesh)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr
    url = result.stdout.strip().removeprefix("URL: ")
    assert httpx.get(url, timeout=30).status_code == 200


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_javascript_example(mesh: Any, tmp_path: Path) -> None:
    code = _swap(_block(_spec_text(), "const API = ", "console.log('Image URL:'"), mesh)
    script = tmp_path / "example.mjs"
    script.write_text(code)
    result = subprocess.run(["node", str(script)], capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr
    url = result.stdout.strip().removeprefix("Image URL: ")
    assert httpx.get(url, timeout=30).status_code == 200


def test_curl_examples(mesh: Any) -> None:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    text = _spec_text()
    block = _block(text, 'TOKEN="your-api-key"', '  -d \'{"action":"status"')
    block = block.replace('TOKEN="your-api-key"', f'TOKEN="{mesh.api_key}"').replace(SPEC_URL, mesh.api_url)
    commands = re.split(r"\n(?=# )", block)
    env = {**os.environ}
    outputs: list[Any] = []
    preamble = "\n".join(line for line in commands[0].splitlines() if not line.startswith("#"))
    for command in commands[1:]:
        result = subprocess.run(
            ["bash", "-c", preamble + "\n" + command], capture_output=True, text=True, timeout=60, env=env
        )
        assert result.returncode == 0, result.stderr
        outputs.append(json.loads(result.stdout))
    models, job, status = outputs
    assert "eros" in models["models"]
    assert job["id"].startswith("run_") and job["model"] == "eros"
    # The status example polls a placeholder id: our gateway answers the spec's Bad ID error.
    assert status == {"error": "Bad ID"}


@pytest.mark.skipif(shutil.which("php") is None, reason="php is not installed")
def test_php_example(mesh: Any, tmp_path: Path) -> None:
    text = _spec_text()
    code = _swap(text[text.index("<?php") :], mesh)  # the last example runs to the end of the document
    script = tmp_path / "example.php"
    script.write_text(code)
    result = subprocess.run(["php", str(script)], capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    url = result.stdout.strip().removeprefix("URL: ")
    assert httpx.get(url, timeout=30).status_code == 200
