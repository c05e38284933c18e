"""``APIRouter``: path operations grouped under a prefix, with their decorators and ``include_router``.

A router hands its ``AppContext`` to every route it creates (an app's router: the app's); ``include_router``
re-creates the included router's path operations under the including router, so they serve with its context.
"""

from __future__ import annotations

import abc
import copy
import enum
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, TypeVar

from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route, Router, WebSocketRoute, compile_path
from starlette.types import ASGIApp, Lifespan
from typing_extensions import TypedDict, Unpack

from linestream._engine.runtime import AppContext
from linestream._routing.route import APIRoute
from linestream._routing.websocket import APIWebSocketRoute
from linestream.exceptions import EndpointDefinitionError

__all__ = ["APIRouter", "PathOperationDecorators", "RouteOptions"]

CallableT = TypeVar("CallableT", bound=Callable[..., Any])


class RouteOptions(TypedDict, total=False):
    """Every option of a path operation (``@app.get(path, **options)``), typed so that a misspelt or mistyped
    option fails type checking. See ``APIRoute`` for each."""

    name: str | None
    include_in_schema: bool
    status_code: int | None
    response_model: Any
    response_class: type[Response] | None
    tags: Sequence[str | enum.Enum] | None
    summary: str | None
    description: str | None
    response_description: str
    responses: Mapping[int | str, dict[str, Any]] | None
    deprecated: bool | None
    operation_id: str | None
    dependencies: Sequence[Any] | None
    openapi_extra: dict[str, Any] | None
    response_model_include: Any
    response_model_exclude: Any
    response_model_by_alias: bool
    response_model_exclude_unset: bool
    response_model_exclude_defaults: bool
    response_model_exclude_none: bool
    stream_formats: Sequence[str] | None
    sse_keepalive: float | None
    jsonl_keepalive: float | None
    stream_errors: Literal["truncate", "record"]
    stream_end: bool
    event_envelope: bool
    send_timeout: float | None
    max_item_size: int | None
    callbacks: Sequence[BaseRoute] | None
    generate_unique_id_function: Callable[[APIRoute], str] | None


class PathOperationDecorators(abc.ABC):
    """``api_route`` and the per-method decorators, shared by ``APIRouter`` and ``LineStream``."""

    @abc.abstractmethod
    def add_api_route(self, path: str, endpoint: Callable[..., Any], **options: Any) -> Any:
        """Register ``endpoint`` at ``path``; the decorators call this."""

    def api_route(
        self,
        path: str,
        *,
        methods: Sequence[str] | None = None,
        **options: Unpack[RouteOptions],
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
        default_response_class: type[Response] | None = None,
        callbacks: Sequence[BaseRoute] | None = None,
        generate_unique_id_function: Callable[[APIRoute], str] | None = None,
        route_class: type[APIRoute] = APIRoute,
        context: AppContext | None = None,
    ) -> None:
        super().__init__(routes=routes, redirect_slashes=redirect_slashes, default=default, lifespan=lifespan)
        #: What this router's routes serve with: the app's context for an app's router, else defaults.
        self.context = context if context is not None else AppContext()
        for route in self.routes:
            if isinstance(route, (APIRoute, APIWebSocketRoute)):
                route.mount(self.context)
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

    def add_api_route(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        route_class_override: type[APIRoute] | None = None,
        **options: Any,
    ) -> APIRoute:
        """Register ``endpoint`` at ``prefix + path``; the decorators call this."""
        options = dict(options)
        options["tags"] = [*self.tags, *(options.get("tags") or [])]
        options["dependencies"] = [*self.dependencies, *(options.get("dependencies") or [])]
        options["responses"] = {**self.responses, **(options.get("responses") or {})}
        if not self.include_in_schema:
            options["include_in_schema"] = False
        if self.deprecated is not None and options.get("deprecated") is None:
            options["deprecated"] = self.deprecated
        if self.default_response_class is not None and options.get("response_class") is None:
            options["response_class"] = self.default_response_class
        if self.callbacks:
            options["callbacks"] = [*self.callbacks, *(options.get("callbacks") or [])]
        if self.generate_unique_id_function is not None and options.get("generate_unique_id_function") is None:
            options["generate_unique_id_function"] = self.generate_unique_id_function
        route_class = route_class_override or self.route_class
        route = route_class(self.prefix + path, endpoint, context=self.context, **options)
        self.routes.append(route)
        return route

    def add_api_websocket_route(
        self, path: str, endpoint: Callable[..., Any], *, name: str | None = None, dependencies: Sequence[Any] = ()
    ) -> APIWebSocketRoute:
        """Register the WebSocket endpoint ``endpoint`` at ``prefix + path``, after the router's dependencies."""
        route = APIWebSocketRoute(
            self.prefix + path,
            endpoint,
            name=name,
            dependencies=[*self.dependencies, *dependencies],
            context=self.context,
        )
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
        for route in router.routes:
            if isinstance(route, APIRoute):
                # Declared again under this router, whether a decorator or a hand made it: its prefix, tags,
                # dependencies and defaults come on top of what the route was declared with.
                path, endpoint, options = route.declaration
                merged = dict(options)
                merged["tags"] = [*(tags or []), *(options.get("tags") or [])]
                merged["dependencies"] = [*(dependencies or []), *(options.get("dependencies") or [])]
                merged["responses"] = {**(responses or {}), **(options.get("responses") or {})}
                if not include_in_schema:
                    merged["include_in_schema"] = False
                self.add_api_route(prefix + path, endpoint, route_class_override=type(route), **merged)
            elif isinstance(route, APIWebSocketRoute):
                path, endpoint, options = route.declaration
                extra = [*(dependencies or []), *options["dependencies"]]
                self.add_api_websocket_route(prefix + path, endpoint, name=options["name"], dependencies=extra)
            elif not str(getattr(route, "name", "")).startswith("linestream-"):
                # Other routes (plain Starlette ones) come along under the prefix; an app's own documentation
                # routes do not.
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
