"""``APIRoute``: one path operation, analysed when it is declared and planned when it is mounted.

Declaring a route analyses its endpoint (``_endpoint``), so a mis-declared path operation fails at import time.
Mounting it in an app (or a router) hands it the ``AppContext``; with the app's settings and its own options it
builds one ``StreamPlan`` per format it offers. Serving a request: pick the plan by ``Accept``, bind arguments
(``_binding``), then either run the plan (``_response.ItemStream``) or send the returned value as JSON.
``yield`` dependencies are closed after the response, or the stream, has ended.
"""

from __future__ import annotations

import enum
import inspect
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any

import anyio.to_thread
from pydantic import ValidationError
from pydantic_core import PydanticSerializationError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Message, Receive, Scope, Send

from linestream._bind.arguments import (
    ExitStack,
    Overrides,
    RequestContext,
    TemporalResponse,
    solve_arguments,
    solve_value,
)
from linestream._compile.annotations import CallKind
from linestream._compile.dependant import SubDependency, build_dependant, route_dependencies
from linestream._compile.encoders import serialized_payload
from linestream._compile.endpoint import EndpointSpec, analyse_endpoint
from linestream._compile.plan import StreamPlan, build_plans, raw_stream_format
from linestream._declare.options import DEFAULT, Settings, StreamOptions, resolve_formats
from linestream._engine.async_source import AsyncItemSource
from linestream._engine.expiry import seconds_left
from linestream._engine.receive import ReceiveChannel
from linestream._engine.runtime import AppContext
from linestream._engine.stream import ItemSource, ItemStream, logger
from linestream._engine.sync_source import SyncItemSource
from linestream._kinds import END_ID, EventKinds, event_kinds
from linestream._negotiation import negotiate
from linestream._serialization import ItemEncoder, SerializationOptions
from linestream.exceptions import EndpointDefinitionError, HTTPException, ResponseValidationError
from linestream.sse import EventSourceResponse
from linestream.streams import SSE, StreamFormat

__all__ = ["APIRoute"]


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
        stream_end: bool = DEFAULT,
        event_envelope: bool = DEFAULT,
        send_timeout: float | None = DEFAULT,
        max_item_size: int | None = DEFAULT,
        callbacks: Sequence[BaseRoute] | None = None,
        generate_unique_id_function: Callable[[APIRoute], str] | None = None,
        context: AppContext | None = None,
    ) -> None:
        #: What the route was declared with: ``include_router`` declares it again under another router.
        self.declaration = (path, endpoint, {k: v for k, v in locals().items() if k not in _NOT_OPTIONS})
        super().__init__(
            path if path.startswith("/") else "/" + path,
            endpoint,
            methods=list(methods) if methods is not None else ["GET"],
            name=name,
            include_in_schema=include_in_schema,
        )
        if not path.startswith("/"):
            # A webhook ("new-subscription") or callback ("{$callback_url}/invoices") is documented, never routed.
            self.path = self.path_format = path
        self.status_code = status_code
        self.response_class = response_class
        #: The status of a success: the route's, else its response class's own default (307 for a redirect).
        self.default_status = status_code or _class_status(response_class) or 200
        self.tags = [tag.value if isinstance(tag, enum.Enum) else tag for tag in tags or []]
        self.summary = summary
        docstring = inspect.getdoc(endpoint)
        # As in FastAPI, a form feed in the docstring ends what the API's documentation shows of it.
        self.description = description if description is not None else docstring and docstring.split("\f")[0].strip()
        self.callbacks = list(callbacks or [])
        self.generate_unique_id_function = generate_unique_id_function
        self.response_description = response_description
        self.responses = dict(responses or {})
        self.deprecated = deprecated
        self.operation_id = operation_id
        self.openapi_extra = openapi_extra
        self.dependencies = list(dependencies or [])
        is_event_source = response_class is not None and issubclass(response_class, EventSourceResponse)
        raw = response_class is not None and not issubclass(response_class, JSONResponse) and not is_event_source
        path_params = frozenset(self.param_convertors)
        self.spec: EndpointSpec = analyse_endpoint(
            endpoint, path_param_names=path_params, response_model=response_model, response_is_raw=raw
        )
        name = self.spec.name
        #: For a raw byte/text stream (``response_class=StreamingResponse``): its one format.
        self.raw_format: StreamFormat | None = None
        formats = resolve_formats(stream_formats, name)
        if self.spec.is_stream and raw:
            assert response_class is not None
            self.raw_format = raw_stream_format(name, self.spec.item_type, response_class)
            if stream_formats is not None:
                raise EndpointDefinitionError(
                    f"{name}: a {response_class.__name__} stream has one media type; drop stream_formats=."
                )
            formats = (self.raw_format,)
        if is_event_source:
            if stream_formats is not None:
                raise EndpointDefinitionError(
                    f"{name}: response_class=EventSourceResponse already restricts the route to SSE; "
                    "drop stream_formats=."
                )
            formats = (SSE,)
        self.stream_options = StreamOptions(
            stream_formats=formats,
            sse_keepalive=sse_keepalive,
            jsonl_keepalive=jsonl_keepalive,
            stream_errors=stream_errors,
            stream_end=stream_end,
            event_envelope=event_envelope,
            send_timeout=send_timeout,
            max_item_size=max_item_size,
        )
        self.stream_options.check(name)
        #: The kinds of item of a stream of several (``AsyncIterable[Token | Usage]``), else ``None``.
        self.kinds: EventKinds | None = None
        if self.spec.is_stream and not raw:
            try:
                self.kinds = event_kinds(self.spec.item_type)
            except ValueError as exc:
                raise EndpointDefinitionError(f"{name}: {exc}") from exc
        self.extra_dependencies = route_dependencies(name, self.dependencies, path_params)
        self.serialization = SerializationOptions(
            include=response_model_include,
            exclude=response_model_exclude,
            by_alias=response_model_by_alias,
            exclude_unset=response_model_exclude_unset,
            exclude_defaults=response_model_exclude_defaults,
            exclude_none=response_model_exclude_none,
        )
        adapter = self.spec.item_adapter if self.spec.is_stream else self.spec.response_adapter
        self.encoder = ItemEncoder(adapter, self.serialization)
        dependants = [d for extra in self.extra_dependencies for d in extra.dependant.walk()] + list(
            self.spec.dependant.walk()
        )
        #: Whether the endpoint can read the request body while it streams (else the body is dropped then).
        self.reads_body_while_streaming = self.spec.body_stream is not None or any(
            d.request_param or d.connection_param for d in dependants
        )
        self.app = self._handle
        self.label = f"{'/'.join(sorted(self.methods or []))} {self.path}"
        self.overrides = Overrides(path_params)
        self.plans: tuple[StreamPlan, ...] = ()
        self.mount(context if context is not None else AppContext())
        #: ``get_route_handler()``, once: what serves each request.
        self.route_handler = self.get_route_handler()

    def mount(self, context: AppContext) -> None:
        """Serve under the app (or router) whose context this is: its settings with this route's options, its
        open streams, its dependency overrides. Builds the route's stream plans."""
        self.context = context
        self.settings: Settings = self.stream_options.resolve(context.settings)
        key = self.settings.stream_client_key
        #: The dependency whose value keys ``max_streams_per_client`` (``None``: the client's address).
        self.client_key = (
            SubDependency("", build_dependant(key, path_param_names=frozenset(self.param_convertors)), True)
            if key is not None and self.spec.is_stream
            else None
        )
        if self.spec.is_stream:
            adapter = self.encoder.adapter
            encode = self.encoder.encode
            payload = serialized_payload(encode, self.spec.item_type, adapter is not None, self.serialization)
            named = None
            if self.kinds is not None:
                kinds = self.kinds
                named = self.encoder.named(kinds.name_of)
                json_formats = [f.name for f in self.settings.stream_formats if not f.names_kinds]
                if kinds.tag is None and json_formats and not self.settings.event_envelope:
                    raise EndpointDefinitionError(
                        f"{self.spec.name}: its items are of several kinds ({', '.join(kinds.by_name)}), which the "
                        f"JSON formats ({', '.join(json_formats)}) cannot tell apart: give each kind a tag field of "
                        'the same name (`type: Literal["token"] = "token"`), or set event_envelope=True to send '
                        '{"event": kind, "data": item}, or stream_formats=["sse"].'
                    )
            self.plans = build_plans(
                self.settings,
                label=self.label,
                endpoint=self.spec.name,
                encode=encode,
                payload=payload,
                raw=self.raw_format is not None,
                named=named,
            )

    @property
    def is_stream(self) -> bool:
        """Whether the path operation is a generator whose items (or chunks) are streamed."""
        return self.spec.is_stream

    @property
    def offered_formats(self) -> tuple[StreamFormat, ...]:
        """The formats this stream is served in, in the server's order of preference."""
        return tuple(plan.format for plan in self.plans)

    @property
    def error_policy(self) -> str:
        """``"truncate"`` or ``"record"``: what a client sees when the generator fails after the first item."""
        return "record" if self.plans and self.plans[0].error_record is not None else "truncate"

    def _plan_for(self, request: Request) -> StreamPlan:
        plans = self.plans
        if self.raw_format is not None:
            # A raw stream has one media type: like Starlette's StreamingResponse, it ignores Accept.
            return plans[0]
        stream_format = negotiate(request.headers.get("accept"), self.offered_formats)
        if stream_format is None:
            raise HTTPException(
                406,
                "None of the media types in the Accept header can be served; this stream is available as "
                + ", ".join(plan.format.media_type for plan in plans)
                + ".",
            )
        return next(plan for plan in plans if plan.format is stream_format)

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        channel = ReceiveChannel(receive, keep_body=self.reads_body_while_streaming)
        overrides = self.overrides
        overrides.mapping = self.context.dependency_overrides
        sent = False

        async def tracking_send(message: Message) -> None:
            nonlocal sent
            sent = True
            await send(message)

        try:
            async with ExitStack() as stack:
                request = Request(scope, channel)
                ctx = RequestContext(
                    request, stack, overrides, self.settings.body_limits, self.settings.strict_content_type
                )
                # Whatever the handler does, function-scoped dependencies exit before the request's.
                stack.push_async_callback(ctx.exit_function_scope)
                scope[_CONTEXT] = ctx
                response = await self.route_handler(request)
                await response(scope, channel, tracking_send)
        except ClientDisconnect:
            # The client left while its body was read: nobody to answer, and nothing went wrong on this side.
            logger.info("%s: the client disconnected before its request body was complete.", self.label)
            return
        if not sent:
            raise RuntimeError(
                f"{self.spec.name}: no response was sent because a `yield` dependency swallowed the endpoint's "
                "exception. Re-raise it in the dependency (`except ...: ...; raise`)."
            )

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The function that turns a request into a response, as in FastAPI: a subclass may wrap it (to time
        requests, log bodies of failed ones, or read the body differently) with ``super().get_route_handler()``.
        For a stream the response it returns serves the stream when called: headers set on it before then are
        sent with the stream's."""
        return self._respond_to

    async def _respond_to(self, request: Request) -> Response:
        ctx: RequestContext = request.scope[_CONTEXT]
        if request is not ctx.connection:  # a subclass's handler made its own Request (to read the body its way)
            ctx.connection = request
        plan = self._plan_for(request) if self.spec.is_stream else None
        if plan is not None and plan.end_record is not None and request.headers.get("last-event-id") == END_ID:
            # A client that reconnects after the end record has the whole stream: 204 stops an EventSource, and
            # the endpoint is not run again.
            return Response(status_code=204)
        try:
            arguments = await solve_arguments(self.spec, self.extra_dependencies, ctx)
            if plan is not None:
                slots = self.context.stream_slots
                if slots.limited:
                    ctx.stack.callback(slots.take(await self._client_key(ctx)))
                return _StreamResponse(self, plan, ctx, arguments)
            response = await self._respond(ctx, arguments)
        except BaseException as exc:
            await ctx.exit_function_scope(exc)
            raise
        await ctx.exit_function_scope()
        if ctx.background is not None and response.background is None:
            response.background = ctx.background
        return response

    async def _client_key(self, ctx: RequestContext) -> Any:
        """Who the stream counts against (``max_streams_per_client``): the ``stream_client_key`` dependency's
        value, else the client's address."""
        if self.client_key is not None:
            return await solve_value(self.client_key, self.spec, ctx)
        client = ctx.connection.client
        return client.host if client is not None else None

    async def _stream(
        self, scope: Scope, send: Send, channel: Receive, ctx: RequestContext, arguments: dict[str, Any],
        plan: StreamPlan, response: Response,
    ) -> None:  # fmt: skip
        generator = self.endpoint(**arguments)
        source: ItemSource
        if self.spec.dependant.kind is CallKind.ASYNC_GEN:
            source = AsyncItemSource(generator, plan)
        else:
            source = SyncItemSource(generator, plan, self.context.run_blocking)
        assert isinstance(channel, ReceiveChannel)
        stream = ItemStream(plan, source, channel)

        def start() -> Message:
            status = response.status_code
            extra = [(key, value) for key, value in response.raw_headers if key != b"content-length"]
            temporal = ctx.response
            if temporal is not None:
                extra += [(key, value) for key, value in temporal.raw_headers if key != b"content-length"]
                status = temporal.status_code or status
            return plan.start_message(status, extra)

        try:
            with self.context.open_streams.open(stream):
                await stream.serve(
                    send, start, head_only=scope["method"] == "HEAD", expires_in=seconds_left(ctx.connection)
                )
        except (ValidationError, PydanticSerializationError) as exc:
            raise _response_error(self.spec.name, exc, source.count) from exc

    async def _respond(self, ctx: RequestContext, arguments: dict[str, Any]) -> Response:
        kind = self.spec.dependant.kind
        endpoint = self.endpoint
        if kind is CallKind.ASYNC:
            result = await endpoint(**arguments)
        elif self.spec.body_stream is not None:
            # It blocks while the client uploads: one of the app's threads for streams, not anyio's shared pool.
            result = await self.context.run_blocking(lambda: endpoint(**arguments))
        else:
            result = await anyio.to_thread.run_sync(lambda: endpoint(**arguments))
        if isinstance(result, Response):
            return result
        status = self.default_status
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


_NOT_OPTIONS = frozenset({"self", "path", "endpoint", "context", "__class__"})
#: Where a request's ``RequestContext`` waits for the route handler, in the ASGI scope.
_CONTEXT = "linestream.request_context"


class _StreamResponse(Response):
    """What a streaming route's handler returns: calling it runs the generator and serves its items. Its
    headers (a custom route handler may set some) are sent with the stream's own."""

    def __init__(self, route: APIRoute, plan: StreamPlan, ctx: RequestContext, arguments: dict[str, Any]) -> None:
        self.route, self.plan, self.ctx, self.arguments = route, plan, ctx, arguments
        self.status_code = route.default_status
        self.background = None
        self.raw_headers = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ctx = self.ctx
        try:
            await self.route._stream(scope, send, receive, ctx, self.arguments, self.plan, self)
        except BaseException as exc:
            await ctx.exit_function_scope(exc)
            raise
        await ctx.exit_function_scope()
        # After the stream's last byte, before the request's dependencies exit (the tasks may use them).
        for background in (ctx.background, self.background):
            if background is not None:
                await background()


def _class_status(response_class: type[Response] | None) -> int | None:
    """The status a response class answers with by default (``RedirectResponse``: 307), if it has its own."""
    if response_class is None:
        return None
    default = inspect.signature(response_class.__init__).parameters.get("status_code")
    value = default.default if default is not None else None
    return value if isinstance(value, int) and value != 200 else None


def _response_error(
    endpoint: str, exc: ValidationError | PydanticSerializationError, index: int | None = None
) -> ResponseValidationError:
    """The error for a value (or the ``index``-th item) the endpoint produced that fails its declared type."""
    if isinstance(exc, ValidationError):
        return ResponseValidationError(endpoint, exc.errors(include_url=False), index)
    return ResponseValidationError(endpoint, [{"loc": (), "msg": str(exc), "type": "serialization"}], index)


def _merge_headers(response: Response, temporal: TemporalResponse) -> None:
    for key, value in temporal.raw_headers:
        if key != b"content-length":
            response.raw_headers.append((key, value))
