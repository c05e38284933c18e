"""``Client`` and ``AsyncClient``: typed streaming clients over httpx (twins: one behaviour, two surfaces)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Sequence
from types import TracebackType
from typing import Any, TypeVar, overload

import anyio
import httpx

from linestream.client._errors import HTTPStatusError
from linestream.client._items import AsyncItems, Items, aencode_lines, encode_lines, result_of, upload
from linestream.client._reader import Event, Reconnection, RetryPolicy, StreamReader
from linestream.client._websocket import AsyncWebSocketStream, WebSocketStream, connection_headers, websocket_url
from linestream.exceptions import StreamTruncated
from linestream.streams import StreamFormat, accept_header
from linestream.streams.jsonlines import DEFAULT_MAX_FRAME_SIZE

__all__ = ["AsyncClient", "AsyncItems", "Client", "HTTPStatusError", "Items"]

T = TypeVar("T")


def _headers(
    format: str | None, extra: Any, last_event_id: str | None = None, formats: Sequence[StreamFormat] = ()
) -> httpx.Headers:
    headers = httpx.Headers(extra)
    headers.setdefault("accept", accept_header(format, formats))
    if last_event_id is not None:
        headers["last-event-id"] = last_event_id
    return headers


class Client:
    """Read streams as validated items. Give a base URL (and any ``httpx.Client`` option: ``timeout=``,
    ``headers=``, ``auth=``...) or an existing ``httpx.Client`` as ``http=`` (it is not closed by this client).

    ::

        with Client("http://127.0.0.1:8000") as client:
            for item in client.get_stream("/items/stream", item=Item):
                print(item.name)
    """

    def __init__(
        self,
        base_url: str | httpx.URL = "",
        *,
        http: httpx.Client | None = None,
        retry: RetryPolicy | None = RetryPolicy(),  # noqa: B008 - immutable
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        formats: Sequence[StreamFormat] = (),
        **options: Any,
    ) -> None:
        self._owns_http = http is None
        self.http = http if http is not None else httpx.Client(base_url=base_url, **options)
        self.retry = retry
        self.max_frame_size = max_frame_size
        #: Formats of the server's own beside the built-in ones (``docs/formats.md``), asked for and read.
        self.formats = tuple(formats)

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_http:
            self.http.close()

    @overload
    def connect(self, url: str, *, item: type[T], params: Any = ..., headers: Any = ...) -> WebSocketStream[T]: ...
    @overload
    def connect(self, url: str, *, item: Any = ..., params: Any = ..., headers: Any = ...) -> WebSocketStream[Any]: ...
    def connect(self, url: str, *, item: Any = None, params: Any = None, headers: Any = None) -> WebSocketStream[Any]:
        """A typed WebSocket stream (``with client.connect("/chat", item=Answer) as chat``): ``chat.send(value)``,
        and iterate for items validated as ``item``. Sends the client's headers (``Authorization``...)."""
        address = websocket_url(self.http, url, params)
        return WebSocketStream(address, item, connection_headers(self.http, headers), self.max_frame_size)

    @overload
    def stream(
        self, method: str, url: str, *, item: type[T], format: str | None = ..., **request: Any
    ) -> contextlib.AbstractContextManager[Iterator[T]]: ...
    @overload
    def stream(
        self, method: str, url: str, *, item: None = ..., format: str | None = ..., **request: Any
    ) -> contextlib.AbstractContextManager[Iterator[Any]]: ...
    @overload
    def stream(
        self, method: str, url: str, *, item: Any, format: str | None = ..., **request: Any
    ) -> contextlib.AbstractContextManager[Iterator[Any]]: ...
    @contextlib.contextmanager
    def stream(
        self, method: str, url: str, *, item: Any = None, format: str | None = None, **request: Any
    ) -> Iterator[Iterator[Any]]:
        """Send a request and iterate its streamed items (validated as ``item`` if given) in a ``with`` block.

        ``format`` asks for one format (``"jsonl"``, ``"sse"``...); by default any is accepted, and the
        decoder is chosen by the response's content type.
        """
        with self._events(method, url, item, format, request, None) as events:
            yield (event.data for event in events)

    @overload
    def get_stream(self, url: str, *, item: type[T], format: str | None = ..., **request: Any) -> Items[T]: ...
    @overload
    def get_stream(self, url: str, *, item: Any = ..., format: str | None = ..., **request: Any) -> Items[Any]: ...
    def get_stream(self, url: str, *, item: Any = None, format: str | None = None, **request: Any) -> Items[Any]:
        """``GET`` a stream: iterate it for its items (``for item in client.get_stream(...)``), or use it in a
        ``with`` block to close the response early; the response is closed when the iteration ends or stops."""
        return Items(lambda: self.stream("GET", url, item=item, format=format, **request))

    @overload
    def post_stream(
        self, url: str, *, items: Iterable[Any], item: type[T], format: str | None = ..., **request: Any
    ) -> Items[T]: ...
    @overload
    def post_stream(
        self, url: str, *, items: Iterable[Any], item: Any = ..., format: str | None = ..., **request: Any
    ) -> Items[Any]: ...
    def post_stream(
        self, url: str, *, items: Iterable[Any], item: Any = None, format: str | None = None, **request: Any
    ) -> Items[Any]:
        """``POST`` ``items`` as a JSON Lines body, serialized as the iterable produces them (a chunked upload),
        and read the streamed answer: used as ``get_stream`` is (iterate it, or ``with``).

        httpx sends the whole request body before it reads the response, so the response is read once the
        upload is complete (the server may answer while it still reads: see ``docs/request-streams.md``).
        """
        request = upload(request, encode_lines(items))
        return Items(lambda: self.stream("POST", url, item=item, format=format, **request))

    @overload
    def post_items(self, url: str, *, items: Iterable[Any], result: type[T], **request: Any) -> T: ...
    @overload
    def post_items(self, url: str, *, items: Iterable[Any], result: None = ..., **request: Any) -> Any: ...
    def post_items(self, url: str, *, items: Iterable[Any], result: Any = None, **request: Any) -> Any:
        """``POST`` ``items`` as a JSON Lines body (a chunked upload) to a route that answers with one JSON value
        (``-> dict``, a model): that value, validated as ``result`` if given. ``HTTPStatusError`` for an error."""
        response = self.http.post(url, **upload(request, encode_lines(items)))
        return result_of(response, result)

    def events(self, method: str, url: str, *, item: Any = None, **request: Any) -> Iterator[Event[Any]]:
        """Follow a Server-Sent Events stream: yield ``Event``s (``data`` validated as ``item``), reconnecting
        with ``Last-Event-ID`` as ``retry`` (a ``RetryPolicy``) allows."""
        reconnection = Reconnection(self.retry)
        while True:
            reader: StreamReader | None = None
            error: BaseException | None = None
            try:
                with self._events(method, url, item, "sse", request, reconnection.last_event_id, True) as events:
                    reader = events.reader
                    for event in events:
                        reconnection.on_event(event)
                        yield event
            except (StreamTruncated, httpx.TransportError) as exc:
                error = exc
            delay = reconnection.next_delay(reader, error)
            if delay is None:
                reconnection.raise_unless_complete(reader, error)
                return
            time.sleep(delay)

    @contextlib.contextmanager
    def _events(
        self,
        method: str,
        url: str,
        item: Any,
        format: str | None,
        request: dict[str, Any],
        last_id: str | None,
        resumable: bool = False,
    ) -> Iterator[_EventIterator]:
        request = dict(request)
        headers = _headers(format, request.pop("headers", None), last_id, self.formats)
        with self.http.stream(method, url, headers=headers, **request) as response:
            if not response.is_success:
                raise HTTPStatusError(response, response.read())
            reader = StreamReader.for_response(
                response.headers, item, max_frame_size=self.max_frame_size, resumable=resumable, formats=self.formats
            )
            yield _EventIterator(reader, response)


class _EventIterator:
    def __init__(self, reader: StreamReader, response: httpx.Response) -> None:
        self.reader = reader
        self.response = response

    def __iter__(self) -> Iterator[Event[Any]]:
        reader = self.reader
        try:
            for chunk in self.response.iter_bytes():
                yield from reader.read(chunk)
        except httpx.RemoteProtocolError as exc:
            raise reader.truncated(exc) from exc
        yield from reader.finish()


class AsyncClient:
    """The async twin of ``Client``::

    async with AsyncClient("http://127.0.0.1:8000") as client:
        async for item in client.get_stream("/items/stream", item=Item):
            print(item.name)
    """

    def __init__(
        self,
        base_url: str | httpx.URL = "",
        *,
        http: httpx.AsyncClient | None = None,
        retry: RetryPolicy | None = RetryPolicy(),  # noqa: B008 - immutable
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        formats: Sequence[StreamFormat] = (),
        **options: Any,
    ) -> None:
        self._owns_http = http is None
        self.http = http if http is not None else httpx.AsyncClient(base_url=base_url, **options)
        self.retry = retry
        self.max_frame_size = max_frame_size
        #: Formats of the server's own beside the built-in ones (``docs/formats.md``), asked for and read.
        self.formats = tuple(formats)

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

    @contextlib.asynccontextmanager
    async def stream(
        self, method: str, url: str, *, item: Any = None, format: str | None = None, **request: Any
    ) -> AsyncIterator[AsyncIterator[Any]]:
        """The async twin of ``Client.stream``."""
        async with self._events(method, url, item, format, request, None) as events:
            yield _data(events)

    @overload
    def get_stream(self, url: str, *, item: type[T], format: str | None = ..., **request: Any) -> AsyncItems[T]: ...
    @overload
    def get_stream(self, url: str, *, item: Any = ..., format: str | None = ..., **request: Any) -> AsyncItems[Any]: ...
    def get_stream(self, url: str, *, item: Any = None, format: str | None = None, **request: Any) -> AsyncItems[Any]:
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
        **request: Any,
    ) -> AsyncItems[T]: ...
    @overload
    def post_stream(
        self,
        url: str,
        *,
        items: AsyncIterable[Any] | Iterable[Any],
        item: Any = ...,
        format: str | None = ...,
        **request: Any,
    ) -> AsyncItems[Any]: ...
    def post_stream(
        self,
        url: str,
        *,
        items: AsyncIterable[Any] | Iterable[Any],
        item: Any = None,
        format: str | None = None,
        **request: Any,
    ) -> AsyncItems[Any]:
        """The async twin of ``Client.post_stream`` (``items`` may be sync or async)."""
        request = upload(request, aencode_lines(items))
        return AsyncItems(lambda: self.stream("POST", url, item=item, format=format, **request))

    @overload
    async def post_items(
        self, url: str, *, items: AsyncIterable[Any] | Iterable[Any], result: type[T], **request: Any
    ) -> T: ...
    @overload
    async def post_items(
        self, url: str, *, items: AsyncIterable[Any] | Iterable[Any], result: None = ..., **request: Any
    ) -> Any: ...
    async def post_items(
        self, url: str, *, items: AsyncIterable[Any] | Iterable[Any], result: Any = None, **request: Any
    ) -> Any:
        """The async twin of ``Client.post_items``."""
        response = await self.http.post(url, **upload(request, aencode_lines(items)))
        return result_of(response, result)

    async def events(self, method: str, url: str, *, item: Any = None, **request: Any) -> AsyncIterator[Event[Any]]:
        """The async twin of ``Client.events``."""
        reconnection = Reconnection(self.retry)
        while True:
            reader: StreamReader | None = None
            error: BaseException | None = None
            try:
                async with self._events(method, url, item, "sse", request, reconnection.last_event_id, True) as events:
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
    async def _events(
        self,
        method: str,
        url: str,
        item: Any,
        format: str | None,
        request: dict[str, Any],
        last_id: str | None,
        resumable: bool = False,
    ) -> AsyncIterator[_AsyncEventIterator]:
        request = dict(request)
        headers = _headers(format, request.pop("headers", None), last_id, self.formats)
        async with self.http.stream(method, url, headers=headers, **request) as response:
            if not response.is_success:
                raise HTTPStatusError(response, await response.aread())
            reader = StreamReader.for_response(
                response.headers, item, max_frame_size=self.max_frame_size, resumable=resumable, formats=self.formats
            )
            yield _AsyncEventIterator(reader, response)


class _AsyncEventIterator:
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


async def _data(events: _AsyncEventIterator) -> AsyncIterator[Any]:
    async for event in events:
        yield event.data
