"""An app for tests that run uvicorn in a subprocess: it counts generator closes and dependency teardowns.

Counters are appended to the file named by LINESTREAM_TEST_LOG, one event per line, so that the test can read
them after the server process exited.
"""

import os
import threading
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from typing import Annotated

import anyio

from linestream import Depends, Header, LineStream
from linestream.sse import ServerSentEvent

LOG = os.environ.get("LINESTREAM_TEST_LOG", os.devnull)
_lock = threading.Lock()


def record(event: str) -> None:
    with _lock, open(LOG, "a") as log:
        log.write(event + "\n")


async def resource() -> AsyncIterator[None]:
    record("dependency entered")
    try:
        yield
    finally:
        record("dependency closed")


app = LineStream(sse_keepalive=None)


@app.get("/slow")
async def slow(_: None = Depends(resource)) -> AsyncIterable[dict[str, int]]:
    record("generator started")
    try:
        index = 0
        while True:
            yield {"index": index}
            index += 1
            await anyio.sleep(1)
    finally:
        record("generator closed")


@app.get("/slow-sync")
def slow_sync(_: None = Depends(resource)) -> Iterable[dict[str, int]]:
    record("generator started")
    try:
        index = 0
        while True:
            yield {"index": index}
            index += 1
            time.sleep(0.2)
    finally:
        record("generator closed")


@app.get("/counted")
async def counted(
    n: int = 20_000, last_event_id: Annotated[int | None, Header()] = None
) -> AsyncIterable[ServerSentEvent]:
    """Events 0..n-1 with their index as id, resuming after ``Last-Event-ID``; about 2 s in all for 20,000."""
    start = 0 if last_event_id is None else last_event_id + 1
    for index in range(start, n):
        yield ServerSentEvent(data={"index": index}, id=str(index))
        if index % 20 == 0:
            await anyio.sleep(0.002)


@app.post("/counted-upload")
async def counted_upload(items: AsyncIterable[dict[str, int]]) -> AsyncIterable[dict[str, int]]:
    async for item in items:
        yield item
        await anyio.sleep(0.001)


@app.get("/ready")
async def ready() -> str:
    return "ok"
