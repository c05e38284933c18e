"""Typed streaming clients: ``Client`` and its twin ``AsyncClient``, over httpx.

They read any linestream stream format (JSON Lines, NDJSON, json-seq, SSE, JSON array), chosen by the
response's content type, and give validated items; a cut stream raises ``StreamTruncated`` (with the count of
items received), an in-band error record ``StreamError``, a non-2xx answer ``HTTPStatusError`` (with the
problem JSON). ``events()`` follows SSE streams and reconnects with ``Last-Event-ID``.
"""

from __future__ import annotations

from linestream.client._client import AsyncClient, Client, HTTPStatusError
from linestream.client._reader import Event, RetryPolicy, StreamReader
from linestream.exceptions import StreamDecodeError, StreamError, StreamTruncated

__all__ = [
    "AsyncClient",
    "Client",
    "Event",
    "HTTPStatusError",
    "RetryPolicy",
    "StreamDecodeError",
    "StreamError",
    "StreamReader",
    "StreamTruncated",
]
