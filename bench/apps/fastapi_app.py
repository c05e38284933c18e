import time
from collections.abc import AsyncIterable, Iterable

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse
from fastapi.sse import EventSourceResponse

from bench.apps.common import BLOCK, POOL, Item

app = FastAPI(openapi_url=None)


@app.get("/typed")
async def typed(n: int = 10) -> AsyncIterable[Item]:
    for index in range(n):
        yield POOL[index & 63]


@app.get("/sync")
def sync(n: int = 10) -> Iterable[Item]:
    for index in range(n):
        yield POOL[index & 63]


@app.get("/untyped")
async def untyped(n: int = 10):  # type: ignore[no-untyped-def]
    for index in range(n):
        yield POOL[index & 63]


@app.get("/sse", response_class=EventSourceResponse)
async def sse(n: int = 10) -> AsyncIterable[Item]:
    for index in range(n):
        yield POOL[index & 63]


@app.get("/slow")
async def slow(n: int = 10) -> AsyncIterable[Item]:
    for index in range(n):
        yield POOL[index & 63]
        await anyio.sleep(1)


@app.get("/slow-sse", response_class=EventSourceResponse)
async def slow_sse(n: int = 10) -> AsyncIterable[Item]:
    for index in range(n):
        yield POOL[index & 63]
        await anyio.sleep(1)


@app.get("/latency")
async def latency(n: int = 10) -> AsyncIterable[dict[str, int]]:
    for _ in range(n):
        await anyio.sleep(0.002)
        yield {"t": time.monotonic_ns()}


@app.post("/upload-json")
async def upload_json(items: list[Item]) -> dict[str, int]:
    # The usual FastAPI way: the whole body is read, parsed and validated as one list.
    return {"count": len(items)}


@app.post("/upload-stream")
async def upload_stream(request: Request) -> dict[str, int]:
    # The hand-written streaming way: split request.stream() into lines and validate each.
    count = 0
    rest = b""
    async for chunk in request.stream():
        *lines, rest = (rest + chunk).split(b"\n")
        for line in lines:
            if line:
                Item.model_validate_json(line)
                count += 1
    if rest.strip():
        Item.model_validate_json(rest)
        count += 1
    return {"count": count}


@app.get("/bytes", response_class=StreamingResponse)
async def raw_bytes(size: int = 65536) -> AsyncIterable[bytes]:
    for _ in range(size // len(BLOCK)):
        yield BLOCK
