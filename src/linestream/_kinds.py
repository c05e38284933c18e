"""Streams of several kinds of item (``AsyncIterable[Token | ToolCall | Usage]``): the name each kind goes by, and
the names reserved for control events. Shared by the server and the clients, so both name kinds alike.

A kind's name is the value of its tag field, when every kind has one (a field of the same name whose type is a
single ``Literal`` value: ``type: Literal["token"] = "token"``, the usual discriminator); else the model's class
name in snake case (``ToolCall`` -> ``tool_call``). In SSE the name is the event's ``event:`` field; in the JSON
formats the tag field tells the kinds apart (or, on a route with ``event_envelope=True``, every item is sent as
``{"event": <name>, "data": <item>}``).
"""

from __future__ import annotations

import re
import types
import typing
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args, get_origin

from linestream.streams import END_ID, RECORD_NAMES

if TYPE_CHECKING:
    from pydantic import BaseModel

__all__ = ["END_ID", "RESERVED", "EventKinds", "discriminated", "event_kinds"]

#: Event names a stream's own kinds may not take: the server sends these itself (its records).
RESERVED = RECORD_NAMES

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


class EventKinds:
    """The kinds of item of a union item type: each member model, its name, and the tag field if they share one."""

    __slots__ = ("_names", "by_name", "members", "shared", "tag")

    def __init__(self, members: tuple[type[BaseModel], ...]) -> None:
        self.members = members
        #: The field that tells the kinds apart in JSON: every kind has it, as a single Literal value of its own
        #: (``type: Literal["order.placed"]``), if one does.
        self.tag, shared = _tag_field(members)
        #: The fields every kind has as a single Literal value, but the same in several kinds (a CloudEvents
        #: ``specversion``): they tell nothing apart.
        self.shared: tuple[str, ...] = tuple(name for name in shared if name != self.tag)
        names = {member: _tag_value(member, self.tag) if self.tag else _snake(member.__name__) for member in members}
        self.by_name: dict[str, type[BaseModel]] = {}
        for member, name in names.items():
            if name in RESERVED:
                raise ValueError(
                    f"{member.__name__} goes by the event name {name!r}, which the server uses for its own events "
                    f"({', '.join(sorted(RESERVED))}); give it another tag value or class name."
                )
            if name in self.by_name:
                raise ValueError(
                    f"{self.by_name[name].__name__} and {member.__name__} both go by the event name {name!r}; "
                    "give each kind its own tag value."
                )
            self.by_name[name] = member
        self._names: dict[type, bytes] = {member: name.encode() for member, name in names.items()}

    def name_of(self, kind: type) -> bytes:
        """The name of the kind of an item of class ``kind`` (a member, or a subclass of one)."""
        name = self._names.get(kind)
        if name is None:
            member = next((base for base in kind.__mro__ if base in self._names), None)
            if member is None:
                raise TypeError(f"{kind.__name__} is none of the stream's kinds ({', '.join(self.by_name)}).")
            name = self._names[kind] = self._names[member]
        return name


def event_kinds(item_type: Any) -> EventKinds | None:
    """The kinds of a union of two or more models (``Token | Usage``, or ``Annotated`` with a discriminator);
    ``None`` for any other item type. Raises ``ValueError`` when two kinds would go by one name."""
    base = get_args(item_type)[0] if get_origin(item_type) is Annotated else item_type
    if get_origin(base) not in (typing.Union, types.UnionType):
        return None
    from pydantic import BaseModel  # the clients import this module; pydantic's models load on first use

    members = [member for member in get_args(base) if member is not type(None)]
    if len(members) < 2 or not all(isinstance(m, type) and issubclass(m, BaseModel) for m in members):
        return None
    return EventKinds(tuple(members))


def _literal_fields(model: type[BaseModel]) -> dict[str, str]:
    tags = {}
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if get_origin(annotation) is Literal and len(get_args(annotation)) == 1:
            value = get_args(annotation)[0]
            if isinstance(value, str):
                tags[field.serialization_alias or field.alias or name] = value
    return tags


def _tag_field(members: tuple[type[BaseModel], ...]) -> tuple[str | None, list[str]]:
    """The first field every kind has as a single Literal value, a different one in each kind (``None`` if no
    field does), and every field all the kinds have as a single Literal value."""
    tags = [_literal_fields(member) for member in members]
    common = [name for name in tags[0] if all(name in other for other in tags[1:])]
    for name in common:
        values = [fields[name] for fields in tags]
        if len(set(values)) == len(values):
            return name, common
    return None, common


def _tag_value(member: type[BaseModel], tag: str) -> str:
    return _literal_fields(member)[tag]


def _snake(name: str) -> str:
    return _CAMEL.sub("_", name).lower()


def discriminated(item_type: Any) -> Any:
    """``item_type``, validated by its kinds' tag field when it is a union of tagged models (each item is checked
    against its own kind only, and errors name the kind: ``["body", 3, "delete", "id"]``)."""
    try:
        kinds = event_kinds(item_type)
    except ValueError:
        return item_type
    if kinds is None or kinds.tag is None or get_origin(item_type) is Annotated:
        return item_type
    import pydantic

    return Annotated[item_type, pydantic.Field(discriminator=kinds.tag)]
