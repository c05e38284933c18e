"""``APIWebSocketRoute``: a WebSocket endpoint with parameters and dependencies, and typed WebSocket streams.

A WebSocket endpoint binds its parameters like a path operation (path, query, header, cookie parameters,
``Depends``, the app's dependency overrides; ``yield`` dependencies exit when the socket is done). When binding
fails, the handshake is refused: with a real HTTP status and a problem body where the server can send one (the
ASGI ``websocket.http.response`` extension: uvicorn), else closed with 1008.

A **typed** WebSocket stream declares what it takes and what it sends::

    @app.websocket("/chat")
    async def chat(messages: AsyncIterable[Question]) -> AsyncIterable[Answer]:
        async for question in messages:
            yield Answer(...)

Each incoming text (or binary) message is validated as ``Question`` (an invalid one closes the socket with 1007
and a reason naming the message, counted from 1; one larger than ``BodyLimits.max_line_size`` with 1009); each
yielded item is serialized by the route's encoder, as in an HTTP stream, and sent as a text message. The
generator's end closes the socket with 1000; a failure with 1011 (``HTTPException``: 1008 for a 4xx, 1011 for a
5xx; ``WebSocketException``: its own code). When the client leaves, the generator is closed at once, then the
dependencies exit: the order of an HTTP stream.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Generic, TypeVar

import anyio
import anyio.abc
import pydantic
from pydantic_core import PydanticSerializationError
from starlette.exceptions import WebSocketException
from starlette.routing import WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from linestream._bind.arguments import solve_arguments
from linestream._bind.binding import ExitStack, Overrides, RequestBinding
from linestream._bind.validation import located_errors
from linestream._compile.annotations import CallKind
from linestream._compile.dependant import route_dependencies
from linestream._compile.endpoint import EndpointSpec, analyse_endpoint
from linestream._declare.options import DEFAULT
from linestream._decoding import ItemValidator
from linestream._engine.runtime import AppRuntime
from linestream._kinds import event_kinds
from linestream._serialization import ItemEncoder
from linestream.exceptions import (
    EndpointDefinitionError,
    HTTPException,
    RequestValidationError,
    WebSocketRequestValidationError,
)
from linestream.params import ParamSource

__all__ = ["APIWebSocketRoute"]

logger = logging.getLogger("linestream")
T = TypeVar("T")

#: Close codes (RFC 6455 section 7.4.1).
NORMAL, UNSUPPORTED_DATA, INVALID_DATA, POLICY_VIOLATION, TOO_BIG, INTERNAL_ERROR = 1000, 1003, 1007, 1008, 1009, 1011
#: Incoming messages waiting for a typed stream to take them: past this, the socket is not read (backpressure).
_BUFFERED_MESSAGES = 16


class APIWebSocketRoute(WebSocketRoute):
    """One WebSocket endpoint. Created by ``@app.websocket(path)``; rarely built by hand."""

    def __init__(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        name: str | None = None,
        dependencies: Sequence[Any] | None = None,
    ) -> None:
        super().__init__(path, endpoint, name=name)
        self.dependencies = list(dependencies or [])
        self.runtime: AppRuntime | None = None
        self.app = self._handle

    def moved(self, *, prefix: str, dependencies: Sequence[Any]) -> APIWebSocketRoute:
        """This endpoint under a router: its prefix and its dependencies first; not compiled yet."""
        return APIWebSocketRoute(
            prefix + self.path, self.endpoint, name=self.name, dependencies=[*dependencies, *self.dependencies]
        )

    def compile(self, runtime: AppRuntime) -> None:
        """Analyse the endpoint to serve in the app whose runtime this is; raises ``EndpointDefinitionError`` for
        a mis-declared one."""
        path_params = frozenset(self.param_convertors)
        self.spec: EndpointSpec = analyse_endpoint(
            self.endpoint, path_param_names=path_params, response_model=DEFAULT, response_is_raw=False
        )
        self.extra_dependencies = route_dependencies(self.spec.name, self.dependencies, path_params)
        self._check()
        stream = self.spec.body_stream
        #: Validates each incoming message of a typed stream (untyped: any JSON).
        self.incoming = stream.validator if stream is not None else ItemValidator()
        self.takes_messages = stream is not None
        self.encoder = ItemEncoder(self.spec.item_adapter)
        self.overrides = Overrides(path_params)
        self.runtime = runtime

    def _check(self) -> None:
        spec, name = self.spec, self.spec.name
        kind = spec.dependant.kind
        if kind not in (CallKind.ASYNC, CallKind.ASYNC_GEN):
            raise EndpointDefinitionError(
                f"{name}: a WebSocket endpoint is an `async def` (or an async generator for a typed stream)."
            )
        dependants = [d for extra in self.extra_dependencies for d in extra.dependant.walk()] + list(
            spec.dependant.walk()
        )
        for dependant in dependants:
            if dependant.body_fields or dependant.params.get(ParamSource.FORM):
                raise EndpointDefinitionError(
                    f"{dependant.name}: a WebSocket has no request body; take its messages as "
                    "`messages: AsyncIterable[Message]` (each message validated), or read them from the WebSocket."
                )
            if dependant.request_param or dependant.response_param or dependant.background_param:
                raise EndpointDefinitionError(
                    f"{dependant.name}: a WebSocket endpoint has no Request, Response or BackgroundTasks; take "
                    "`websocket: WebSocket` (or an HTTPConnection) instead."
                )
        if spec.body_stream is not None and not spec.body_stream.is_async:
            raise EndpointDefinitionError(f"{name}: take the messages as AsyncIterable[Message].")
        typed = spec.is_stream or spec.body_stream is not None
        if typed and spec.dependant.websocket_param:
            raise EndpointDefinitionError(
                f"{name}: a typed WebSocket stream reads and writes its socket itself; drop the WebSocket "
                "parameter, or make it a plain endpoint (no AsyncIterable message parameter or return type)."
            )
        if spec.is_stream:
            kinds = event_kinds(spec.item_type)
            if kinds is not None and kinds.tag is None:
                raise EndpointDefinitionError(
                    f"{name}: its items are of several kinds ({', '.join(kinds.by_name)}), which a client cannot "
                    'tell apart in JSON: give each kind a tag field of the same name (`type: Literal["token"]`).'
                )

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.runtime is None:
            self.compile(AppRuntime())
        assert self.runtime is not None
        websocket = WebSocket(scope, receive, send)
        overrides = self.overrides
        overrides.mapping = self.runtime.dependency_overrides
        limits = self.runtime.settings.body_limits
        async with ExitStack() as stack:
            binding = RequestBinding(websocket, stack, overrides, limits)
            stack.push_async_callback(binding.exit_function_scope)
            try:
                await self._run(websocket, binding)
            except BaseException as exc:
                await binding.exit_function_scope(exc)
                raise
            await binding.exit_function_scope()

    async def _run(self, websocket: WebSocket, binding: RequestBinding) -> None:
        try:
            arguments = await solve_arguments(self.spec, self.extra_dependencies, binding)
        except RequestValidationError as exc:
            error = WebSocketRequestValidationError(exc.errors, errors_omitted=exc.errors_omitted)
            await _refuse(websocket, error)
            return
        except HTTPException as exc:
            await _refuse(websocket, exc)
            return
        if self.spec.is_stream or self.takes_messages:
            await self._serve(websocket, arguments)
            return
        try:
            await self.endpoint(**arguments)
        except WebSocketDisconnect:
            # The client left and the endpoint let `receive_text()`'s exception out, as FastAPI's own examples
            # do: the socket's normal end, not an error to log.
            if websocket.client_state is not WebSocketState.DISCONNECTED:
                raise

    async def _serve(self, websocket: WebSocket, arguments: dict[str, Any]) -> None:
        """A typed stream: incoming messages validated into the endpoint, its items sent, the socket closed."""
        await websocket.accept()
        assert self.runtime is not None
        limit = self.runtime.settings.body_limits.max_line_size
        incoming = _Incoming[Any](websocket, self.incoming, limit, accepted=self.takes_messages)
        assert self.spec.body_stream is not None or not self.takes_messages
        if self.spec.body_stream is not None:
            arguments[self.spec.body_stream.name] = incoming.messages()
        close = (NORMAL, "")
        async with incoming.sender, incoming.receiver, anyio.create_task_group() as group:
            group.start_soon(incoming.read, group.cancel_scope)
            try:
                if self.spec.is_stream:
                    await self._send_items(websocket, arguments)
                else:
                    await self.endpoint(**arguments)
            except WebSocketException as exc:
                close = (exc.code, exc.reason or "")
            except HTTPException as exc:
                close = (POLICY_VIOLATION if exc.status_code < 500 else INTERNAL_ERROR, _reason(str(exc.detail)))
            except Exception:
                close = (INTERNAL_ERROR, "Internal error")
                logger.exception("%s: the WebSocket stream failed.", self.spec.name)
            group.cancel_scope.cancel()
        if incoming.close is not None:
            close = incoming.close
        if not incoming.gone and websocket.application_state is not WebSocketState.DISCONNECTED:
            with contextlib.suppress(Exception):  # the client may have gone in the meantime
                await websocket.close(*close)

    async def _send_items(self, websocket: WebSocket, arguments: dict[str, Any]) -> None:
        generator = self.endpoint(**arguments)
        encode = self.encoder.encode
        count = 0
        try:
            async for item in generator:
                try:
                    text = encode(item).decode()
                except (pydantic.ValidationError, PydanticSerializationError) as exc:
                    raise RuntimeError(
                        f"{self.spec.name}: item {count} does not match its declared type: {exc}"
                    ) from exc
                await websocket.send_text(text)
                count += 1
        finally:
            with anyio.CancelScope(shield=True):
                await generator.aclose()


class _Incoming(Generic[T]):
    """Reads a typed stream's socket: validated messages for the endpoint, and the client's leaving."""

    def __init__(self, websocket: WebSocket, validator: ItemValidator, limit: int, *, accepted: bool) -> None:
        self.websocket = websocket
        self.validator = validator
        self.limit = limit
        self.accepted = accepted
        self.sender, self.receiver = anyio.create_memory_object_stream[Any](_BUFFERED_MESSAGES)
        #: The close code and reason when a message was refused.
        self.close: tuple[int, str] | None = None
        #: Whether the client has left (nothing more can be sent).
        self.gone = False

    async def read(self, scope: anyio.CancelScope) -> None:
        count = 0
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                self.gone = True
                scope.cancel()  # the generator is closed at once
                return
            count += 1
            data = message.get("text")
            if data is None:
                data = message.get("bytes") or b""
            try:
                value = self._validate(count, data)
            except _Refused as refused:
                self.close = refused.args
                scope.cancel()
                return
            await self.sender.send(value)

    def _validate(self, count: int, data: str | bytes) -> Any:
        if not self.accepted:
            raise _Refused(UNSUPPORTED_DATA, "This WebSocket only sends: it takes no messages.")
        if len(data) > self.limit:
            raise _Refused(TOO_BIG, f"message {count} is larger than max_line_size={self.limit} bytes")
        try:
            return self.validator.validate(data)
        except pydantic.ValidationError as exc:
            errors, _ = located_errors(exc, (), 1)
            where = ".".join(str(part) for part in errors[0]["loc"])
            raise _Refused(
                INVALID_DATA, _reason(f"message {count}: {where + ': ' if where else ''}{errors[0]['msg']}")
            ) from None

    async def messages(self) -> AsyncIterator[T]:
        async for value in self.receiver:
            yield value


class _Refused(Exception):
    """An incoming message the stream does not take: ``args`` are the close code and reason."""

    args: tuple[int, str]


def _reason(text: str) -> str:
    """A close reason: at most 123 bytes of UTF-8 (RFC 6455), cut on a character boundary."""
    encoded = text.encode()
    if len(encoded) <= 123:
        return text
    return encoded[:120].decode(errors="ignore") + "..."


async def _refuse(websocket: WebSocket, exc: HTTPException) -> None:
    """Refuse the handshake: the app's answer to ``exc`` (a problem body with its status) where the server can
    send an HTTP response for a WebSocket; else close with 1008 and the detail as reason."""
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        raise exc  # the app's exception handlers answer it, as for an HTTP request
    await websocket.close(POLICY_VIOLATION, _reason(str(exc.detail)))
