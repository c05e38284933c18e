"""An app for tests that run uvicorn in a subprocess: it counts generator closes and dependency teardowns.

Counters are appended to the file named by LINESTREAM_TEST_LOG, one event per line, so that the test can read
them after the server process exited.
"""

import os
import threading
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable

import anyio

from linestream import Depends, LineStream

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


@app.get("/ready")
async def ready() -> str:
    return "ok"
