"""Item -> JSON bytes: the hot path of every stream. Knows nothing of HTTP.

Typed items are validated and serialized by pydantic-core (validation of an instance of the declared model is
an ``isinstance`` check; serialization keeps only the declared fields, so a subclass's extra fields are never
leaked). Untyped items go through pydantic-core's generic serializer, which understands models, dataclasses,
datetimes, UUIDs, enums, Decimals, sets and bytes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import pydantic_core
from pydantic import TypeAdapter

__all__ = ["ItemEncoder", "SerializationOptions", "SerializedItem"]

ItemT = TypeVar("ItemT")


@dataclasses.dataclass(frozen=True, slots=True)
class SerializationOptions:
    """The ``response_model_*`` options of a route, applied to every item or response value."""

    include: Any = None
    exclude: Any = None
    by_alias: bool = True
    exclude_unset: bool = False
    exclude_defaults: bool = False
    exclude_none: bool = False

    def keywords(self) -> dict[str, Any]:
        """The options that differ from pydantic-core's defaults, as ``to_json`` keyword arguments."""
        defaults = SerializationOptions()
        return {
            field.name: getattr(self, field.name)
            for field in dataclasses.fields(self)
            if getattr(self, field.name) != getattr(defaults, field.name)
        }


class ItemEncoder:
    """Turns one item into compact UTF-8 JSON bytes.

    ``encode`` raises ``pydantic.ValidationError`` for a typed item that does not match its type and
    ``pydantic_core.PydanticSerializationError`` for an untyped item that cannot be serialized; callers add the
    context (endpoint, item index).
    """

    __slots__ = ("adapter", "encode", "options")

    def __init__(self, adapter: TypeAdapter[Any] | None, options: SerializationOptions | None = None) -> None:
        self.adapter = adapter
        self.options = options or SerializationOptions()
        self.encode: Callable[[Any], bytes] = self._build(adapter, self.options)

    def named(self, name_of: Callable[[type], bytes]) -> Callable[[Any], tuple[bytes, bytes]]:
        """For a stream of several kinds of item: ``item -> (name of its kind, its JSON)``, validated as the
        union (``name_of`` gives the kind's name of the validated value's class)."""
        assert self.adapter is not None, "a stream of several kinds is typed"
        validate = self.adapter.validator.validate_python
        serialize = self.adapter.serializer.to_json
        keywords = self.options.keywords()
        keywords["by_alias"] = self.options.by_alias

        def encode_named(item: Any) -> tuple[bytes, bytes]:
            value = validate(item, from_attributes=True)
            return name_of(value.__class__), serialize(value, **keywords)

        return encode_named

    @staticmethod
    def _build(adapter: TypeAdapter[Any] | None, options: SerializationOptions) -> Callable[[Any], bytes]:
        # Keywords are written out, not bound with functools.partial: a partial with keywords merges dicts on
        # every call, which costs half as much again as the serialization of a small item.
        keywords = options.keywords()
        by_alias = options.by_alias  # always explicit: pydantic-core's default follows the model config
        keywords.pop("by_alias", None)
        if adapter is None:
            to_json = pydantic_core.to_json
            if not keywords:

                def encode_untyped(item: Any) -> bytes:
                    return to_json(item, by_alias=by_alias)

                return encode_untyped

            def encode_untyped_with_options(item: Any) -> bytes:
                return to_json(item, by_alias=by_alias, **keywords)

            return encode_untyped_with_options
        validate = adapter.validator.validate_python
        serialize = adapter.serializer.to_json
        if not keywords:

            def encode_typed(item: Any) -> bytes:
                return serialize(validate(item, from_attributes=True), by_alias=by_alias)

            return encode_typed

        def encode_typed_with_options(item: Any) -> bytes:
            return serialize(validate(item, from_attributes=True), by_alias=by_alias, **keywords)

        return encode_typed_with_options


_UNSET: Any = object()
_WHITE_SPACE = (b" ", b"\t", b"\r", b"\n")


class SerializedItem(Generic[ItemT]):
    """An item already serialized as compact JSON, with an id (a topic message's id).

    A stream that yields a ``SerializedItem`` sends its ``data`` as is, framed for the negotiated format (in SSE,
    with ``id:`` set to its id), without validating or serializing it again: a topic's message is encoded once,
    when it is published, however many subscribers it reaches. Only when the route declares another item type
    than the serialized item's (or ``response_model_*`` options) is ``item`` validated and serialized as the
    route's item, so that the route's declaration always decides what leaves the server.

    ``AsyncIterable[SerializedItem[Order]]`` declares a stream of ``Order`` items.
    """

    __slots__ = ("_adapter", "_framed", "_item", "data", "gap_after", "id", "item_type", "key")

    def __init__(
        self,
        id: str,
        data: bytes,
        item_type: Any = None,
        *,
        adapter: TypeAdapter[Any] | None = None,
        item: Any = _UNSET,
        key: Any = None,
    ) -> None:
        self.id = id
        # Compact JSON, as every item is sent: a JSON text beginning with white space is how the JSON formats
        # frame the server's records, never an item.
        self.data = data if data[:1] not in _WHITE_SPACE else data.lstrip()
        #: The type the item was validated as when it was published (``None``: untyped).
        self.item_type = item_type
        #: A sort key of ``id`` for whoever orders messages (topic backends); not used by the stream.
        self.key = key
        self._adapter = adapter
        self._item = item
        #: Set on the first message a topic subscriber gets after losing messages: the id after which they were
        #: lost (the topic's retention dropped them before it could read them). ``None`` otherwise.
        self.gap_after: str | None = None
        #: The last framing of this message, ``(framer, bytes)``: the streams of one route and format that send it
        #: share one framed copy (a topic's subscribers frame each message once, not once each).
        self._framed: tuple[object, bytes] | None = None

    def after_gap(self, gap_after: str) -> SerializedItem[ItemT]:
        """A copy of this message telling its subscriber that messages after ``gap_after`` were lost before it."""
        copy: SerializedItem[ItemT] = SerializedItem(
            self.id, self.data, self.item_type, adapter=self._adapter, item=self._item, key=self.key
        )
        copy.gap_after = gap_after
        return copy

    @property
    def item(self) -> ItemT:
        """The item, decoded from ``data`` (and validated as ``item_type``) the first time it is asked for."""
        if self._item is _UNSET:
            if self._adapter is not None:
                self._item = self._adapter.validate_json(self.data)
            else:
                self._item = pydantic_core.from_json(self.data)
        item: ItemT = self._item
        return item

    def __repr__(self) -> str:
        return f"SerializedItem(id={self.id!r}, data={self.data!r})"
