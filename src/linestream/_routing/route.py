"""``APIRoute``: one path operation. It holds its declaration, matches requests (as a Starlette ``Route``) and
delegates each to the handler of its compiled form.

Declaring a route only records what it declares (``_declare.route``); ``include_router`` copies it under another
router (``moved``). When a route reaches an app, it is compiled once (``_compile.route``): a mis-declared path
operation fails then, naming the function and the fix. A route used without an app (a callback, a webhook, a
router served on its own) is compiled with the default settings when first needed.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send
from typing_extensions import Unpack

from linestream._compile.route import CompiledRoute, compile_route
from linestream._declare.options import check_keywords
from linestream._declare.route import ROUTE_OPTION_NAMES, RouteDeclaration, RouteOptions
from linestream._engine.runtime import AppRuntime
from linestream._routing.durable import DurableStreamHandler
from linestream._routing.handlers import RouteHandler, handler_for
from linestream.streams import StreamFormat

__all__ = ["APIRoute"]

RouteT = TypeVar("RouteT", bound="APIRoute")


class APIRoute(Route):
    """One path operation. Created by the router's decorators (``@app.get(path, **options)``, whose options it
    takes); rarely built by hand."""

    def __init__(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        methods: Sequence[str] | None = None,
        **options: Unpack[RouteOptions],
    ) -> None:
        check_keywords(f"APIRoute({path!r})", options, ROUTE_OPTION_NAMES)
        self._declare(RouteDeclaration.of(path, endpoint, methods, options))

    def _declare(self, declaration: RouteDeclaration) -> None:
        path = declaration.path
        super().__init__(
            path if path.startswith("/") else "/" + path,
            declaration.endpoint,
            methods=list(declaration.methods),
            name=declaration.name,
            include_in_schema=declaration.include_in_schema,
        )
        if not path.startswith("/"):
            # A webhook ("new-subscription") or callback ("{$callback_url}/invoices") is documented, never routed.
            self.path = self.path_format = path
        #: What the route declares (frozen): what ``include_router`` copies and the document reads.
        self.declaration = declaration
        # FastAPI's attributes of a route, as declared.
        self.status_code = declaration.status_code
        self.response_class = declaration.response_class
        self.response_model = declaration.response_model
        self.default_status = declaration.default_status
        self.tags = list(declaration.tags)
        self.summary = declaration.summary
        self.description = declaration.description
        self.response_description = declaration.response_description
        self.responses = dict(declaration.responses)
        self.deprecated = declaration.deprecated
        self.operation_id = declaration.operation_id
        self.openapi_extra = declaration.openapi_extra
        self.dependencies = list(declaration.dependencies)
        self.callbacks = list(declaration.callbacks)
        self.generate_unique_id_function = declaration.generate_unique_id_function
        self._compiled: CompiledRoute | None = None
        self._handler: RouteHandler | None = None
        self.app = self._handle

    def moved(self: RouteT, declaration: RouteDeclaration) -> RouteT:
        """A copy of this route (of its class) with ``declaration``, not compiled yet."""
        route = copy.copy(self)
        route._declare(declaration)
        return route

    def compile(self, runtime: AppRuntime) -> CompiledRoute:
        """Compile the route to serve in the app whose runtime this is (its settings, open streams, slots and
        dependency overrides); raises ``EndpointDefinitionError`` for a mis-declared path operation."""
        label = f"{'/'.join(sorted(self.methods or []))} {self.path}"
        compiled = compile_route(self.declaration, frozenset(self.param_convertors), runtime.settings, label)
        custom = self.get_route_handler() if type(self).get_route_handler is not APIRoute.get_route_handler else None
        if compiled.is_stream and compiled.settings.durable is not None:
            self._handler = DurableStreamHandler(compiled, runtime, custom)
        else:
            self._handler = handler_for(compiled, runtime, custom)
        self._compiled = compiled
        return compiled

    @property
    def compiled(self) -> CompiledRoute:
        """The compiled route (compiled with the default settings if no app compiled it)."""
        return self._compiled if self._compiled is not None else self.compile(AppRuntime())

    @property
    def is_stream(self) -> bool:
        """Whether the path operation is a generator whose items (or chunks) are streamed."""
        return self.compiled.is_stream

    @property
    def offered_formats(self) -> tuple[StreamFormat, ...]:
        """The formats this stream is served in, in the server's order of preference."""
        return self.compiled.offered_formats

    @property
    def error_policy(self) -> str:
        """``"truncate"`` or ``"record"``: what a client sees when the generator fails after the first item."""
        return self.compiled.error_policy

    @property
    def handler(self) -> RouteHandler | None:
        """The route's handler, once an app compiled it: an ASGI callable that serves one request."""
        return self._handler

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = self._handler
        if handler is None:
            self.compile(AppRuntime())
            handler = self._handler
            assert handler is not None
        await handler(scope, receive, send)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The function that turns a request into a response, as in FastAPI: a subclass may wrap it (to time
        requests, log bodies of failed ones, or read the body differently) with ``super().get_route_handler()``.
        For a stream the response it returns serves the stream when called: headers set on it before then are
        sent with the stream's."""

        async def respond(request: Request) -> Response:
            handler = self._handler
            assert handler is not None, "a route handler is called by the route it belongs to"
            return await handler.respond_to(request)

        return respond
