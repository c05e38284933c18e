"""An app for the hostile-input tests, served in a subprocess with capped memory (tests/test_hostile_input.py).

Limits can be set through the environment (``HOSTILE_IDLE_TIMEOUT``, ``HOSTILE_BODY_TIMEOUT`` seconds), so a test
need not wait for the defaults.
"""

import hashlib
import os
from collections.abc import AsyncIterable, Iterable
from typing import Annotated

from pydantic import BaseModel

from linestream import BodyLimits, File, Form, Header, LineStream, UploadFile
from linestream.topics import SerializedItem, Topic


def _seconds(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


app = LineStream(
    sse_keepalive=None,
    body_limits=BodyLimits(
        idle_timeout=_seconds("HOSTILE_IDLE_TIMEOUT", 60), body_timeout=_seconds("HOSTILE_BODY_TIMEOUT", 300)
    ),
)


class Item(BaseModel):
    name: str
    tags: list[int] = []


@app.post("/count")
async def count(items: AsyncIterable[Item]) -> dict[str, int]:
    total = 0
    async for _ in items:
        total += 1
    return {"count": total}


@app.post("/count-sync")
def count_sync(items: Iterable[Item]) -> dict[str, int]:
    return {"count": sum(1 for _ in items)}


@app.post("/count-numbers")
async def count_numbers(numbers: AsyncIterable[int]) -> dict[str, int]:
    total = 0
    async for _ in numbers:
        total += 1
    return {"count": total}


@app.post("/plain")
async def plain(items: list[Item]) -> dict[str, int]:
    return {"count": len(items)}


@app.post("/upload")
async def upload(file: UploadFile, note: Annotated[str, Form()] = "") -> dict[str, object]:
    digest = hashlib.sha256()
    while chunk := await file.read(1024 * 1024):
        digest.update(chunk)
    return {"filename": file.filename, "size": file.size, "sha256": digest.hexdigest(), "note": note}


@app.post("/upload-bytes")
async def upload_bytes(file: Annotated[bytes, File()]) -> dict[str, int]:
    return {"size": len(file)}


@app.post("/upload-many")
async def upload_many(files: list[UploadFile]) -> dict[str, int]:
    return {"files": len(files), "size": sum(file.size or 0 for file in files)}


@app.post("/upload-many-bytes")
async def upload_many_bytes(files: Annotated[list[bytes], File()]) -> dict[str, int]:
    return {"files": len(files), "size": sum(len(file) for file in files)}


@app.post("/notes")
async def notes(note: Annotated[list[str], Form()]) -> dict[str, int]:
    return {"notes": len(note)}


@app.get("/quick")
async def quick() -> dict[str, bool]:
    return {"ok": True}


@app.get("/stream")
async def stream() -> AsyncIterable[Item]:
    yield Item(name="one")


orders = Topic("orders", Item)


@app.get("/live")
async def live(last_event_id: Annotated[str | None, Header()] = None) -> AsyncIterable[SerializedItem[Item]]:
    async for message in orders.subscribe(last_event_id):
        yield message
