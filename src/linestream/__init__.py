"""linestream: typed streaming HTTP APIs. A path operation that ``yield``s items streams them as JSON Lines.

::

    from collections.abc import AsyncIterable
    from linestream import LineStream
    from pydantic import BaseModel

    class Item(BaseModel):
        name: str

    app = LineStream()

    @app.get("/items/stream")
    async def stream_items() -> AsyncIterable[Item]:
        yield Item(name="Plumbus")
"""

from __future__ import annotations

from starlette.background import BackgroundTasks
from starlette.exceptions import WebSocketException
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket, WebSocketDisconnect

from linestream._app import LineStream, StreamStats
from linestream._bind.forms import UploadFile
from linestream._declare.options import BodyLimits
from linestream._early_start import response_may_start
from linestream._routing.route import APIRoute
from linestream._routing.router import APIRouter
from linestream._routing.websocket import APIWebSocketRoute
from linestream._serialization import SerializedItem
from linestream.exceptions import (
    EndpointDefinitionError,
    HTTPException,
    InvalidRequestItem,
    LineStreamError,
    RequestValidationError,
    ResponseValidationError,
    WebSocketRequestValidationError,
)
from linestream.params import Body, Cookie, Depends, File, Form, Header, Path, Query, Security, SecurityScopes

__version__ = "0.1.0"

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
