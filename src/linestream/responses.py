"""The response classes users expect from a Starlette-based framework, importable from one place.

``StreamingResponse`` is also the ``response_class=`` of a path operation that ``yield``s raw ``bytes`` or
``str`` chunks (a file read in chunks, generated audio, plain text from an LLM); a subclass sets its own
``media_type``:

```python
class PNGStreamingResponse(StreamingResponse):
    media_type = "image/png"

@app.get("/image", response_class=PNGStreamingResponse)
def image() -> Iterable[bytes]:
    with open("image.png", "rb") as file:
        yield from iter(lambda: file.read(65536), b"")
```

Such streams get linestream's lifecycle: an error before the first chunk is a real error status, after it a
truncated response; small chunks ready together are coalesced; a disconnect closes the generator at once.
"""

from __future__ import annotations

from typing import Any

import pydantic_core
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


class ORJSONResponse(JSONResponse):
    """A JSON response rendered by pydantic-core's Rust serializer, for code moving from FastAPI's
    ``ORJSONResponse``: linestream needs no orjson, and path operations already serialize this way. Returned
    directly, it renders any value pydantic-core can (models, datetimes, UUIDs, enums...) compactly."""

    def render(self, content: Any) -> bytes:
        return pydantic_core.to_json(content)


#: FastAPI's ``UJSONResponse``, served the same way as ``ORJSONResponse``.
UJSONResponse = ORJSONResponse

__all__ = [
    "EventSourceResponse",
    "FileResponse",
    "HTMLResponse",
    "JSONResponse",
    "ORJSONResponse",
    "PlainTextResponse",
    "RedirectResponse",
    "Response",
    "StreamingResponse",
    "UJSONResponse",
]
