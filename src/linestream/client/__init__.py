"""Typed streaming clients: ``Client`` and its twin ``AsyncClient``, over httpx.

They read any linestream stream format (JSON Lines, NDJSON, json-seq, SSE, JSON array), chosen by the
response's content type, and give validated items; a cut stream raises ``StreamTruncated`` (with the count of
items received), an in-band error record ``StreamError``, a non-2xx answer ``HTTPStatusError`` (with the
problem JSON). ``events()`` follows SSE streams and reconnects with ``Last-Event-ID``. ``connect()`` opens a typed
WebSocket stream (values sent as JSON, items received validated; a close other than 1000 raises
``WebSocketClosed``).
"""

from __future__ import annotations

from linestream.client._async_client import AsyncClient
from linestream.client._client import Client
from linestream.client._errors import HTTPStatusError
from linestream.client._items import AsyncFollowed, AsyncItems, Followed, Items
from linestream.client._options import ClientOptions, RequestOptions
from linestream.client._reader import Event, RetryPolicy, StreamReader
from linestream.client._websocket import AsyncWebSocketStream, WebSocketStream
from linestream.exceptions import StreamDecodeError, StreamError, StreamTruncated, WebSocketClosed

__all__ = [
    "AsyncClient",
    "AsyncFollowed",
    "AsyncItems",
    "AsyncWebSocketStream",
    "Client",
    "ClientOptions",
    "Event",
    "Followed",
    "HTTPStatusError",
    "Items",
    "RequestOptions",
    "RetryPolicy",
    "StreamDecodeError",
    "StreamError",
    "StreamReader",
    "StreamTruncated",
    "WebSocketClosed",
    "WebSocketStream",
]
