"""``LineStream``: the ASGI application. A Starlette app whose router is an ``APIRouter``."""

from __future__ import annotations

import contextlib
import enum
import inspect
import warnings
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any, Literal, TypeVar

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import Lifespan, Receive, Scope, Send
from typing_extensions import Unpack

from linestream._declare.options import (
    STREAM_OPTION_NAMES,
    BodyLimits,
    Settings,
    StreamOptions,
    app_setting,
    check_keywords,
    check_options,
)
from linestream._declare.route import RouteOptions
from linestream._engine.runtime import AppRuntime, StreamStats
from linestream._engine.shutdown import shutdown_signals
from linestream._fastapi import COMPAT_MODES
from linestream._problem import default_exception_handlers, problem_response
from linestream._routing.dispatch import DirectDispatch
from linestream._routing.route import APIRoute
from linestream._routing.router import APIRouter, PathOperationDecorators
from linestream._shared_limits import SharedStreamLimits
from linestream.openapi import OPENAPI_VERSIONS, DocumentationPages, build_openapi, documentation_routes
from linestream.telemetry import StreamTelemetry

__all__ = ["LineStream", "StreamStats"]

_DEFAULTS = Settings()
HandlerT = TypeVar("HandlerT", bound=Callable[..., Any])
DispatchT = TypeVar("DispatchT", bound=Callable[..., Any])


async def _run_all(functions: Sequence[Callable[[], Any]]) -> None:
    for function in functions:
        result = function()
        if inspect.isawaitable(result):
            await result


def _head_size(scope: Scope) -> int:
    size = len(scope.get("raw_path") or b"") + len(scope.get("query_string", b""))
    for name, value in scope["headers"]:
        size += len(name) + len(value)
    return size


class LineStream(PathOperationDecorators, Starlette):
    """A web application whose path operations may ``yield`` items to stream them.

    ```python
    app = LineStream()

    @app.get("/items/stream")
    async def stream_items() -> AsyncIterable[Item]:
        for item in items:
            yield item
    ```

    ``openapi_url`` and ``docs_url`` may be set to ``None`` to serve no document or no docs page. ``root_path``:
    the prefix a proxy serves the app under, when the ASGI server is not told (``--root-path``), as in FastAPI.
    ``explorer_url`` serves the live stream explorer (docs/explorer.md); set it to ``None`` in production.
    ``chunk_size`` bounds the bytes coalesced into one ASGI message. Plain ``def`` generator streams, and plain
    ``def`` path operations reading a streamed body, run in the app's own ``max_sync_streams`` worker threads
    (not in the pool that ordinary ``def`` endpoints share); one that finds none free within
    ``sync_stream_wait`` seconds is answered 503 with ``Retry-After``.

    Streams are served in the format the client's ``Accept`` asks for, among ``stream_formats`` (default: all
    of ``"jsonl"``, ``"ndjson"``, ``"json-seq"``, ``"sse"``, ``"json"``; JSON Lines for ``*/*``). SSE streams
    send a keep-alive comment after ``sse_keepalive`` seconds of silence (``None``: never); JSON Lines and
    NDJSON send an empty line after ``jsonl_keepalive`` seconds (off by default: not every JSON Lines reader
    skips blank lines). Routes can override all three.

    ``stream_errors`` says what a client sees when a generator fails after its first item: ``"truncate"``
    (default: the response is aborted without its final chunk) or ``"record"`` (one final error record in the
    stream's format, then a clean end). ``stream_end=True`` ends every complete stream with an end record
    (SSE ``event: end``; ``{"end": {"count": n}}`` in JSON Lines, NDJSON, json-seq), so clients can tell a
    complete stream from one cut cleanly (docs/formats.md). A stream whose items are of several kinds
    (``AsyncIterable[Token | Usage]``) names each item's kind in SSE ``event:``; in the JSON formats a tag field
    tells them apart, or, with ``event_envelope=True``, an envelope ``{"event": kind, "data": item}``.
    ``send_timeout`` (30 s; ``None``: never) ends a stream whose client
    stopped reading for that many seconds; ``max_item_size`` bounds one serialized item. Routes can override
    these too.

    ``durable`` (a ``linestream.durable.DurableStreams``) makes a streaming path operation durable: its generator
    runs as a job of the app, its items kept in a durable stream that clients resume from, on any worker
    (docs/durable-streams.md). ``max_stream_duration`` (seconds) ends each stream at a moment drawn in the last
    ``stream_duration_jitter`` (10 %) of that lifetime (docs/reliability.md). Routers and routes set these too.

    When the server is told to stop (SIGTERM or SIGINT), open streams are ended at once: generators closed,
    dependencies torn down, SSE clients sent ``retry: sse_shutdown_retry`` (milliseconds) so that they
    reconnect (to another instance) after that delay; other formats see a truncated stream.

    A parameter ``AsyncIterable[Item]`` (``Iterable[Item]`` in a ``def``) receives the request body item by item
    as it arrives; ``body_limits`` (a ``BodyLimits``) bounds every request body (docs/reliability.md).
    ``max_streams`` bounds the streams the app serves at once (503 with Retry-After past it, before any item),
    ``max_streams_per_client`` those of one client (429), keyed by the value of the dependency
    ``stream_client_key`` (the user id, the API key; by default the client's address); counted by every worker
    with ``shared_stream_limits`` (``linestream.limits.RedisStreamLimits``). ``telemetry`` (a
    ``linestream.telemetry.StreamTelemetry``) records a span and metrics per stream (docs/operations.md).
    ``max_request_head_size`` bounds the request line and headers together (431; ``None``: the server's limit).

    ``topic_backend`` (a ``linestream.topics`` backend, e.g. ``RedisBackend``) is started with the app (start-up
    fails if it cannot be reached), and closed at shutdown after the open streams ended.
    """

    def __init__(
        self,
        *,
        debug: bool = False,
        routes: Sequence[BaseRoute] | None = None,
        title: str = "LineStream",
        version: str = "0.1.0",
        description: str | None = None,
        summary: str | None = None,
        terms_of_service: str | None = None,
        contact: dict[str, Any] | None = None,
        license_info: dict[str, Any] | None = None,
        openapi_url: str | None = "/openapi.json",
        openapi_version: str = "3.1.0",
        openapi_tags: list[dict[str, Any]] | None = None,
        servers: list[dict[str, Any]] | None = None,
        root_path: str = "",
        root_path_in_servers: bool = True,
        docs_url: str | None = "/docs",
        redoc_url: str | None = "/redoc",
        explorer_url: str | None = "/explorer",
        swagger_ui_parameters: dict[str, Any] | None = None,
        swagger_ui_oauth2_redirect_url: str | None = "/docs/oauth2-redirect",
        swagger_ui_init_oauth: dict[str, Any] | None = None,
        webhooks: APIRouter | None = None,
        generate_unique_id_function: Callable[[APIRoute], str] | None = None,
        default_response_class: type[Response] | None = None,
        middleware: Sequence[Middleware] | None = None,
        exception_handlers: Mapping[Any, Callable[..., Any]] | None = None,
        lifespan: Lifespan[Any] | None = None,
        dependencies: Sequence[Any] | None = None,
        max_sync_streams: int = _DEFAULTS.max_sync_streams,
        sync_stream_wait: float = _DEFAULTS.sync_stream_wait,
        max_request_head_size: int | None = _DEFAULTS.max_request_head_size,
        topic_backend: contextlib.AbstractAsyncContextManager[Any] | None = None,
        max_streams: int | None = None,
        max_streams_per_client: int | None = None,
        shared_stream_limits: SharedStreamLimits | None = None,
        telemetry: StreamTelemetry | None = None,
        stream_client_key: Callable[..., Any] | None = None,
        error_format: str | None = None,
        compat: Literal["fastapi"] | None = None,
        request_stream_limits: BodyLimits | None = None,
        on_startup: Sequence[Callable[[], Any]] | None = None,
        on_shutdown: Sequence[Callable[[], Any]] | None = None,
        separate_input_output_schemas: bool = True,
        **options: Unpack[StreamOptions],
    ) -> None:
        if openapi_version not in OPENAPI_VERSIONS:
            raise ValueError(f"openapi_version must be one of {OPENAPI_VERSIONS}, not {openapi_version!r}")
        check_keywords("LineStream()", options, STREAM_OPTION_NAMES)
        if request_stream_limits is not None:
            warnings.warn(
                "LineStream(request_stream_limits=) is now LineStream(body_limits=), which bounds every request "
                "body; request_stream_limits= goes in a future release.",
                DeprecationWarning,
                stacklevel=2,
            )
            options.setdefault("body_limits", request_stream_limits)
        if compat is not None and compat not in COMPAT_MODES:
            raise ValueError(f"compat must be one of {COMPAT_MODES} (or None), not {compat!r}")
        #: How this app serves streams (immutable; every route serves with it, and its routers' and its own
        #: options in force).
        self.settings = Settings(
            **check_options("LineStream", options),
            max_sync_streams=max_sync_streams,
            sync_stream_wait=sync_stream_wait,
            max_request_head_size=max_request_head_size,
            max_streams=max_streams,
            max_streams_per_client=max_streams_per_client,
            shared_stream_limits=shared_stream_limits,
            telemetry=telemetry,
            stream_client_key=stream_client_key,
            fastapi_compat=compat == "fastapi",
        )
        #: What the app's routes share while it serves (open streams, stream slots, threads, overrides).
        self.runtime = AppRuntime(self.settings)
        handlers = default_exception_handlers(error_format or ("fastapi" if compat == "fastapi" else "problem"))
        handlers.update(exception_handlers or {})
        #: Functions run when the app starts and stops (``on_startup=``, ``@app.on_event("startup")``), around
        #: the lifespan, as in FastAPI.
        self.on_startup = list(on_startup or [])
        self.on_shutdown = list(on_shutdown or [])
        #: Whether a model used both as input and output gets two schemas (``Item-Input``, ``Item-Output``)
        #: where they differ, as FastAPI documents; ``False``: one schema, the output's.
        self.separate_input_output_schemas = separate_input_output_schemas
        #: ``"fastapi"``: the app answers, encodes and documents as FastAPI does (docs/fastapi.md).
        self.compat = compat
        self.topic_backend = topic_backend
        wrapped = self._wrap_lifespan(lifespan)
        super().__init__(debug=debug, middleware=middleware, exception_handlers=handlers, lifespan=wrapped)
        #: Serves path operations without Starlette's middleware when the app has none of its own.
        self._direct: DirectDispatch | None = None
        self.router: APIRouter = APIRouter(
            routes=routes,
            lifespan=wrapped,
            dependencies=dependencies,
            default_response_class=default_response_class,
            generate_unique_id_function=generate_unique_id_function,
            runtime=self.runtime,
        )
        self.title = title
        self.version = version
        self.description = description
        self.summary = summary
        self.terms_of_service = terms_of_service
        self.contact = contact
        self.license_info = license_info
        self.openapi_version = openapi_version
        self.openapi_tags = openapi_tags
        self.servers = servers
        #: The prefix a proxy serves the app under, when the server is not told it (``--root-path``): set as every
        #: request's ``root_path``, and the document's first server (with ``root_path_in_servers``).
        self.root_path = root_path
        #: The webhooks the API sends, documented under the document's ``webhooks`` (``@app.webhooks.post(...)``).
        self.webhooks = webhooks if webhooks is not None else APIRouter()
        self.generate_unique_id_function = generate_unique_id_function
        # An empty URL turns a page off, as None does (FastAPI's "Conditional OpenAPI").
        self.pages = DocumentationPages(
            openapi_url=openapi_url or None,
            docs_url=docs_url or None,
            redoc_url=redoc_url or None,
            explorer_url=explorer_url or None,
            swagger_ui_parameters=swagger_ui_parameters,
            swagger_ui_oauth2_redirect_url=swagger_ui_oauth2_redirect_url or None,
            swagger_ui_init_oauth=swagger_ui_init_oauth,
            root_path_in_servers=root_path_in_servers,
        )
        #: The document, built on first use; assign ``None`` to have it built again (or a dict to serve that).
        self.openapi_schema: dict[str, Any] | None = None
        self.router.routes.extend(documentation_routes(self.title, lambda: self.openapi(), self.pages))

    @property
    def context(self) -> AppRuntime:
        """Deprecated: ``app.runtime``."""
        warnings.warn("app.context is now app.runtime.", DeprecationWarning, stacklevel=2)
        return self.runtime

    @property
    def openapi_url(self) -> str | None:
        return self.pages.openapi_url

    @property
    def docs_url(self) -> str | None:
        return self.pages.docs_url

    @property
    def redoc_url(self) -> str | None:
        return self.pages.redoc_url

    @property
    def explorer_url(self) -> str | None:
        return self.pages.explorer_url

    @property
    def swagger_ui_oauth2_redirect_url(self) -> str | None:
        return self.pages.swagger_ui_oauth2_redirect_url

    @property
    def swagger_ui_parameters(self) -> dict[str, Any] | None:
        return self.pages.swagger_ui_parameters

    @property
    def swagger_ui_init_oauth(self) -> dict[str, Any] | None:
        return self.pages.swagger_ui_init_oauth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.settings.max_request_head_size
        if limit is not None and scope["type"] in ("http", "websocket") and _head_size(scope) > limit:
            # Some servers (uvicorn with httptools) pass request heads of any size on; every header an app
            # parses, echoes or caches must have a bound, so the head as a whole gets one here.
            response = problem_response(
                431, f"The request head is larger than {limit} bytes; {app_setting('max_request_head_size')}."
            )
            if scope["type"] == "http":
                await response(scope, receive, send)
            else:
                await send({"type": "websocket.close", "code": 1009, "reason": "request head too large"})
            return
        if self.root_path:
            scope["root_path"] = self.root_path
        if self.middleware_stack is None:
            self.middleware_stack = self.build_middleware_stack()
            self._direct = DirectDispatch.unless_layered(self)
        scope["app"] = self
        direct = self._direct
        if direct is not None:
            handler = direct.handler_for(scope)
            if handler is not None:
                await handler(scope, receive, send, direct.errors)
                return
        await super().__call__(scope, receive, send)

    def _wrap_lifespan(self, lifespan: Lifespan[Any] | None) -> Lifespan[Any]:
        """The user's lifespan, run while shutdown signals end the open streams first (see ``_shutdown``)."""

        @contextlib.asynccontextmanager
        async def lifespan_with_shutdown(app: Any) -> AsyncIterator[Any]:
            async with (
                self.runtime.running(),
                shutdown_signals(self.runtime.open_streams),
                self.topic_backend or contextlib.nullcontext(),
            ):
                await _run_all(self.on_startup)
                try:
                    if lifespan is None:
                        yield None
                    else:
                        async with lifespan(app) as state:
                            yield state
                finally:
                    await _run_all(self.on_shutdown)

        return lifespan_with_shutdown

    @property
    def dependency_overrides(self) -> dict[Callable[..., Any], Callable[..., Any]]:
        """Replacement dependencies (``{original: replacement}``), as in FastAPI; assign ``{}`` to reset."""
        return self.runtime.dependency_overrides

    @dependency_overrides.setter
    def dependency_overrides(self, overrides: Mapping[Callable[..., Any], Callable[..., Any]] | None) -> None:
        self.runtime.dependency_overrides = overrides

    def stream_stats(self) -> StreamStats:
        """How many streams this app serves right now, and how many ``def`` generator streams hold a thread."""
        return StreamStats(len(self.runtime.open_streams), self.runtime.sync_streams_running)

    # -- path operations -----------------------------------------------------------------------------------
    def add_api_route(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        methods: Sequence[str] | None = None,
        **options: Unpack[RouteOptions],
    ) -> None:
        """Register ``endpoint`` at ``path`` for ``methods`` (default ``["GET"]``); the decorators (``@app.get``...)
        call this."""
        self.router.add_api_route(path, endpoint, methods=methods, **options)
        self.openapi_schema = None

    def add_api_websocket_route(
        self, path: str, endpoint: Callable[..., Any], *, name: str | None = None, dependencies: Sequence[Any] = ()
    ) -> None:
        self.router.add_api_websocket_route(path, endpoint, name=name, dependencies=dependencies)

    def include_router(
        self,
        router: APIRouter,
        *,
        prefix: str = "",
        tags: Sequence[str | enum.Enum] | None = None,
        dependencies: Sequence[Any] | None = None,
        responses: Mapping[int | str, dict[str, Any]] | None = None,
        include_in_schema: bool = True,
        deprecated: bool | None = None,
        default_response_class: type[Response] | None = None,
        callbacks: Sequence[BaseRoute] | None = None,
        generate_unique_id_function: Callable[[APIRoute], str] | None = None,
        **options: Unpack[StreamOptions],
    ) -> None:
        """Add a router's path operations under ``prefix``, with extra ``tags``, ``dependencies``, defaults and
        stream options (see ``APIRouter.include_router``); each is compiled once, here."""
        self.router.include_router(
            router,
            prefix=prefix,
            tags=tags,
            dependencies=dependencies,
            responses=responses,
            include_in_schema=include_in_schema,
            deprecated=deprecated,
            default_response_class=default_response_class,
            callbacks=callbacks,
            generate_unique_id_function=generate_unique_id_function,
            **options,
        )
        self.openapi_schema = None

    def on_event(self, event_type: str) -> Callable[[HandlerT], HandlerT]:
        """Decorator registering a function (``def`` or ``async def``, no arguments) to run when the app starts
        (``"startup"``) or stops (``"shutdown"``), as FastAPI's; a ``lifespan`` is the modern way."""
        if event_type not in ("startup", "shutdown"):
            raise ValueError(f'on_event takes "startup" or "shutdown", not {event_type!r}.')
        warnings.warn(
            "on_event is deprecated, as in FastAPI: use a lifespan (LineStream(lifespan=...)) instead.",
            DeprecationWarning,
            stacklevel=2,
        )

        def decorator(function: HandlerT) -> HandlerT:
            (self.on_startup if event_type == "startup" else self.on_shutdown).append(function)
            return function

        return decorator

    def exception_handler(self, exc_class_or_status_code: int | type[Exception]) -> Callable[[HandlerT], HandlerT]:
        """Decorator registering an exception handler (``async def handler(request, exc) -> Response``)."""

        def decorator(handler: HandlerT) -> HandlerT:
            self.add_exception_handler(exc_class_or_status_code, handler)
            return handler

        return decorator

    def middleware(self, middleware_type: str) -> Callable[[DispatchT], DispatchT]:
        """Decorator adding an HTTP middleware function (``async def mw(request, call_next) -> Response``), as
        FastAPI's ``@app.middleware("http")``: a Starlette ``BaseHTTPMiddleware``."""
        if middleware_type != "http":
            raise ValueError(f'Only "http" middleware functions are supported, not {middleware_type!r}.')

        def decorator(dispatch: DispatchT) -> DispatchT:
            self.add_middleware(BaseHTTPMiddleware, dispatch=dispatch)
            return dispatch

        return decorator

    # -- documentation -------------------------------------------------------------------------------------
    def openapi(self) -> dict[str, Any]:
        """The OpenAPI document of this app (built once, on first use, and kept in ``openapi_schema``). An app
        may replace this method to extend the document (see ``linestream.openapi.get_openapi``)."""
        if self.openapi_schema is None:
            self.openapi_schema = build_openapi(self)
        return self.openapi_schema
