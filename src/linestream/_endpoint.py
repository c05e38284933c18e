"""Analyse a path operation (or dependency) once, when the route is declared.

Everything that can be decided from the function's signature is decided here: where each parameter comes
from, the Pydantic models that validate each request location, the dependency tree, whether the function is a
stream and which type its items have. A mis-declared function raises ``EndpointDefinitionError`` naming the
function and the fix, so that nothing of this is left to the first request.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import enum
import inspect
import typing
from collections.abc import Callable, Mapping
from typing import Annotated, Any, get_args, get_origin

import pydantic
from pydantic import BaseModel, TypeAdapter
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from linestream._serialization import Message
from linestream.exceptions import EndpointDefinitionError
from linestream.params import DependsInfo, ParamInfo, ParamSource
from linestream.streams.sse import ServerSentEvent

__all__ = ["CallKind", "Dependant", "EndpointSpec", "LocationModel", "ParamField", "analyse_endpoint"]


class CallKind(enum.Enum):
    ASYNC = "async"
    SYNC = "sync"
    ASYNC_GEN = "async generator"
    SYNC_GEN = "generator"


_ASYNC_STREAM_ORIGINS = (
    collections.abc.AsyncIterable,
    collections.abc.AsyncIterator,
    collections.abc.AsyncGenerator,
)
_SYNC_STREAM_ORIGINS = (collections.abc.Iterable, collections.abc.Iterator, collections.abc.Generator)
_SEQUENCE_ORIGINS = (list, set, frozenset, tuple, collections.abc.Sequence, collections.abc.Set)


def describe(call: Callable[..., Any]) -> str:
    """``module.qualname`` of a function, for error messages and logs."""
    module = getattr(call, "__module__", None)
    name = getattr(call, "__qualname__", None) or repr(call)
    return f"{module}.{name}" if module else name


def call_kind(call: Callable[..., Any]) -> CallKind:
    target = call
    if inspect.isclass(call):
        return CallKind.SYNC
    if not inspect.isfunction(call) and not inspect.ismethod(call) and callable(call):
        # An instance with __call__: classify by its __call__ method.
        dunder = getattr(call, "__call__", None)  # noqa: B004 - we need the bound method itself
        if dunder is not None:
            target = dunder
    if inspect.isasyncgenfunction(target):
        return CallKind.ASYNC_GEN
    if inspect.isgeneratorfunction(target):
        return CallKind.SYNC_GEN
    if inspect.iscoroutinefunction(target):
        return CallKind.ASYNC
    return CallKind.SYNC


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

    def validate(self, data: Mapping[str, Any], prefix: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        try:
            instance = self.model.__pydantic_validator__.validate_python(data)
        except pydantic.ValidationError as exc:
            return {}, [_located(error, (prefix,)) for error in exc.errors(include_url=False)]
        values = instance.__dict__
        return {name: values[key] for key, name in self.names}, []


def _located(error: Mapping[str, Any], prefix: tuple[str, ...]) -> dict[str, Any]:
    located = {"loc": [*prefix, *error["loc"]], "msg": error["msg"], "type": error["type"]}
    if "input" in error and not isinstance(error["input"], (dict, BaseModel)):
        located["input"] = error["input"]
    if error.get("ctx"):
        located["ctx"] = {key: _jsonable_ctx(value) for key, value in error["ctx"].items()}
    return located


def _jsonable_ctx(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, bool, type(None))) else str(value)


@dataclasses.dataclass(slots=True)
class BodyStream:
    """A parameter bound to the request body decoded item by item (``items: AsyncIterable[Item]``)."""

    name: str
    item_type: Any
    adapter: TypeAdapter[Any] | None
    is_async: bool


@dataclasses.dataclass(slots=True)
class SubDependency:
    param_name: str
    dependant: Dependant
    use_cache: bool


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
    body_stream: BodyStream | None = None

    def walk(self) -> typing.Iterator[Dependant]:
        """This dependant and all its sub-dependencies, depth first."""
        yield self
        for sub in self.dependencies:
            yield from sub.dependant.walk()


@dataclasses.dataclass(slots=True)
class EndpointSpec:
    """What a path operation is: its dependant, whether it streams, and how its output is typed."""

    dependant: Dependant
    is_stream: bool
    item_adapter: TypeAdapter[Any] | None
    item_type: Any
    response_adapter: TypeAdapter[Any] | None
    response_type: Any
    body_embedded: bool
    body_fields: list[ParamField]
    body_stream: BodyStream | None = None

    @property
    def name(self) -> str:
        return self.dependant.name


class _Default:
    """Sentinel: ``response_model`` was not given, so the return annotation decides."""

    def __repr__(self) -> str:
        return "DEFAULT"


DEFAULT: Any = _Default()


def _type_hints(call: Callable[..., Any], owner: str) -> dict[str, Any]:
    target = call
    if inspect.isclass(call):
        target = call.__init__
    elif not inspect.isfunction(call) and not inspect.ismethod(call):
        target = getattr(call, "__call__", call)  # noqa: B004
    try:
        return typing.get_type_hints(target, include_extras=True)
    except NameError as exc:
        raise EndpointDefinitionError(
            f"{owner}: cannot resolve the annotation {exc.name!r}. Define or import it before the function is "
            "declared (annotations are resolved when the route is registered)."
        ) from exc


def _split_annotated(annotation: Any) -> tuple[Any, list[Any]]:
    if get_origin(annotation) is Annotated:
        base, *metadata = get_args(annotation)
        return base, metadata
    return annotation, []


def _strip_optional(annotation: Any) -> Any:
    args = get_args(annotation)
    if args and type(None) in args:
        rest = [arg for arg in args if arg is not type(None)]
        if len(rest) == 1:
            return rest[0]
    return annotation


def _is_sequence(annotation: Any) -> bool:
    base = _strip_optional(_split_annotated(annotation)[0])
    origin = get_origin(base) or base
    return inspect.isclass(origin) and issubclass(origin, _SEQUENCE_ORIGINS) and origin not in (str, bytes)


def _is_scalar(annotation: Any) -> bool:
    base = _strip_optional(_split_annotated(annotation)[0])
    if base is Any or base is inspect.Parameter.empty:
        return True
    origin = get_origin(base)
    if origin is typing.Literal:
        return True
    if origin is typing.Union or (origin is not None and str(origin) == "<class 'types.UnionType'>"):
        return all(_is_scalar(arg) for arg in get_args(base) if arg is not type(None))
    if origin is not None:
        return False
    if not inspect.isclass(base):
        return True
    if issubclass(base, (BaseModel, Mapping)) or dataclasses.is_dataclass(base):
        return False
    if typing.is_typeddict(base):
        return False
    return not issubclass(base, _SEQUENCE_ORIGINS) or issubclass(base, (str, bytes))


_SPECIAL_PARAMS: dict[type[Any], str] = {Request: "request", Response: "response", HTTPConnection: "connection"}


def build_dependant(
    call: Callable[..., Any],
    *,
    path_param_names: frozenset[str],
    owner: str | None = None,
    dependency_overrides_chain: tuple[Callable[..., Any], ...] = (),
) -> Dependant:
    """Analyse ``call``'s signature into a ``Dependant``; raise ``EndpointDefinitionError`` when mis-declared."""
    name = owner or describe(call)
    if call in dependency_overrides_chain:
        chain = " -> ".join(describe(c) for c in (*dependency_overrides_chain, call))
        raise EndpointDefinitionError(f"Circular dependency: {chain}. Break the cycle.")
    try:
        signature = inspect.signature(call)
    except (TypeError, ValueError) as exc:
        raise EndpointDefinitionError(f"{name}: cannot read its signature ({exc}); pass a plain function.") from exc
    hints = _type_hints(call, name)
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
        base, metadata = _split_annotated(annotation)
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
                dependency_overrides_chain=(*dependency_overrides_chain, call),
            )
            dependencies.append(SubDependency(parameter.name, sub, marker.use_cache))
            continue
        if marker is None and inspect.isclass(base):
            special = next((attr for cls, attr in _SPECIAL_PARAMS.items() if issubclass(base, cls)), None)
            if special is not None and not issubclass(base, WebSocket):
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
    return BodyStream(name, item_type, item_adapter(owner, item_type, "request item"), is_async)


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
        elif _is_scalar(base):
            source = ParamSource.QUERY
        else:
            source = ParamSource.BODY
        options = {}
        alias = None
    options.setdefault("title", parameter.name.replace("_", " ").title())
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
    if source is ParamSource.HEADER:
        alias = alias.lower()
    extra_metadata = [m for m in metadata if not isinstance(m, (ParamInfo, DependsInfo))]
    annotation: Any = base
    if extra_metadata:
        annotation = Annotated.__class_getitem__((base, *extra_metadata))  # type: ignore[attr-defined]
    field_info: FieldInfo = pydantic.Field(default=default, alias=alias, **options)
    is_sequence = source in (ParamSource.QUERY, ParamSource.HEADER) and _is_sequence(base)
    if source is not ParamSource.BODY and not _is_scalar(base) and not is_sequence:
        raise EndpointDefinitionError(
            f"{owner}: {source.value} parameter {parameter.name!r} has the structured type {base!r}; "
            f"{source.value} values are strings. Use a scalar type, a list of scalars, or Body()."
        )
    include = marker.include_in_schema if marker is not None else True
    return ParamField(
        name=parameter.name,
        alias=alias,
        source=source,
        annotation=annotation,
        field_info=field_info,
        is_sequence=is_sequence,
        include_in_schema=include,
        embed=marker.embed if marker is not None else False,
    )


def _stream_item_type(owner: str, kind: CallKind, annotation: Any) -> Any:
    """The item type declared by a generator's return annotation, or ``Any`` when there is none."""
    if annotation is inspect.Parameter.empty:
        return Any
    base, _ = _split_annotated(annotation)
    origin = get_origin(base) or base
    allowed = _ASYNC_STREAM_ORIGINS if kind is CallKind.ASYNC_GEN else _SYNC_STREAM_ORIGINS
    wanted = "AsyncIterable[Item]" if kind is CallKind.ASYNC_GEN else "Iterable[Item]"
    if origin not in allowed:
        other = _SYNC_STREAM_ORIGINS if kind is CallKind.ASYNC_GEN else _ASYNC_STREAM_ORIGINS
        hint = (
            f" It is an {kind.value} function, so its items are declared as {wanted}."
            if origin in other
            else f" A generator path operation streams its items; declare -> {wanted}, "
            "or set response_model=Item on the route, or remove the annotation for untyped items."
        )
        raise EndpointDefinitionError(f"{owner}: the return annotation {annotation!r} is not a stream type.{hint}")
    args = get_args(base)
    generator_origins = (collections.abc.AsyncGenerator, collections.abc.Generator)
    if origin in generator_origins and len(args) > 1 and args[1] not in (type(None), None):
        raise EndpointDefinitionError(
            f"{owner}: {annotation!r} declares a send type; linestream never sends values into a "
            f"streaming path operation. Use {wanted}."
        )
    item_type = args[0] if args else Any
    # A stream of topic messages (AsyncIterable[Message[Order]]) streams Orders, pre-serialized.
    if item_type is Message:
        return Any
    if get_origin(item_type) is Message:
        return get_args(item_type)[0]
    return item_type


def item_adapter(owner: str, item_type: Any, what: str) -> TypeAdapter[Any] | None:
    """A TypeAdapter validating and serialising ``item_type``; ``None`` for ``Any`` (untyped)."""
    if item_type is Any or item_type is None:
        return None
    try:
        return TypeAdapter(item_type)
    except (pydantic.PydanticSchemaGenerationError, pydantic.PydanticUserError, TypeError) as exc:
        raise EndpointDefinitionError(
            f"{owner}: Pydantic cannot validate the {what} type {item_type!r} ({exc.__class__.__name__}: "
            f"{str(exc).splitlines()[0]}). Use a Pydantic model, dataclass, TypedDict or standard type, "
            "or remove the annotation to send untyped JSON."
        ) from exc


def _is_response_type(annotation: Any) -> bool:
    base, _ = _split_annotated(annotation)
    if inspect.isclass(base) and issubclass(base, Response):
        return True
    args = get_args(base)
    return bool(args) and all(
        inspect.isclass(arg) and issubclass(arg, Response) for arg in args if arg is not type(None)
    )


def analyse_endpoint(
    call: Callable[..., Any],
    *,
    path_param_names: frozenset[str],
    response_model: Any = DEFAULT,
    response_is_raw: bool = False,
) -> EndpointSpec:
    """Analyse a path operation function; raise ``EndpointDefinitionError`` if it is mis-declared."""
    owner = describe(call)
    dependant = build_dependant(call, path_param_names=path_param_names, owner=owner)
    hints = _type_hints(call, owner)
    return_annotation = hints.get("return", inspect.Parameter.empty)
    is_stream = dependant.kind in (CallKind.ASYNC_GEN, CallKind.SYNC_GEN)
    item_type: Any = None
    item_ad: TypeAdapter[Any] | None = None
    response_type: Any = None
    response_ad: TypeAdapter[Any] | None = None
    if is_stream:
        if response_model is DEFAULT:
            item_type = _stream_item_type(owner, dependant.kind, return_annotation)
        else:
            if return_annotation is not inspect.Parameter.empty:
                _stream_item_type(owner, dependant.kind, return_annotation)
            item_type = Any if response_model is None else response_model
        # Yielded events carry untyped data when the declared item type is the event itself.
        if not response_is_raw and item_type is not ServerSentEvent:
            item_ad = item_adapter(owner, item_type, "item")
    else:
        if response_model is DEFAULT:
            candidate = return_annotation
            if (
                candidate is inspect.Parameter.empty
                or candidate is None
                or candidate is type(None)
                or _is_response_type(candidate)
            ):
                candidate = None
            else:
                base, _ = _split_annotated(candidate)
                origin = get_origin(base) or base
                if origin in _ASYNC_STREAM_ORIGINS or origin in _SYNC_STREAM_ORIGINS:
                    raise EndpointDefinitionError(
                        f"{owner}: it returns {candidate!r} but is not a generator, so nothing would stream. "
                        "Make it a generator: `async for item in source: yield item` (or `yield from` for a "
                        "plain def)."
                    )
        else:
            candidate = response_model
        response_type = candidate
        if candidate is not None and not response_is_raw:
            response_ad = item_adapter(owner, candidate, "response")
    body_fields = [field for d in dependant.walk() for field in d.body_fields]
    seen: dict[str, ParamField] = {}
    for field in body_fields:
        if field.alias in seen and seen[field.alias] is not field:
            raise EndpointDefinitionError(
                f"{owner}: two body parameters are both named {field.alias!r}; give one an alias via Body(alias=...)."
            )
        seen[field.alias] = field
    unique_body = list(seen.values())
    embedded = len(unique_body) > 1 or any(field.embed for field in unique_body)
    for sub_dependant in list(dependant.walk())[1:]:
        if sub_dependant.body_stream is not None:
            raise EndpointDefinitionError(
                f"{owner}: the dependency {sub_dependant.name} streams the request body; only the path operation "
                "itself may take an AsyncIterable[...] body parameter."
            )
    if dependant.body_stream is not None and unique_body:
        raise EndpointDefinitionError(
            f"{owner}: the request body is streamed into {dependant.body_stream.name!r}, so it cannot also hold "
            f"the body parameter(s) {', '.join(f.name for f in unique_body)}; pass them as query parameters."
        )
    return EndpointSpec(
        dependant=dependant,
        is_stream=is_stream,
        item_adapter=item_ad,
        item_type=item_type,
        response_adapter=response_ad,
        response_type=response_type,
        body_embedded=embedded,
        body_fields=unique_body,
        body_stream=dependant.body_stream,
    )
