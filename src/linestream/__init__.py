"""linestream: typed streaming HTTP APIs. A path operation that ``yield``s items streams them as JSON Lines.

```python
from collections.abc import AsyncIterable
from linestream import LineStream
from pydantic import BaseModel

class Item(BaseModel):
    name: str

app = LineStream()

@app.get("/items/stream")
async def stream_items() -> AsyncIterable[Item]:
    yield Item(name="Plumbus")
```

The names below are loaded on first use (PEP 562), so that ``import linestream.client`` or
``import linestream.streams`` loads no server, and no Starlette.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from starlette.background import BackgroundTasks
    from starlette.exceptions import WebSocketException
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.websockets import WebSocket, WebSocketDisconnect

    from linestream._app import LineStream
    from linestream._bind.forms import UploadFile
    from linestream._declare.options import BodyLimits
    from linestream._early_start import response_may_start
    from linestream._engine.runtime import StreamStats
    from linestream._http_errors import (
        HTTPException,
        InvalidRequestItem,
        RequestValidationError,
        WebSocketRequestValidationError,
    )
    from linestream._routing.route import APIRoute
    from linestream._routing.router import APIRouter
    from linestream._routing.websocket import APIWebSocketRoute
    from linestream._serialization import SerializedItem
    from linestream.exceptions import EndpointDefinitionError, LineStreamError, ResponseValidationError
    from linestream.params import Body, Cookie, Depends, File, Form, Header, Path, Query, Security, SecurityScopes

__version__ = "0.1.0"

#: Where each public name is defined: imported the first time it is asked for.
_LOCATIONS = {
    "APIRoute": "linestream._routing.route",
    "APIRouter": "linestream._routing.router",
    "APIWebSocketRoute": "linestream._routing.websocket",
    "BackgroundTasks": "starlette.background",
    "Body": "linestream.params",
    "BodyLimits": "linestream._declare.options",
    "Cookie": "linestream.params",
    "Depends": "linestream.params",
    "EndpointDefinitionError": "linestream.exceptions",
    "File": "linestream.params",
    "Form": "linestream.params",
    "HTTPException": "linestream._http_errors",
    "Header": "linestream.params",
    "InvalidRequestItem": "linestream._http_errors",
    "LineStream": "linestream._app",
    "LineStreamError": "linestream.exceptions",
    "Path": "linestream.params",
    "Query": "linestream.params",
    "Request": "starlette.requests",
    "RequestValidationError": "linestream._http_errors",
    "Response": "starlette.responses",
    "ResponseValidationError": "linestream.exceptions",
    "Security": "linestream.params",
    "SecurityScopes": "linestream.params",
    "SerializedItem": "linestream._serialization",
    "StreamStats": "linestream._engine.runtime",
    "UploadFile": "linestream._bind.forms",
    "WebSocket": "starlette.websockets",
    "WebSocketDisconnect": "starlette.websockets",
    "WebSocketException": "starlette.exceptions",
    "WebSocketRequestValidationError": "linestream._http_errors",
    "response_may_start": "linestream._early_start",
}

__all__ = [
    "APIRoute",
    "APIRouter",
    "APIWebSocketRoute",
    "BackgroundTasks",
    "Body",
    "BodyLimits",
    "Cookie",
    "Depends",
    "EndpointDefinitionError",
    "File",
    "Form",
    "HTTPException",
    "Header",
    "InvalidRequestItem",
    "LineStream",
    "LineStreamError",
    "Path",
    "Query",
    "Request",
    "RequestValidationError",
    "Response",
    "ResponseValidationError",
    "Security",
    "SecurityScopes",
    "SerializedItem",
    "StreamStats",
    "UploadFile",
    "WebSocket",
    "WebSocketDisconnect",
    "WebSocketException",
    "WebSocketRequestValidationError",
    "__version__",
    "response_may_start",
]

if not TYPE_CHECKING:

    def __getattr__(name: str) -> Any:
        location = _LOCATIONS.get(name)
        if location is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(location), name)
        globals()[name] = value
        return value


def __dir__() -> list[str]:
    return sorted(__all__)
