"""Analyse a path operation's or dependency's signature into a ``Dependant``, once, when the route is declared.

Everything that can be decided from the signature is decided here: where each parameter comes from, the Pydantic
models that validate each request location, the dependency tree, a streamed request body. A mis-declared
function raises ``EndpointDefinitionError`` naming the function and the fix.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import inspect
import typing
from collections.abc import Callable, Mapping
from typing import Annotated, Any, get_args, get_origin

import pydantic
from pydantic import BaseModel, TypeAdapter
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from starlette.background import BackgroundTasks
from starlette.datastructures import UploadFile as StarletteUploadFile
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from linestream._bind.validation import located_errors
from linestream._compile.annotations import (
    CallKind,
    call_kind,
    describe,
    is_scalar,
    is_sequence,
    item_adapter,
    split_annotated,
    strip_optional,
    type_hints,
)
from linestream._decoding import ItemValidator
from linestream._kinds import discriminated
from linestream.exceptions import EndpointDefinitionError
from linestream.params import DependsInfo, ParamInfo, ParamSource, SecurityScopes

__all__ = [
    "BodyStream",
    "Dependant",
    "LocationModel",
    "ModelParams",
    "ParamField",
    "SubDependency",
    "build_dependant",
    "route_dependencies",
]


_SPECIAL_PARAMS: dict[type[Any], str] = {
    Request: "request",
    WebSocket: "websocket",
    Response: "response",
    HTTPConnection: "connection",
    BackgroundTasks: "background",
    SecurityScopes: "security_scopes",
}


@dataclasses.dataclass(frozen=True, slots=True)
class ModelParams:
    """A parameter model (``filters: Annotated[FilterParams, Query()]``): each of its fields is one parameter."""

    #: The name on the wire of each field -> the key the model validates it under.
    wire: dict[str, str]
    #: Wire names of the fields that take every value of a repeated parameter (lists).
    sequences: frozenset[str]
    #: The model forbids extra fields: every parameter of its location is validated, so unknown ones are refused.
    forbid: bool

    @classmethod
    def of(cls, model: type[BaseModel], source: ParamSource, convert_underscores: bool) -> ModelParams:
        wire: dict[str, str] = {}
        sequences = set()
        for name, field in model.model_fields.items():
            key = field.validation_alias if isinstance(field.validation_alias, str) else field.alias or name
            on_wire = key
            if source is ParamSource.HEADER:
                on_wire = (key.replace("_", "-") if convert_underscores else key).lower()
            wire[on_wire] = key
            if is_sequence(field.annotation):
                sequences.add(on_wire)
        return cls(wire, frozenset(sequences), model.model_config.get("extra") == "forbid")


@dataclasses.dataclass(frozen=True, slots=True)
class ParamField:
    """One request-bound parameter of a function."""

    name: str
    alias: str
    source: ParamSource
    annotation: Any
    field_info: FieldInfo
    is_sequence: bool
    include_in_schema: bool
    embed: bool = False
    #: Named examples for the OpenAPI document (``Query(openapi_examples={...})``), as FastAPI takes them.
    openapi_examples: dict[str, Any] | None = None
    #: A parameter model: the parameter is the model, its fields the parameters on the wire.
    model: ModelParams | None = None
    #: A form file taken as ``bytes`` (or a list of them): its content is read before validation.
    reads_file: bool = False

    @property
    def required(self) -> bool:
        return self.field_info.is_required()


class LocationModel:
    """Validates all parameters of one request location (query, header...) of one function in one call.

    Fields get synthetic names (``p0``, ``p1``...) and the wire name as alias, so that user parameter names can
    never clash with ``BaseModel`` attributes, and Pydantic's error locations name the wire name.
    """

    __slots__ = ("fields", "model", "names")

    def __init__(self, owner: str, source: ParamSource, fields: list[ParamField]) -> None:
        self.fields = fields
        self.names = [(f"p{index}", field.name) for index, field in enumerate(fields)]
        definitions: dict[str, Any] = {
            f"p{index}": (field.annotation, field.field_info) for index, field in enumerate(fields)
        }
        try:
            self.model: type[BaseModel] = pydantic.create_model(
                f"{source.value.capitalize()}Params",
                __config__=pydantic.ConfigDict(extra="ignore", arbitrary_types_allowed=False),
                **definitions,
            )
        except (pydantic.PydanticSchemaGenerationError, TypeError, ValueError) as exc:
            names = ", ".join(field.name for field in fields)
            raise EndpointDefinitionError(
                f"{owner}: cannot validate {source.value} parameter(s) {names}: {exc}. "
                "Use types Pydantic can validate (str, int, float, bool, enums, UUID, datetime, lists of them...)."
            ) from exc

    def validate(
        self, data: Mapping[str, Any], prefix: str, limit: int, *, fastapi: bool = False
    ) -> tuple[dict[str, Any], list[dict[str, Any]], int]:
        """The values by parameter name; or, when invalid, at most ``limit`` errors and how many were left out
        (``fastapi``: reported as FastAPI does)."""
        try:
            # (FastAPI validates from attributes: its errors for a body that is not an object say so.)
            instance = self.model.__pydantic_validator__.validate_python(data, from_attributes=fastapi or None)
        except pydantic.ValidationError as exc:
            errors, omitted = located_errors(exc, (prefix,), limit, fastapi=fastapi)
            return {}, errors, omitted
        values = instance.__dict__
        return {name: values[key] for key, name in self.names}, [], 0


@dataclasses.dataclass(slots=True)
class BodyStream:
    """A parameter bound to the request body decoded item by item (``items: AsyncIterable[Item]``)."""

    name: str
    item_type: Any
    adapter: TypeAdapter[Any] | None
    is_async: bool
    #: Validates each item (or each message of a typed WebSocket).
    validator: ItemValidator = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        self.validator = ItemValidator(None if self.adapter is None else self.item_type, adapter=self.adapter)


@dataclasses.dataclass(slots=True)
class SubDependency:
    param_name: str
    dependant: Dependant
    use_cache: bool
    #: When a ``yield`` dependency exits: ``"request"`` (after the response) or ``"function"`` (after the call).
    scope: str = "request"
    #: The OAuth2 scopes its ``Security(...)`` marker requires.
    scopes: tuple[str, ...] = ()


@dataclasses.dataclass(slots=True, eq=False)
class Dependant:
    """A function whose parameters linestream fills from the request: a path operation or a dependency."""

    call: Callable[..., Any]
    name: str
    kind: CallKind
    params: dict[ParamSource, list[ParamField]]
    models: dict[ParamSource, LocationModel]
    body_fields: list[ParamField]
    dependencies: list[SubDependency]
    request_param: str | None = None
    response_param: str | None = None
    connection_param: str | None = None
    websocket_param: str | None = None
    background_param: str | None = None
    security_scopes_param: str | None = None
    body_stream: BodyStream | None = None

    def walk(self) -> typing.Iterator[Dependant]:
        """This dependant and all its sub-dependencies, depth first."""
        yield self
        for sub in self.dependencies:
            yield from sub.dependant.walk()


def build_dependant(
    call: Callable[..., Any],
    *,
    path_param_names: frozenset[str],
    owner: str | None = None,
    callers: tuple[Callable[..., Any], ...] = (),
) -> Dependant:
    """Analyse ``call``'s signature into a ``Dependant``; raise ``EndpointDefinitionError`` when mis-declared."""
    name = owner or describe(call)
    if call in callers:
        chain = " -> ".join(describe(c) for c in (*callers, call))
        raise EndpointDefinitionError(f"Circular dependency: {chain}. Break the cycle.")
    try:
        signature = inspect.signature(call)
    except (TypeError, ValueError) as exc:
        raise EndpointDefinitionError(f"{name}: cannot read its signature ({exc}); pass a plain function.") from exc
    hints = type_hints(call, name)
    params: dict[ParamSource, list[ParamField]] = {source: [] for source in ParamSource}
    dependencies: list[SubDependency] = []
    dependant = Dependant(
        call=call,
        name=name,
        kind=call_kind(call),
        params=params,
        models={},
        body_fields=[],
        dependencies=dependencies,
    )
    for parameter in signature.parameters.values():
        if parameter.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            continue
        annotation = hints.get(parameter.name, Any)
        base, metadata = split_annotated(annotation)
        markers = [m for m in metadata if isinstance(m, (ParamInfo, DependsInfo))]
        if isinstance(parameter.default, (ParamInfo, DependsInfo)):
            markers.append(parameter.default)
        if len(markers) > 1:
            raise EndpointDefinitionError(
                f"{name}: parameter {parameter.name!r} has more than one marker ({markers}); keep only one."
            )
        marker = markers[0] if markers else None
        if isinstance(marker, DependsInfo):
            target = marker.dependency if marker.dependency is not None else base
            if target is Any or not callable(target):
                raise EndpointDefinitionError(
                    f"{name}: parameter {parameter.name!r} uses Depends() without a dependency and its type "
                    "annotation is not callable. Write Depends(some_function)."
                )
            sub = build_dependant(
                target,
                path_param_names=path_param_names,
                callers=(*callers, call),
            )
            scope = marker.scope or "request"
            if scope == "request" and _exits(sub):
                early = next((d for d in sub.dependencies if d.scope == "function" and _exits(d.dependant)), None)
                if early is not None:
                    raise EndpointDefinitionError(
                        f"{name}: the dependency {sub.name} (scope 'request') depends on {early.dependant.name} "
                        "(scope 'function'), which would exit before it; give both the same scope."
                    )
            dependencies.append(SubDependency(parameter.name, sub, marker.use_cache, scope, marker.scopes))
            continue
        if marker is None and inspect.isclass(base):
            special = next((attr for cls, attr in _SPECIAL_PARAMS.items() if issubclass(base, cls)), None)
            if special is not None:
                setattr(dependant, f"{special}_param", parameter.name)
                continue
        if marker is None or (isinstance(marker, ParamInfo) and marker.source is ParamSource.BODY):
            stream = _body_stream(name, dependant.kind, parameter.name, base)
            if stream is not None:
                if dependant.body_stream is not None:
                    raise EndpointDefinitionError(
                        f"{name}: parameters {dependant.body_stream.name!r} and {parameter.name!r} both stream the "
                        "request body; a request has one body."
                    )
                dependant.body_stream = stream
                continue
        field = _param_field(name, parameter, base, metadata, marker, path_param_names)
        if field.source is ParamSource.BODY:
            dependant.body_fields.append(field)
        else:
            params[field.source].append(field)
    for source, fields in params.items():
        if fields:
            dependant.models[source] = LocationModel(name, source, fields)
    if dependant.body_fields:
        dependant.models[ParamSource.BODY] = LocationModel(name, ParamSource.BODY, dependant.body_fields)
    return dependant


def _body_stream(owner: str, kind: CallKind, name: str, annotation: Any) -> BodyStream | None:
    """The streamed-body parameter declared by ``AsyncIterable[Item]`` (or ``Iterable[Item]`` in a ``def``)."""
    origin = get_origin(annotation) or annotation
    args = get_args(annotation)
    if origin in (collections.abc.AsyncIterable, collections.abc.AsyncIterator):
        is_async = True
    elif origin in (collections.abc.Iterable, collections.abc.Iterator):
        if kind in (CallKind.ASYNC, CallKind.ASYNC_GEN):
            raise EndpointDefinitionError(
                f"{owner}: parameter {name!r} is declared Iterable[...] in an async function; a streamed request "
                "body is read without blocking the event loop, so declare it AsyncIterable[...] (or make the "
                "function a plain def)."
            )
        is_async = False
    else:
        return None
    item_type = args[0] if args else Any
    return BodyStream(name, item_type, item_adapter(owner, discriminated(item_type), "request item"), is_async)


def _param_field(
    owner: str,
    parameter: inspect.Parameter,
    base: Any,
    metadata: list[Any],
    marker: ParamInfo | None,
    path_param_names: frozenset[str],
) -> ParamField:
    if base is inspect.Parameter.empty:
        base = Any
    default = parameter.default
    if default is inspect.Parameter.empty or isinstance(default, ParamInfo):
        default = PydanticUndefined
    if marker is not None:
        source = marker.source
        if marker.default is not PydanticUndefined:
            if default is not PydanticUndefined:
                raise EndpointDefinitionError(
                    f"{owner}: parameter {parameter.name!r} has a default both in the signature and in "
                    f"{marker!r}; give it in one place."
                )
            default = marker.default
        options = dict(marker.field_options)
        alias = marker.alias
    else:
        if parameter.name in path_param_names:
            source = ParamSource.PATH
        elif _uploads(base):
            source = ParamSource.FORM
        elif is_scalar(base):
            source = ParamSource.QUERY
        else:
            source = ParamSource.BODY
        options = {}
        alias = None
    if source is ParamSource.PATH:
        if parameter.name not in path_param_names and (alias or parameter.name) not in path_param_names:
            raise EndpointDefinitionError(
                f"{owner}: parameter {parameter.name!r} is declared as a path parameter but the route's path "
                f"has no {{{parameter.name}}}. Add it to the path or use Query()."
            )
        if default is not PydanticUndefined:
            raise EndpointDefinitionError(
                f"{owner}: path parameter {parameter.name!r} cannot have a default; path parameters are always present."
            )
    if alias is None:
        alias = parameter.name
        if source is ParamSource.HEADER and (marker is None or marker.convert_underscores):
            alias = parameter.name.replace("_", "-")
    if source is not ParamSource.BODY:
        # The documented title is the name on the wire: `X-Token`, not `X Token`.
        options.setdefault("title", alias.replace("_", " ").title())
    if source is ParamSource.HEADER:
        alias = alias.lower()
    extra_metadata = [m for m in metadata if not isinstance(m, (ParamInfo, DependsInfo))]
    annotation: Any = base
    if extra_metadata:
        annotation = Annotated.__class_getitem__((base, *extra_metadata))  # type: ignore[attr-defined]
    field_info: FieldInfo = pydantic.Field(default=default, alias=alias, **options)
    sequence = source in (ParamSource.QUERY, ParamSource.HEADER, ParamSource.FORM) and is_sequence(base)
    model = None
    if source in (ParamSource.QUERY, ParamSource.HEADER, ParamSource.COOKIE, ParamSource.FORM) and _is_model(base):
        model = ModelParams.of(base, source, marker.convert_underscores if marker is not None else True)
    elif source not in (ParamSource.BODY, ParamSource.FORM) and not is_scalar(base) and not sequence:
        raise EndpointDefinitionError(
            f"{owner}: {source.value} parameter {parameter.name!r} has the structured type {base!r}; "
            f"{source.value} values are strings. Use a scalar type, a list of scalars, a Pydantic model of "
            "them (a parameter model), or Body()."
        )
    include = marker.include_in_schema if marker is not None else True
    return ParamField(
        name=parameter.name,
        alias=alias,
        source=source,
        annotation=annotation,
        field_info=field_info,
        is_sequence=sequence,
        include_in_schema=include,
        embed=marker.embed if marker is not None else False,
        openapi_examples=marker.openapi_examples if marker is not None else None,
        model=model,
        reads_file=source is ParamSource.FORM and _element(base) is bytes,
    )


def route_dependencies(
    owner: str, markers: typing.Sequence[Any], path_param_names: frozenset[str]
) -> list[SubDependency]:
    """The dependencies a route declares with ``dependencies=[Depends(...)]``: run first, values unused."""
    found = []
    for marker in markers:
        if not isinstance(marker, DependsInfo) or marker.dependency is None:
            raise EndpointDefinitionError(
                f"{owner}: dependencies=[...] takes Depends(function) markers, got {marker!r}."
            )
        dependant = build_dependant(marker.dependency, path_param_names=path_param_names)
        found.append(SubDependency("", dependant, marker.use_cache, marker.scope or "request", marker.scopes))
    return found


def _exits(dependant: Dependant) -> bool:
    return dependant.kind in (CallKind.ASYNC_GEN, CallKind.SYNC_GEN)


def _is_model(annotation: Any) -> bool:
    return inspect.isclass(annotation) and issubclass(annotation, BaseModel)


def _element(annotation: Any) -> Any:
    """``X`` of ``X``, ``X | None``, ``list[X]`` (and their ``Annotated`` forms)."""
    base = strip_optional(split_annotated(annotation)[0])
    if is_sequence(base) and get_args(base):
        base = strip_optional(split_annotated(get_args(base)[0])[0])
    return base


def _uploads(annotation: Any) -> bool:
    element = _element(annotation)
    return inspect.isclass(element) and issubclass(element, StarletteUploadFile)
