"""``APIWebSocketRoute``: a WebSocket endpoint with parameters and dependencies, and typed WebSocket streams.

A WebSocket endpoint binds its parameters like a path operation (path, query, header, cookie parameters,
``Depends``, the app's dependency overrides; ``yield`` dependencies exit when the socket is done). When binding
fails, the handshake is refused: with a real HTTP status and a problem body where the server can send one (the
ASGI ``websocket.http.response`` extension: uvicorn), else closed with 1008.

A **typed** WebSocket stream declares what it takes and what it sends:

```python
@app.websocket("/chat")
async def chat(messages: AsyncIterable[Question]) -> AsyncIterable[Answer]:
    async for question in messages:
        yield Answer(...)
```

Each incoming text (or binary) message is validated as ``Question`` (an invalid one closes the socket with 1007
and a reason naming the message, counted from 1; one larger than ``BodyLimits.max_line_size`` with 1009); each
yielded item is serialized by the route's encoder, as in an HTTP stream, and sent as a text message. The
generator's end closes the socket with 1000; a failure with 1011 (``HTTPException``: 1008 for a 4xx, 1011 for a
5xx; ``WebSocketException``: its own code). When the client leaves, the generator is closed at once, then the
dependencies exit: the order of an HTTP stream. It follows the rules of every stream (``_engine/websocket.py``):
every WebSocket takes a stream slot (``max_streams``, ``max_streams_per_client``: refused at the handshake), each
item is sent within ``send_timeout``, the stream ends when its credentials expire (1008) and when the server
shuts down (1001), and a client that leaves is logged as such, never as an error.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from starlette.routing import WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from linestream._bind.arguments import solve_arguments, solve_value
from linestream._bind.binding import ExitStack, Overrides, RequestBinding
from linestream._compile.annotations import CallKind
from linestream._compile.dependant import SubDependency, build_dependant, route_dependencies
from linestream._compile.endpoint import EndpointSpec, analyse_endpoint
from linestream._declare.options import DEFAULT
from linestream._decoding import ItemValidator
from linestream._engine.expiry import seconds_left
from linestream._engine.runtime import AppRuntime
from linestream._engine.websocket import POLICY_VIOLATION, WebSocketItemStream, close_reason
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

#: The scope extension by which a test client says it runs the app: an endpoint's ``WebSocketDisconnect`` is
#: raised to the test (as Starlette's test client shows it), where under a server the socket ends quietly.
TEST_CLIENT = "linestream.testclient"


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
        key = runtime.settings.stream_client_key
        #: The dependency whose value keys ``max_streams_per_client`` (``None``: the client's address).
        self.client_key = (
            SubDependency("", build_dependant(key, path_param_names=path_params), True) if key is not None else None
        )
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
            binding = RequestBinding(websocket, stack, overrides, limits, fastapi=self.runtime.settings.fastapi_compat)
            stack.push_async_callback(binding.exit_function_scope)
            try:
                await self._run(websocket, binding)
            except BaseException as exc:
                await binding.exit_function_scope(exc)
                raise
            await binding.exit_function_scope()

    async def _run(self, websocket: WebSocket, binding: RequestBinding) -> None:
        runtime = self.runtime
        assert runtime is not None
        try:
            arguments = await solve_arguments(self.spec, self.extra_dependencies, binding)
            slots = runtime.stream_slots
            if slots.limited:
                # A WebSocket is a stream: it takes a slot, refused at the handshake past a limit.
                key = await self._client_key(binding)
                if slots.shared is not None:
                    binding.stack.push_async_callback(await slots.take_shared(key))
                else:
                    binding.stack.callback(slots.take(key))
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
            # do: the socket's normal end, not an error for the server to log. The test clients, like Starlette's
            # (and FastAPI's tests), see the endpoint's exception.
            if websocket.client_state is not WebSocketState.DISCONNECTED or TEST_CLIENT in websocket.scope.get(
                "extensions", {}
            ):
                raise

    async def _client_key(self, binding: RequestBinding) -> Any:
        """Who the WebSocket counts against (``max_streams_per_client``), as for an HTTP stream."""
        if self.client_key is not None:
            return await solve_value(self.client_key, self.spec, binding)
        client = binding.connection.client
        return client.host if client is not None else None

    async def _serve(self, websocket: WebSocket, arguments: dict[str, Any]) -> None:
        """A typed stream: incoming messages validated into the endpoint, its items sent, the socket closed, under
        the rules of every stream (``_engine/websocket.py``)."""
        runtime = self.runtime
        assert runtime is not None
        settings = runtime.settings
        stream = WebSocketItemStream(
            websocket,
            label=f"WEBSOCKET {self.path}",
            validator=self.incoming,
            max_message_size=settings.body_limits.max_line_size,
            takes_messages=self.takes_messages,
            send_timeout=settings.send_timeout,
            expires_in=seconds_left(websocket),
        )
        if self.spec.body_stream is not None:
            arguments[self.spec.body_stream.name] = stream.messages()
        endpoint = self.endpoint
        with runtime.open_streams.open(stream):
            await stream.serve(lambda: endpoint(**arguments), self.encoder.encode if self.spec.is_stream else None)


async def _refuse(websocket: WebSocket, exc: HTTPException) -> None:
    """Refuse the handshake: the app's answer to ``exc`` (a problem body with its status) where the server can
    send an HTTP response for a WebSocket; else close with 1008 and the detail as reason."""
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        raise exc  # the app's exception handlers answer it, as for an HTTP request
    await websocket.close(POLICY_VIOLATION, close_reason(str(exc.detail)))
