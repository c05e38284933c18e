"""How a stream is documented, per format: its item schema (a schema of the whole stream in 3.1, ``itemSchema``
in 3.2), its several kinds of item, and the records the server adds (an error record, an end record).

OpenAPI 3.1 has no item schema: a stream's ``schema`` models it as an array of items, and the registered
extension ``x-oai-itemSchema`` gives the item schema. In SSE each item is an event whose ``data`` field carries
the item as JSON (``contentMediaType``/``contentSchema``), the structure the SSE media type registry entry
describes; a stream of several kinds is a ``oneOf`` of events, each pairing an ``event`` name with its data.
"""

from __future__ import annotations

from typing import Any

from linestream.streams import StreamDocs

__all__ = ["STREAM_SCHEMAS", "stream_docs", "stream_headers"]

_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_ERROR_REF = {"$ref": "#/components/schemas/StreamError"}
_END_REF = {"$ref": "#/components/schemas/StreamEnd"}
_END_DATA: dict[str, Any] = {
    "type": "object",
    "properties": {"count": {"type": "integer", "minimum": 0, "description": "How many items the stream sent."}},
    "required": ["count"],
}
#: Each record: its schema in the JSON formats, and the schema of its data in an SSE event.
_RECORDS = {"error": (_ERROR_REF, _PROBLEM_REF), "end": (_END_REF, _END_DATA)}

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


def stream_docs(
    item: dict[str, Any],
    kinds: tuple[tuple[str, dict[str, Any]], ...] = (),
    tag: str | None = None,
    envelope: bool = False,
    records: frozenset[str] = frozenset(),
) -> StreamDocs:
    """What a format needs to document a stream: its item, kinds, and the records the server may add."""
    return StreamDocs(item, kinds, tag, envelope, {name: _RECORDS[name] for name in records})


def stream_headers(doc: StreamDocs) -> dict[str, Any]:
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
