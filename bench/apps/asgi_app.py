"""The floor under every framework: a bare ASGI callable with no framework at all (memory measurements only).

``/slow`` and ``/slow-sse`` send one pre-encoded item per second, the least any server-side stream can hold per
connection under uvicorn; ``/typed?n=1`` answers so that the benchmark's start-up probe succeeds.
"""

from typing import Any

import anyio
import orjson

from bench.apps.common import POOL_DICTS

LINES = [orjson.dumps(item, option=orjson.OPT_APPEND_NEWLINE) for item in POOL_DICTS]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    sse = scope["path"] == "/slow-sse"
    media_type = b"text/event-stream" if sse else b"application/jsonl"
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", media_type)]})
    count = 1 if scope["path"] == "/typed" else 1000
    for index in range(count):
        line = LINES[index & 63]
        await send({"type": "http.response.body", "body": b"data: " + line + b"\n" if sse else line, "more_body": True})
        if count > 1:
            await anyio.sleep(1)
    await send({"type": "http.response.body", "body": b""})
