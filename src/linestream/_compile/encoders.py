"""How what a generator yields becomes bytes for one (route, format), decided once when the route is compiled:
items (size-checked), items of several kinds, yielded events and pre-serialized messages, raw byte chunks, and
the error record that ends a failed stream. The format object frames; this room chooses what to frame.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from linestream._problem import problem_body
from linestream._serialization import SerializationOptions, SerializedItem
from linestream.exceptions import HTTPException, StreamItemTooLarge
from linestream.streams import StreamFormat
from linestream.streams.sse import ServerSentEvent

__all__ = [
    "EndRecord",
    "ErrorRecord",
    "EventFramer",
    "NamedEncoder",
    "Payload",
    "error_record",
    "event_framer",
    "failure_problem",
    "raw_chunk_encoder",
    "refuse_events",
    "serialized_payload",
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
    stream_format: StreamFormat,
    encode: Callable[[Any], bytes],
    payload: Payload,
    named: NamedEncoder | None = None,
    *,
    envelope: bool = False,
) -> EventFramer:
    """How a yielded ``ServerSentEvent`` or ``SerializedItem`` is framed in ``stream_format``.

    A serialized item is a message with its id (in SSE its ``id:``), preceded by a gap record if messages were
    lost before it. An event's ``data`` is serialized like any item (by its kind, for a stream of several
    kinds: ``named``), or is a serialized item (sent as is, its id the event's unless the event sets one).
    """

    # Who framed a message last (a message is framed the same by every stream of this route and format).
    framers = (object(), object())

    def frame(event: ServerSentEvent[Any] | SerializedItem[Any], first: bool) -> bytes | None:
        if event.__class__ is SerializedItem:
            assert isinstance(event, SerializedItem)
            framer = framers[first]
            cached = event._framed
            if cached is not None and cached[0] is framer:
                return cached[1]
            message = _gap(stream_format, event) + stream_format.frame_message(event.id, payload(event), first=first)
            event._framed = (framer, message)
            return message
        assert isinstance(event, ServerSentEvent)
        data = event.data
        if data is None:
            return stream_format.frame_event(event, None, first=first)
        if data.__class__ is SerializedItem:
            if event.id is None:
                event = dataclasses.replace(event, id=data.id)
            framed = stream_format.frame_event(event, payload(data), first=first)
            return framed if framed is None else _gap(stream_format, data) + framed
        if named is not None:
            kind, json = named(data)
            return stream_format.frame_event(event, json, first=first, kind=kind, envelope=envelope)
        return stream_format.frame_event(event, encode(data), first=first)

    return frame


def _gap(stream_format: StreamFormat, serialized: SerializedItem[Any]) -> bytes:
    if serialized.gap_after is None:
        return b""
    return stream_format.gap_record(serialized.gap_after, serialized.id) or b""


def error_record(stream_format: StreamFormat) -> ErrorRecord:
    """The in-band record that ends a stream whose generator failed (policy ``stream_errors="record"``), as
    ``stream_format`` frames it. An ``HTTPException`` gives its status and detail; any other exception a 500
    whose detail does not reveal the exception."""

    def record(error: Exception, count: int) -> bytes:
        return stream_format.error_record(failure_problem(error, count), first=count == 0)

    return record


def failure_problem(error: BaseException, count: int) -> dict[str, Any]:
    """The problem a stream that failed after ``count`` items carries in-band: an ``HTTPException``'s status and
    detail; for any other exception a 500 whose detail does not reveal it."""
    if isinstance(error, HTTPException):
        return problem_body(error.status_code, error.detail)
    return problem_body(500, f"The stream failed after {count} item(s).")


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
