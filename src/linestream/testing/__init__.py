"""Streaming test clients for linestream (and any ASGI) apps: ``TestClient`` and its twin ``AsyncTestClient``.

Both are httpx clients whose requests are served in-process by the app, *streamed*: reading the first line of
an infinite stream returns while the generator is still running. Use them as context managers, which also
run the app's lifespan:

```python
with TestClient(app) as client:
    with client.stream("GET", "/items/stream") as response:
        for item in iter_json_lines(response, Item):
            ...

async with AsyncTestClient(app) as client:
    async with client.stream("GET", "/items/stream") as response:
        async for item in aiter_json_lines(response, Item):
            ...
```

``client.websocket_connect(url)`` opens a WebSocket session (``send_text``, ``receive_json``...), as with
Starlette's and FastAPI's test clients.

Closing a streamed response tells the app that the client disconnected, and waits until the app has finished
(its generator closed, its dependencies torn down).
"""

from __future__ import annotations

from linestream.testing._client import AsyncTestClient, TestClient, aiter_json_lines, iter_json_lines
from linestream.testing._transport import ASGIStreamTransport
from linestream.testing._websocket import AsyncWebSocketSession, WebSocketDenialResponse, WebSocketSession

__all__ = [
    "ASGIStreamTransport",
    "AsyncTestClient",
    "AsyncWebSocketSession",
    "TestClient",
    "WebSocketDenialResponse",
    "WebSocketSession",
    "aiter_json_lines",
    "iter_json_lines",
]
