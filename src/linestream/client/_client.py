"""``Client``: the typed streaming client over httpx, and what it shares with its twin ``AsyncClient``
(``_async_client``): one behaviour, two surfaces; only moving bytes and sleeping differ.

Every streaming call iterates and works in a ``with`` block: ``stream`` (any method), ``get_stream``,
``post_stream`` (items up, items down), ``events`` (items with their SSE fields, SSE followed across reconnects),
and ``post_items`` answers one value.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Generator, Iterable, Iterator, Sequence
from types import TracebackType
from typing import Any, TypeVar, overload

import httpx
from typing_extensions import Unpack, deprecated

from linestream.client._errors import HTTPStatusError
from linestream.client._items import Followed, Items, encode_lines, result_of, upload
from linestream.client._options import ClientOptions, RequestOptions
from linestream.client._reader import Event, Reconnection, RetryPolicy, StreamReader
from linestream.client._websocket import WebSocketStream, connection_headers, websocket_url
from linestream.exceptions import StreamTruncated
from linestream.streams import StreamFormat, accept_header
from linestream.streams.jsonlines import DEFAULT_MAX_FRAME_SIZE

__all__ = ["Client", "ClientBase"]

T = TypeVar("T")


class ClientBase:
    """What the twins share: their reading options, the headers a stream request sends, the reader of a
    response, and the arguments of ``events``."""

    def __init__(self, retry: RetryPolicy | None, max_frame_size: int, formats: Sequence[StreamFormat]) -> None:
        self.retry = retry
        self.max_frame_size = max_frame_size
        #: Formats of the server's own beside the built-in ones (``docs/formats.md``), asked for and read.
        self.formats = tuple(formats)

    def _headers(self, format: str | None, extra: Any, last_event_id: str | None) -> httpx.Headers:
        headers = httpx.Headers(extra)
        headers.setdefault("accept", accept_header(format, self.formats))
        if last_event_id is not None:
            headers["last-event-id"] = last_event_id
        return headers

    def _reader(self, response: httpx.Response, item: Any, resumable: bool) -> StreamReader:
        return StreamReader.for_response(
            response.headers, item, max_frame_size=self.max_frame_size, resumable=resumable, formats=self.formats
        )

    @staticmethod
    def _events_target(url: str, legacy_url: str | None, method: str) -> tuple[str, str]:
        """``(method, url)`` of an ``events`` call, which once took ``(method, url)`` positionally."""
        if legacy_url is None:
            return method, url
        warnings.warn(
            "events(method, url) is deprecated and will be removed in the next release: call events(url) (its "
            "method= is GET by default), as get_stream(url) is called.",
            DeprecationWarning,
            stacklevel=3,
        )
        return url, legacy_url


class Client(ClientBase):
    """Read streams as validated items. Give a base URL (and any ``httpx.Client`` option: ``timeout=``,
    ``headers=``, ``auth=``...) or an existing ``httpx.Client`` as ``http=`` (it is not closed by this client).

    ```python
    with Client("http://127.0.0.1:8000") as client:
        for item in client.get_stream("/items/stream", item=Item):
            print(item.name)
    ```
    """

    def __init__(
        self,
        base_url: str | httpx.URL = "",
        *,
        http: httpx.Client | None = None,
        retry: RetryPolicy | None = RetryPolicy(),  # noqa: B008 - immutable
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        formats: Sequence[StreamFormat] = (),
        **options: Unpack[ClientOptions],
    ) -> None:
        super().__init__(retry, max_frame_size, formats)
        self._owns_http = http is None
        self.http = http if http is not None else httpx.Client(base_url=base_url, **options)

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
        self, method: str, url: str, *, item: type[T], format: str | None = ..., **request: Unpack[RequestOptions]
    ) -> contextlib.AbstractContextManager[Iterator[T]]: ...
    @overload
    def stream(
        self, method: str, url: str, *, item: Any = ..., format: str | None = ..., **request: Unpack[RequestOptions]
    ) -> contextlib.AbstractContextManager[Iterator[Any]]: ...
    @contextlib.contextmanager
    def stream(
        self, method: str, url: str, *, item: Any = None, format: str | None = None, **request: Unpack[RequestOptions]
    ) -> Iterator[Iterator[Any]]:
        """Send a request and iterate its streamed items (validated as ``item`` if given) in a ``with`` block.

        ``format`` asks for one format (``"jsonl"``, ``"sse"``...); by default any is accepted, and the
        decoder is chosen by the response's content type.
        """
        with self._open(method, url, item, format, dict(request), None) as events:
            yield (event.data for event in events)

    @overload
    def get_stream(
        self, url: str, *, item: type[T], format: str | None = ..., **request: Unpack[RequestOptions]
    ) -> Items[T]: ...
    @overload
    def get_stream(
        self, url: str, *, item: Any = ..., format: str | None = ..., **request: Unpack[RequestOptions]
    ) -> Items[Any]: ...
    def get_stream(
        self, url: str, *, item: Any = None, format: str | None = None, **request: Unpack[RequestOptions]
    ) -> Items[Any]:
        """``GET`` a stream: iterate it for its items (``for item in client.get_stream(...)``), or use it in a
        ``with`` block to close the response early; the response is closed when the iteration ends or stops."""
        return Items(lambda: self.stream("GET", url, item=item, format=format, **request))

    @overload
    def post_stream(
        self,
        url: str,
        *,
        items: Iterable[Any],
        item: type[T],
        format: str | None = ...,
        **request: Unpack[RequestOptions],
    ) -> Items[T]: ...
    @overload
    def post_stream(
        self,
        url: str,
        *,
        items: Iterable[Any],
        item: Any = ...,
        format: str | None = ...,
        **request: Unpack[RequestOptions],
    ) -> Items[Any]: ...
    def post_stream(
        self,
        url: str,
        *,
        items: Iterable[Any],
        item: Any = None,
        format: str | None = None,
        **request: Unpack[RequestOptions],
    ) -> Items[Any]:
        """``POST`` ``items`` as a JSON Lines body, serialized as the iterable produces them (a chunked upload),
        and read the streamed answer: used as ``get_stream`` is (iterate it, or ``with``).

        httpx sends the whole request body before it reads the response, so the response is read once the
        upload is complete (the server may answer while it still reads: see ``docs/request-streams.md``).
        """
        sent = upload(dict(request), encode_lines(items))
        return Items(lambda: self.stream("POST", url, item=item, format=format, **sent))

    @overload
    def post_items(
        self, url: str, *, items: Iterable[Any], result: type[T], **request: Unpack[RequestOptions]
    ) -> T: ...
    @overload
    def post_items(
        self, url: str, *, items: Iterable[Any], result: None = ..., **request: Unpack[RequestOptions]
    ) -> Any: ...
    def post_items(
        self, url: str, *, items: Iterable[Any], result: Any = None, **request: Unpack[RequestOptions]
    ) -> Any:
        """``POST`` ``items`` as a JSON Lines body (a chunked upload) to a route that answers with one JSON value
        (``-> dict``, a model): that value, validated as ``result`` if given. ``HTTPStatusError`` for an error."""
        response = self.http.post(url, **upload(dict(request), encode_lines(items)))
        return result_of(response, result)

    @overload
    def events(
        self, url: str, /, *, item: type[T], method: str = ..., format: str = ..., **request: Unpack[RequestOptions]
    ) -> Followed[Event[T]]: ...
    @overload
    def events(
        self, url: str, /, *, item: Any = ..., method: str = ..., format: str = ..., **request: Unpack[RequestOptions]
    ) -> Followed[Event[Any]]: ...
    @overload
    @deprecated("events(method, url) is events(url, method=...): the URL comes first, as for get_stream(url)")
    def events(
        self, method: str, url: str, /, *, item: Any = ..., **request: Unpack[RequestOptions]
    ) -> Followed[Event[Any]]: ...
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
    ) -> Followed[Event[Any]]:
        """The stream's items with their SSE fields (``Event``: ``data`` validated as ``item``, ``event`` the
        name of its kind, ``id``, ``retry``): iterate them (``for``, ``next()``), in a ``with`` block to close the
        stream early. An
        SSE stream (the default ``format``) is followed across reconnects with ``Last-Event-ID``, as ``retry``
        (a ``RetryPolicy``) allows; another format is read once.

        ``events(method, url)``, the order of earlier releases, still works with a ``DeprecationWarning``."""
        method, url = self._events_target(url, legacy_url, method)
        return Followed(self._follow(method, url, item, format, dict(request)))

    def _follow(
        self, method: str, url: str, item: Any, format: str, request: dict[str, Any]
    ) -> Generator[Event[Any], None, None]:
        reconnection = Reconnection(self.retry if format == "sse" else RetryPolicy(max_attempts=0))
        while True:
            reader: StreamReader | None = None
            error: BaseException | None = None
            try:
                with self._open(method, url, item, format, request, reconnection.last_event_id, True) as events:
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
    def _open(
        self,
        method: str,
        url: str,
        item: Any,
        format: str | None,
        request: dict[str, Any],
        last_id: str | None,
        resumable: bool = False,
    ) -> Iterator[_Events]:
        request = dict(request)
        headers = self._headers(format, request.pop("headers", None), last_id)
        with self.http.stream(method, url, headers=headers, **request) as response:
            if not response.is_success:
                raise HTTPStatusError(response, response.read())
            yield _Events(self._reader(response, item, resumable and format == "sse"), response)


class _Events:
    """The events of one response, read as its body arrives."""

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
