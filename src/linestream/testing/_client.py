"""``TestClient`` / ``AsyncTestClient`` and JSON Lines helpers over the streaming transport."""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import AsyncIterator, Iterator
from types import TracebackType
from typing import Any, TypeVar, overload

import anyio
import anyio.abc
import anyio.from_thread
import httpx
from starlette.types import ASGIApp, Message

from linestream._decoding import Event, StreamReader
from linestream.streams import JSON_LINES
from linestream.testing._transport import ASGIStreamTransport
from linestream.testing._websocket import AsyncWebSocketSession, WebSocketSession, websocket_scope

__all__ = ["AsyncTestClient", "TestClient", "aiter_json_lines", "iter_json_lines"]

T = TypeVar("T")
_BASE_URL = "http://testserver"


class _Lifespan:
    """Runs an ASGI app's lifespan protocol in a task; ``startup()`` and ``shutdown()`` wait for the app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.to_app, self.app_inbox = anyio.create_memory_object_stream[Message](max_buffer_size=2)
        self.app_outbox, self.from_app = anyio.create_memory_object_stream[Message](max_buffer_size=2)
        self.supported = True

    async def run(self) -> None:
        async def receive() -> Message:
            return await self.app_inbox.receive()

        async def send(message: Message) -> None:
            await self.app_outbox.send(message)

        try:
            await self.app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send)
        finally:
            self.app_outbox.close()
            self.app_inbox.close()

    def close(self) -> None:
        self.to_app.close()
        self.from_app.close()

    async def _exchange(self, event: str) -> None:
        await self.to_app.send({"type": f"lifespan.{event}"})
        try:
            message = await self.from_app.receive()
        except anyio.EndOfStream:
            self.supported = False
            return
        if message["type"] == f"lifespan.{event}.failed":
            raise RuntimeError(f"The app's lifespan {event} failed: {message.get('message', '')}")

    async def startup(self) -> None:
        await self._exchange("startup")

    async def shutdown(self) -> None:
        if self.supported:
            await self._exchange("shutdown")


def _call_itself_testclient(headers: httpx.Headers, options: dict[str, Any]) -> None:
    """The test clients say who they are as Starlette's does (``User-Agent: testclient``), unless told otherwise."""
    given = options.get("headers")
    if not given or "user-agent" not in httpx.Headers(given):
        headers["user-agent"] = "testclient"


class AsyncTestClient(httpx.AsyncClient):
    """An ``httpx.AsyncClient`` served by ``app`` in-process, with real streaming. Use ``async with``."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        base_url: str = _BASE_URL,
        raise_server_exceptions: bool = True,
        root_path: str = "",
        follow_redirects: bool = True,
        **options: Any,
    ) -> None:
        self._app = app
        self._root_path = root_path
        self._raise_server_exceptions = raise_server_exceptions
        self._task_group: anyio.abc.TaskGroup | None = None
        self._stack: contextlib.AsyncExitStack | None = None
        transport = ASGIStreamTransport(
            app,
            self._spawn,
            raise_server_exceptions=raise_server_exceptions,
            root_path=root_path,
        )
        super().__init__(base_url=base_url, transport=transport, follow_redirects=follow_redirects, **options)
        _call_itself_testclient(self.headers, options)

    def websocket_connect(
        self, url: str, subprotocols: list[str] | None = None, **options: Any
    ) -> AsyncWebSocketSession:
        """A WebSocket connection to ``url`` (``async with client.websocket_connect("/ws") as websocket``);
        ``options`` (``headers``, ``params``, ``cookies``) as for a request."""
        return self.websocket_connect_request(self.build_request("GET", url, **options), subprotocols)

    def websocket_connect_request(
        self, request: httpx.Request, subprotocols: list[str] | None = None
    ) -> AsyncWebSocketSession:
        scope = websocket_scope(request, subprotocols, self._root_path)
        return AsyncWebSocketSession(self._app, scope, self._spawn, self._raise_server_exceptions)

    def _spawn(self, function: Any) -> None:
        if self._task_group is None:
            raise RuntimeError(
                "Use the AsyncTestClient as an async context manager: `async with AsyncTestClient(app)`."
            )
        self._task_group.start_soon(function)

    async def __aenter__(self) -> AsyncTestClient:
        stack = contextlib.AsyncExitStack()
        await stack.__aenter__()
        try:
            self._task_group = await stack.enter_async_context(anyio.create_task_group())
            lifespan = _Lifespan(self._app)
            stack.callback(lifespan.close)
            self._task_group.start_soon(lifespan.run)
            await lifespan.startup()
            stack.push_async_callback(lifespan.shutdown)
            await stack.enter_async_context(_closing(self))
        except BaseException:
            await stack.__aexit__(None, None, None)
            raise
        self._stack = stack
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.__aexit__(exc_type, exc_value, traceback)
        self._task_group = None


@contextlib.asynccontextmanager
async def _closing(client: httpx.AsyncClient) -> AsyncIterator[None]:
    try:
        yield
    finally:
        await httpx.AsyncClient.aclose(client)


class _PortalTransport(httpx.BaseTransport):
    """Forwards a sync client's requests to an ``AsyncTestClient`` running in a blocking portal's thread."""

    def __init__(self, owner: TestClient) -> None:
        self.owner = owner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        portal, async_client = self.owner._ensure_started()
        content = request.read()
        async_request = httpx.Request(
            request.method,
            request.url,
            headers=request.headers,
            content=content,
            extensions=request.extensions,
        )
        async_transport = async_client._transport
        response = portal.call(async_transport.handle_async_request, async_request)
        stream = response.stream
        assert isinstance(stream, httpx.AsyncByteStream)
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_PortalStream(portal, stream),
            request=request,
        )


class _PortalStream(httpx.SyncByteStream):
    def __init__(self, portal: anyio.from_thread.BlockingPortal, stream: httpx.AsyncByteStream) -> None:
        self.portal = portal
        self.stream = stream

    def __iter__(self) -> Iterator[bytes]:
        iterator = self.stream.__aiter__()
        while True:
            try:
                yield self.portal.call(iterator.__anext__)
            except StopAsyncIteration:
                return

    def close(self) -> None:
        self.portal.call(self.stream.aclose)


class TestClient(httpx.Client):
    """An ``httpx.Client`` served by ``app`` in-process, with real streaming.

    The app runs in an event loop in a background thread (an anyio blocking portal). Use ``with`` to run the
    app's lifespan and to stop that thread at the end; without it, the thread starts at the first request and
    stops at ``close()``.
    """

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        app: ASGIApp,
        *,
        base_url: str = _BASE_URL,
        raise_server_exceptions: bool = True,
        root_path: str = "",
        backend: str = "asyncio",
        follow_redirects: bool = True,
        **options: Any,
    ) -> None:
        self._app = app
        self._async_options = {"raise_server_exceptions": raise_server_exceptions, "root_path": root_path}
        self._backend = backend
        self._exit_stack: contextlib.ExitStack | None = None
        self._portal: anyio.from_thread.BlockingPortal | None = None
        self._async_client: AsyncTestClient | None = None
        super().__init__(
            base_url=base_url, transport=_PortalTransport(self), follow_redirects=follow_redirects, **options
        )
        _call_itself_testclient(self.headers, options)

    def _ensure_started(self) -> tuple[anyio.from_thread.BlockingPortal, AsyncTestClient]:
        if self._portal is None or self._async_client is None:
            stack = contextlib.ExitStack()
            try:
                portal = stack.enter_context(_daemon_portal(self._backend))
                async_client = AsyncTestClient(self._app, **self._async_options)  # type: ignore[arg-type]
                stack.enter_context(portal.wrap_async_context_manager(async_client))
            except BaseException:
                stack.close()
                raise
            self._exit_stack, self._portal, self._async_client = stack, portal, async_client
        return self._portal, self._async_client

    def __enter__(self) -> TestClient:
        self._ensure_started()
        return self

    def websocket_connect(self, url: str, subprotocols: list[str] | None = None, **options: Any) -> WebSocketSession:
        """A WebSocket connection to ``url`` (``with client.websocket_connect("/ws") as websocket``), as with
        Starlette's and FastAPI's ``TestClient``; ``options`` (``headers``, ``params``, ``cookies``) as for a
        request. A refused handshake raises ``WebSocketDisconnect`` (or ``WebSocketDenialResponse``)."""
        portal, async_client = self._ensure_started()
        request = self.build_request("GET", url, **options)
        return WebSocketSession(portal, async_client.websocket_connect_request(request, subprotocols))

    def __exit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        self.close()

    def close(self) -> None:
        stack, self._exit_stack = self._exit_stack, None
        self._portal = self._async_client = None
        if stack is not None:
            stack.close()
        super().close()


@contextlib.contextmanager
def _daemon_portal(backend: str) -> Iterator[anyio.from_thread.BlockingPortal]:
    """A blocking portal whose event loop runs in a daemon thread: a client never closed (as FastAPI's docs use
    their TestClient, without ``with``) cannot keep the interpreter from exiting. (anyio's own portal runs in a
    pool thread that the interpreter joins at exit, waiting forever for a loop nobody stops.)"""
    ready: queue.Queue[anyio.from_thread.BlockingPortal | BaseException] = queue.Queue()

    async def serve() -> None:
        try:
            async with anyio.from_thread.BlockingPortal() as portal:
                ready.put(portal)
                await portal.sleep_until_stopped()
        except BaseException as exc:  # pragma: no cover - the loop failed to start
            ready.put(exc)
            raise

    thread = threading.Thread(target=anyio.run, args=(serve,), kwargs={"backend": backend}, daemon=True)
    thread.start()
    portal = ready.get()
    if isinstance(portal, BaseException):  # pragma: no cover
        raise portal
    abandoned = False
    try:
        yield portal
    except GeneratorExit:
        # Garbage-collected, never closed (an unclosed client at interpreter exit): the daemon thread ends with
        # the process; asking its loop to stop now would wait for a thread that no longer runs.
        abandoned = True
        raise
    finally:
        if not abandoned:
            portal.call(portal.stop)
            thread.join()


@overload
def iter_json_lines(response: httpx.Response) -> Iterator[Any]: ...
@overload
def iter_json_lines(response: httpx.Response, item: type[T]) -> Iterator[T]: ...
def iter_json_lines(response: httpx.Response, item: Any = None) -> Iterator[Any]:
    """Iterate a streamed JSON Lines response as plain JSON values, or as validated ``item`` instances.

    Raises ``StreamTruncated`` if the body ends inside a line, and ``StreamDecodeError`` (with the line
    number) for a line that is not valid JSON or not a valid ``item``, after the items before it. Records the
    response announces (``Stream-Records``) are read as such: an error record raises ``StreamError``.
    """
    reader = _json_lines(response, item)
    for chunk in response.iter_bytes():
        yield from _values(reader.read(chunk))
    yield from _values(reader.finish())


@overload
def aiter_json_lines(response: httpx.Response) -> AsyncIterator[Any]: ...
@overload
def aiter_json_lines(response: httpx.Response, item: type[T]) -> AsyncIterator[T]: ...
async def aiter_json_lines(response: httpx.Response, item: Any = None) -> AsyncIterator[Any]:
    """The async twin of ``iter_json_lines``."""
    reader = _json_lines(response, item)
    async for chunk in response.aiter_bytes():
        for value in _values(reader.read(chunk)):
            yield value
    for value in _values(reader.finish()):
        yield value


def _json_lines(response: httpx.Response, item: Any) -> StreamReader:
    """The reader of a JSON Lines body, with the records its response announces."""
    return StreamReader(JSON_LINES.media_type, item, records=response.headers.get("stream-records", ""))


def _values(events: Iterator[Event[Any]]) -> Iterator[Any]:
    for event in events:
        yield event.data
