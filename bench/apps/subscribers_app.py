"""The app of bench/slow_subscribers.py: a topic whose SSE subscribers may never read, a route that publishes
to it in a loop (timing each publish, letting other tasks run every 100), and a cheap route."""

from __future__ import annotations

import time
from collections.abc import AsyncIterable
from typing import Annotated

import anyio.lowlevel
from pydantic import BaseModel

from linestream import Header, LineStream
from linestream.topics import SerializedItem, Topic


class Order(BaseModel):
    number: int
    item: str
    note: str


orders = Topic("orders", Order, retention=1000)
app = LineStream(sse_keepalive=None)


@app.get("/live")
async def live(last_event_id: Annotated[str | None, Header()] = None) -> AsyncIterable[SerializedItem[Order]]:
    async for message in orders.subscribe(last_event_id):
        yield message


@app.post("/publish")
async def publish(n: int) -> dict[str, float]:
    started = time.perf_counter()
    worst = 0.0
    for number in range(n):
        before = time.perf_counter()
        await orders.publish(Order(number=number, item="plumbus", note="x" * 60))
        worst = max(worst, time.perf_counter() - before)
        if number % 100 == 99:
            await anyio.lowlevel.checkpoint()  # a publisher that shares the loop with the requests it serves
    return {"seconds": time.perf_counter() - started, "worst_ms": worst * 1000}


@app.get("/subscribers")
async def subscribers() -> dict[str, int]:
    return {"subscribers": orders.subscribers}


@app.get("/quick")
async def quick() -> dict[str, bool]:
    return {"ok": True}
