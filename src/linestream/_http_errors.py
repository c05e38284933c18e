"""The errors that answer a request with an HTTP status (documented with the whole tree in ``exceptions``).

``HTTPException`` subclasses Starlette's, so that a handler registered for Starlette's ``HTTPException`` (as
FastAPI's documentation recommends) and middleware that recognise it see linestream's too. They live beside the
server because they need Starlette; ``linestream.exceptions`` loads them on first use.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from starlette.exceptions import HTTPException as _StarletteHTTPException

from linestream._errors import LineStreamError, short, summarise

__all__ = [
    "ErrorList",
    "HTTPException",
    "InvalidMessageId",
    "InvalidRequestItem",
    "RequestValidationError",
    "WebSocketRequestValidationError",
]


class HTTPException(_StarletteHTTPException, LineStreamError):
    """Answer the request with an HTTP error.

    Raised before the first item of a stream, it becomes a real error response with a problem-JSON body:

    ```python
    raise HTTPException(status_code=404, detail="Item not found")
    ```

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


class ErrorList(list[dict[str, Any]]):
    """The errors of a ``RequestValidationError``: a list, which may also be called (``exc.errors()``, as in
    FastAPI, returns the same errors), so that handlers written either way work."""

    def __call__(self) -> list[dict[str, Any]]:
        return list(self)


class RequestValidationError(HTTPException):
    """The request's parameters or body do not match the path operation's declaration.

    ``errors`` is a list of dicts, each with ``loc`` (e.g. ``["query", "n"]``), ``msg``, ``type`` and, when
    known, ``input``; ``exc.errors()`` returns them too, as in FastAPI. ``body`` is the request's JSON body
    (``None`` when it had none, or when the errors are not about a JSON body). It is answered with status 422 and
    a problem-JSON body listing the errors. A request with very many errors lists the first ones
    (``BodyLimits.max_errors``); ``errors_omitted`` counts the others.
    """

    def __init__(self, errors: Sequence[Mapping[str, Any]], *, body: Any = None, errors_omitted: int = 0) -> None:
        self.errors = ErrorList(dict(error) for error in errors)
        self.body = body
        self.errors_omitted = errors_omitted
        super().__init__(status_code=422, detail=summarise(self.errors, errors_omitted))

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


class InvalidMessageId(HTTPException, ValueError):
    """A topic subscription was asked to start after an id that is not a message id (``<ms>-<seq>``).

    Usually a client's ``Last-Event-ID`` header: raised before the first item, it becomes a 400 response.
    """

    def __init__(self, topic: str, message_id: str) -> None:
        super().__init__(
            400,
            f"{short(message_id)!r} is not a message id of topic {topic!r}: ids look like '1764000000000-0' "
            "(milliseconds, a dash, a sequence number, each below 2**64), as sent in the stream's SSE `id:` fields.",
        )
        self.topic = topic
        self.message_id = message_id


for _error in (
    HTTPException,
    RequestValidationError,
    InvalidRequestItem,
    WebSocketRequestValidationError,
    InvalidMessageId,
):
    # Where the documented tree has them, and where users import them from.
    _error.__module__ = "linestream.exceptions"
