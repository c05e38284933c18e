"""Raw data streams: a text story streamed line by line, and a binary file streamed in chunks.

Run it:  uvicorn examples.stream_data:app   (the demo app, examples/demo.py, includes these routes)
Try it:  curl -N http://127.0.0.1:8000/story
         curl -o gradient.png http://127.0.0.1:8000/image
"""

from collections.abc import AsyncIterable, Iterable
from pathlib import Path

import anyio

from linestream import APIRouter, LineStream, Query
from linestream.responses import StreamingResponse

STORY = """Rick built a portal gun in the garage.
Morty asked whether that was a good idea.
The portal opened anyway.
A Plumbus came through, then a Meeseeks Box.
Nobody ever explained what the Plumbus was for.
"""
IMAGE = Path(__file__).parent / "assets" / "gradient.png"
CHUNK_SIZE = 16 * 1024

router = APIRouter(tags=["data"])


class PNGStreamingResponse(StreamingResponse):
    media_type = "image/png"


@router.get("/story", response_class=StreamingResponse)
async def story(delay: float = Query(0.2, ge=0, le=5, description="Seconds between lines")) -> AsyncIterable[str]:
    """The story, one line at a time, as an LLM would produce it."""
    for line in STORY.splitlines(keepends=True):
        yield line
        await anyio.sleep(delay)


@router.get("/image", response_class=PNGStreamingResponse)
def image() -> Iterable[bytes]:
    """A PNG file read and sent in chunks, from a plain ``def`` generator (run off the event loop)."""
    with IMAGE.open("rb") as file:
        while chunk := file.read(CHUNK_SIZE):
            yield chunk


@router.get("/download", response_class=StreamingResponse)
def download(size: int = Query(1024 * 1024, ge=0, description="Bytes to generate")) -> Iterable[bytes]:
    """``size`` bytes of generated binary data (a repeating 0..255 pattern), in 64 KiB chunks."""
    block = bytes(range(256)) * 256
    remaining = size
    while remaining > 0:
        chunk = block[: min(remaining, len(block))]
        remaining -= len(chunk)
        yield chunk


app = LineStream(title="Stream data")
app.include_router(router)
