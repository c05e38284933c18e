"""One app for the lifecycle on every ASGI server (tests/test_servers.py): it logs generator closes to the file
named by ``LINESTREAM_TEST_LOG`` (the test reads it after the server acted), and counts what it produced."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import anyio

from linestream import HTTPException, LineStream

LOG = os.environ.get("LINESTREAM_TEST_LOG", os.devnull)
PRODUCED = {"big": 0}


def record(event: str) -> None:
    with open(LOG, "a") as log:
        log.write(event + "\n")


app = LineStream(sse_keepalive=None)


@app.get("/ticks")
async def ticks(name: str = "ticks") -> AsyncIterator[dict[str, int]]:
    try:
        for index in range(100_000):
            yield {"index": index}
            await anyio.sleep(0.05)
    finally:
        record(f"closed {name}")


@app.get("/quiet")
async def quiet() -> AsyncIterator[dict[str, int]]:
    try:
        yield {"index": 0}
        await anyio.sleep(60)
    finally:
        record("closed quiet")


@app.get("/refuses")
async def refuses() -> AsyncIterator[dict[str, int]]:
    raise HTTPException(403, "Not for you.")
    yield {"index": 0}  # pragma: no cover - fails before its first item


@app.get("/breaks")
async def breaks() -> AsyncIterator[dict[str, int]]:
    for index in range(3):
        yield {"index": index}
    raise RuntimeError("the source broke")


@app.get("/big")
async def big() -> AsyncIterator[dict[str, str]]:
    """1 KiB items as fast as the client takes them: a slow client holds the generator back."""
    PRODUCED["big"] = 0
    for _ in range(1_000_000):
        PRODUCED["big"] += 1
        yield {"data": "x" * 1024}


@app.get("/produced")
async def produced() -> dict[str, int]:
    return PRODUCED


ARRIVALS: list[float] = []


@app.post("/upload")
async def upload(items: AsyncIterator[dict[str, int]]) -> dict[str, list[float]]:
    """Each item of a streamed body, as it arrives: when (seconds after the first)."""
    import time

    arrivals: list[float] = []
    async for _ in items:
        arrivals.append(time.monotonic())
    return {"after_first": [moment - arrivals[0] for moment in arrivals]}


@app.get("/page")
async def page() -> dict[str, str]:
    return {"page": "an origin for the browser's fetch"}
