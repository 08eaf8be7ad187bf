"""The baseline of ``bench gateway``: a bare ASGI app answering every request with fixed JSON.

Run as ``python -m bench._bare_asgi PORT BODY_FILE``; it serves the bytes of BODY_FILE
with uvicorn under the same loop/HTTP implementation choices the gateway gets, so the
ratio measures what the gateway adds, not the server underneath.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import uvicorn


def make_app(body: bytes) -> Any:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        more = True
        while more:  # read the request body, as the gateway does
            message = await receive()
            more = message.get("more_body", False)
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def main(argv: list[str]) -> int:
    port, body_file = int(argv[0]), Path(argv[1])
    uvicorn.run(
        make_app(body_file.read_bytes()),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
