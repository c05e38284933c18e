"""Request -> arguments: parameters from every location, the JSON body, and ``Depends`` with ``yield``.

All validation errors of a request (of the path operation and of every dependency) are collected and raised
together as one ``RequestValidationError``. ``yield`` dependencies are entered on the request's exit stack,
so their code after ``yield`` runs when the route closes the stack: after the response (or the stream) ended.
"""

from __future__ import annotations

import contextlib
from typing import Any

import anyio.to_thread
import pydantic_core
from starlette.datastructures import FormData, UploadFile
from starlette.requests import HTTPConnection

from linestream._bind.binding import NOT_READ, RequestBinding
from linestream._bind.body import read_body
from linestream._bind.forms import FORM_TYPES, read_form
from linestream._bind.stream_body import STREAMED_TYPES, RequestItems, SyncRequestItems
from linestream._bind.validation import echo
from linestream._compile.annotations import CallKind
from linestream._compile.dependant import Dependant, ModelParams, ParamField, SubDependency
from linestream._compile.endpoint import EndpointSpec
from linestream._declare.options import body_limit
from linestream._fastapi import json_error
from linestream.exceptions import HTTPException, RequestValidationError
from linestream.params import ParamSource, SecurityScopes

__all__ = ["solve_arguments", "solve_value"]

_MISSING_CONTENT_TYPE = (
    "The request has a body but no Content-Type, which is refused (a browser sends such a request to any site "
    "without asking it first; strict_content_type=False accepts it). Send "
)
_INVALID: Any = object()  # a body that is not JSON: its error is reported, its fields are not validated
_FAILED: Any = object()


async def solve_arguments(spec: EndpointSpec, extra: list[SubDependency], binding: RequestBinding) -> dict[str, Any]:
    """The keyword arguments of the path operation; raises ``RequestValidationError`` with every error."""
    errors: list[dict[str, Any]] = []
    if spec.body_fields:
        await _read_body(spec, binding, errors)
    failed = False
    for sub in extra:
        failed = await _solve_sub(sub, binding, errors, spec, ()) is _FAILED or failed
    values = await _solve(spec.dependant, binding, errors, spec, call=False)
    if errors or failed or values is _FAILED:
        limit = binding.body_limits.max_errors
        omitted = binding.errors_omitted + max(0, len(errors) - limit)
        body = binding.body if binding.body is not NOT_READ and binding.body is not _INVALID else None
        raise RequestValidationError(_reported(errors[:limit], binding), body=body, errors_omitted=omitted)
    result: dict[str, Any] = values
    stream = spec.body_stream
    if stream is not None and binding.connection.scope["type"] == "http":  # a WebSocket's messages are its own
        request = binding.request
        content_type = request.headers.get("content-type") or None
        if content_type is None and binding.strict_content_type:
            raise HTTPException(415, _MISSING_CONTENT_TYPE + STREAMED_TYPES)
        items = RequestItems(
            request.receive,
            content_type or "",
            request.headers.get("content-encoding", ""),
            stream.validator,
            binding.body_limits,
            binding.items_received,
        )
        result[stream.name] = items if stream.is_async else SyncRequestItems(items)
    return result


async def solve_value(sub: SubDependency, spec: EndpointSpec, binding: RequestBinding) -> Any:
    """The value of one dependency of the request (cached with the others): its errors raised as a 422."""
    errors: list[dict[str, Any]] = []
    value = await _solve_sub(sub, binding, errors, spec, ())
    if errors or value is _FAILED:
        raise RequestValidationError(_reported(errors[: binding.body_limits.max_errors], binding))
    return value


def _reported(errors: list[dict[str, Any]], binding: RequestBinding) -> list[dict[str, Any]]:
    """The errors as the exception carries them: FastAPI's locations are tuples (``str(exc.errors())`` shows
    ``('path', 'item_id')``, which handlers written for FastAPI print)."""
    if binding.fastapi:
        for error in errors:
            error["loc"] = tuple(error["loc"])
    return errors


async def _read_body(spec: EndpointSpec, binding: RequestBinding, errors: list[dict[str, Any]]) -> None:
    request = binding.request
    headers = request.headers
    raw = await read_body(
        request.receive, headers.get("content-length"), headers.get("content-encoding", ""), binding.body_limits
    )
    # Starlette's Request caches its body here: `await request.body()` in the endpoint gets the decoded body.
    request._body = raw
    if not raw:
        binding.body = None
        return
    given = headers.get("content-type")
    content_type = (given or "application/json").split(";", 1)[0].strip().lower()
    is_json = content_type == "application/json" or content_type.endswith("+json")
    if binding.fastapi and not (is_json and (given is not None or not binding.strict_content_type)):
        # As FastAPI: a body that is not declared JSON is validated as the text it is (and fails: 422).
        binding.body = raw.decode("utf-8", "replace")
        return
    if given is None and binding.strict_content_type:
        raise HTTPException(415, _MISSING_CONTENT_TYPE + "Content-Type: application/json.")
    if not is_json:
        raise HTTPException(
            415,
            f"The request body must be JSON (Content-Type: application/json), not {echo(content_type)!r}.",
        )
    try:
        binding.body = pydantic_core.from_json(raw)
    except ValueError as exc:
        if binding.fastapi:
            errors.append(json_error(raw))
        else:
            errors.append({"loc": ["body"], "msg": f"Invalid JSON: {exc}", "type": "json_invalid"})
        binding.body = _INVALID


def _body_data(spec: EndpointSpec, binding: RequestBinding) -> tuple[dict[str, Any], bool]:
    """The mapping a dependant's body model validates, and whether errors must drop the field name."""
    body = binding.body
    if spec.body_embedded:
        return (body if isinstance(body, dict) else {}), False
    field = spec.body_fields[0]
    return ({} if body is None else {field.alias: body}), True


async def _solve(
    dependant: Dependant,
    binding: RequestBinding,
    errors: list[dict[str, Any]],
    spec: EndpointSpec,
    *,
    call: bool = True,
    scope: str = "request",
    scopes: tuple[str, ...] = (),
) -> Any:
    values: dict[str, Any] = {}
    failed = False
    for sub in dependant.dependencies:
        value = await _solve_sub(sub, binding, errors, spec, scopes)
        if value is _FAILED:
            failed = True
        else:
            values[sub.param_name] = value
    connection = binding.connection
    for source, model in dependant.models.items():
        limit = binding.body_limits.max_errors
        if source is ParamSource.BODY:
            if binding.body is NOT_READ:
                continue
            if binding.body is _INVALID:
                failed = True
                continue
            data, single = _body_data(spec, binding)
            found, problems, omitted = model.validate(data, "body", limit, fastapi=binding.fastapi)
            if single:
                for problem in problems:
                    del problem["loc"][1:2]
        else:
            if source is ParamSource.FORM:
                data = await _form_data(model.fields, binding)
            else:
                data = _location_data(connection, source, model.fields)
            where = "body" if source is ParamSource.FORM else source.value
            found, problems, omitted = model.validate(data, where, limit, fastapi=binding.fastapi)
            models = {field.alias for field in model.fields if field.model is not None}
            for problem in problems:
                # A parameter model's fields are parameters of their own: `["query", "limit"]`, not under the model.
                if len(problem["loc"]) > 1 and problem["loc"][1] in models:
                    del problem["loc"][1]
        binding.errors_omitted += omitted
        if problems:
            errors.extend(problems)
            failed = True
        else:
            values.update(found)
    if dependant.request_param:
        values[dependant.request_param] = binding.request
    if dependant.connection_param:
        values[dependant.connection_param] = connection
    if dependant.websocket_param:
        values[dependant.websocket_param] = connection
    if dependant.background_param:
        values[dependant.background_param] = binding.background_tasks()
    if dependant.security_scopes_param:
        values[dependant.security_scopes_param] = SecurityScopes(scopes)
    if dependant.response_param:
        values[dependant.response_param] = binding.temporal_response()
    if failed:
        return _FAILED
    if not call:
        return values
    return await _call_dependency(dependant, values, binding.function_stack if scope == "function" else binding.stack)


async def _solve_sub(
    sub: SubDependency,
    binding: RequestBinding,
    errors: list[dict[str, Any]],
    spec: EndpointSpec,
    scopes: tuple[str, ...],
) -> Any:
    """The value of one dependency (overridden, cached per request and set of scopes), or ``_FAILED``."""
    target = sub.dependant
    override = binding.overrides.get(target.call)
    if override is not None:
        target = binding.overrides.analyse(override)
    required = scopes + sub.scopes if sub.scopes else scopes
    # One value per dependency and request; per set of scopes where scopes are asked for (as in FastAPI).
    key: Any = (target.call, tuple(sorted(set(required)))) if required else target.call
    if sub.use_cache and key in binding.cache:
        return binding.cache[key]
    value = await _solve(target, binding, errors, spec, scope=sub.scope, scopes=required)
    if value is not _FAILED and sub.use_cache:
        binding.cache[key] = value
    return value


def _location_data(request: HTTPConnection, source: ParamSource, fields: list[ParamField]) -> dict[str, Any]:
    location: Any
    if source is ParamSource.QUERY:
        location = request.query_params
    elif source is ParamSource.HEADER:
        location = request.headers
    elif source is ParamSource.COOKIE:
        location = request.cookies
    else:
        location = request.path_params
    data: dict[str, Any] = {}
    for field in fields:
        if field.model is not None:
            data[field.alias] = _model_data(location, field.model)
        elif field.alias in location:
            data[field.alias] = location.getlist(field.alias) if field.is_sequence else location[field.alias]
    return data


async def _form_data(fields: list[ParamField], binding: RequestBinding) -> dict[str, Any]:
    """The form values of ``fields`` (the form is read the first time one is needed); files taken as ``bytes``
    are read, the others stay ``UploadFile``s, closed when the request ends."""
    if binding.form is None:
        binding.form = await _read_form(binding)
        binding.stack.push_async_callback(binding.form.close)
    form = binding.form
    data: dict[str, Any] = {}
    for field in fields:
        if field.model is not None:
            data[field.alias] = _model_data(form, field.model)
            continue
        values: list[Any] = form.getlist(field.alias)
        if not values:
            continue
        if field.reads_file:
            values = [await _file_bytes(value, field.alias, binding) for value in values]
        data[field.alias] = values if field.is_sequence else values[-1]
    return data


async def _read_form(binding: RequestBinding) -> FormData:
    request = binding.request
    headers = request.headers
    content_type = headers.get("content-type") or None
    if content_type is None:
        if headers.get("content-length", "0") == "0" and "transfer-encoding" not in headers:
            return FormData()  # no body at all: its required fields are reported missing (422), as in FastAPI
        if binding.fastapi:
            return FormData()
        if binding.strict_content_type:
            raise HTTPException(415, _MISSING_CONTENT_TYPE + "Content-Type: multipart/form-data.")
    media_type = (content_type or "application/x-www-form-urlencoded").split(";", 1)[0].strip().lower()
    if media_type not in FORM_TYPES and binding.fastapi:
        return FormData()  # as FastAPI: a body that is not a form has no form fields (they are missing: 422)
    if media_type not in FORM_TYPES:
        raise HTTPException(
            415, f"The request body must be a form (multipart/form-data, or URL-encoded), not {echo(media_type)!r}."
        )
    return await read_form(request.receive, headers, media_type, binding.body_limits)


async def _file_bytes(value: Any, name: str, binding: RequestBinding) -> Any:
    """An uploaded file's content for a ``bytes`` parameter: held in memory, so bounded like a JSON body: every
    file the request's parameters take as ``bytes`` together, ``max_body_size`` bytes at most."""
    if not isinstance(value, UploadFile):
        return value
    limit = binding.body_limits.max_body_size
    size = value.size or 0
    if binding.file_bytes + size > limit:
        raise HTTPException(
            413,
            f"The files taken as bytes (with {echo(name)!r}) are larger than {limit} bytes, the most bytes "
            "parameters hold in memory together; take them as UploadFile (spooled to disk) to accept larger files; "
            f"{body_limit('max_body_size')}.",
        )
    binding.file_bytes += size
    return await value.read()


def _model_data(location: Any, model: ModelParams) -> dict[str, Any]:
    """What a parameter model validates: its fields' values by the names it knows them under, and, when it
    forbids extras, every other parameter of the location too (so it refuses them)."""
    data: dict[str, Any] = {}
    for name in location:
        key = model.wire.get(name)
        if key is None:
            if model.forbid:
                data[name] = location[name]
            continue
        data[key] = (
            location.getlist(name) if name in model.sequences and hasattr(location, "getlist") else location[name]
        )
    return data


async def _call_dependency(dependant: Dependant, values: dict[str, Any], stack: contextlib.AsyncExitStack) -> Any:
    function = dependant.call
    kind = dependant.kind
    if kind is CallKind.ASYNC:
        return await function(**values)
    if kind is CallKind.SYNC:
        return await anyio.to_thread.run_sync(lambda: function(**values))
    if kind is CallKind.ASYNC_GEN:
        manager = contextlib.asynccontextmanager(function)(**values)
        return await stack.enter_async_context(manager)
    sync_manager = contextlib.contextmanager(function)(**values)
    value = await anyio.to_thread.run_sync(sync_manager.__enter__)

    async def exit_in_thread(*exc_info: Any) -> bool | None:
        return await anyio.to_thread.run_sync(sync_manager.__exit__, *exc_info)

    stack.push_async_exit(exit_in_thread)
    return value
