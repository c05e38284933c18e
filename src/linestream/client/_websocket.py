"""Typed WebSocket streams for the clients: ``client.connect(path, item=Out)`` (twins: ``Client``, ``AsyncClient``).

Over the ``websockets`` library. Each message sent is a value serialized as compact JSON (a model by its
aliases); each message received is validated as ``item`` (``StreamDecodeError`` naming the message when it is
not one). The iteration ends when the server closes with 1000 (its stream ended); any other close raises
``WebSocketClosed`` with the code, the reason and the count of items received, so a cut stream is never taken
for a finished one. A refused handshake raises ``HTTPStatusError`` with the server's problem body.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import httpx
import pydantic_core

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection as AsyncConnection
    from websockets.exceptions import ConnectionClosed, InvalidStatus
    from websockets.sync.client import ClientConnection

from linestream._decoding import ItemValidator
from linestream.client._errors import HTTPStatusError
from linestream.exceptions import StreamDecodeError, WebSocketClosed

__all__ = ["AsyncWebSocketStream", "WebSocketStream", "websocket_url"]

T = TypeVar("T")

#: Close codes that end a stream as it should end: the server's 1000, or the client's own leaving (1001).
_CLEAN = (1000, 1001)


def websocket_url(http: httpx.Client | httpx.AsyncClient, path: str, params: Any) -> str:
    """The ``ws://`` (or ``wss://``) URL of ``path`` on the client's base URL, with ``params``."""
    url = http.base_url.join(path) if http.base_url else httpx.URL(path)
    if params is not None:
        url = url.copy_merge_params(params)
    return str(url.copy_with(scheme={"https": "wss", "http": "ws"}.get(url.scheme, url.scheme)))


def connection_headers(http: httpx.Client | httpx.AsyncClient, headers: Any) -> list[tuple[str, str]]:
    """The client's own headers (``Authorization``...), with ``headers`` on top; not the ones of plain HTTP."""
    merged = httpx.Headers(http.headers)
    merged.update(httpx.Headers(headers))
    skip = {"accept", "accept-encoding", "connection", "user-agent", "host"}
    return [(key, value) for key, value in merged.multi_items() if key not in skip]


def _closed() -> type[ConnectionClosed]:
    """The exception a closed connection raises (``websockets`` is loaded by the first connection)."""
    from websockets.exceptions import ConnectionClosed

    return ConnectionClosed


def _refused(url: str, exc: InvalidStatus) -> Exception:
    response = exc.response
    request = httpx.Request("GET", url.replace("ws", "http", 1))
    body = bytes(response.body or b"")
    answer = httpx.Response(
        response.status_code, headers=list(response.headers.raw_items()), content=body, request=request
    )
    return HTTPStatusError(answer, body)


class _Codec(Generic[T]):
    """Encodes what is sent and validates what is received; counts the items."""

    def __init__(self, item: Any) -> None:
        self.validator = ItemValidator(item)
        self.count = 0

    def encode(self, value: Any) -> str:
        return pydantic_core.to_json(value, by_alias=True).decode()

    def decode(self, message: str | bytes) -> T:
        try:
            value: T = self.validator.validate(message)
        except ValueError as exc:
            raise StreamDecodeError(
                f"Message {self.count + 1} is not valid: {exc}", frame_index=self.count, items_received=self.count
            ) from exc
        self.count += 1
        return value

    def closed(self, exc: ConnectionClosed) -> WebSocketClosed | None:
        frame = exc.rcvd
        code, reason = (frame.code, frame.reason) if frame is not None else (1006, "the connection was cut")
        if code in _CLEAN:
            return None
        return WebSocketClosed(code, reason, items_received=self.count)


class WebSocketStream(Generic[T]):
    """A typed WebSocket stream (``with client.connect(path, item=Out) as stream``): ``send(value)``, and
    iterate for the validated items until the server ends the stream."""

    def __init__(self, url: str, item: Any, headers: list[tuple[str, str]], max_size: int) -> None:
        self.url = url
        self.codec = _Codec[T](item)
        self._headers = headers
        self._max_size = max_size
        self.connection: ClientConnection | None = None

    def __enter__(self) -> WebSocketStream[T]:
        from websockets.exceptions import InvalidStatus
        from websockets.sync.client import connect as sync_connect  # loaded by the first connection

        try:
            connection = sync_connect(self.url, additional_headers=self._headers, max_size=self._max_size)
            self.connection = connection.__enter__()
        except InvalidStatus as exc:
            raise _refused(self.url, exc) from exc
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def items_received(self) -> int:
        return self.codec.count

    def _open(self) -> ClientConnection:
        if self.connection is None:
            raise RuntimeError("Use the stream as a context manager: `with client.connect(...) as stream:`.")
        return self.connection

    def send(self, value: Any) -> None:
        """Send ``value`` (a model, or any JSON-serializable value) as one message."""
        try:
            self._open().send(self.codec.encode(value))
        except _closed() as exc:
            raise self.codec.closed(exc) or exc from exc

    def receive(self) -> T:
        """The next item; ``StopIteration``-free: raises ``WebSocketClosed`` (or ``EOFError`` at a clean end)."""
        try:
            return self.codec.decode(self._open().recv())
        except _closed() as exc:
            error = self.codec.closed(exc)
            raise error or EOFError("the server ended the stream") from exc

    def __iter__(self) -> Iterator[T]:
        while True:
            try:
                yield self.receive()
            except EOFError:
                return

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()


class AsyncWebSocketStream(Generic[T]):
    """The async twin of ``WebSocketStream`` (``async with client.connect(path, item=Out) as stream``)."""

    def __init__(self, url: str, item: Any, headers: list[tuple[str, str]], max_size: int) -> None:
        self.url = url
        self.codec = _Codec[T](item)
        self._headers = headers
        self._max_size = max_size
        self.connection: AsyncConnection | None = None

    async def __aenter__(self) -> AsyncWebSocketStream[T]:
        from websockets.asyncio.client import connect as async_connect  # loaded by the first connection
        from websockets.exceptions import InvalidStatus

        try:
            connect = async_connect(self.url, additional_headers=self._headers, max_size=self._max_size)
            self.connection = await connect.__aenter__()
        except InvalidStatus as exc:
            raise _refused(self.url, exc) from exc
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    @property
    def items_received(self) -> int:
        return self.codec.count

    def _open(self) -> AsyncConnection:
        if self.connection is None:
            raise RuntimeError("Use the stream as an async context manager: `async with client.connect(...)`.")
        return self.connection

    async def send(self, value: Any) -> None:
        """Send ``value`` (a model, or any JSON-serializable value) as one message."""
        try:
            await self._open().send(self.codec.encode(value))
        except _closed() as exc:
            raise self.codec.closed(exc) or exc from exc

    async def receive(self) -> T:
        """The next item; raises ``WebSocketClosed`` (or ``EOFError`` at a clean end)."""
        try:
            return self.codec.decode(await self._open().recv())
        except _closed() as exc:
            error = self.codec.closed(exc)
            raise error or EOFError("the server ended the stream") from exc

    def __aiter__(self) -> AsyncIterator[T]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[T]:
        while True:
            try:
                yield await self.receive()
            except EOFError:
                return

    async def close(self) -> None:
        if self.connection is not None:
            await self.connection.close()
