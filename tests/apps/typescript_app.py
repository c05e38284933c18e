"""The demo app plus the routes the TypeScript client's tests need: cut streams, error and end records, kinds of
event, uploads, resumable ticks, and the package's compiled runtime served at /ts/ (same origin, for Chromium)."""

from collections.abc import AsyncIterable
from pathlib import Path
from typing import Annotated, Literal

import anyio
from pydantic import BaseModel
from starlette.staticfiles import StaticFiles

from examples.demo import app
from linestream import APIRouter, Header, HTTPException
from linestream.sse import ServerSentEvent

router = APIRouter(prefix="/test")


class Point(BaseModel):
    n: int
    label: str


class Token(BaseModel):
    kind: Literal["token"] = "token"
    text: str


class Usage(BaseModel):
    kind: Literal["usage"] = "usage"
    tokens: int


POINTS = [Point(n=n, label=f"point {n} \u2028 «{n}»") for n in range(5)]


@router.get("/cut")
async def cut() -> AsyncIterable[Point]:
    for point in POINTS[:3]:
        yield point
    # Later, not at once: a connection cut while the client has unread bytes is reset, and a reset may discard
    # what the client received but had not read yet (browsers do).
    await anyio.sleep(0.3)
    raise RuntimeError("the database went away")


@router.get("/record", stream_errors="record")
async def record() -> AsyncIterable[Point]:
    yield POINTS[0]
    yield POINTS[1]
    raise HTTPException(409, "the job was cancelled")


@router.get("/ended", stream_end=True)
async def ended() -> AsyncIterable[Point]:
    for point in POINTS:
        yield point


@router.get("/lookalikes", stream_end=True, stream_errors="record")
async def lookalikes() -> AsyncIterable[dict[str, dict[str, int]]]:
    """Items shaped like the server's records: items all the same."""
    yield {"end": {"line": 3}}
    yield {"error": {"line": 4}}
    yield {"end": {"count": 2}}


@router.get("/missing/{n}")
async def missing(n: int) -> AsyncIterable[Point]:
    if n > 0:
        raise HTTPException(404, f"no point {n}")
    yield POINTS[0]


@router.get("/chat", stream_end=True)
async def chat() -> AsyncIterable[Token | Usage]:
    yield Token(text="Hel")
    yield Token(text="lo")
    yield Usage(tokens=2)


class Count(BaseModel):
    count: int
    labels: list[str]


@router.post("/upload")
async def upload(points: AsyncIterable[Point]) -> Count:
    labels = [point.label async for point in points]
    return Count(count=len(labels), labels=labels)


@router.get("/ticks", stream_formats=["sse"], sse_keepalive=None)
async def ticks(
    last_event_id: Annotated[int, Header()] = 0, until: int = 1_000_000
) -> AsyncIterable[ServerSentEvent[Point]]:
    for n in range(last_event_id + 1, until + 1):
        yield ServerSentEvent(data=Point(n=n, label=f"tick {n}"), id=str(n))
        await anyio.sleep(0.02)


app.include_router(router)
DIST = Path(__file__).resolve().parents[2] / "clients" / "typescript" / "dist"  # built by the tests (tsc)
app.mount("/ts", StaticFiles(directory=DIST, check_dir=False))
