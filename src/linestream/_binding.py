"""Request -> arguments: parameters from every location, the JSON body, and ``Depends`` with ``yield``.

All validation errors of a request (of the path operation and of every dependency) are collected and raised
together as one ``RequestValidationError``. ``yield`` dependencies are entered on the request's exit stack,
so their code after ``yield`` runs when the route closes the stack: after the response (or the stream) ended.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from typing import Any

import anyio.to_thread
import pydantic_core
from starlette.requests import Request
from starlette.responses import Response

from linestream._annotations import CallKind
from linestream._dependant import Dependant, build_dependant
from linestream._endpoint import EndpointSpec
from linestream._request_body import read_body
from linestream._request_stream import STREAMED_TYPES, RequestItems, SyncRequestItems
from linestream._settings import BodyLimits
from linestream._validation import echo
from linestream.exceptions import HTTPException, RequestValidationError
from linestream.params import ParamSource

__all__ = ["RequestContext", "solve_arguments"]

_MISSING_CONTENT_TYPE = (
    "The request has a body but no Content-Type, which is refused (a browser sends such a request to any site "
    "without asking it first; strict_content_type=False accepts it). Send "
)
_NOT_READ: Any = object()
_INVALID: Any = object()  # a body that is not JSON: its error is reported, its fields are not validated
_FAILED: Any = object()


class TemporalResponse(Response):
    """The ``Response`` a path operation can ask for to set headers, cookies or the status code."""

    def __init__(self) -> None:
        super().__init__()
        self.status_code: int | None = None  # type: ignore[assignment]
        del self.raw_headers[:]


class RequestContext:
    """Per-request state of argument binding: the dependency cache, exit stack and parsed body."""

    __slots__ = (
        "body",
        "body_limits",
        "cache",
        "errors_omitted",
        "overrides",
        "request",
        "response",
        "stack",
        "strict_content_type",
    )

    def __init__(
        self,
        request: Request,
        stack: contextlib.AsyncExitStack,
        overrides: Mapping[Callable[..., Any], Callable[..., Any]],
        body_limits: BodyLimits,
        strict_content_type: bool = True,
    ) -> None:
        self.request = request
        #: A body without a Content-Type is refused (415), not read as JSON (see ``LineStream``).
        self.strict_content_type = strict_content_type
        self.stack = stack
        self.overrides = overrides
        self.body_limits = body_limits
        self.cache: dict[Callable[..., Any], Any] = {}
        self.response: TemporalResponse | None = None
        self.body: Any = _NOT_READ
        self.errors_omitted = 0

    def temporal_response(self) -> TemporalResponse:
        if self.response is None:
            self.response = TemporalResponse()
        return self.response


async def solve_arguments(spec: EndpointSpec, extra: list[Dependant], ctx: RequestContext) -> dict[str, Any]:
    """The keyword arguments of the path operation; raises ``RequestValidationError`` with every error."""
    errors: list[dict[str, Any]] = []
    if spec.body_fields:
        await _read_body(spec, ctx, errors)
    for dependant in extra:
        await _solve(dependant, ctx, errors, spec)
    values = await _solve(spec.dependant, ctx, errors, spec, call=False)
    if errors or values is _FAILED:
        limit = ctx.body_limits.max_errors
        omitted = ctx.errors_omitted + max(0, len(errors) - limit)
        raise RequestValidationError(errors[:limit], errors_omitted=omitted)
    result: dict[str, Any] = values
    stream = spec.body_stream
    if stream is not None:
        request = ctx.request
        content_type = request.headers.get("content-type")
        if content_type is None and ctx.strict_content_type:
            raise HTTPException(415, _MISSING_CONTENT_TYPE + STREAMED_TYPES)
        items = RequestItems(
            request.receive,
            content_type or "",
            request.headers.get("content-encoding", ""),
            stream.adapter,
            ctx.body_limits,
        )
        result[stream.name] = items if stream.is_async else SyncRequestItems(items)
    return result


async def _read_body(spec: EndpointSpec, ctx: RequestContext, errors: list[dict[str, Any]]) -> None:
    request = ctx.request
    headers = request.headers
    raw = await read_body(
        request.receive, headers.get("content-length"), headers.get("content-encoding", ""), ctx.body_limits
    )
    # Starlette's Request caches its body here: `await request.body()` in the endpoint gets the decoded body.
    request._body = raw
    if not raw:
        ctx.body = None
        return
    given = headers.get("content-type")
    if given is None and ctx.strict_content_type:
        raise HTTPException(415, _MISSING_CONTENT_TYPE + "Content-Type: application/json.")
    content_type = (given or "application/json").split(";", 1)[0].strip().lower()
    if content_type != "application/json" and not content_type.endswith("+json"):
        raise HTTPException(
            415,
            f"The request body must be JSON (Content-Type: application/json), not {echo(content_type)!r}.",
        )
    try:
        ctx.body = pydantic_core.from_json(raw)
    except ValueError as exc:
        errors.append({"loc": ["body"], "msg": f"Invalid JSON: {exc}", "type": "json_invalid"})
        ctx.body = _INVALID


def _body_data(spec: EndpointSpec, ctx: RequestContext) -> tuple[dict[str, Any], bool]:
    """The mapping a dependant's body model validates, and whether errors must drop the field name."""
    body = ctx.body
    if spec.body_embedded:
        return (body if isinstance(body, dict) else {}), False
    field = spec.body_fields[0]
    return ({} if body is None else {field.alias: body}), True


async def _solve(
    dependant: Dependant,
    ctx: RequestContext,
    errors: list[dict[str, Any]],
    spec: EndpointSpec,
    *,
    call: bool = True,
) -> Any:
    values: dict[str, Any] = {}
    failed = False
    for sub in dependant.dependencies:
        target = sub.dependant
        override = ctx.overrides.get(target.call)
        if override is not None:
            target = _analyse_override(override)
        if sub.use_cache and target.call in ctx.cache:
            values[sub.param_name] = ctx.cache[target.call]
            continue
        value = await _solve(target, ctx, errors, spec)
        if value is _FAILED:
            failed = True
            continue
        if sub.use_cache:
            ctx.cache[target.call] = value
        values[sub.param_name] = value
    request = ctx.request
    for source, model in dependant.models.items():
        limit = ctx.body_limits.max_errors
        if source is ParamSource.BODY:
            if ctx.body is _NOT_READ:
                continue
            if ctx.body is _INVALID:
                failed = True
                continue
            data, single = _body_data(spec, ctx)
            found, problems, omitted = model.validate(data, "body", limit)
            if single:
                for problem in problems:
                    del problem["loc"][1:2]
        else:
            data = _location_data(request, source, model.fields)
            found, problems, omitted = model.validate(data, source.value, limit)
        ctx.errors_omitted += omitted
        if problems:
            errors.extend(problems)
            failed = True
        else:
            values.update(found)
    if dependant.request_param:
        values[dependant.request_param] = request
    if dependant.connection_param:
        values[dependant.connection_param] = request
    if dependant.response_param:
        values[dependant.response_param] = ctx.temporal_response()
    if failed:
        return _FAILED
    if not call:
        return values
    return await _call_dependency(dependant, values, ctx)


def _location_data(request: Request, source: ParamSource, fields: list[Any]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if source is ParamSource.QUERY:
        query = request.query_params
        for field in fields:
            if field.alias in query:
                data[field.alias] = query.getlist(field.alias) if field.is_sequence else query[field.alias]
    elif source is ParamSource.HEADER:
        headers = request.headers
        for field in fields:
            if field.alias in headers:
                data[field.alias] = headers.getlist(field.alias) if field.is_sequence else headers[field.alias]
    elif source is ParamSource.COOKIE:
        cookies = request.cookies
        for field in fields:
            if field.alias in cookies:
                data[field.alias] = cookies[field.alias]
    else:
        path = request.path_params
        for field in fields:
            if field.alias in path:
                data[field.alias] = path[field.alias]
    return data


async def _call_dependency(dependant: Dependant, values: dict[str, Any], ctx: RequestContext) -> Any:
    function = dependant.call
    kind = dependant.kind
    if kind is CallKind.ASYNC:
        return await function(**values)
    if kind is CallKind.SYNC:
        return await anyio.to_thread.run_sync(lambda: function(**values))
    if kind is CallKind.ASYNC_GEN:
        manager = contextlib.asynccontextmanager(function)(**values)
        return await ctx.stack.enter_async_context(manager)
    sync_manager = contextlib.contextmanager(function)(**values)
    value = await anyio.to_thread.run_sync(sync_manager.__enter__)

    async def exit_in_thread(*exc_info: Any) -> bool | None:
        return await anyio.to_thread.run_sync(sync_manager.__exit__, *exc_info)

    ctx.stack.push_async_exit(exit_in_thread)
    return value


_override_cache: dict[Callable[..., Any], Dependant] = {}


def _analyse_override(override: Callable[..., Any]) -> Dependant:
    dependant = _override_cache.get(override)
    if dependant is None:
        dependant = _override_cache[override] = build_dependant(override, path_param_names=frozenset())
    return dependant
