"""Streams for ``linestream doctor`` to check (tests/test_doctor.py), served direct and through nginx.

``/ticks``: ``count`` events an ``every`` seconds apart, each with its id, resumed after ``Last-Event-ID``, then
``quiet`` seconds of silence (keep-alives every 0.5 s); ``/forgetful``: the same, but it ignores
``Last-Event-ID``; ``/no-keepalive``: the same without keep-alives. ``gzip_app`` serves ``/ticks`` behind
Starlette's ``GZipMiddleware``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import anyio
from pydantic import BaseModel
from starlette.middleware.gzip import GZipMiddleware

from linestream import Header, LineStream
from linestream.sse import ServerSentEvent


class Tick(BaseModel):
    n: int


async def ticks(start: int, count: int, every: float, quiet: float) -> AsyncIterator[ServerSentEvent[Tick]]:
    for n in range(start, start + count):
        if n > start:
            await anyio.sleep(every)
        yield ServerSentEvent(data=Tick(n=n), id=str(n))
    await anyio.sleep(quiet)


def _start(last_event_id: str | None) -> int:
    return int(last_event_id) + 1 if last_event_id and last_event_id.isdigit() else 0


app = LineStream(sse_keepalive=0.5)


@app.get("/ticks")
async def all_ticks(
    count: int = 6, every: float = 0.25, quiet: float = 0.0, last_event_id: Annotated[str | None, Header()] = None
) -> AsyncIterator[ServerSentEvent[Tick]]:
    async for event in ticks(_start(last_event_id), count, every, quiet):
        yield event


@app.get("/forgetful")
async def forgetful(count: int = 6, every: float = 0.25) -> AsyncIterator[ServerSentEvent[Tick]]:
    async for event in ticks(0, count, every, 0.0):
        yield event


@app.get("/no-keepalive", sse_keepalive=None)
async def no_keepalive(count: int = 2, every: float = 0.1, quiet: float = 0.0) -> AsyncIterator[ServerSentEvent[Tick]]:
    async for event in ticks(0, count, every, quiet):
        yield event


gzip_app = LineStream()
gzip_app.add_middleware(GZipMiddleware, minimum_size=0)


@gzip_app.get("/ticks")
async def gzipped_ticks(count: int = 6, every: float = 0.25) -> AsyncIterator[Tick]:
    async for event in ticks(0, count, every, 0.0):
        assert isinstance(event.data, Tick)
        yield event.data
