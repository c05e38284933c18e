import time
from collections.abc import AsyncIterator, Iterator

import anyio
import msgspec
from litestar import Litestar, get
from litestar.response import ServerSentEvent, Stream
from litestar.serialization import encode_json

from bench.apps.common import BLOCK, POOL_DICTS


class Item(msgspec.Struct):
    """Litestar's native fastest model type (msgspec), with the same fields as the shared pydantic Item."""

    name: str
    description: str | None
    price: float
    tags: list[str]


POOL = [msgspec.convert(item, Item) for item in POOL_DICTS]


@get("/typed", media_type="application/jsonl")
async def typed(n: int = 10) -> Stream:
    async def lines() -> AsyncIterator[bytes]:
        for index in range(n):
            yield encode_json(POOL[index & 63]) + b"\n"

    return Stream(lines(), media_type="application/jsonl")


@get("/sync", media_type="application/jsonl", sync_to_thread=False)
def sync(n: int = 10) -> Stream:
    def lines() -> Iterator[bytes]:
        for index in range(n):
            yield encode_json(POOL[index & 63]) + b"\n"

    return Stream(lines(), media_type="application/jsonl")


@get("/sse")
async def sse(n: int = 10) -> ServerSentEvent:
    async def events() -> AsyncIterator[bytes]:
        for index in range(n):
            yield encode_json(POOL[index & 63])

    return ServerSentEvent(events())


@get("/slow", media_type="application/jsonl")
async def slow(n: int = 10) -> Stream:
    async def lines() -> AsyncIterator[bytes]:
        for index in range(n):
            yield encode_json(POOL[index & 63]) + b"\n"
            await anyio.sleep(1)

    return Stream(lines(), media_type="application/jsonl")


@get("/slow-sse")
async def slow_sse(n: int = 10) -> ServerSentEvent:
    async def events() -> AsyncIterator[bytes]:
        for index in range(n):
            yield encode_json(POOL[index & 63])
            await anyio.sleep(1)

    return ServerSentEvent(events())


@get("/latency", media_type="application/jsonl")
async def latency(n: int = 10) -> Stream:
    async def lines() -> AsyncIterator[bytes]:
        for _ in range(n):
            await anyio.sleep(0.002)
            yield encode_json({"t": time.monotonic_ns()}) + b"\n"

    return Stream(lines(), media_type="application/jsonl")


@get("/bytes", media_type="application/octet-stream")
async def raw_bytes(size: int = 65536) -> Stream:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(size // len(BLOCK)):
            yield BLOCK

    return Stream(chunks(), media_type="application/octet-stream")


@get("/untyped", media_type="application/jsonl")
async def untyped(n: int = 10) -> Stream:
    async def lines() -> AsyncIterator[bytes]:
        for index in range(n):
            yield encode_json(POOL[index & 63]) + b"\n"

    return Stream(lines(), media_type="application/jsonl")


app = Litestar(route_handlers=[typed, sync, untyped, sse, slow, slow_sse, latency, raw_bytes], openapi_config=None)
