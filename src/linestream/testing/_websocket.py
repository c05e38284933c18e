"""WebSocket sessions of the test clients: ``client.websocket_connect(url)``, as Starlette's and FastAPI's.

The app runs as a task beside the client, as for HTTP; a session sends and receives ASGI WebSocket messages.
A handshake the app refuses raises ``WebSocketDisconnect`` (closed before accepting) or ``WebSocketDenialResponse``
(the app answered with an HTTP response: its status and body, e.g. a 422 problem), which is both an
``httpx.Response`` and a ``WebSocketDisconnect``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any

import anyio
import anyio.from_thread
import httpx
from starlette.types import ASGIApp, Message
from starlette.websockets import WebSocketDisconnect

from linestream._routing.websocket import TEST_CLIENT

__all__ = ["AsyncWebSocketSession", "WebSocketDenialResponse", "WebSocketSession"]

Spawn = Callable[[Callable[[], Coroutine[Any, Any, None]]], None]


class WebSocketDenialResponse(httpx.Response, WebSocketDisconnect):  # type: ignore[misc]
    """The app refused the handshake with an HTTP response (``status_code``, ``headers``, ``json()``)."""

    def __init__(self, status_code: int, headers: list[tuple[bytes, bytes]], content: bytes) -> None:
        httpx.Response.__init__(self, status_code, headers=headers, content=content)
        WebSocketDisconnect.__init__(self, 1008, f"HTTP {status_code}")


def websocket_scope(request: httpx.Request, subprotocols: list[str] | None, root_path: str) -> dict[str, Any]:
    url = request.url
    headers = [(key.lower(), value) for key, value in request.headers.raw]
    headers += [(b"sec-websocket-version", b"13"), (b"sec-websocket-key", b"dGVzdGNsaWVudGtleQ==")]
    if subprotocols:
        headers.append((b"sec-websocket-protocol", ", ".join(subprotocols).encode()))
    return {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "scheme": "wss" if url.scheme == "https" else "ws",
        "path": url.path,
        "raw_path": url.raw_path.split(b"?", 1)[0],
        "root_path": root_path,
        "query_string": url.query,
        "headers": headers,
        "client": ("testclient", 50000),
        "server": (url.host, url.port or (443 if url.scheme == "https" else 80)),
        "subprotocols": subprotocols or [],
        "state": {},
        "extensions": {"websocket.http.response": {}, TEST_CLIENT: {}},
    }


class AsyncWebSocketSession:
    """One WebSocket connection to the app. Use ``async with``: it connects, and closes at the end."""

    def __init__(self, app: ASGIApp, scope: dict[str, Any], spawn: Spawn, raise_server_exceptions: bool) -> None:
        self.app = app
        self.scope = scope
        self.spawn = spawn
        self.raise_server_exceptions = raise_server_exceptions
        self.to_app, self.app_inbox = anyio.create_memory_object_stream[Message](max_buffer_size=64)
        self.app_outbox, self.from_app = anyio.create_memory_object_stream[Message](max_buffer_size=64)
        self.app_done = anyio.Event()
        self.app_error: BaseException | None = None
        self.accepted_subprotocol: str | None = None
        self.extra_headers: list[tuple[bytes, bytes]] = []

    async def _run(self) -> None:
        async def receive() -> Message:
            try:
                return await self.app_inbox.receive()
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                return {"type": "websocket.disconnect", "code": 1006}

        async def send(message: Message) -> None:
            try:
                await self.app_outbox.send(message)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                return

        try:
            await self.app(self.scope, receive, send)
        except BaseException as exc:  # reported to the client, as a real server logs it
            self.app_error = exc
            if not isinstance(exc, Exception):
                raise
        finally:
            self.app_outbox.close()
            self.app_inbox.close()
            self.app_done.set()

    async def __aenter__(self) -> AsyncWebSocketSession:
        self.spawn(self._run)
        await self.send({"type": "websocket.connect"})
        message = await self._next()
        if message["type"] == "websocket.accept":
            self.accepted_subprotocol = message.get("subprotocol")
            self.extra_headers = list(message.get("headers", []))
            return self
        if message["type"] == "websocket.http.response.start":
            body = b""
            while True:
                part = await self._next()
                body += part.get("body", b"")
                if not part.get("more_body", False):
                    break
            await self._finish()
            raise WebSocketDenialResponse(message["status"], list(message.get("headers", [])), body)
        await self._finish()
        raise WebSocketDisconnect(message.get("code", 1000), message.get("reason", ""))

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        await self.close()

    async def _next(self) -> Message:
        try:
            return await self.from_app.receive()
        except anyio.EndOfStream:
            self._raise_app_error()
            raise WebSocketDisconnect(1006, "the app ended without closing the WebSocket") from None

    def _raise_app_error(self) -> None:
        if self.app_error is not None and self.raise_server_exceptions:
            error, self.app_error = self.app_error, None
            raise error

    async def _finish(self) -> None:
        self.to_app.close()
        await self.app_done.wait()
        self.from_app.close()
        self._raise_app_error()

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        """Close the connection (the app sees ``websocket.disconnect``) and wait until the app has finished."""
        if not self.app_done.is_set():
            with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
                await self.to_app.send({"type": "websocket.disconnect", "code": code, "reason": reason or ""})
        await self._finish()

    async def send(self, message: Message) -> None:
        # Once the app has finished, like a network, the message is lost; receive() says how the app ended.
        with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
            await self.to_app.send(message)

    async def send_text(self, data: str) -> None:
        await self.send({"type": "websocket.receive", "text": data})

    async def send_bytes(self, data: bytes) -> None:
        await self.send({"type": "websocket.receive", "bytes": data})

    async def send_json(self, data: Any, mode: str = "text") -> None:
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        await (self.send_text(text) if mode == "text" else self.send_bytes(text.encode()))

    async def receive(self) -> Message:
        """The app's next message; ``WebSocketDisconnect`` (with its code and reason) once the app closed."""
        message = await self._next()
        if message["type"] == "websocket.close":
            raise WebSocketDisconnect(message.get("code", 1000), message.get("reason", ""))
        return message

    async def receive_text(self) -> str:
        message = await self.receive()
        return str(message["text"])

    async def receive_bytes(self) -> bytes:
        message = await self.receive()
        return bytes(message["bytes"])

    async def receive_json(self, mode: str = "text") -> Any:
        message = await self.receive()
        return json.loads(message["text"] if mode == "text" else message["bytes"])


class WebSocketSession:
    """The sync twin of ``AsyncWebSocketSession``, for ``TestClient``: each call runs in the client's event loop."""

    def __init__(self, portal: anyio.from_thread.BlockingPortal, session: AsyncWebSocketSession) -> None:
        self.portal = portal
        self.session = session

    @property
    def accepted_subprotocol(self) -> str | None:
        return self.session.accepted_subprotocol

    @property
    def extra_headers(self) -> list[tuple[bytes, bytes]]:
        return self.session.extra_headers

    def __enter__(self) -> WebSocketSession:
        self.portal.call(self.session.__aenter__)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        self.close()

    def close(self, code: int = 1000, reason: str | None = None) -> None:
        self.portal.call(self.session.close, code, reason)

    def send(self, message: Message) -> None:
        self.portal.call(self.session.send, message)

    def send_text(self, data: str) -> None:
        self.portal.call(self.session.send_text, data)

    def send_bytes(self, data: bytes) -> None:
        self.portal.call(self.session.send_bytes, data)

    def send_json(self, data: Any, mode: str = "text") -> None:
        self.portal.call(self.session.send_json, data, mode)

    def receive(self) -> Message:
        return self.portal.call(self.session.receive)

    def receive_text(self) -> str:
        return self.portal.call(self.session.receive_text)

    def receive_bytes(self) -> bytes:
        return self.portal.call(self.session.receive_bytes)

    def receive_json(self, mode: str = "text") -> Any:
        return self.portal.call(self.session.receive_json, mode)
