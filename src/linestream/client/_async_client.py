"""``AsyncClient``: the async twin of ``Client`` (the same calls, awaited; see ``_client``)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Iterable, Sequence
from types import TracebackType
from typing import Any, TypeVar, overload

import anyio
import httpx
from typing_extensions import Unpack, deprecated

from linestream.client._client import ClientBase
from linestream.client._errors import HTTPStatusError
from linestream.client._items import AsyncFollowed, AsyncItems, aencode_lines, result_of, upload
from linestream.client._options import ClientOptions, RequestOptions
from linestream.client._reader import Event, Reconnection, RetryPolicy, StreamReader
from linestream.client._websocket import AsyncWebSocketStream, connection_headers, websocket_url
from linestream.exceptions import StreamTruncated
from linestream.streams import StreamFormat
from linestream.streams.jsonlines import DEFAULT_MAX_FRAME_SIZE

__all__ = ["AsyncClient"]

T = TypeVar("T")


class AsyncClient(ClientBase):
    """The async twin of ``Client``:

    ```python
    async with AsyncClient("http://127.0.0.1:8000") as client:
        async for item in client.get_stream("/items/stream", item=Item):
            print(item.name)
    ```
    """

    def __init__(
        self,
        base_url: str | httpx.URL = "",
        *,
        http: httpx.AsyncClient | None = None,
        retry: RetryPolicy | None = RetryPolicy(),  # noqa: B008 - immutable
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        formats: Sequence[StreamFormat] = (),
        **options: Unpack[ClientOptions],
    ) -> None:
        super().__init__(retry, max_frame_size, formats)
        self._owns_http = http is None
        self.http = http if http is not None else httpx.AsyncClient(base_url=base_url, **options)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_http:
            await self.http.aclose()

    @overload
    def connect(self, url: str, *, item: type[T], params: Any = ..., headers: Any = ...) -> AsyncWebSocketStream[T]: ...
    @overload
    def connect(
        self, url: str, *, item: Any = ..., params: Any = ..., headers: Any = ...
    ) -> AsyncWebSocketStream[Any]: ...
    def connect(
        self, url: str, *, item: Any = None, params: Any = None, headers: Any = None
    ) -> AsyncWebSocketStream[Any]:
        """A typed WebSocket stream (``async with client.connect("/chat", item=Answer) as chat``): ``await
        chat.send(value)``, and ``async for`` the items validated as ``item``."""
        address = websocket_url(self.http, url, params)
        return AsyncWebSocketStream(address, item, connection_headers(self.http, headers), self.max_frame_size)

    @overload
    def stream(
        self, method: str, url: str, *, item: type[T], format: str | None = ..., **request: Unpack[RequestOptions]
    ) -> contextlib.AbstractAsyncContextManager[AsyncIterator[T]]: ...
    @overload
    def stream(
        self, method: str, url: str, *, item: Any = ..., format: str | None = ..., **request: Unpack[RequestOptions]
    ) -> contextlib.AbstractAsyncContextManager[AsyncIterator[Any]]: ...
    @contextlib.asynccontextmanager
    async def stream(
        self, method: str, url: str, *, item: Any = None, format: str | None = None, **request: Unpack[RequestOptions]
    ) -> AsyncIterator[AsyncIterator[Any]]:
        """The async twin of ``Client.stream``."""
        async with self._open(method, url, item, format, dict(request), None) as events:
            yield _data(events)

    @overload
    def get_stream(
        self, url: str, *, item: type[T], format: str | None = ..., **request: Unpack[RequestOptions]
    ) -> AsyncItems[T]: ...
    @overload
    def get_stream(
        self, url: str, *, item: Any = ..., format: str | None = ..., **request: Unpack[RequestOptions]
    ) -> AsyncItems[Any]: ...
    def get_stream(
        self, url: str, *, item: Any = None, format: str | None = None, **request: Unpack[RequestOptions]
    ) -> AsyncItems[Any]:
        """The async twin of ``Client.get_stream`` (``async for``, or ``async with``)."""
        return AsyncItems(lambda: self.stream("GET", url, item=item, format=format, **request))

    @overload
    def post_stream(
        self,
        url: str,
        *,
        items: AsyncIterable[Any] | Iterable[Any],
        item: type[T],
        format: str | None = ...,
        **request: Unpack[RequestOptions],
    ) -> AsyncItems[T]: ...
    @overload
    def post_stream(
        self,
        url: str,
        *,
        items: AsyncIterable[Any] | Iterable[Any],
        item: Any = ...,
        format: str | None = ...,
        **request: Unpack[RequestOptions],
    ) -> AsyncItems[Any]: ...
    def post_stream(
        self,
        url: str,
        *,
        items: AsyncIterable[Any] | Iterable[Any],
        item: Any = None,
        format: str | None = None,
        **request: Unpack[RequestOptions],
    ) -> AsyncItems[Any]:
        """The async twin of ``Client.post_stream`` (``items`` may be sync or async)."""
        sent = upload(dict(request), aencode_lines(items))
        return AsyncItems(lambda: self.stream("POST", url, item=item, format=format, **sent))

    @overload
    async def post_items(
        self,
        url: str,
        *,
        items: AsyncIterable[Any] | Iterable[Any],
        result: type[T],
        **request: Unpack[RequestOptions],
    ) -> T: ...
    @overload
    async def post_items(
        self,
        url: str,
        *,
        items: AsyncIterable[Any] | Iterable[Any],
        result: None = ...,
        **request: Unpack[RequestOptions],
    ) -> Any: ...
    async def post_items(
        self,
        url: str,
        *,
        items: AsyncIterable[Any] | Iterable[Any],
        result: Any = None,
        **request: Unpack[RequestOptions],
    ) -> Any:
        """The async twin of ``Client.post_items``."""
        response = await self.http.post(url, **upload(dict(request), aencode_lines(items)))
        return result_of(response, result)

    @overload
    def events(
        self, url: str, /, *, item: type[T], method: str = ..., format: str = ..., **request: Unpack[RequestOptions]
    ) -> AsyncFollowed[Event[T]]: ...
    @overload
    def events(
        self, url: str, /, *, item: Any = ..., method: str = ..., format: str = ..., **request: Unpack[RequestOptions]
    ) -> AsyncFollowed[Event[Any]]: ...
    @overload
    @deprecated("events(method, url) is events(url, method=...): the URL comes first, as for get_stream(url)")
    def events(
        self, method: str, url: str, /, *, item: Any = ..., **request: Unpack[RequestOptions]
    ) -> AsyncFollowed[Event[Any]]: ...
    def events(
        self,
        url: str,
        legacy_url: str | None = None,
        /,
        *,
        item: Any = None,
        method: str = "GET",
        format: str = "sse",
        **request: Unpack[RequestOptions],
    ) -> AsyncFollowed[Event[Any]]:
        """The async twin of ``Client.events``."""
        method, url = self._events_target(url, legacy_url, method)
        return AsyncFollowed(self._follow(method, url, item, format, dict(request)))

    async def _follow(
        self, method: str, url: str, item: Any, format: str, request: dict[str, Any]
    ) -> AsyncGenerator[Event[Any], None]:
        reconnection = Reconnection(self.retry if format == "sse" else RetryPolicy(max_attempts=0))
        while True:
            reader: StreamReader | None = None
            error: BaseException | None = None
            try:
                async with self._open(method, url, item, format, request, reconnection.last_event_id, True) as events:
                    reader = events.reader
                    async for event in events:
                        reconnection.on_event(event)
                        yield event
            except (StreamTruncated, httpx.TransportError) as exc:
                error = exc
            delay = reconnection.next_delay(reader, error)
            if delay is None:
                reconnection.raise_unless_complete(reader, error)
                return
            await anyio.sleep(delay)

    @contextlib.asynccontextmanager
    async def _open(
        self,
        method: str,
        url: str,
        item: Any,
        format: str | None,
        request: dict[str, Any],
        last_id: str | None,
        resumable: bool = False,
    ) -> AsyncIterator[_AsyncEvents]:
        request = dict(request)
        headers = self._headers(format, request.pop("headers", None), last_id)
        async with self.http.stream(method, url, headers=headers, **request) as response:
            if not response.is_success:
                raise HTTPStatusError(response, await response.aread())
            yield _AsyncEvents(self._reader(response, item, resumable and format == "sse"), response)


class _AsyncEvents:
    """The events of one response, read as its body arrives."""

    def __init__(self, reader: StreamReader, response: httpx.Response) -> None:
        self.reader = reader
        self.response = response

    async def __aiter__(self) -> AsyncIterator[Event[Any]]:
        reader = self.reader
        try:
            async for chunk in self.response.aiter_bytes():
                for event in reader.read(chunk):
                    yield event
        except httpx.RemoteProtocolError as exc:
            raise reader.truncated(exc) from exc
        for event in reader.finish():
            yield event


async def _data(events: _AsyncEvents) -> AsyncIterator[Any]:
    async for event in events:
        yield event.data
