"""``APIRouter``: path operations grouped under a prefix, with their decorators and ``include_router``.

A router hands its ``AppContext`` to every route it creates (an app's router: the app's); ``include_router``
re-creates the included router's path operations under the including router, so they serve with its context.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from starlette.responses import Response
from starlette.routing import BaseRoute, Router
from starlette.types import ASGIApp, Lifespan

from linestream._context import AppContext
from linestream._route import APIRoute
from linestream.exceptions import EndpointDefinitionError

__all__ = ["APIRouter", "PathOperationDecorators"]

CallableT = TypeVar("CallableT", bound=Callable[..., Any])


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
        default_response_class: type[Response] | None = None,
        callbacks: Sequence[BaseRoute] | None = None,
        generate_unique_id_function: Callable[[APIRoute], str] | None = None,
        context: AppContext | None = None,
    ) -> None:
        super().__init__(routes=routes, redirect_slashes=redirect_slashes, default=default, lifespan=lifespan)
        #: What this router's routes serve with: the app's context for an app's router, else defaults.
        self.context = context if context is not None else AppContext()
        for route in self.routes:
            if isinstance(route, APIRoute):
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
        if self.default_response_class is not None and options.get("response_class") is None:
            options["response_class"] = self.default_response_class
        if self.callbacks:
            options["callbacks"] = [*self.callbacks, *(options.get("callbacks") or [])]
        if self.generate_unique_id_function is not None and options.get("generate_unique_id_function") is None:
            options["generate_unique_id_function"] = self.generate_unique_id_function
        route = APIRoute(self.prefix + path, endpoint, context=self.context, **options)
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
            for option in ("response_class", "generate_unique_id_function"):
                default = getattr(router, f"default_{option}" if option == "response_class" else option)
                if default is not None and merged.get(option) is None:
                    merged[option] = default
            if router.callbacks:
                merged["callbacks"] = [*router.callbacks, *(options.get("callbacks") or [])]
            self.add_api_route(prefix + router.prefix + path, endpoint, **merged)
        for route in router.routes:
            # Other routes (plain Starlette ones) come along; an app's own documentation routes do not.
            if not isinstance(route, APIRoute) and not str(getattr(route, "name", "")).startswith("linestream-"):
                self.routes.append(route)
