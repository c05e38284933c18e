"""The frames a stream sends besides plain items, per format: yielded events and pre-serialized items, the error
record that ends a failed stream, the shutdown frame, and raw byte chunks. Built once per (route, format) into a
``StreamPlan``; nothing here knows HTTP or routing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pydantic_core

from linestream._events import END_ID
from linestream._problem import problem_body
from linestream._serialization import SerializationOptions, SerializedItem
from linestream.exceptions import HTTPException, StreamItemTooLarge
from linestream.streams import SSE, StreamFormat
from linestream.streams.sse import ServerSentEvent, encode_event

__all__ = [
    "EndRecord",
    "EventFramer",
    "ErrorRecord",
    "NamedEncoder",
    "end_record",
    "Payload",
    "error_record",
    "event_framer",
    "gap_frame",
    "kind_encoders",
    "raw_chunk_encoder",
    "refuse_events",
    "serialized_payload",
    "shutdown_frame",
    "size_checked",
]

#: Frames a yielded ``ServerSentEvent`` or ``SerializedItem`` (``first``: no separator); ``None`` skips it.
EventFramer = Callable[[ServerSentEvent[Any] | SerializedItem[Any], bool], "bytes | None"]
#: A route's bytes for a yielded ``SerializedItem``.
Payload = Callable[[SerializedItem[Any]], bytes]
#: The record ending a stream whose generator failed, given the error and the count of items sent.
ErrorRecord = Callable[[Exception, int], bytes]
#: The record ending a complete stream (``stream_end=True``), given the count of items sent.
EndRecord = Callable[[int], bytes]
#: An item of a stream of several kinds -> the name of its kind and its JSON.
NamedEncoder = Callable[[Any], tuple[bytes, bytes]]


def serialized_payload(
    encode: Callable[[Any], bytes], item_type: Any, typed: bool, options: SerializationOptions
) -> Payload:
    """A route's bytes for a yielded ``SerializedItem``: its data as is when it holds the route's item type (or the
    route is untyped) and no ``response_model_*`` option applies; else its item serialized as the route's item
    (filtered, validated), so the route's declaration always decides what is sent."""
    if options != SerializationOptions():
        return lambda serialized: encode(serialized.item)
    if not typed:
        return lambda serialized: serialized.data

    def payload(serialized: SerializedItem[Any]) -> bytes:
        if serialized.item_type == item_type:
            return serialized.data
        return encode(serialized.item)

    return payload


def event_framer(
    stream_format: StreamFormat, encode: Callable[[Any], bytes], payload: Payload, named: NamedEncoder | None = None
) -> EventFramer:
    """How a yielded ``ServerSentEvent`` or ``SerializedItem`` is framed in ``stream_format``.

    In SSE an event is a full event (``data`` serialized like any item) and a serialized item an event with
    ``id:`` set to its id. In the other formats an event's ``data`` is the item (``raw_data`` becomes a JSON
    string) and the SSE-only fields are dropped; an event without data (a comment, a bare ``retry``) is
    skipped; a serialized item is its data. ``named`` (a stream of several kinds): an event whose ``data`` is
    an item and that names no ``event`` goes by the item's kind; in the JSON formats, ``encode`` frames items.
    """
    if stream_format is SSE:

        def frame_sse(event: ServerSentEvent[Any] | SerializedItem[Any], first: bool) -> bytes | None:
            if event.__class__ is SerializedItem:
                assert isinstance(event, SerializedItem)
                frame = b"id: " + event.id.encode() + b"\ndata: " + payload(event) + b"\n\n"
                return frame if event.gap_after is None else gap_frame(event) + frame
            assert isinstance(event, ServerSentEvent)
            data = event.data
            if data is None:
                return encode_event(event)
            if data.__class__ is SerializedItem:
                # An event wrapping a serialized item: its data as is, its id unless the event sets one.
                if event.id is None:
                    event = dataclasses.replace(event, id=data.id)
                frame = encode_event(event, payload(data))
                return frame if data.gap_after is None else gap_frame(data) + frame
            if named is not None:
                kind, json = named(data)
                return encode_event(
                    event if event.event is not None else dataclasses.replace(event, event=kind.decode()), json
                )
            return encode_event(event, encode(data))

        return frame_sse
    framing = stream_format.framing

    def frame_item(event: ServerSentEvent[Any] | SerializedItem[Any], first: bool) -> bytes | None:
        if event.__class__ is SerializedItem:
            assert isinstance(event, SerializedItem)
            return framing.encode(payload(event), first=first)
        assert isinstance(event, ServerSentEvent)
        if event.data is not None:
            data = event.data
            message = payload(data) if data.__class__ is SerializedItem else encode(data)
        elif event.raw_data is not None:
            message = pydantic_core.to_json(event.raw_data)
        else:
            return None
        return framing.encode(message, first=first)

    return frame_item


def gap_frame(serialized: SerializedItem[Any]) -> bytes:
    """The SSE event telling a topic subscriber that messages after ``gap_after`` were lost before this one::

    event: gap
    data: {"after":"1764000000000-4","next":"1764000000100-0"}
    """
    data = pydantic_core.to_json({"after": serialized.gap_after, "next": serialized.id})
    return b"event: gap\ndata: " + data + b"\n\n"


def error_record(stream_format: StreamFormat) -> ErrorRecord:
    """The in-band record that ends a stream whose generator failed (policy ``stream_errors="record"``).

    JSON Lines, NDJSON, json-seq: one more item ``{"error": <problem>}``; JSON array: that element, then ``]``;
    SSE: an ``event: error`` whose data is the problem. An ``HTTPException`` gives its status and detail;
    any other exception a 500 whose detail does not reveal the exception.
    """
    framing = stream_format.framing

    def record(error: Exception, count: int) -> bytes:
        if isinstance(error, HTTPException):
            status, detail = error.status_code, error.detail
        else:
            status, detail = 500, f"The stream failed after {count} item(s)."
        problem = problem_body(status, detail)
        if stream_format is SSE:
            return encode_event(ServerSentEvent(raw_data=pydantic_core.to_json(problem).decode(), event="error"))
        return framing.encode(pydantic_core.to_json({"error": problem}), first=count == 0) + framing.tail

    return record


def end_record(stream_format: StreamFormat) -> EndRecord | None:
    """The record that ends a complete stream (``stream_end=True``), so a client can tell it from one a proxy or a
    cut cleanly closed: SSE ``event: end`` with the id ``END_ID`` (an ``EventSource`` that reconnects with it is
    answered 204, which stops it); JSON Lines, NDJSON, json-seq: an item ``{"end": {"count": <items>}}``; none
    for a JSON array, whose ``]`` already is one."""
    if stream_format.framing.tail:
        return None
    framing = stream_format.framing

    def record(count: int) -> bytes:
        if stream_format is SSE:
            return b'event: end\nid: %s\ndata: {"count":%d}\n\n' % (END_ID.encode(), count)
        return framing.encode(b'{"end":{"count":%d}}' % count, first=count == 0)

    return record


def kind_encoders(named: NamedEncoder) -> tuple[Callable[[Any], bytes], Callable[[Any], bytes]]:
    """For a stream of several kinds: the SSE frame body of an item (``event: <kind>`` then its data; the plan's
    SSE framing then has no ``data:`` prefix of its own), and its JSON envelope ``{"event":<kind>,"data":...}``."""

    def sse(item: Any) -> bytes:
        kind, json = named(item)
        return b"event: " + kind + b"\ndata: " + json

    def envelope(item: Any) -> bytes:
        kind, json = named(item)
        return b'{"event":"' + kind + b'","data":' + json + b"}"

    return sse, envelope


def shutdown_frame(stream_format: StreamFormat, retry: int | None) -> bytes | None:
    """What ends a stream cleanly when the server shuts down: for SSE, ``retry`` (ms) so that clients come back;
    ``None`` for the formats that cannot say "come back" (their clients see a truncated stream)."""
    if stream_format is SSE and retry is not None:
        return b"retry: %d\n\n" % retry
    return None


def size_checked(encode: Callable[[Any], bytes], endpoint: str, limit: int) -> Callable[[Any], bytes]:
    """``encode``, refusing an item whose serialized form exceeds ``limit`` bytes (``StreamItemTooLarge``)."""

    def encode_checked(item: Any) -> bytes:
        data = encode(item)
        if len(data) > limit:
            raise StreamItemTooLarge(endpoint, len(data), limit)
        return data

    return encode_checked


_BINARY_TYPES = (bytes, bytearray, memoryview)


def raw_chunk_encoder(endpoint: str) -> Callable[[Any], bytes]:
    """The bytes of a chunk yielded by a raw (``StreamingResponse``) stream: ``bytes`` as is, ``str`` in UTF-8."""

    def encode_chunk(chunk: Any) -> bytes:
        if chunk.__class__ is bytes:
            return bytes(chunk)
        if isinstance(chunk, str):
            return chunk.encode()
        if isinstance(chunk, _BINARY_TYPES):
            return bytes(chunk)
        raise TypeError(
            f"{endpoint} yielded a {type(chunk).__name__}; a StreamingResponse path operation yields str or bytes "
            "chunks (drop response_class to stream JSON items)."
        )

    return encode_chunk


def refuse_events(endpoint: str) -> EventFramer:
    """A raw stream has no frame for an event: yielding one is a mistake, named with the fix."""

    def refuse(event: ServerSentEvent[Any] | SerializedItem[Any], first: bool) -> bytes | None:
        raise TypeError(
            f"{endpoint} yielded a {type(event).__name__} in a StreamingResponse stream; use "
            "response_class=EventSourceResponse to send events."
        )

    return refuse
