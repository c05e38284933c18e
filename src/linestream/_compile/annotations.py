"""What linestream reads from Python annotations and callables: call kinds, type hints, and the shape of a type
(scalar, sequence, ``Annotated``, optional). Shared by the analysis of dependants and of endpoints.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import enum
import inspect
import types
import typing
from collections.abc import Callable, Mapping
from typing import Annotated, Any, get_args, get_origin

import pydantic
from pydantic import BaseModel, TypeAdapter

from linestream._declare.route import describe
from linestream.exceptions import EndpointDefinitionError

__all__ = [
    "ASYNC_STREAM_ORIGINS",
    "SYNC_STREAM_ORIGINS",
    "CallKind",
    "call_kind",
    "describe",
    "item_adapter",
    "is_scalar",
    "is_sequence",
    "split_annotated",
    "strip_optional",
    "type_hints",
]


class CallKind(enum.Enum):
    ASYNC = "async"
    SYNC = "sync"
    ASYNC_GEN = "async generator"
    SYNC_GEN = "generator"


ASYNC_STREAM_ORIGINS = (
    collections.abc.AsyncIterable,
    collections.abc.AsyncIterator,
    collections.abc.AsyncGenerator,
)
SYNC_STREAM_ORIGINS = (collections.abc.Iterable, collections.abc.Iterator, collections.abc.Generator)
_SEQUENCE_ORIGINS = (list, set, frozenset, tuple, collections.abc.Sequence, collections.abc.Set)


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


def type_hints(call: Callable[..., Any], owner: str) -> dict[str, Any]:
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


def split_annotated(annotation: Any) -> tuple[Any, list[Any]]:
    if get_origin(annotation) is Annotated:
        base, *metadata = get_args(annotation)
        return base, metadata
    return annotation, []


def strip_optional(annotation: Any) -> Any:
    args = get_args(annotation)
    if args and type(None) in args:
        rest = [arg for arg in args if arg is not type(None)]
        if len(rest) == 1:
            return rest[0]
    return annotation


def is_sequence(annotation: Any) -> bool:
    base = strip_optional(split_annotated(annotation)[0])
    origin = get_origin(base) or base
    # A str or bytes subclass (a StrEnum) is one value, not a sequence of characters.
    return inspect.isclass(origin) and issubclass(origin, _SEQUENCE_ORIGINS) and not issubclass(origin, (str, bytes))


def is_scalar(annotation: Any) -> bool:
    base = strip_optional(split_annotated(annotation)[0])
    if base is Any or base is inspect.Parameter.empty:
        return True
    origin = get_origin(base)
    if origin is typing.Literal:
        return True
    if origin is typing.Union or origin is types.UnionType:
        return all(is_scalar(arg) for arg in get_args(base) if arg is not type(None))
    if origin is not None:
        return False
    if not inspect.isclass(base):
        return True
    if issubclass(base, (BaseModel, Mapping)) or dataclasses.is_dataclass(base):
        return False
    if typing.is_typeddict(base):
        return False
    return not issubclass(base, _SEQUENCE_ORIGINS) or issubclass(base, (str, bytes))


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
