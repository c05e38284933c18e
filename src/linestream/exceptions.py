"""Every exception linestream raises, as one tree.

```
LineStreamError
├── EndpointDefinitionError       a path operation or dependency is mis-declared (raised at app build time)
├── HTTPException                 raise it in a path operation to answer with an HTTP error status
│   ├── RequestValidationError    the request's parameters or body failed validation (422)
│   │   ├── InvalidRequestItem    one line of a streamed request body is not a valid item (422)
│   │   └── WebSocketRequestValidationError   a WebSocket's parameters failed validation (handshake refused)
│   └── InvalidMessageId          a topic was asked to resume after an id that is not a message id (400)
├── ResponseValidationError       the endpoint produced a value that its declared type rejects (500)
├── StreamItemTooLarge            a serialized item is larger than the route's max_item_size
├── StreamAborted                 a stream failed after its response started, and was aborted (raised to the server)
├── StreamDecodeError             bytes on the wire are not a valid frame of the stream format
│   ├── FrameTooLarge             one frame is longer than the decoder's ``max_frame_size``
│   └── StreamTruncated           the stream ended in the middle of a frame (or the connection was cut)
├── StreamError                   the server ended the stream with an in-band error record (client side)
├── WebSocketClosed               the server closed a typed WebSocket stream with an error code (client side)
└── TopicBackendUnavailable       a topic's backend (Redis) cannot be reached
```

``HTTPException`` subclasses Starlette's ``HTTPException`` so that Starlette exception handlers and middleware
recognise it; it and its subclasses are defined with the server (``linestream._http_errors``) and loaded from
here on first use, so that the clients, which import this module, never load Starlette.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from linestream._errors import LineStreamError, summarise

if TYPE_CHECKING:
    from linestream._http_errors import (
        HTTPException,
        InvalidMessageId,
        InvalidRequestItem,
        RequestValidationError,
        WebSocketRequestValidationError,
    )

__all__ = [
    "EndpointDefinitionError",
    "FrameTooLarge",
    "HTTPException",
    "InvalidMessageId",
    "InvalidRequestItem",
    "LineStreamError",
    "RequestValidationError",
    "ResponseValidationError",
    "StreamAborted",
    "StreamDecodeError",
    "StreamError",
    "StreamItemTooLarge",
    "StreamTruncated",
    "TopicBackendUnavailable",
    "WebSocketClosed",
    "WebSocketRequestValidationError",
]


class EndpointDefinitionError(LineStreamError, TypeError):
    """A path operation or dependency is declared in a way linestream cannot serve.

    Raised when the route is registered (at import time of the module declaring the app), never while serving
    a request. The message names the function and says how to fix the declaration.
    """


class ResponseValidationError(LineStreamError):
    """A value returned or yielded by a path operation does not match its declared type.

    This is a bug in the server, so it is answered with status 500 (before a stream starts) or ends the stream
    as truncated (after its first item). ``errors`` are Pydantic's errors; ``index`` is the item's position in
    the stream, or ``None`` for an ordinary response.
    """

    def __init__(self, endpoint: str, errors: Sequence[Mapping[str, Any]], index: int | None = None) -> None:
        self.endpoint = endpoint
        self.errors = [dict(error) for error in errors]
        self.index = index
        where = f"item {index} yielded by {endpoint}" if index is not None else f"value returned by {endpoint}"
        super().__init__(f"The {where} does not match its declared type: {summarise(self.errors)}")


class StreamItemTooLarge(LineStreamError):
    """A path operation yielded an item whose serialized form exceeds the route's ``max_item_size``.

    Before the first item this is answered with status 500; after it, the stream ends like on any error.
    """

    def __init__(self, endpoint: str, size: int, limit: int) -> None:
        self.size = size
        self.limit = limit
        super().__init__(
            f"{endpoint} yielded an item of {size} bytes, more than max_item_size={limit}; raise the limit or "
            "split the item."
        )


class StreamAborted(LineStreamError):
    """A stream's generator failed after the response started; the response was aborted without its final chunk.

    linestream raises it to the ASGI server (which logs it and drops the connection), with the original
    exception as ``__cause__``. Exception handlers cannot turn it into an error response: the status was sent.
    """

    def __init__(self, route: str, items: int) -> None:
        self.route = route
        self.items = items
        super().__init__(f"{route} failed after {items} item(s) were sent; the response was aborted.")


class StreamDecodeError(LineStreamError, ValueError):
    """The bytes received are not a valid frame of the stream format.

    ``frame_index`` is the 0-based position of the offending frame (for JSON Lines: its line number - 1);
    ``items_received`` counts the items a reader delivered before it.
    """

    def __init__(self, message: str, *, frame_index: int, items_received: int | None = None) -> None:
        super().__init__(message)
        self.frame_index = frame_index
        self.items_received = frame_index if items_received is None else items_received


class FrameTooLarge(StreamDecodeError):
    """A frame grew beyond the decoder's ``max_frame_size`` before its delimiter arrived."""


class StreamTruncated(StreamDecodeError):
    """The stream ended in the middle of a frame, so its last item is incomplete.

    ``items_received`` counts the complete items decoded before the truncation.
    """

    def __init__(self, message: str, *, frame_index: int, items_received: int) -> None:
        super().__init__(message, frame_index=frame_index, items_received=items_received)


class StreamError(LineStreamError):
    """The server ended a stream with an error record (its ``stream_errors="record"`` policy).

    ``problem`` is the record's RFC 9457 problem object (``status``, ``title``, ``detail``...);
    ``items_received`` counts the items that came before it.
    """

    def __init__(self, problem: Mapping[str, Any], *, items_received: int) -> None:
        self.problem = dict(problem)
        self.items_received = items_received
        status = self.problem.get("status", "?")
        detail = self.problem.get("detail") or self.problem.get("title") or "no detail"
        super().__init__(
            f"The server ended the stream with an error ({status}) after {items_received} item(s): {detail}"
        )


class WebSocketClosed(LineStreamError):
    """The server closed a typed WebSocket stream with a code other than 1000 (its normal end): ``code`` and
    ``reason`` as it sent them (1007: a message it refused, naming it; 1011: the stream failed; 1006: the
    connection was cut), and ``items_received`` before the close."""

    def __init__(self, code: int, reason: str, *, items_received: int) -> None:
        self.code = code
        self.reason = reason
        self.items_received = items_received
        super().__init__(
            f"The server closed the WebSocket with {code}{': ' + reason if reason else ''} after "
            f"{items_received} item(s)."
        )


class TopicBackendUnavailable(LineStreamError):
    """A topic's backend cannot be reached (at start-up, or for a publish once its retries are exhausted)."""


#: The errors that answer a request with an HTTP status: Starlette's ``HTTPException`` and its subclasses, loaded
#: with Starlette when first asked for.
_HTTP_ERRORS = frozenset(
    {
        "HTTPException",
        "InvalidMessageId",
        "InvalidRequestItem",
        "RequestValidationError",
        "WebSocketRequestValidationError",
    }
)

if not TYPE_CHECKING:

    def __getattr__(name: str) -> Any:
        if name in _HTTP_ERRORS:
            value = getattr(importlib.import_module("linestream._http_errors"), name)
            globals()[name] = value
            return value
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
