"""An httpx transport that runs an ASGI app in-process and really streams its response.

httpx's own ``ASGITransport`` waits for the app to finish before returning the response, so the first line of
an infinite stream never arrives. Here the app runs as a task beside the client: the response is returned as
soon as the app sends ``http.response.start``, body messages flow through a small bounded buffer (so a slow
reader slows the app, as a socket would), and closing the response tells the app the client disconnected.

Like a real server, an app that fails after the response started yields a truncated body:
``httpx.RemoteProtocolError`` with the app's exception as its ``__cause__``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import anyio
import anyio.abc
import httpx
from starlette.types import ASGIApp, Message

__all__ = ["ASGIStreamTransport"]

logger = logging.getLogger("linestream.testing")

Spawn = Callable[[Callable[[], Coroutine[Any, Any, None]]], None]


class _Exchange:
    """One request/response exchange between the client and the app task."""

    def __init__(self, body: bytes) -> None:
        self.send_stream, self.receive_stream = anyio.create_memory_object_stream[Message](max_buffer_size=4)
        self.request_body = body
        self.body_sent = False
        self.disconnected = anyio.Event()
        self.app_done = anyio.Event()
        self.app_error: BaseException | None = None

    async def receive(self) -> Message:
        if not self.body_sent:
            self.body_sent = True
            return {"type": "http.request", "body": self.request_body, "more_body": False}
        await self.disconnected.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        if self.disconnected.is_set():
            return  # like a server whose client left: later messages are dropped
        try:
            await self.send_stream.send(message)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            return


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, exchange: _Exchange, raise_server_exceptions: bool) -> None:
        self.exchange = exchange
        self.raise_server_exceptions = raise_server_exceptions

    async def __aiter__(self) -> AsyncIterator[bytes]:
        exchange = self.exchange
        async for message in exchange.receive_stream:
            if message["type"] != "http.response.body":
                continue
            body = message.get("body", b"")
            if body:
                yield body
            if not message.get("more_body", False):
                await exchange.app_done.wait()
                if exchange.app_error is not None and self.raise_server_exceptions:
                    raise exchange.app_error
                return
        await exchange.app_done.wait()
        raise httpx.RemoteProtocolError(
            "peer closed connection without sending complete message body (the app ended the response "
            "without its final body message)"
        ) from exchange.app_error

    async def aclose(self) -> None:
        exchange = self.exchange
        exchange.disconnected.set()
        exchange.receive_stream.close()
        await exchange.app_done.wait()


class ASGIStreamTransport(httpx.AsyncBaseTransport):
    """Serve httpx requests from an ASGI app running in the caller's event loop.

    ``spawn`` starts a coroutine function as a task that may outlive the call (a task group's ``start_soon``).
    With ``raise_server_exceptions`` an exception the app raised before the response started, or around a
    complete response (e.g. after a 500 was sent), is raised to the caller as is.
    """

    def __init__(
        self,
        app: ASGIApp,
        spawn: Spawn,
        *,
        raise_server_exceptions: bool = True,
        root_path: str = "",
        client: tuple[str, int] = ("testclient", 50000),
    ) -> None:
        self.app = app
        self.spawn = spawn
        self.raise_server_exceptions = raise_server_exceptions
        self.root_path = root_path
        self.client = client

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        url = request.url
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": request.method,
            "scheme": url.scheme,
            "path": url.path,
            "raw_path": url.raw_path.split(b"?", 1)[0],
            "query_string": url.query,
            "root_path": self.root_path,
            "headers": [(key.lower(), value) for key, value in request.headers.raw],
            "server": (url.host, url.port or (443 if url.scheme == "https" else 80)),
            "client": self.client,
            "extensions": {},
            "state": {},
        }
        exchange = _Exchange(body)

        async def run_app() -> None:
            try:
                await self.app(scope, exchange.receive, exchange.send)
            except BaseException as exc:
                exchange.app_error = exc
                if not isinstance(exc, Exception):
                    raise
                logger.error("Exception in ASGI application", exc_info=exc)
            finally:
                exchange.send_stream.close()
                exchange.app_done.set()

        try:
            self.spawn(run_app)
        except BaseException:
            exchange.send_stream.close()
            exchange.receive_stream.close()
            raise
        try:
            start = await exchange.receive_stream.receive()
        except anyio.EndOfStream:
            exchange.receive_stream.close()
            await exchange.app_done.wait()
            if exchange.app_error is not None:
                raise exchange.app_error from None
            raise RuntimeError("The ASGI app returned without starting a response.") from None
        if start["type"] != "http.response.start":
            raise RuntimeError(f"The ASGI app sent {start['type']!r} before 'http.response.start'.")
        return httpx.Response(
            status_code=start["status"],
            headers=[(bytes(key), bytes(value)) for key, value in start.get("headers", [])],
            stream=_ResponseStream(exchange, self.raise_server_exceptions),
            request=request,
        )
