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
recognise it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from starlette.exceptions import HTTPException as _StarletteHTTPException

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


class LineStreamError(Exception):
    """Base class of every exception linestream raises."""


class EndpointDefinitionError(LineStreamError, TypeError):
    """A path operation or dependency is declared in a way linestream cannot serve.

    Raised when the route is registered (at import time of the module declaring the app), never while serving
    a request. The message names the function and says how to fix the declaration.
    """


class HTTPException(_StarletteHTTPException, LineStreamError):
    """Answer the request with an HTTP error.

    Raised before the first item of a stream, it becomes a real error response with a problem-JSON body::

        raise HTTPException(status_code=404, detail="Item not found")

    ``detail`` is usually a string; any JSON-serialisable value is accepted and sent as is.
    """

    def __init__(
        self,
        status_code: int,
        detail: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(status_code=status_code, detail=detail, headers=headers)
        # Starlette replaces a missing detail by the reason phrase; keep what the user passed.
        self.detail = detail


class RequestValidationError(HTTPException):
    """The request's parameters or body do not match the path operation's declaration.

    ``errors`` is a list of dicts, each with ``loc`` (e.g. ``["query", "n"]``), ``msg``, ``type`` and, when
    known, ``input``. It is answered with status 422 and a problem-JSON body listing the errors. A request with
    very many errors lists the first ones (``BodyLimits.max_errors``); ``errors_omitted`` counts the others.
    """

    def __init__(self, errors: Sequence[Mapping[str, Any]], *, errors_omitted: int = 0) -> None:
        self.errors = [dict(error) for error in errors]
        self.errors_omitted = errors_omitted
        super().__init__(status_code=422, detail=_summarise(self.errors, errors_omitted))

    def __str__(self) -> str:
        return str(self.detail)


class InvalidRequestItem(RequestValidationError):
    """A line of a streamed request body (``items: AsyncIterable[Item]``) is not valid JSON or not a valid item.

    Raised into the endpoint's iteration; ``line`` is the 1-based line (item) number and ``errors`` locate the
    problem as ``["body", line, field...]``. Escaping the endpoint before its response started, it is answered
    with a 422 problem naming the line and field.
    """

    def __init__(self, line: int, errors: Sequence[Mapping[str, Any]], *, errors_omitted: int = 0) -> None:
        self.line = line
        super().__init__(errors, errors_omitted=errors_omitted)


class WebSocketRequestValidationError(RequestValidationError):
    """A WebSocket endpoint's parameters (path, query, headers, cookies, dependencies) failed validation: the
    handshake is refused, with a 422 problem where the server can answer a WebSocket with HTTP (uvicorn), else
    with close code 1008."""


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
        super().__init__(f"The {where} does not match its declared type: {_summarise(self.errors)}")


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


def _short(text: str, limit: int = 100) -> str:
    """``text`` as it may be echoed back in an error: cut to ``limit`` characters."""
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} characters)"


def _summarise(errors: Sequence[Mapping[str, Any]], omitted: int = 0, shown: int = 5) -> str:
    parts = []
    for error in errors[:shown]:
        loc = ".".join(str(part) for part in error.get("loc", ()))
        parts.append(f"{loc}: {error.get('msg', 'invalid')}" if loc else str(error.get("msg", "invalid")))
    count = len(errors) + omitted
    if count > len(parts):
        parts.append(f"and {count - len(parts)} more")
    head = f"{count} validation error" + ("s" if count != 1 else "")
    return f"{head}: " + "; ".join(parts)


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


class InvalidMessageId(HTTPException, ValueError):
    """A topic subscription was asked to start after an id that is not a message id (``<ms>-<seq>``).

    Usually a client's ``Last-Event-ID`` header: raised before the first item, it becomes a 400 response.
    """

    def __init__(self, topic: str, message_id: str) -> None:
        super().__init__(
            400,
            f"{_short(message_id)!r} is not a message id of topic {topic!r}: ids look like '1764000000000-0' "
            "(milliseconds, a dash, a sequence number, each below 2**64), as sent in the stream's SSE `id:` fields.",
        )
        self.topic = topic
        self.message_id = message_id


class TopicBackendUnavailable(LineStreamError):
    """A topic's backend cannot be reached (at start-up, or for a publish once its retries are exhausted)."""
