"""``StreamFormat``: everything one wire format decides, in one object.

A format owns its media type, how it frames an item, a yielded event, a pre-serialized message, an item of a
stream of several kinds, the records the server adds (an error, the end, a gap), the frame that asks a client to
come back when the server shuts down, its keep-alive, how its frames are read back (``reader()``), and how a
stream in it is documented (``document()``). Code that uses formats asks the object; it has no per-format branch.

The JSON formats (JSON Lines, NDJSON, json-seq, the JSON array) share this base class's behaviour: an item is
one JSON value in the format's framing, and so is a record. Server-Sent Events override it: items are events,
records are named events. A user may subclass ``StreamFormat`` for a format of their own (``docs/formats.md``).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

from linestream.streams._framing import DEFAULT_MAX_FRAME_SIZE, Framing

__all__ = [
    "END_ID",
    "RECORD_NAMES",
    "Frame",
    "FrameReader",
    "JsonFormat",
    "StreamDocs",
    "StreamFormat",
    "Transcoder",
    "json_bytes",
]

#: The records a server adds to a stream's items: an error that ended it, its end, messages it lost.
RECORD_NAMES = frozenset({"error", "end", "gap"})
#: The SSE ``id`` of the end record: a client reconnecting with it as ``Last-Event-ID`` saw the whole stream.
END_ID = "linestream-end"

#: The white space a record's JSON text begins with, in the JSON formats (an item's never does).
_SPACE = (b" ", b"\t")
#: ``(kind, json) -> bytes``: what goes between a framing's prefix and suffix for an item of a named kind.
KindFramer = Callable[[bytes, bytes], bytes]


def json_bytes(value: Any) -> bytes:
    """Compact UTF-8 JSON of a plain value (a record's payload): the form items are serialized in."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


@dataclasses.dataclass(frozen=True, slots=True)
class Frame:
    """One decoded frame: an item's JSON (``data``) with its SSE fields, or a ``record`` the server added
    (``"error"``, ``"end"``, ``"gap"``; ``data`` is then the record's payload)."""

    data: bytes
    event: str | None = None
    id: str | None = None
    retry: int | None = None
    record: str | None = None


@dataclasses.dataclass(frozen=True)
class StreamDocs:
    """What the document says of one stream, for a format to describe it (``StreamFormat.document``).

    ``item`` is the schema of one item (for several kinds, of their union); ``kinds`` each kind's name and
    schema; ``tag`` the field that tells kinds apart in JSON; ``envelope``: kinds are sent as
    ``{"event": kind, "data": item}``; ``records`` maps each record the stream may carry to the schema of the
    record in JSON (``{"error": problem}``) and of its data in an SSE event (the problem).
    """

    item: dict[str, Any]
    kinds: tuple[tuple[str, dict[str, Any]], ...] = ()
    tag: str | None = None
    envelope: bool = False
    records: Mapping[str, tuple[dict[str, Any], dict[str, Any]]] = dataclasses.field(default_factory=dict)

    def json_item(self) -> dict[str, Any]:
        """The schema of one item as the JSON formats send it (a discriminated union, or envelopes)."""
        if self.kinds and self.envelope:
            return {
                "oneOf": [
                    {
                        "type": "object",
                        "properties": {"event": {"const": name}, "data": schema},
                        "required": ["event", "data"],
                    }
                    for name, schema in self.kinds
                ]
            }
        if self.kinds and self.tag:
            refs = [schema for _, schema in self.kinds]
            mapping = {name: schema["$ref"] for name, schema in self.kinds if "$ref" in schema}
            discriminator: dict[str, Any] = {"propertyName": self.tag}
            if len(mapping) == len(refs):
                discriminator["mapping"] = mapping
            return {"oneOf": refs, "discriminator": discriminator}
        return self.item


class FrameReader:
    """Reads the frames of one body in one format: ``feed(bytes)`` and ``close()`` return ``Frame``s.

    This base serves the JSON formats, whose decoders return each item's bytes. ``records`` are the records the
    response announced (its ``Stream-Records`` header); only those are told apart from items.
    """

    __slots__ = ("decoder", "records")

    def __init__(self, decoder: Any, records: Iterable[str] = ()) -> None:
        self.decoder = decoder
        self.records = frozenset(records)

    @property
    def frames_decoded(self) -> int:
        count: int = self.decoder.frames_decoded
        return count

    @property
    def retry(self) -> int | None:
        """The reconnection time (ms) the stream set last (SSE only)."""
        return None

    @property
    def pending_retry(self) -> int | None:
        """A reconnection time set after the stream's last event: "come back" (SSE only)."""
        return None

    def feed(self, chunk: bytes) -> list[Frame]:
        return [self._frame(data) for data in self.decoder.feed(chunk)]

    def close(self) -> list[Frame]:
        return [self._frame(data) for data in self.decoder.close()]

    def _frame(self, data: bytes) -> Frame:
        # A record's JSON text begins with a space; an item's never does (items are compact JSON), whatever its
        # shape: a record is told by its framing, never by its content.
        if data[:1] in _SPACE and self.records:
            try:
                value = json.loads(data)
            except ValueError:
                return Frame(data)
            if isinstance(value, dict) and len(value) == 1:
                name, payload = next(iter(value.items()))
                if name in self.records and isinstance(payload, dict):
                    return Frame(json_bytes(payload), record=name)
        return Frame(data)


class Transcoder:
    """The state of one stream in a format whose frames depend on what came before it (an LLM protocol: a
    message's id, its open content blocks, its sequence numbers): items in, frames out, pure, no I/O. A format
    that has one makes a new one per stream (``StreamFormat.transcoder()``); the server hands it every item the
    generator yields and sends what it returns."""

    def encode(self, item: Any) -> bytes:
        """The frames of one yielded item (``b""`` while it holds them back, e.g. a message's metadata)."""
        raise NotImplementedError

    def end(self) -> bytes:
        """The frames that end a complete stream (what closes its open blocks, its final event)."""
        raise NotImplementedError

    def error(self, problem: Mapping[str, Any]) -> bytes:
        """The format's own error event for a stream that failed after it started, carrying the RFC 9457
        ``problem``; the response then ends cleanly, as the protocol's servers do."""
        raise NotImplementedError


class StreamFormat:
    """One wire format (see the module docstring): ``name``, ``framing`` (its media type and the constant bytes
    around items, which the server's hot path appends itself), ``decoder`` (the class of its incremental
    decoder) and ``keepalive`` (bytes a reader ignores, sent after ``keepalive_option`` seconds of silence;
    ``None``: it has none)."""

    #: Whether a request body may be sent in this format (a streamed upload).
    uploads: ClassVar[bool] = True
    #: Whether the format names each item's kind itself (an SSE event's name), so that items of several kinds
    #: need neither a tag field nor an envelope to be told apart.
    names_kinds: ClassVar[bool] = False
    #: Whether the format is served whatever the request's ``Accept`` says, when no other format of the route
    #: is acceptable: the clients of a protocol that the route chooses (an LLM protocol's SDK sends
    #: ``Accept: application/json``) do not ask for it.
    answers_any_accept: ClassVar[bool] = False
    #: Headers a response in this format always carries, beside its ``Content-Type``.
    headers: ClassVar[tuple[tuple[bytes, bytes], ...]] = ()

    def __init__(
        self,
        name: str,
        framing: Framing,
        decoder: Callable[..., Any],
        keepalive: bytes | None = None,
        *,
        keepalive_option: str | None = None,
    ) -> None:
        self.name = name
        self.framing = framing
        self.decoder = decoder
        self.keepalive = keepalive
        #: The stream option that sets the keep-alive interval (``"jsonl_keepalive"``), if it has one.
        self.keepalive_option = keepalive_option

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} ({self.media_type})>"

    @property
    def media_type(self) -> str:
        return self.framing.media_type

    @property
    def content_type(self) -> str:
        """The ``Content-Type`` a stream in this format is answered with."""
        return self.media_type

    @property
    def closes_itself(self) -> bool:
        """Whether the format's own last bytes say the stream is complete (a JSON array's ``]``), so that it needs
        no end record."""
        return bool(self.framing.tail)

    # -- writing ---------------------------------------------------------------------------------------------
    def transcoder(self, stream_id: str | None = None) -> Transcoder | None:
        """A new ``Transcoder`` for one stream, for a format whose frames depend on the stream's state; ``None``
        (this base): items are framed one by one, by ``item_encoder`` and the framing. ``stream_id`` names a
        stream that may be read again (a durable job's), so that the ids the transcoder makes up are the same at
        every reading."""
        return None

    def check_item_type(self, item_type: Any, endpoint: str) -> None:
        """Refuse, when the route is built, a route whose items this format cannot send (``ValueError`` with
        the fix); every item type goes, in this base."""

    def item_encoder(self, encode_json: Callable[[Any], bytes]) -> Callable[[Any], bytes]:
        """How an item becomes the bytes between the framing's prefix and suffix: its JSON. A format of another
        notation (CSV rows) returns its own encoder."""
        return encode_json

    def frame(self, data: bytes, *, first: bool) -> bytes:
        """The frame of one serialized item; ``first``: the stream's first (no separator)."""
        return self.framing.encode(data, first=first)

    def frame_event(
        self, event: Any, data: bytes | None, *, first: bool, kind: bytes | None = None, envelope: bool = False
    ) -> bytes | None:
        """The frame of a yielded ``ServerSentEvent``, given its serialized ``data`` (``None``: it has none, or
        only ``raw_data``); ``kind``: the name of the item's kind. In a JSON format the event's data is the item
        (in an envelope if ``envelope`` and a kind), ``raw_data`` a JSON string, and an event without data
        (a comment, a bare ``retry``) is not sent (``None``)."""
        if data is None:
            if event.raw_data is None:
                return None
            return self.frame(json_bytes(event.raw_data), first=first)
        if kind is not None and envelope:
            data = envelope_bytes(kind, data)
        return self.frame(data, first=first)

    def frame_message(self, message_id: str, data: bytes, *, first: bool) -> bytes:
        """The frame of a pre-serialized item with an id (a topic's message)."""
        return self.frame(data, first=first)

    def kind_framing(self, *, envelope: bool) -> tuple[Framing, KindFramer | None]:
        """For a stream of several kinds: the framing, and how ``(kind, json)`` becomes what goes between its
        prefix and suffix (``None``: the item's JSON alone)."""
        return self.framing, (envelope_bytes if envelope else None)

    def error_record(self, problem: Mapping[str, Any], *, first: bool) -> bytes:
        """The last frame of a stream whose generator failed, carrying ``problem`` (and the format's tail). In
        the JSON formats a record is ``{"error": problem}`` framed like an item, but its JSON text begins with a
        space, which an item's never does: so no item, whatever its shape, is taken for a record."""
        return self.frame(b" " + json_bytes({"error": problem}), first=first) + self.framing.tail

    def end_record(self, count: int, *, first: bool) -> bytes | None:
        """The record that ends a complete stream of ``count`` items (`` {"end": {"count": n}}``, its JSON text
        beginning with a space), or ``None`` when the format closes itself."""
        if self.closes_itself:
            return None
        return self.frame(b' {"end":{"count":%d}}' % count, first=first)

    def gap_record(self, after: str, next_id: str) -> bytes | None:
        """A record telling that messages after ``after`` were lost before ``next_id`` (``None``: not told)."""
        return None

    def shutdown_frame(self, retry: int | None) -> bytes | None:
        """What ends a stream cleanly when the server shuts down, asking the client to come back after ``retry``
        ms; ``None`` for a format that cannot say "come back" (its clients see a truncated stream)."""
        return None

    # -- reading ---------------------------------------------------------------------------------------------
    def reader(self, *, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE, records: Iterable[str] = ()) -> FrameReader:
        """A reader of one body in this format, telling the announced ``records`` apart from items."""
        return FrameReader(self.decoder(max_frame_size=max_frame_size), records)

    # -- documenting -----------------------------------------------------------------------------------------
    def document(self, docs: StreamDocs, version: str) -> dict[str, Any]:
        """The OpenAPI media type object of a stream in this format (``version``: "3.1.0" or "3.2.0")."""
        item = docs.json_item()
        records = [schema for name, (schema, _) in sorted(docs.records.items()) if self._carries(name)]
        if records:
            item = {"anyOf": [item, *records]}
        if version.startswith("3.2"):
            return {"itemSchema": item}
        return {"schema": {"type": "array", "items": item}, "x-oai-itemSchema": item}

    def _carries(self, record: str) -> bool:
        return record != "end" or not self.closes_itself


class JsonFormat(StreamFormat):
    """A format of JSON texts (JSON Lines, NDJSON, json-seq, the JSON array): its decoder keeps the space a
    record's JSON text begins with, where the response announces records."""

    def reader(self, *, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE, records: Iterable[str] = ()) -> FrameReader:
        records = frozenset(records)
        return FrameReader(self.decoder(max_frame_size=max_frame_size, keep_space=bool(records)), records)


def envelope_bytes(kind: bytes, data: bytes) -> bytes:
    """``{"event":<kind>,"data":<data>}``: an item of a named kind, in a JSON format with envelopes."""
    return b'{"event":"' + kind + b'","data":' + data + b"}"
