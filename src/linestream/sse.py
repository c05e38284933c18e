"""Server-Sent Events, with the API of FastAPI's ``fastapi.sse``.

```python
from linestream.sse import EventSourceResponse, ServerSentEvent

@app.get("/events", response_class=EventSourceResponse)
async def events(last_event_id: str | None = Header(None)) -> AsyncIterable[Item]:
    start = int(last_event_id or 0)
    for index in range(start, start + 10):
        yield ServerSentEvent(data=load(index), id=str(index + 1))
```

Without ``response_class``, a streaming route serves SSE too, to clients whose ``Accept`` asks for
``text/event-stream`` (browsers' ``EventSource`` does).
"""

from __future__ import annotations

from starlette.responses import StreamingResponse

from linestream.streams.sse import ServerSentEvent

__all__ = ["EventSourceResponse", "ServerSentEvent"]


class EventSourceResponse(StreamingResponse):
    """Use as ``response_class=`` of a streaming path operation to serve it as ``text/event-stream`` only."""

    media_type = "text/event-stream"
