import time
from collections.abc import AsyncIterable, Iterable

import anyio

from bench.apps.common import BLOCK, POOL, Item
from linestream import LineStream
from linestream.responses import StreamingResponse
from linestream.sse import EventSourceResponse

app = LineStream(openapi_url=None)


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


@app.post("/upload")
async def upload(items: AsyncIterable[Item]) -> dict[str, int]:
    count = 0
    async for _ in items:
        count += 1
    return {"count": count}


@app.get("/bytes", response_class=StreamingResponse)
async def raw_bytes(size: int = 65536) -> AsyncIterable[bytes]:
    for _ in range(size // len(BLOCK)):
        yield BLOCK


@app.get("/idle", response_class=EventSourceResponse, sse_keepalive=2.0)
async def idle() -> AsyncIterable[Item]:
    # One event, then nothing but keep-alives: an idle subscriber of a quiet topic.
    yield POOL[0]
    await anyio.sleep(3600)


@app.get("/quick")
async def quick() -> dict[str, bool]:
    return {"ok": True}
