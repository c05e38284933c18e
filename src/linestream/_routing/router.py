"""``APIRouter``: path operations grouped under a prefix, with their decorators and ``include_router``.

A router records the declarations of its path operations. ``include_router`` copies the included router's
declarations under the including router (its prefix, tags, dependencies, defaults and stream options come on
top); a router that belongs to an app (its runtime) compiles each route that reaches it, once.
"""

from __future__ import annotations

import abc
import copy
import enum
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route, Router, WebSocketRoute, compile_path
from starlette.types import ASGIApp, Lifespan
from typing_extensions import Unpack

from linestream._declare.options import OptionLayer, StreamOptions, check_options
from linestream._declare.route import RouteDeclaration, RouteOptions
from linestream._engine.runtime import AppRuntime
from linestream._routing.route import APIRoute
from linestream._routing.websocket import APIWebSocketRoute
from linestream.exceptions import EndpointDefinitionError

__all__ = ["APIRouter", "PathOperationDecorators", "RouteOptions"]

CallableT = TypeVar("CallableT", bound=Callable[..., Any])


class PathOperationDecorators(abc.ABC):
    """``api_route`` and the per-method decorators, shared by ``APIRouter`` and ``LineStream``."""

    @abc.abstractmethod
    def add_api_route(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        methods: Sequence[str] | None = None,
        **options: Unpack[RouteOptions],
    ) -> Any:
        """Register ``endpoint`` at ``path``; the decorators call this."""

    def api_route(
        self, path: str, *, methods: Sequence[str] | None = None, **options: Unpack[RouteOptions]
    ) -> Callable[[CallableT], CallableT]:
        """Decorator registering a path operation for ``methods`` (default ``["GET"]``)."""

        def decorator(endpoint: CallableT) -> CallableT:
            self.add_api_route(path, endpoint, methods=methods, **options)
            return endpoint

        return decorator

    def get(self, path: str, **options: Unpack[RouteOptions]) -> Callable[[CallableT], CallableT]:
        """Decorator for a ``GET`` path operation (``HEAD`` is answered too)."""
        return self.api_route(path, methods=["GET"], **options)

    def post(self, path: str, **options: Unpack[RouteOptions]) -> Callable[[CallableT], CallableT]:
        """Decorator for a ``POST`` path operation."""
        return self.api_route(path, methods=["POST"], **options)

    def put(self, path: str, **options: Unpack[RouteOptions]) -> Callable[[CallableT], CallableT]:
        """Decorator for a ``PUT`` path operation."""
        return self.api_route(path, methods=["PUT"], **options)

    def patch(self, path: str, **options: Unpack[RouteOptions]) -> Callable[[CallableT], CallableT]:
        """Decorator for a ``PATCH`` path operation."""
        return self.api_route(path, methods=["PATCH"], **options)

    def delete(self, path: str, **options: Unpack[RouteOptions]) -> Callable[[CallableT], CallableT]:
        """Decorator for a ``DELETE`` path operation."""
        return self.api_route(path, methods=["DELETE"], **options)

    @abc.abstractmethod
    def add_api_websocket_route(
        self, path: str, endpoint: Callable[..., Any], *, name: str | None = None, dependencies: Sequence[Any] = ()
    ) -> Any:
        """Register the WebSocket endpoint ``endpoint`` at ``path``; ``websocket()`` calls this."""

    def websocket(
        self, path: str, *, name: str | None = None, dependencies: Sequence[Any] = ()
    ) -> Callable[[CallableT], CallableT]:
        """Decorator for a WebSocket endpoint: ``async def ws(websocket: WebSocket, ...)`` with parameters and
        dependencies, or a typed stream ``async def chat(messages: AsyncIterable[In]) -> AsyncIterable[Out]``."""

        def decorator(endpoint: CallableT) -> CallableT:
            self.add_api_websocket_route(path, endpoint, name=name, dependencies=dependencies)
            return endpoint

        return decorator


class APIRouter(PathOperationDecorators, Router):
    """A group of path operations, with a common prefix, tags, dependencies and stream options, to include in an
    app (a route's own options win over its router's):

    ```python
    router = APIRouter(prefix="/items", tags=["items"], sse_keepalive=5)

    @router.get("/stream")
    async def stream() -> AsyncIterable[Item]: ...

    app.include_router(router)
    ```
    """

    def __init__(
        self,
        *,
        prefix: str = "",
        tags: Sequence[str | enum.Enum] | None = None,
        dependencies: Sequence[Any] | None = None,
        responses: Mapping[int | str, dict[str, Any]] | None = None,
        routes: Sequence[BaseRoute] | None = None,
        redirect_slashes: bool = True,
        default: ASGIApp | None = None,
        lifespan: Lifespan[Any] | None = None,
        include_in_schema: bool = True,
        deprecated: bool | None = None,
        default_response_class: type[Response] | None = None,
        callbacks: Sequence[BaseRoute] | None = None,
        generate_unique_id_function: Callable[[APIRoute], str] | None = None,
        route_class: type[APIRoute] = APIRoute,
        runtime: AppRuntime | None = None,
        **options: Unpack[StreamOptions],
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
        #: Defaults of the path operations declared on this router (a route's own options win).
        self.default_response_class = default_response_class
        self.callbacks = list(callbacks or [])
        self.generate_unique_id_function = generate_unique_id_function
        #: The class of the routes this router creates (a subclass of ``APIRoute`` may change how they serve).
        self.route_class = route_class
        #: The stream options of this router's path operations (a route's own win).
        self.options: OptionLayer = check_options(f"APIRouter(prefix={prefix!r})", options)
        #: The runtime of the app this router belongs to (an app's own router); ``None`` for a router that is
        #: included: its routes are compiled where they arrive.
        self.runtime = runtime
        if runtime is not None:
            for route in self.routes:
                if isinstance(route, (APIRoute, APIWebSocketRoute)):
                    route.compile(runtime)

    def _arrived(self, route: APIRoute | APIWebSocketRoute) -> None:
        self.routes.append(route)
        if self.runtime is not None:
            route.compile(self.runtime)

    def add_api_route(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        methods: Sequence[str] | None = None,
        **options: Unpack[RouteOptions],
    ) -> APIRoute:
        """Register ``endpoint`` at ``prefix + path`` for ``methods`` (default ``["GET"]``); the decorators call
        this."""
        route = self.route_class(path, endpoint, methods=methods, **options)
        route = route.moved(self._declared_here(route.declaration))
        self._arrived(route)
        return route

    def _declared_here(self, declaration: RouteDeclaration) -> RouteDeclaration:
        """``declaration`` under this router: its prefix, tags, dependencies, defaults and stream options."""
        return declaration.under(
            prefix=self.prefix,
            tags=self.tags,
            dependencies=self.dependencies,
            responses=self.responses,
            include_in_schema=self.include_in_schema,
            deprecated=self.deprecated,
            response_class=self.default_response_class,
            callbacks=self.callbacks,
            generate_unique_id_function=self.generate_unique_id_function,
            options=self.options,
        )

    def add_api_websocket_route(
        self, path: str, endpoint: Callable[..., Any], *, name: str | None = None, dependencies: Sequence[Any] = ()
    ) -> APIWebSocketRoute:
        """Register the WebSocket endpoint ``endpoint`` at ``prefix + path``, after the router's dependencies."""
        route = APIWebSocketRoute(
            self.prefix + path, endpoint, name=name, dependencies=[*self.dependencies, *dependencies]
        )
        self._arrived(route)
        return route

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
        """Add every path operation of ``router`` under ``prefix``, with extra ``tags``, ``dependencies``, defaults
        and stream options (each route's own, and its router's, win)."""
        if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
            raise EndpointDefinitionError(f"include_router prefix {prefix!r} must start with '/' and not end with '/'.")
        layer = check_options(f"include_router(prefix={prefix!r})", options)
        for route in router.routes:
            if isinstance(route, APIRoute):
                # Declared again under this router, whether a decorator or a hand made it: the include's prefix,
                # tags, dependencies and defaults, then this router's, come on top of what the route declared.
                declaration = route.declaration.under(
                    prefix=prefix,
                    tags=tags or (),
                    dependencies=dependencies or (),
                    responses=responses,
                    include_in_schema=include_in_schema,
                    deprecated=deprecated,
                    response_class=default_response_class,
                    callbacks=callbacks or (),
                    generate_unique_id_function=generate_unique_id_function,
                    options=layer,
                )
                self._arrived(route.moved(self._declared_here(declaration)))
            elif isinstance(route, APIWebSocketRoute):
                extra = [*self.dependencies, *(dependencies or [])]
                self._arrived(route.moved(prefix=self.prefix + prefix, dependencies=extra))
            elif not str(getattr(route, "name", "")).startswith("linestream-"):
                # Other routes (plain Starlette ones) come along under the include's prefix (as in FastAPI); an
                # app's own documentation routes do not.
                self.routes.append(_prefixed(route, prefix))


def _prefixed(route: BaseRoute, prefix: str) -> BaseRoute:
    """A plain Starlette route (``Route``, ``WebSocketRoute``, ``Mount``) moved under ``prefix``."""
    if not prefix or not isinstance(route, (Route, WebSocketRoute, Mount)):
        return route
    moved = copy.copy(route)
    moved.path = prefix + route.path
    moved.path_regex, moved.path_format, moved.param_convertors = compile_path(
        moved.path + ("/{path:path}" if isinstance(route, Mount) else "")
    )
    return moved
