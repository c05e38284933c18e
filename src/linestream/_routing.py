"""``APIRouter`` and ``APIRoute``: path operations, their decorators, and ``include_router``.

A route analyses its endpoint when it is created (see ``_endpoint``), so a mis-declared path operation fails
at import time. Serving a request: bind arguments (``_binding``), then either stream the generator's items
(``_response.ItemStream``) or send the returned value as JSON. ``yield`` dependencies are closed after the
response, or the stream, has ended.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import anyio
import anyio.to_thread
import pydantic_core
from pydantic import ValidationError
from pydantic_core import PydanticSerializationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route, Router
from starlette.types import ASGIApp, Lifespan, Message, Receive, Scope, Send

from linestream._binding import RequestContext, TemporalResponse, solve_arguments
from linestream._endpoint import DEFAULT, CallKind, Dependant, EndpointSpec, analyse_endpoint, build_dependant
from linestream._negotiation import negotiate
from linestream._problem import problem_body
from linestream._response import (
    AsyncItemSource,
    EventFramer,
    ItemStream,
    KeepAlive,
    ReceiveChannel,
    SyncItemSource,
    stream_headers,
)
from linestream._serialization import ItemEncoder, SerializationOptions
from linestream._serialization import Message as Encoded
from linestream._shutdown import OpenStreams
from linestream.exceptions import (
    EndpointDefinitionError,
    HTTPException,
    ResponseValidationError,
    StreamItemTooLarge,
)
from linestream.params import DependsInfo
from linestream.sse import EventSourceResponse
from linestream.streams import FORMATS, SSE, Framing, StreamFormat, format_named
from linestream.streams.sse import ServerSentEvent, encode_event

__all__ = ["APIRoute", "APIRouter", "PathOperationDecorators", "StreamSettings"]

CallableT = TypeVar("CallableT", bound=Callable[..., Any])

#: A route's bytes for a yielded pre-serialized ``Message``.
MessagePayload = Callable[[Encoded[Any]], bytes]


@dataclasses.dataclass(frozen=True, slots=True)
class StreamSettings:
    """How streams are served; set on the app (``LineStream(chunk_size=...)``)."""

    chunk_size: int = 64 * 1024
    max_sync_streams: int = 64
    stream_formats: tuple[StreamFormat, ...] = FORMATS
    sse_keepalive: float | None = 15.0
    jsonl_keepalive: float | None = None
    stream_errors: str = "truncate"
    send_timeout: float | None = None
    max_item_size: int | None = None
    sse_shutdown_retry: int | None = 1000

    def keepalive(self, stream_format: StreamFormat, sse: Any, jsonl: Any) -> KeepAlive | None:
        """The keep-alive of ``stream_format``, with the route's ``sse``/``jsonl`` overrides (``DEFAULT``: none)."""
        if stream_format.keepalive is None:
            return None
        if stream_format.name == "sse":
            interval = self.sse_keepalive if sse is DEFAULT else sse
        else:
            interval = self.jsonl_keepalive if jsonl is DEFAULT else jsonl
        return None if interval is None else (float(interval), stream_format.keepalive)


STREAM_ERROR_POLICIES = ("truncate", "record")


def check_stream_options(owner: str, stream_errors: Any, send_timeout: Any, max_item_size: Any) -> None:
    """Refuse invalid stream options at build time (``DEFAULT`` means: the app's)."""
    if stream_errors is not DEFAULT and stream_errors not in STREAM_ERROR_POLICIES:
        raise ValueError(f"{owner}: stream_errors must be 'truncate' or 'record', not {stream_errors!r}")
    if send_timeout is not DEFAULT and send_timeout is not None and send_timeout <= 0:
        raise ValueError(f"{owner}: send_timeout must be a positive number of seconds or None")
    if max_item_size is not DEFAULT and max_item_size is not None and max_item_size < 1:
        raise ValueError(f"{owner}: max_item_size must be a positive number of bytes or None")


def error_record(stream_format: StreamFormat, error: Exception, count: int) -> bytes:
    """The in-band record that ends a stream whose generator failed (policy ``stream_errors="record"``).

    JSON Lines, NDJSON, json-seq: one more item ``{"error": <problem>}``; JSON array: that element, then ``]``;
    SSE: an ``event: error`` whose data is the problem. An ``HTTPException`` gives its status and detail;
    any other exception a 500 whose detail does not reveal the exception.
    """
    if isinstance(error, HTTPException):
        status, detail = error.status_code, error.detail
    else:
        status, detail = 500, f"The stream failed after {count} item(s)."
    problem = problem_body(status, detail)
    if stream_format is SSE:
        return encode_event(ServerSentEvent(raw_data=pydantic_core.to_json(problem).decode(), event="error"))
    framing = stream_format.framing
    return framing.encode(pydantic_core.to_json({"error": problem}), first=count == 0) + framing.tail


def resolve_formats(formats: Sequence[str] | None, owner: str) -> tuple[StreamFormat, ...] | None:
    """The formats named by a ``stream_formats=`` option, in the server's order of preference."""
    if formats is None:
        return None
    try:
        chosen = {format_named(name) for name in formats}
    except ValueError as exc:
        raise EndpointDefinitionError(f"{owner}: {exc}") from exc
    if not chosen:
        raise EndpointDefinitionError(f"{owner}: stream_formats=[] leaves no format to serve; omit it for all.")
    return tuple(f for f in FORMATS if f in chosen)


def event_framer(stream_format: StreamFormat, encode: Callable[[Any], bytes], payload: MessagePayload) -> EventFramer:
    """How a yielded ``ServerSentEvent`` or pre-serialized ``Message`` is framed in ``stream_format``.

    In SSE an event is a full event (``data`` serialized like any item) and a message an event with ``id:``
    set to the message's id. In the other formats an event's ``data`` is the item (``raw_data`` becomes a JSON
    string) and the SSE-only fields are dropped; an event without data (a comment, a bare ``retry``) is
    skipped; a message is its data. ``payload`` gives a message's bytes as the route sends them.
    """
    if stream_format is SSE:

        def frame_sse(event: ServerSentEvent | Encoded[Any], first: bool) -> bytes | None:
            if event.__class__ is Encoded:
                assert isinstance(event, Encoded)
                return b"id: " + event.id.encode() + b"\ndata: " + payload(event) + b"\n\n"
            assert isinstance(event, ServerSentEvent)
            data = event.data
            if data is None:
                return encode_event(event)
            if data.__class__ is Encoded:
                # An event wrapping a message: its data as is, its id unless the event sets one.
                if event.id is None:
                    event = dataclasses.replace(event, id=data.id)
                return encode_event(event, payload(data))
            return encode_event(event, encode(data))

        return frame_sse
    framing = stream_format.framing

    def frame_item(event: ServerSentEvent | Encoded[Any], first: bool) -> bytes | None:
        if event.__class__ is Encoded:
            assert isinstance(event, Encoded)
            return framing.encode(payload(event), first=first)
        assert isinstance(event, ServerSentEvent)
        if event.data is not None:
            data = event.data
            message = payload(data) if data.__class__ is Encoded else encode(data)
        elif event.raw_data is not None:
            message = pydantic_core.to_json(event.raw_data)
        else:
            return None
        return framing.encode(message, first=first)

    return frame_item


def message_payload(
    encode: Callable[[Any], bytes], item_type: Any, typed: bool, options: SerializationOptions
) -> MessagePayload:
    """A route's bytes for a yielded ``Message``: its data as is when the message holds the route's item type
    (or the route is untyped) and no ``response_model_*`` option applies; else its item serialized as the
    route's item (filtered, validated), so the route's declaration always decides what is sent."""
    if options != SerializationOptions():
        return lambda message: encode(message.item)
    if not typed:
        return lambda message: message.data

    def payload(message: Encoded[Any]) -> bytes:
        if message.item_type == item_type:
            return message.data
        return encode(message.item)

    return payload


_DEFAULT_SETTINGS = StreamSettings()


class APIRoute(Route):
    """One path operation. Created by the router's decorators; rarely built by hand."""

    def __init__(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        methods: Sequence[str] | None = None,
        name: str | None = None,
        include_in_schema: bool = True,
        status_code: int | None = None,
        response_model: Any = DEFAULT,
        response_class: type[Response] | None = None,
        tags: Sequence[str] | None = None,
        summary: str | None = None,
        description: str | None = None,
        response_description: str = "Successful Response",
        responses: Mapping[int | str, dict[str, Any]] | None = None,
        deprecated: bool | None = None,
        operation_id: str | None = None,
        dependencies: Sequence[Any] | None = None,
        openapi_extra: dict[str, Any] | None = None,
        response_model_include: Any = None,
        response_model_exclude: Any = None,
        response_model_by_alias: bool = True,
        response_model_exclude_unset: bool = False,
        response_model_exclude_defaults: bool = False,
        response_model_exclude_none: bool = False,
        stream_formats: Sequence[str] | None = None,
        sse_keepalive: float | None = DEFAULT,
        jsonl_keepalive: float | None = DEFAULT,
        stream_errors: str = DEFAULT,
        send_timeout: float | None = DEFAULT,
        max_item_size: int | None = DEFAULT,
    ) -> None:
        super().__init__(
            path,
            endpoint,
            methods=list(methods) if methods is not None else ["GET"],
            name=name,
            include_in_schema=include_in_schema,
        )
        self.status_code = status_code
        self.response_class = response_class
        self.tags = list(tags or [])
        self.summary = summary
        self.description = description if description is not None else inspect.getdoc(endpoint)
        self.response_description = response_description
        self.responses = dict(responses or {})
        self.deprecated = deprecated
        self.operation_id = operation_id
        self.openapi_extra = openapi_extra
        self.dependencies = list(dependencies or [])
        is_event_source = response_class is not None and issubclass(response_class, EventSourceResponse)
        raw = response_class is not None and not issubclass(response_class, JSONResponse) and not is_event_source
        self.spec: EndpointSpec = analyse_endpoint(
            endpoint,
            path_param_names=frozenset(self.param_convertors),
            response_model=response_model,
            response_is_raw=raw,
        )
        #: For a raw byte/text stream (``response_class=StreamingResponse``): its one format.
        self.raw_format: StreamFormat | None = None
        if self.spec.is_stream and raw:
            assert response_class is not None
            self.raw_format = _raw_stream_format(self.spec, response_class)
            if stream_formats is not None:
                raise EndpointDefinitionError(
                    f"{self.spec.name}: a {response_class.__name__} stream has one media type; drop stream_formats=."
                )
        if is_event_source and stream_formats is not None:
            raise EndpointDefinitionError(
                f"{self.spec.name}: response_class=EventSourceResponse already restricts the route to SSE; "
                "drop stream_formats=."
            )
        #: The formats this route serves; ``None``: the app's (all formats by default).
        self.stream_formats = (SSE,) if is_event_source else resolve_formats(stream_formats, self.spec.name)
        if self.raw_format is not None:
            self.stream_formats = (self.raw_format,)
        self.sse_keepalive = sse_keepalive
        self.jsonl_keepalive = jsonl_keepalive
        check_stream_options(self.spec.name, stream_errors, send_timeout, max_item_size)
        self.stream_errors = stream_errors
        self.send_timeout = send_timeout
        self.max_item_size = max_item_size
        self.extra_dependants: list[Dependant] = []
        for marker in self.dependencies:
            if not isinstance(marker, DependsInfo) or marker.dependency is None:
                raise EndpointDefinitionError(
                    f"{self.spec.name}: dependencies=[...] takes Depends(function) markers, got {marker!r}."
                )
            self.extra_dependants.append(
                build_dependant(marker.dependency, path_param_names=frozenset(self.param_convertors))
            )
        options = SerializationOptions(
            include=response_model_include,
            exclude=response_model_exclude,
            by_alias=response_model_by_alias,
            exclude_unset=response_model_exclude_unset,
            exclude_defaults=response_model_exclude_defaults,
            exclude_none=response_model_exclude_none,
        )
        adapter = self.spec.item_adapter if self.spec.is_stream else self.spec.response_adapter
        self.encoder = ItemEncoder(adapter, options)
        self.encode: Callable[[Any], bytes] = self.encoder.encode
        payload = message_payload(self.encoder.encode, self.spec.item_type, adapter is not None, options)
        self._framers: dict[StreamFormat, EventFramer] = {
            stream_format: event_framer(stream_format, self.encoder.encode, payload) for stream_format in FORMATS
        }
        if self.raw_format is not None:
            self.encode = _raw_chunk_encoder(self.spec.name)
            self._framers[self.raw_format] = _refuse_events(self.spec.name)
        self.app = self._handle
        self.label = f"{'/'.join(sorted(self.methods or []))} {self.path}"

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        channel = ReceiveChannel(receive)
        request = Request(scope, channel)
        app = scope.get("app")
        overrides: Mapping[Callable[..., Any], Callable[..., Any]] = getattr(app, "dependency_overrides", {})
        sent = False

        async def tracking_send(message: Message) -> None:
            nonlocal sent
            sent = True
            await send(message)

        settings: StreamSettings = getattr(app, "stream_settings", _DEFAULT_SETTINGS)
        stream_format: StreamFormat | None = None
        if self.raw_format is not None:
            # A raw stream has one media type: like Starlette's StreamingResponse, it ignores Accept.
            stream_format = self.raw_format
        elif self.spec.is_stream:
            offered = self.offered_formats(settings)
            stream_format = negotiate(request.headers.get("accept"), offered)
            if stream_format is None:
                raise HTTPException(
                    406,
                    "None of the media types in the Accept header can be served; this stream is available as "
                    + ", ".join(f.media_type for f in offered)
                    + ".",
                )
        async with contextlib.AsyncExitStack() as stack:
            ctx = RequestContext(request, stack, overrides)
            arguments = await solve_arguments(self.spec, self.extra_dependants, ctx)
            if stream_format is not None:
                await self._stream(scope, tracking_send, channel, ctx, arguments, settings, stream_format)
            else:
                response = await self._respond(ctx, arguments)
                await response(scope, channel, tracking_send)
        if not sent:
            raise RuntimeError(
                f"{self.spec.name}: no response was sent because a `yield` dependency swallowed the endpoint's "
                "exception. Re-raise it in the dependency (`except ...: ...; raise`)."
            )

    async def _stream(
        self,
        scope: Scope,
        send: Send,
        channel: ReceiveChannel,
        ctx: RequestContext,
        arguments: dict[str, Any],
        settings: StreamSettings,
        stream_format: StreamFormat,
    ) -> None:
        generator = self.endpoint(**arguments)
        encode = self.encode
        max_item_size = settings.max_item_size if self.max_item_size is DEFAULT else self.max_item_size
        if max_item_size is not None:
            encode = _size_checked(encode, self.spec.name, max_item_size)
        framing = stream_format.framing
        framer = self._framers[stream_format]
        source: AsyncItemSource | SyncItemSource
        if self.spec.dependant.kind is CallKind.ASYNC_GEN:
            source = AsyncItemSource(generator, encode, framing, settings.chunk_size, framer)
        else:
            limiter = _sync_stream_limiter(scope.get("app"), settings)
            source = SyncItemSource(generator, encode, framing, settings.chunk_size, framer, limiter)
        stream = ItemStream(source, route=self.label, channel=channel)
        vary = len(self.offered_formats(settings)) > 1

        def start() -> Message:
            status = self.status_code or 200
            extra: list[tuple[bytes, bytes]] = []
            if ctx.response is not None:
                status = ctx.response.status_code or status
                extra = [(k, v) for k, v in ctx.response.raw_headers if k != b"content-length"]
            headers = stream_headers(framing.media_type, extra)
            if vary:
                headers.append((b"vary", b"Accept"))
            return {"type": "http.response.start", "status": status, "headers": headers}

        keepalive = settings.keepalive(stream_format, self.sse_keepalive, self.jsonl_keepalive)
        send_timeout = settings.send_timeout if self.send_timeout is DEFAULT else self.send_timeout
        record = None
        if self.error_policy(settings) == "record":

            def record(error: Exception, count: int) -> bytes:
                return error_record(stream_format, error, count)

        open_streams: OpenStreams | None = getattr(scope.get("app"), "open_streams", None)
        shutdown_frame = None
        if stream_format is SSE and settings.sse_shutdown_retry is not None:
            shutdown_frame = b"retry: %d\n\n" % settings.sse_shutdown_retry
        try:
            with open_streams.open(stream) if open_streams is not None else contextlib.nullcontext():
                await stream.serve(
                    send,
                    start,
                    head_only=scope["method"] == "HEAD",
                    keepalive=keepalive,
                    send_timeout=send_timeout,
                    error_record=record,
                    shutdown_frame=shutdown_frame,
                )
        except (ValidationError, PydanticSerializationError) as exc:
            raise _response_error(self.spec.name, exc, source.count) from exc

    def error_policy(self, settings: StreamSettings) -> str:
        """``"truncate"`` or ``"record"``: what a client sees when the generator fails after the first item."""
        if self.raw_format is not None:
            return "truncate"  # raw bytes have no record to carry an error
        return settings.stream_errors if self.stream_errors is DEFAULT else str(self.stream_errors)

    def offered_formats(self, settings: StreamSettings) -> tuple[StreamFormat, ...]:
        """The formats this route serves under an app with ``settings``."""
        return self.stream_formats if self.stream_formats is not None else settings.stream_formats

    async def _respond(self, ctx: RequestContext, arguments: dict[str, Any]) -> Response:
        kind = self.spec.dependant.kind
        endpoint = self.endpoint
        if kind is CallKind.ASYNC:
            result = await endpoint(**arguments)
        else:
            result = await anyio.to_thread.run_sync(lambda: endpoint(**arguments))
        if isinstance(result, Response):
            return result
        status = self.status_code or 200
        temporal = ctx.response
        if temporal is not None and temporal.status_code:
            status = temporal.status_code
        response_class = self.response_class
        if response_class is not None and not issubclass(response_class, JSONResponse):
            response = response_class(result, status_code=status)
        elif status in (204, 304) or (status < 200):
            response = Response(status_code=status)
        else:
            try:
                content = self.encoder.encode(result)
            except (ValidationError, PydanticSerializationError) as exc:
                raise _response_error(self.spec.name, exc) from exc
            media_type = response_class.media_type if response_class is not None else "application/json"
            response = Response(content, status_code=status, media_type=media_type)
        if temporal is not None:
            _merge_headers(response, temporal)
        return response


_TEXT_TYPES = (str,)
_BINARY_TYPES = (bytes, bytearray, memoryview)


def _raw_stream_format(spec: EndpointSpec, response_class: type[Response]) -> StreamFormat:
    """The single format of a generator declared with ``response_class=StreamingResponse`` (or a subclass)."""
    if not issubclass(response_class, StreamingResponse):
        raise EndpointDefinitionError(
            f"{spec.name}: a generator path operation cannot use response_class={response_class.__name__}. "
            "Use StreamingResponse (or a subclass with its media_type) to stream raw chunks, EventSourceResponse "
            "for SSE, or no response_class to stream items in the format the client asks for."
        )
    item_type = spec.item_type
    chunk_types = (
        typing.get_args(item_type) if typing.get_origin(item_type) in (typing.Union, types.UnionType) else (item_type,)
    )
    if item_type is not Any and not all(t in (*_TEXT_TYPES, *_BINARY_TYPES) for t in chunk_types):
        raise EndpointDefinitionError(
            f"{spec.name}: a {response_class.__name__} stream yields str or bytes chunks, but its items are declared "
            f"as {item_type!r}. Declare AsyncIterable[bytes] / Iterable[str] (or drop response_class to stream "
            "JSON items)."
        )
    media_type = response_class.media_type
    if media_type is None:
        media_type = "text/plain" if chunk_types == (str,) else "application/octet-stream"
    if media_type.startswith("text/") and "charset" not in media_type:
        media_type += "; charset=utf-8"
    return StreamFormat("raw", Framing(media_type=media_type), _no_decoder, None)


def _no_decoder(**options: Any) -> Any:
    raise TypeError("a raw byte stream has no frames to decode")


def _raw_chunk_encoder(endpoint: str) -> Callable[[Any], bytes]:
    def encode_chunk(chunk: Any) -> bytes:
        if chunk.__class__ is bytes:
            return chunk
        if isinstance(chunk, str):
            return chunk.encode()
        if isinstance(chunk, _BINARY_TYPES):
            return bytes(chunk)
        raise TypeError(
            f"{endpoint} yielded a {type(chunk).__name__}; a StreamingResponse path operation yields str or bytes "
            "chunks (drop response_class to stream JSON items)."
        )

    return encode_chunk


def _response_error(
    endpoint: str, exc: ValidationError | PydanticSerializationError, index: int | None = None
) -> ResponseValidationError:
    """The error for a value (or the ``index``-th item) the endpoint produced that fails its declared type."""
    if isinstance(exc, ValidationError):
        return ResponseValidationError(endpoint, exc.errors(include_url=False), index)
    return ResponseValidationError(endpoint, [{"loc": (), "msg": str(exc), "type": "serialization"}], index)


def _size_checked(encode: Callable[[Any], bytes], endpoint: str, limit: int) -> Callable[[Any], bytes]:
    def encode_checked(item: Any) -> bytes:
        data = encode(item)
        if len(data) > limit:
            raise StreamItemTooLarge(endpoint, len(data), limit)
        return data

    return encode_checked


def _refuse_events(endpoint: str) -> EventFramer:
    def refuse(event: ServerSentEvent | Encoded[Any], first: bool) -> bytes | None:
        raise TypeError(
            f"{endpoint} yielded a {type(event).__name__} in a StreamingResponse stream; use "
            "response_class=EventSourceResponse to send events."
        )

    return refuse


def _merge_headers(response: Response, temporal: TemporalResponse) -> None:
    for key, value in temporal.raw_headers:
        if key != b"content-length":
            response.raw_headers.append((key, value))


def _sync_stream_limiter(app: Any, settings: StreamSettings) -> anyio.CapacityLimiter:
    """The app's limiter of concurrently running ``def`` generator streams, created on first use."""
    holder: Any = app if app is not None else _sync_stream_limiter
    limiter: anyio.CapacityLimiter | None = getattr(holder, "_linestream_sync_limiter", None)
    if limiter is None:
        limiter = anyio.CapacityLimiter(settings.max_sync_streams)
        holder._linestream_sync_limiter = limiter
    return limiter


class PathOperationDecorators:
    """``api_route`` and the per-method decorators, shared by ``APIRouter`` and ``LineStream``."""

    def add_api_route(self, path: str, endpoint: Callable[..., Any], **options: Any) -> Any:
        raise NotImplementedError

    def api_route(
        self,
        path: str,
        *,
        methods: Sequence[str] | None = None,
        **options: Any,
    ) -> Callable[[CallableT], CallableT]:
        """Decorator registering a path operation for ``methods`` (default ``["GET"]``)."""

        def decorator(endpoint: CallableT) -> CallableT:
            self.add_api_route(path, endpoint, methods=methods, **options)
            return endpoint

        return decorator

    def get(self, path: str, **options: Any) -> Callable[[CallableT], CallableT]:
        """Decorator for a ``GET`` path operation (``HEAD`` is answered too)."""
        return self.api_route(path, methods=["GET"], **options)

    def post(self, path: str, **options: Any) -> Callable[[CallableT], CallableT]:
        """Decorator for a ``POST`` path operation."""
        return self.api_route(path, methods=["POST"], **options)

    def put(self, path: str, **options: Any) -> Callable[[CallableT], CallableT]:
        """Decorator for a ``PUT`` path operation."""
        return self.api_route(path, methods=["PUT"], **options)

    def patch(self, path: str, **options: Any) -> Callable[[CallableT], CallableT]:
        """Decorator for a ``PATCH`` path operation."""
        return self.api_route(path, methods=["PATCH"], **options)

    def delete(self, path: str, **options: Any) -> Callable[[CallableT], CallableT]:
        """Decorator for a ``DELETE`` path operation."""
        return self.api_route(path, methods=["DELETE"], **options)


class APIRouter(PathOperationDecorators, Router):
    """A group of path operations, with a common prefix, tags and dependencies, to include in an app.

    ::

        router = APIRouter(prefix="/items", tags=["items"])

        @router.get("/stream")
        async def stream() -> AsyncIterable[Item]: ...

        app.include_router(router)
    """

    def __init__(
        self,
        *,
        prefix: str = "",
        tags: Sequence[str] | None = None,
        dependencies: Sequence[Any] | None = None,
        responses: Mapping[int | str, dict[str, Any]] | None = None,
        routes: Sequence[BaseRoute] | None = None,
        redirect_slashes: bool = True,
        default: ASGIApp | None = None,
        lifespan: Lifespan[Any] | None = None,
        include_in_schema: bool = True,
        deprecated: bool | None = None,
    ) -> None:
        super().__init__(routes=routes, redirect_slashes=redirect_slashes, default=default, lifespan=lifespan)
        if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
            raise EndpointDefinitionError(f"APIRouter prefix {prefix!r} must start with '/' and not end with '/'.")
        self.prefix = prefix
        self.tags = list(tags or [])
        self.dependencies = list(dependencies or [])
        self.responses = dict(responses or {})
        self.include_in_schema = include_in_schema
        self.deprecated = deprecated
        self._definitions: list[tuple[str, Callable[..., Any], dict[str, Any]]] = []

    def add_api_route(self, path: str, endpoint: Callable[..., Any], **options: Any) -> APIRoute:
        """Register ``endpoint`` at ``prefix + path``; the decorators call this."""
        self._definitions.append((path, endpoint, dict(options)))
        options = dict(options)
        options["tags"] = [*self.tags, *(options.get("tags") or [])]
        options["dependencies"] = [*self.dependencies, *(options.get("dependencies") or [])]
        options["responses"] = {**self.responses, **(options.get("responses") or {})}
        if not self.include_in_schema:
            options["include_in_schema"] = False
        if self.deprecated is not None and options.get("deprecated") is None:
            options["deprecated"] = self.deprecated
        route = APIRoute(self.prefix + path, endpoint, **options)
        self.routes.append(route)
        return route

    def include_router(
        self,
        router: APIRouter,
        *,
        prefix: str = "",
        tags: Sequence[str] | None = None,
        dependencies: Sequence[Any] | None = None,
        responses: Mapping[int | str, dict[str, Any]] | None = None,
        include_in_schema: bool = True,
    ) -> None:
        """Add every path operation of ``router`` under ``prefix``, with extra ``tags`` and ``dependencies``."""
        if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
            raise EndpointDefinitionError(f"include_router prefix {prefix!r} must start with '/' and not end with '/'.")
        for path, endpoint, options in router._definitions:
            merged = dict(options)
            merged["tags"] = [*(tags or []), *router.tags, *(options.get("tags") or [])]
            merged["dependencies"] = [*(dependencies or []), *router.dependencies, *(options.get("dependencies") or [])]
            merged["responses"] = {**(responses or {}), **router.responses, **(options.get("responses") or {})}
            if not include_in_schema or not router.include_in_schema:
                merged["include_in_schema"] = False
            if router.deprecated is not None and merged.get("deprecated") is None:
                merged["deprecated"] = router.deprecated
            self.add_api_route(prefix + router.prefix + path, endpoint, **merged)
        for route in router.routes:
            # Other routes (plain Starlette ones) come along; an app's own documentation routes do not.
            if not isinstance(route, APIRoute) and not str(getattr(route, "name", "")).startswith("linestream-"):
                self.routes.append(route)
