"""The response classes users expect from a Starlette-based framework, importable from one place.

``StreamingResponse`` is also the ``response_class=`` of a path operation that ``yield``s raw ``bytes`` or
``str`` chunks (a file read in chunks, generated audio, plain text from an LLM); a subclass sets its own
``media_type``::

    class PNGStreamingResponse(StreamingResponse):
        media_type = "image/png"

    @app.get("/image", response_class=PNGStreamingResponse)
    def image() -> Iterable[bytes]:
        with open("image.png", "rb") as file:
            yield from iter(lambda: file.read(65536), b"")

Such streams get linestream's lifecycle: an error before the first chunk is a real error status, after it a
truncated response; small chunks ready together are coalesced; a disconnect closes the generator at once.
"""

from __future__ import annotations

from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)

from linestream.sse import EventSourceResponse

__all__ = [
    "EventSourceResponse",
    "FileResponse",
    "HTMLResponse",
    "JSONResponse",
    "PlainTextResponse",
    "RedirectResponse",
    "Response",
    "StreamingResponse",
]
