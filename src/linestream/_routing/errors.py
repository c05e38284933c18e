"""``ErrorResponder``: what Starlette's exception and error middleware do with an exception raised before a
response started, for a path operation served without them (``_routing.dispatch``): the exception handler for
the status or the class, else the 500 handler or a plain 500, and then the exception re-raised, so that the
server logs it.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send

__all__ = ["ErrorResponder"]

ExceptionHandler = Callable[..., Any]


class ErrorResponder:
    """What Starlette's exception and error middleware do with an exception raised before the response
    started, for a handler called without them."""

    __slots__ = ("_by_class", "_by_status", "_server_error")

    def __init__(self, handlers: Mapping[Any, ExceptionHandler]) -> None:
        self._server_error: ExceptionHandler | None = None
        self._by_status: dict[int, ExceptionHandler] = {}
        self._by_class: dict[type[BaseException], ExceptionHandler] = {}
        for key, handler in handlers.items():
            if key in (500, Exception):
                self._server_error = handler
            elif isinstance(key, int):
                self._by_status[key] = handler
            else:
                self._by_class[key] = handler

    async def respond(self, exc: Exception, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the response for ``exc``; re-raise it when no handler answered it (a server error)."""
        handler = self._by_status.get(exc.status_code) if isinstance(exc, HTTPException) else None
        if handler is None:
            handler = next((self._by_class[cls] for cls in type(exc).__mro__ if cls in self._by_class), None)
        request = Request(scope, receive, send)
        response: Response | None
        if handler is not None:
            response = await _call(handler, request, exc)
            if response is not None:
                await response(scope, receive, send)
            exc.__traceback__ = None  # a reused exception instance would pile up tracebacks across requests
            return
        if self._server_error is None:
            response = PlainTextResponse("Internal Server Error", status_code=500)
        else:
            response = await _call(self._server_error, request, exc)
        if response is not None:
            await response(scope, receive, send)
        raise exc


async def _call(handler: ExceptionHandler, request: Request, exc: Exception) -> Response | None:
    if _is_async(handler):
        response: Response | None = await handler(request, exc)
    else:
        response = await run_in_threadpool(handler, request, exc)
    return response


def _is_async(function: Any) -> bool:
    while isinstance(function, functools.partial):
        function = function.func
    return inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(type(function).__call__)
