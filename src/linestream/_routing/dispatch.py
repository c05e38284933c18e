"""Serving a path operation straight from the app's ASGI call, without Starlette's per-request layers.

Starlette sends every request through its error middleware, its exception middleware and its router: three
coroutine frames, two ``send`` wrappers and a ``Request`` before the route runs, and an open stream keeps all of
them suspended for as long as it lasts (about 3.5 KiB per idle stream). When the app has nothing between those
layers (no user middleware, no debug page, no app-wide body limit), ``DirectDispatch`` finds the route itself
and calls its handler, which answers an exception raised before the response started as those layers would
(``_routing.errors``). Anything else (mounts, pages, a method that does not match, websockets, lifespan) goes
through Starlette's stack unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.routing import Match, Route, Router
from starlette.types import Scope

from linestream._routing.errors import ErrorResponder, ExceptionHandler
from linestream._routing.handlers import RouteHandler
from linestream._routing.route import APIRoute

__all__ = ["DirectDispatch"]


class DirectDispatch:
    """Serves the HTTP requests whose route is a compiled path operation, for an app without user middleware."""

    __slots__ = ("errors", "router")

    def __init__(self, router: Router, exception_handlers: Mapping[Any, ExceptionHandler]) -> None:
        self.router = router
        self.errors = ErrorResponder(exception_handlers)

    @classmethod
    def unless_layered(cls, app: Starlette) -> DirectDispatch | None:
        """The dispatch of ``app``, or ``None`` when it has layers of its own between Starlette's (user
        middleware, router middleware, an app-wide body limit) or shows debug pages: then every request takes
        Starlette's stack."""
        router = app.router
        if (
            app.user_middleware
            or app.debug
            or getattr(app, "max_body_size", None) is not None
            or getattr(router, "middleware_stack", router.app) != router.app
        ):
            return None
        return cls(router, app.exception_handlers)

    def handler_for(self, scope: Scope) -> RouteHandler | None:
        """The handler to call for this request (``handler(scope, receive, send, dispatch.errors)``), with
        ``scope`` completed as the router would; ``None`` for a request to leave to Starlette's stack. (The app
        awaits the handler itself: an open stream holds no frame of this lookup.)"""
        if scope["type"] != "http":
            return None
        router = self.router
        for route in router.routes:
            match, child_scope = route.matches(scope)
            if match is Match.NONE:
                continue
            if match is Match.PARTIAL or not isinstance(route, APIRoute):
                return None
            handler = route.handler
            kind = type(route)
            if handler is None or kind.matches is not Route.matches or kind.handle is not Route.handle:
                return None  # not compiled yet, or a route class that matches or handles its own way
            scope.update(child_scope)
            scope.setdefault("router", router)
            return handler
        return None
