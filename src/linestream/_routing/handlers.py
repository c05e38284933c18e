"""The request flow of a compiled route: ``ValueHandler`` for an ordinary path operation, ``StreamHandler`` for a
streaming one. A route matches, then delegates to its handler, which binds the arguments (``_bind``) and sends
the value as JSON, or runs the negotiated plan (``_engine``). Per-request state is an argument, never a key of
the ASGI scope; ``yield`` dependencies are closed after the response, or the stream, has ended.

A route class that overrides ``get_route_handler()`` (FastAPI's way to time requests or read bodies its own way)
gets the same flow through that function: the request's binding reaches it in a context variable.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import anyio.to_thread
from pydantic import ValidationError
from pydantic_core import PydanticSerializationError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.types import Message, Receive, Scope, Send

from linestream._bind.arguments import solve_arguments, solve_value
from linestream._bind.binding import ExitStack, Overrides, RequestBinding, TemporalResponse
from linestream._compile.annotations import CallKind
from linestream._compile.plan import StreamPlan
from linestream._compile.route import CompiledRoute
from linestream._engine.async_source import AsyncItemSource
from linestream._engine.expiry import seconds_left
from linestream._engine.receive import ReceiveChannel
from linestream._engine.runtime import AppRuntime
from linestream._engine.state import outcome
from linestream._engine.stream import ItemSource, ItemStream
from linestream._engine.sync_source import SyncItemSource
from linestream._engine.transcode import transcoded, transcoded_sync
from linestream._negotiation import negotiate
from linestream._routing.errors import ErrorResponder
from linestream.exceptions import HTTPException, ResponseValidationError
from linestream.streams import END_ID

__all__ = ["CURRENT_BINDING", "RouteHandler", "StreamHandler", "ValueHandler", "handler_for"]

logger = logging.getLogger("linestream")

#: The binding of the request being handled, for a route class's own ``get_route_handler()`` function.
CURRENT_BINDING: contextvars.ContextVar[RequestBinding] = contextvars.ContextVar("linestream_binding")

#: A route class's own request handler (``get_route_handler()``), when it has one.
CustomHandler = Callable[[Request], Coroutine[Any, Any, Response]]


class RouteHandler:
    """What the two handlers share: the ASGI entry, the binding of one request, the exit of its dependencies."""

    __slots__ = ("compiled", "custom", "overrides", "runtime")

    def __init__(self, compiled: CompiledRoute, runtime: AppRuntime, custom: CustomHandler | None) -> None:
        self.compiled = compiled
        self.runtime = runtime
        self.custom = custom
        #: The analysis of each dependency override (with the route's path parameters: an override may take one).
        self.overrides = Overrides(compiled.path_params)

    async def __call__(self, scope: Scope, receive: Receive, send: Send, errors: ErrorResponder | None = None) -> None:
        """Serve one request. ``errors``: called straight from the app (``_routing.dispatch``), an exception
        raised before the response started is answered here, as Starlette's middleware would."""
        compiled = self.compiled
        settings = compiled.settings
        channel = ReceiveChannel(receive, keep_body=compiled.reads_body_while_streaming)
        overrides = self.overrides
        overrides.mapping = self.runtime.dependency_overrides
        sent = False

        async def tracking_send(message: Message) -> None:
            nonlocal sent
            sent = True
            await send(message)

        try:
            async with ExitStack() as stack:
                request = Request(scope, channel)
                binding = RequestBinding(
                    request,
                    stack,
                    overrides,
                    settings.body_limits,
                    settings.strict_content_type,
                    fastapi=settings.fastapi_compat,
                )
                if settings.telemetry is not None and compiled.spec.body_stream is not None:
                    route = f"{scope['method']} {compiled.declaration.path}"
                    binding.items_received = settings.telemetry.request_items(route)
                # Whatever the handler does, function-scoped dependencies exit before the request's.
                stack.push_async_callback(binding.exit_function_scope)
                if self.custom is None:
                    response = await self.respond(request, binding)
                else:
                    token = CURRENT_BINDING.set(binding)
                    try:
                        response = await self.custom(request)
                    finally:
                        CURRENT_BINDING.reset(token)
                await response(scope, channel, tracking_send)
            if not sent:
                raise RuntimeError(
                    f"{compiled.spec.name}: no response was sent because a `yield` dependency swallowed the "
                    "endpoint's exception. Re-raise it in the dependency (`except ...: ...; raise`)."
                )
        except ClientDisconnect:
            # The client left while its body was read: nobody to answer, and nothing went wrong on this side.
            logger.info("%s: the client disconnected before its request body was complete.", compiled.label)
            return
        except Exception as exc:
            if errors is None or sent:
                raise
            await errors.respond(exc, scope, receive, send)

    async def respond(self, request: Request, binding: RequestBinding) -> Response:
        """The response to ``request`` (whose binding is ``binding``)."""
        raise NotImplementedError

    async def respond_to(self, request: Request) -> Response:
        """``respond`` for a route class's own handler, which only passes the request on."""
        binding = CURRENT_BINDING.get()
        if request is not binding.connection:  # the handler made its own Request (to read the body its way)
            binding.connection = request
        return await self.respond(request, binding)


class ValueHandler(RouteHandler):
    """An ordinary path operation: call it, and send its value as JSON (or the ``Response`` it returned)."""

    __slots__ = ()

    async def respond(self, request: Request, binding: RequestBinding) -> Response:
        compiled = self.compiled
        try:
            arguments = await solve_arguments(compiled.spec, compiled.extra_dependencies, binding)
            response = await self._respond(binding, arguments)
        except BaseException as exc:
            await binding.exit_function_scope(exc)
            raise
        await binding.exit_function_scope()
        if binding.background is not None and response.background is None:
            response.background = binding.background
        return response

    async def _respond(self, binding: RequestBinding, arguments: dict[str, Any]) -> Response:
        compiled = self.compiled
        declaration = compiled.declaration
        endpoint = declaration.endpoint
        kind = compiled.spec.dependant.kind
        if kind is CallKind.ASYNC:
            result = await endpoint(**arguments)
        elif compiled.spec.body_stream is not None:
            # It blocks while the client uploads: one of the app's threads for streams, not anyio's shared pool.
            result = await self.runtime.run_blocking(lambda: endpoint(**arguments))
        else:
            result = await anyio.to_thread.run_sync(lambda: endpoint(**arguments))
        if isinstance(result, Response):
            return result
        status = declaration.default_status
        temporal = binding.response
        if temporal is not None and temporal.status_code:
            status = temporal.status_code
        response_class = declaration.response_class
        if response_class is not None and not issubclass(response_class, JSONResponse):
            response = response_class(result, status_code=status)
        elif status in (204, 304) or (status < 200):
            response = Response(status_code=status)
        else:
            try:
                content = compiled.encoder.encode(result)
            except (ValidationError, PydanticSerializationError) as exc:
                raise response_error(compiled.spec.name, exc) from exc
            media_type = response_class.media_type if response_class is not None else "application/json"
            response = Response(content, status_code=status, media_type=media_type)
        if temporal is not None:
            _merge_headers(response, temporal)
        return response


class StreamHandler(RouteHandler):
    """A streaming path operation: pick the plan the client's ``Accept`` asks for, bind, take a stream slot,
    then run the generator through ``ItemStream``."""

    __slots__ = ()

    def plan_for(self, request: Request) -> StreamPlan:
        compiled = self.compiled
        plans = compiled.plans
        if compiled.raw_format is not None or compiled.settings.fastapi_compat:
            # A raw stream has one media type: like Starlette's StreamingResponse, it ignores Accept. So does
            # FastAPI for every stream (compat="fastapi": the route's first format, JSON Lines by default).
            return plans[0]
        stream_format = negotiate(request.headers.get("accept"), compiled.offered_formats)
        if stream_format is None:
            raise HTTPException(
                406,
                "None of the media types in the Accept header can be served; this stream is available as "
                + ", ".join(plan.format.media_type for plan in plans)
                + ".",
            )
        return next(plan for plan in plans if plan.format is stream_format)

    async def respond(self, request: Request, binding: RequestBinding) -> Response:
        compiled = self.compiled
        plan = self.plan_for(request)
        if plan.end_record is not None and request.headers.get("last-event-id") == END_ID:
            # A client that reconnects after the end record has the whole stream: 204 stops an EventSource, and
            # the endpoint is not run again.
            return Response(status_code=204)
        try:
            arguments = await solve_arguments(compiled.spec, compiled.extra_dependencies, binding)
            slots = self.runtime.stream_slots
            if slots.limited:
                key = await self._client_key(binding)
                try:
                    if slots.shared is not None:
                        binding.stack.push_async_callback(await slots.take_shared(key))
                    else:
                        binding.stack.callback(slots.take(key))
                except HTTPException:
                    telemetry = compiled.settings.telemetry
                    if telemetry is not None:
                        telemetry.refused(f"{request.method} {compiled.declaration.path}", plan.format.name)
                    raise
        except BaseException as exc:
            await binding.exit_function_scope(exc)
            raise
        return _StreamResponse(self, plan, binding, arguments)

    async def _client_key(self, binding: RequestBinding) -> Any:
        """Who the stream counts against (``max_streams_per_client``): the ``stream_client_key`` dependency's
        value, else the client's address."""
        if self.compiled.client_key is not None:
            return await solve_value(self.compiled.client_key, self.compiled.spec, binding)
        client = binding.connection.client
        return client.host if client is not None else None

    def open_stream(self, scope: Scope, channel: Receive, response: _StreamResponse) -> ItemStream:
        """The stream of one request: its generator called with the bound arguments, and its item source."""
        compiled = self.compiled
        plan = response.plan
        generator = compiled.declaration.endpoint(**response.arguments)
        source: ItemSource
        if compiled.spec.dependant.kind is CallKind.ASYNC_GEN:
            if plan.transcoder is not None:
                generator = transcoded(generator, plan.transcoder())
            source = AsyncItemSource(generator, plan)
        else:
            if plan.transcoder is not None:
                generator = transcoded_sync(generator, plan.transcoder())
            source = SyncItemSource(generator, plan, self.runtime.run_blocking)
        assert isinstance(channel, ReceiveChannel)
        return ItemStream(plan, source, channel)

    def stream_failed(self, stream: ItemStream, binding: RequestBinding, exc: BaseException) -> BaseException:
        """What to raise for a stream that ended in ``exc``."""
        source = stream.source
        if stream.producer_pending:
            # The response ends now (the server sees the error), its def generator still blocked: the app tears
            # the dependencies down once the generator closed, at its next yield.
            self.runtime.spawn(_teardown_after(source, binding.detach(), exc, self.compiled.label))
        if isinstance(exc, (ValidationError, PydanticSerializationError)):
            return response_error(self.compiled.spec.name, exc, source.count)
        return exc


class _StreamResponse(Response):
    """What a streaming route's handler returns: calling it runs the generator and serves its items. Its
    headers (a custom route handler may set some) are sent with the stream's own.

    (The stream is served from this one coroutine frame: an open stream holds every frame on its way from the
    server, so the path has as few as it can.)"""

    def __init__(
        self, handler: StreamHandler, plan: StreamPlan, binding: RequestBinding, arguments: dict[str, Any]
    ) -> None:
        self.handler, self.plan, self.binding, self.arguments = handler, plan, binding, arguments
        self.status_code = handler.compiled.declaration.default_status
        self.background = None
        self.raw_headers = []

    def start_message(self) -> Message:
        """The stream's ``http.response.start``: its status and headers, and those set on this response or on
        the request's ``Response`` parameter."""
        status = self.status_code
        extra = [(key, value) for key, value in self.raw_headers if key != b"content-length"]
        temporal = self.binding.response
        if temporal is not None:
            extra += [(key, value) for key, value in temporal.raw_headers if key != b"content-length"]
            status = temporal.status_code or status
        return self.plan.start_message(status, extra)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        binding = self.binding
        handler = self.handler
        runtime = handler.runtime
        telemetry = handler.compiled.settings.telemetry
        record = None
        if telemetry is not None:
            keepalive = self.plan.keepalive
            route = f"{scope['method']} {handler.compiled.declaration.path}"
            record = telemetry.stream(route, self.plan.format.name, keepalive and keepalive[1])
            send = record.wrap(send)
        stream: ItemStream | None = None
        try:
            stream = handler.open_stream(scope, receive, self)
            try:
                with runtime.open_streams.open(stream):
                    await stream.serve(
                        send,
                        self.start_message,
                        head_only=scope["method"] == "HEAD",
                        expires_in=seconds_left(binding.connection),
                        spawn=runtime.spawn if runtime.has_tasks else None,
                    )
            except BaseException as exc:
                error = handler.stream_failed(stream, binding, exc)
                if error is exc:
                    raise
                raise error from exc
        except BaseException as exc:
            await binding.exit_function_scope(exc)
            raise
        finally:
            if record is not None:
                # (A generator that could not even be called failed before its start too.)
                ended = "error before start" if stream is None else outcome(stream.state)
                record.end(ended, 0 if stream is None else stream.source.count)
        await binding.exit_function_scope()
        # After the stream's last byte, before the request's dependencies exit (the tasks may use them).
        for background in (binding.background, self.background):
            if background is not None:
                await background()


def _teardown_after(
    source: ItemSource, teardown: Callable[[BaseException], Awaitable[None]], error: BaseException, label: str
) -> Callable[[], Coroutine[Any, Any, None]]:
    async def run() -> None:
        await source.closed()
        try:
            await teardown(error)
        except Exception:
            logger.exception("%s: a dependency failed while it was torn down after its stream.", label)

    return run


def handler_for(compiled: CompiledRoute, runtime: AppRuntime, custom: CustomHandler | None) -> RouteHandler:
    """The handler of a compiled route: ``StreamHandler`` for a generator, ``ValueHandler`` otherwise."""
    return (StreamHandler if compiled.is_stream else ValueHandler)(compiled, runtime, custom)


def response_error(
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
