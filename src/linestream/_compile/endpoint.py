"""Analyse a path operation once, when the route is declared: its ``Dependant``, whether it streams, the type of
its items or of its response, and its request body. A mis-declared path operation raises
``EndpointDefinitionError`` naming the function and the fix, so that nothing of this is left to the first request.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import functools
import inspect
import operator
import types
import typing
from collections.abc import Callable
from typing import Any, get_args, get_origin

from pydantic import TypeAdapter
from starlette.responses import Response

from linestream._compile.annotations import (
    ASYNC_STREAM_ORIGINS,
    SYNC_STREAM_ORIGINS,
    CallKind,
    describe,
    item_adapter,
    split_annotated,
    type_hints,
)
from linestream._compile.dependant import BodyStream, Dependant, ParamField, build_dependant
from linestream._declare.options import DEFAULT
from linestream._serialization import SerializedItem
from linestream.exceptions import EndpointDefinitionError
from linestream.params import ParamSource
from linestream.streams.sse import ServerSentEvent

__all__ = ["EndpointSpec", "analyse_endpoint", "unwrap_item_type"]


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


def _stream_item_type(owner: str, kind: CallKind, annotation: Any) -> Any:
    """The item type declared by a generator's return annotation, or ``Any`` when there is none."""
    if annotation is inspect.Parameter.empty:
        return Any
    base, _ = split_annotated(annotation)
    origin = get_origin(base) or base
    allowed = ASYNC_STREAM_ORIGINS if kind is CallKind.ASYNC_GEN else SYNC_STREAM_ORIGINS
    wanted = "AsyncIterable[Item]" if kind is CallKind.ASYNC_GEN else "Iterable[Item]"
    if origin not in allowed:
        other = SYNC_STREAM_ORIGINS if kind is CallKind.ASYNC_GEN else ASYNC_STREAM_ORIGINS
        hint = (
            f" It is {'an' if kind.value[0] in 'aeiou' else 'a'} {kind.value} function, so its items are declared "
            f"as {wanted}."
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
    return unwrap_item_type(args[0] if args else Any)


_WRAPPERS = (SerializedItem, ServerSentEvent)


def unwrap_item_type(item_type: Any) -> Any:
    """The type of the items a stream declared with ``item_type`` carries: ``SerializedItem[Order]`` (orders,
    pre-serialized) and ``ServerSentEvent[Order]`` (orders in events) carry ``Order``; a bare wrapper carries
    untyped items (``Any``); in a union, each member is unwrapped (``ServerSentEvent[Token] | Usage``)."""
    if item_type in _WRAPPERS:
        return Any
    origin = get_origin(item_type)
    if origin in _WRAPPERS:
        return get_args(item_type)[0]
    if origin is typing.Union or origin is types.UnionType:
        members = [unwrap_item_type(member) for member in get_args(item_type)]
        if Any in members:
            return Any
        return functools.reduce(operator.or_, dict.fromkeys(members))
    return item_type


def _is_response_type(annotation: Any) -> bool:
    base, _ = split_annotated(annotation)
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
    hints = type_hints(call, owner)
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
        if not response_is_raw:
            item_type = unwrap_item_type(item_type)
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
                base, _ = split_annotated(candidate)
                origin = get_origin(base) or base
                if origin in ASYNC_STREAM_ORIGINS or origin in SYNC_STREAM_ORIGINS:
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
    form_fields = [field for d in dependant.walk() for field in d.params.get(ParamSource.FORM, [])]
    if form_fields and (unique_body or dependant.body_stream is not None):
        raise EndpointDefinitionError(
            f"{owner}: the request body cannot be a form (for {', '.join(f.name for f in form_fields)}) and JSON "
            "(a body parameter, or a streamed body) at once; send the other values as query parameters."
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
