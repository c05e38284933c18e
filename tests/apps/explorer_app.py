"""The demo app plus the streams the explorer's browser tests need: fast, slow, failing, dropping, validated."""

from __future__ import annotations

from collections.abc import AsyncIterable
from typing import Annotated, Literal

import anyio
from pydantic import BaseModel

from examples import items, orders, stream_data
from linestream import APIRouter, Header, HTTPException, LineStream, Query
from linestream.sse import ServerSentEvent


class Point(BaseModel):
    x: float
    y: float


class Tick(BaseModel):
    n: int
    label: str
    point: Point
    tags: list[str]


def tick(n: int) -> Tick:
    return Tick(n=n, label=f"tick {n}", point=Point(x=n, y=-n), tags=[f"t{n % 3}"])


router = APIRouter(prefix="/test", tags=["explorer tests"])
#: The Last-Event-ID headers /test/drops was requested with, in order.
drops_seen: list[str | None] = []


@router.get("/ticks")
async def ticks(
    rate: Annotated[int, Query(ge=1, le=100_000)] = 10_000, seconds: Annotated[float, Query(gt=0, le=30)] = 5
) -> AsyncIterable[Tick]:
    """``rate`` items per second for ``seconds`` seconds (in batches every 10 ms)."""
    total = int(rate * seconds)
    per_batch = max(1, rate // 100)
    start = anyio.current_time()
    for n in range(1, total + 1):
        yield tick(n)
        if n % per_batch == 0:
            await anyio.sleep_until(start + n / rate)


@router.get("/slow")
async def slow(count: Annotated[int, Query(ge=1, le=1000)] = 1000) -> AsyncIterable[Tick]:
    """One item every 20 ms."""
    for n in range(1, count + 1):
        yield tick(n)
        await anyio.sleep(0.02)


@router.get("/truncated")
async def truncated(count: Annotated[int, Query(ge=0, le=100)] = 5) -> AsyncIterable[Tick]:
    """``count`` items, then a failure: the response is cut without its final chunk."""
    for n in range(1, count + 1):
        yield tick(n)
    await anyio.sleep(0.05)
    raise RuntimeError("the data source went away")


@router.get("/error-record", stream_errors="record")
async def error_record() -> AsyncIterable[Tick]:
    """Three items, then an in-band error record."""
    for n in range(1, 4):
        yield tick(n)
    await anyio.sleep(0.05)
    raise HTTPException(409, "The job was cancelled by its owner.")


@router.get("/drops", stream_formats=["sse"])
async def drops(last_event_id: Annotated[str | None, Header()] = None) -> AsyncIterable[Tick]:
    """Events 1-3 then the connection drops; a client resuming after an id gets the next three, and so on."""
    drops_seen.append(last_event_id)
    first = int(last_event_id) + 1 if last_event_id else 1
    for n in range(first, first + 3):
        yield ServerSentEvent(data=tick(n), id=str(n))  # type: ignore[misc]
    await anyio.sleep(0.05)
    if first < 7:
        raise RuntimeError("connection dropped")


@router.get("/things/{thing_id}")
async def things(thing_id: int, limit: Annotated[int, Query(ge=1, le=10)] = 3) -> AsyncIterable[Tick]:
    """Known things are 1 and 2; others are a 404."""
    if thing_id not in (1, 2):
        raise HTTPException(404, f"There is no thing {thing_id}.")
    for n in range(1, limit + 1):
        yield tick(thing_id * 100 + n)


class PriceRequest(BaseModel):
    item: str
    quantity: int


class Priced(BaseModel):
    item: str
    total: float


@router.post("/price")
async def price(requests: AsyncIterable[PriceRequest]) -> AsyncIterable[Priced]:
    """Streams in, streams out: each order line of the request body, priced."""
    async for request in requests:
        yield Priced(item=request.item, total=request.quantity * 2.5)


class Token(BaseModel):
    type: Literal["token"] = "token"
    text: str


class Usage(BaseModel):
    type: Literal["usage"] = "usage"
    tokens: int


@router.get("/chat", stream_end=True)
async def chat() -> AsyncIterable[Token | Usage]:
    """Several kinds of event, and an end record."""
    for text in ("Hel", "lo", "!"):
        yield Token(text=text)
    yield Usage(tokens=3)


@router.get("/lookalikes", stream_end=True, stream_errors="record")
async def lookalikes() -> AsyncIterable[dict[str, dict[str, int]]]:
    """Items shaped like the server's records: rows all the same."""
    yield {"end": {"line": 3}}
    yield {"error": {"line": 4}}


app = LineStream(title="explorer test app", topic_backend=orders.backend)
app.include_router(items.app.router)
app.include_router(stream_data.router)
app.include_router(orders.router)
app.include_router(router)
