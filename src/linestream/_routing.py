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
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from pydantic import ValidationError
from pydantic_core import PydanticSerializationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, Router
from starlette.types import ASGIApp, Lifespan, Message, Receive, Scope, Send

from linestream._binding import RequestContext, TemporalResponse, solve_arguments
from linestream._endpoint import DEFAULT, CallKind, Dependant, EndpointSpec, analyse_endpoint, build_dependant
from linestream._response import AsyncItemSource, ItemStream, ReceiveChannel, SyncItemSource, stream_headers
from linestream._serialization import ItemEncoder, SerializationOptions
from linestream.exceptions import EndpointDefinitionError, ResponseValidationError
from linestream.params import DependsInfo
from linestream.streams import jsonlines

__all__ = ["APIRoute", "APIRouter", "PathOperationDecorators", "StreamSettings"]

CallableT = TypeVar("CallableT", bound=Callable[..., Any])


@dataclasses.dataclass(frozen=True, slots=True)
class StreamSettings:
    """How streams are served; set on the app (``LineStream(chunk_size=...)``)."""

    chunk_size: int = 64 * 1024
    max_sync_streams: int = 64


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
        raw = response_class is not None and not issubclass(response_class, JSONResponse)
        self.spec: EndpointSpec = analyse_endpoint(
            endpoint,
            path_param_names=frozenset(self.param_convertors),
            response_model=response_model,
            response_is_raw=raw,
        )
        if self.spec.is_stream and response_class is not None:
            raise EndpointDefinitionError(
                f"{self.spec.name}: response_class={response_class.__name__} is not supported on a streaming "
                "path operation yet; item streams are sent as JSON Lines."
            )
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
        self.framing = jsonlines.FRAMING
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

        async with contextlib.AsyncExitStack() as stack:
            ctx = RequestContext(request, stack, overrides)
            arguments = await solve_arguments(self.spec, self.extra_dependants, ctx)
            if self.spec.is_stream:
                await self._stream(scope, tracking_send, channel, ctx, arguments)
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
    ) -> None:
        settings: StreamSettings = getattr(scope.get("app"), "stream_settings", _DEFAULT_SETTINGS)
        generator = self.endpoint(**arguments)
        encode = self.encoder.encode
        source: AsyncItemSource | SyncItemSource
        if self.spec.dependant.kind is CallKind.ASYNC_GEN:
            source = AsyncItemSource(generator, encode, self.framing, settings.chunk_size)
        else:
            limiter = _sync_stream_limiter(scope.get("app"), settings)
            source = SyncItemSource(generator, encode, self.framing, settings.chunk_size, limiter)
        stream = ItemStream(source, route=self.label, channel=channel)

        def start() -> Message:
            status = self.status_code or 200
            extra: list[tuple[bytes, bytes]] = []
            if ctx.response is not None:
                status = ctx.response.status_code or status
                extra = [(k, v) for k, v in ctx.response.raw_headers if k != b"content-length"]
            headers = stream_headers(self.framing.media_type, extra)
            return {"type": "http.response.start", "status": status, "headers": headers}

        try:
            await stream.serve(send, start, head_only=scope["method"] == "HEAD")
        except ValidationError as exc:
            raise ResponseValidationError(self.spec.name, exc.errors(include_url=False), source.count) from exc
        except PydanticSerializationError as exc:
            raise ResponseValidationError(
                self.spec.name, [{"loc": (), "msg": str(exc), "type": "serialization"}], source.count
            ) from exc

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
            except ValidationError as exc:
                raise ResponseValidationError(self.spec.name, exc.errors(include_url=False)) from exc
            except PydanticSerializationError as exc:
                raise ResponseValidationError(
                    self.spec.name, [{"loc": (), "msg": str(exc), "type": "serialization"}]
                ) from exc
            media_type = response_class.media_type if response_class is not None else "application/json"
            response = Response(content, status_code=status, media_type=media_type)
        if temporal is not None:
            _merge_headers(response, temporal)
        return response


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
            if not isinstance(route, APIRoute):
                self.routes.append(route)
