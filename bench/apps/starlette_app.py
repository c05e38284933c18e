import time
from collections.abc import AsyncIterator, Iterator

import anyio
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from bench.apps.common import BLOCK, POOL_DICTS


def count(request: Request, default: int = 10) -> int:
    return int(request.query_params.get("n", default))


async def typed(request: Request) -> StreamingResponse:
    n = count(request)

    async def lines() -> AsyncIterator[bytes]:
        for index in range(n):
            yield orjson.dumps(POOL_DICTS[index & 63], option=orjson.OPT_APPEND_NEWLINE)

    return StreamingResponse(lines(), media_type="application/jsonl")


async def sync(request: Request) -> StreamingResponse:
    n = count(request)

    def lines() -> Iterator[bytes]:
        for index in range(n):
            yield orjson.dumps(POOL_DICTS[index & 63], option=orjson.OPT_APPEND_NEWLINE)

    return StreamingResponse(lines(), media_type="application/jsonl")


async def sse(request: Request) -> StreamingResponse:
    n = count(request)

    async def events() -> AsyncIterator[bytes]:
        for index in range(n):
            yield b"data: " + orjson.dumps(POOL_DICTS[index & 63]) + b"\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")


async def slow(request: Request) -> StreamingResponse:
    n = count(request)

    async def lines() -> AsyncIterator[bytes]:
        for index in range(n):
            yield orjson.dumps(POOL_DICTS[index & 63], option=orjson.OPT_APPEND_NEWLINE)
            await anyio.sleep(1)

    return StreamingResponse(lines(), media_type="application/jsonl")


async def slow_sse(request: Request) -> StreamingResponse:
    n = count(request)

    async def events() -> AsyncIterator[bytes]:
        for index in range(n):
            yield b"data: " + orjson.dumps(POOL_DICTS[index & 63]) + b"\n\n"
            await anyio.sleep(1)

    return StreamingResponse(events(), media_type="text/event-stream")


async def latency(request: Request) -> StreamingResponse:
    n = count(request)

    async def lines() -> AsyncIterator[bytes]:
        for _ in range(n):
            await anyio.sleep(0.002)
            yield orjson.dumps({"t": time.monotonic_ns()}, option=orjson.OPT_APPEND_NEWLINE)

    return StreamingResponse(lines(), media_type="application/jsonl")


async def raw_bytes(request: Request) -> StreamingResponse:
    size = int(request.query_params.get("size", 65536))

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(size // len(BLOCK)):
            yield BLOCK

    return StreamingResponse(chunks(), media_type="application/octet-stream")


app = Starlette(
    routes=[
        Route("/typed", typed),
        Route("/sync", sync),
        Route("/untyped", typed),
        Route("/sse", sse),
        Route("/slow", slow),
        Route("/slow-sse", slow_sse),
        Route("/latency", latency),
        Route("/bytes", raw_bytes),
    ]
)
