"""How a stream is documented, per format: its item schema (a schema of the whole stream in 3.1, ``itemSchema``
in 3.2), its several kinds of item, and the records the server adds (an error record, an end record).

OpenAPI 3.1 has no item schema: a stream's ``schema`` models it as an array of items, and the registered
extension ``x-oai-itemSchema`` gives the item schema. In SSE each item is an event whose ``data`` field carries
the item as JSON (``contentMediaType``/``contentSchema``), the structure the SSE media type registry entry
describes; a stream of several kinds is a ``oneOf`` of events, each pairing an ``event`` name with its data.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from linestream._events import END_ID
from linestream.streams import JSON_ARRAY, SSE, StreamFormat

__all__ = ["STREAM_SCHEMAS", "StreamDoc", "stream_headers", "stream_media"]

_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_ERROR_REF = {"$ref": "#/components/schemas/StreamError"}
_END_REF = {"$ref": "#/components/schemas/StreamEnd"}
_END_DATA: dict[str, Any] = {
    "type": "object",
    "properties": {"count": {"type": "integer", "minimum": 0, "description": "How many items the stream sent."}},
    "required": ["count"],
}

#: The component schemas every document that has streams declares.
STREAM_SCHEMAS: dict[str, dict[str, Any]] = {
    "StreamError": {
        "title": "StreamError",
        "description": 'The last record of a stream whose generator failed (routes with stream_errors="record").',
        "type": "object",
        "properties": {"error": _PROBLEM_REF},
        "required": ["error"],
    },
    "StreamEnd": {
        "title": "StreamEnd",
        "description": "The last record of a complete stream (routes with stream_end=True).",
        "type": "object",
        "properties": {"end": _END_DATA},
        "required": ["end"],
    },
}


@dataclasses.dataclass(frozen=True)
class StreamDoc:
    """What the document says of one route's stream."""

    #: The schema of one item (for several kinds: of their union).
    item: dict[str, Any]
    #: For a stream of several kinds: each kind's name and schema.
    kinds: tuple[tuple[str, dict[str, Any]], ...] = ()
    #: The field that tells the kinds apart in JSON, if they share one.
    tag: str | None = None
    #: The kinds are sent in JSON as ``{"event": kind, "data": item}``.
    envelope: bool = False
    #: The records the server may add: ``"error"``, ``"end"``.
    records: frozenset[str] = frozenset()


def _json_item(doc: StreamDoc) -> dict[str, Any]:
    if doc.kinds and doc.envelope:
        return {
            "oneOf": [
                {
                    "type": "object",
                    "properties": {"event": {"const": name}, "data": schema},
                    "required": ["event", "data"],
                }
                for name, schema in doc.kinds
            ]
        }
    if doc.kinds and doc.tag:
        refs = [schema for _, schema in doc.kinds]
        mapping = {name: schema["$ref"] for name, schema in doc.kinds if "$ref" in schema}
        discriminator: dict[str, Any] = {"propertyName": doc.tag}
        if len(mapping) == len(refs):
            discriminator["mapping"] = mapping
        return {"oneOf": refs, "discriminator": discriminator}
    return doc.item


def _event(name: str | None, data: dict[str, Any], *, id: str | None = None) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "event": {"type": "string"} if name is None else {"const": name},
        "data": {"type": "string", "contentMediaType": "application/json", "contentSchema": data},
        "id": {"type": "string"} if id is None else {"const": id},
        "retry": {"type": "integer", "minimum": 0},
    }
    return {"type": "object", "properties": properties, "required": ["data"] if name is None else ["event", "data"]}


def stream_media(stream_format: StreamFormat, doc: StreamDoc, version: str) -> dict[str, Any]:
    """The media type object of a stream in one format (also used for streamed request bodies, without records)."""
    if stream_format is SSE:
        events = [_event(name, schema) for name, schema in doc.kinds] or [_event(None, doc.item)]
        if "error" in doc.records:
            events.append(_event("error", _PROBLEM_REF))
        if "end" in doc.records:
            events.append(_event("end", _END_DATA, id=END_ID))
        event = events[0] if len(events) == 1 else {"oneOf": events}
        if version.startswith("3.2"):
            return {"itemSchema": event}
        return {"schema": {"type": "string"}, "x-oai-itemSchema": event}
    item = _json_item(doc)
    records = [_ERROR_REF] if "error" in doc.records else []
    if "end" in doc.records and stream_format is not JSON_ARRAY:  # an array's end is its `]`
        records.append(_END_REF)
    if records:
        item = {"anyOf": [item, *records]}
    if stream_format is JSON_ARRAY:
        return {"schema": {"type": "array", "items": item}}
    if version.startswith("3.2"):
        return {"itemSchema": item}
    return {"schema": {"type": "array", "items": item}, "x-oai-itemSchema": item}


def stream_headers(doc: StreamDoc) -> dict[str, Any]:
    """The response headers that tell a client how to read the stream."""
    headers: dict[str, Any] = {}
    if doc.records:
        headers["Stream-Records"] = {
            "description": "The records the server adds to the stream's items: `error` (a failure after the "
            "first item), `end` (the stream is complete). A client reads them only when announced here.",
            "schema": {"type": "string", "example": ", ".join(sorted(doc.records))},
        }
    if doc.kinds and doc.envelope:
        headers["Stream-Envelope"] = {
            "description": 'Items are sent as `{"event": kind, "data": item}` in the JSON formats.',
            "schema": {"const": "event"},
        }
    return headers
