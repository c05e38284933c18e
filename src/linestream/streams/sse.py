"""Server-Sent Events (``text/event-stream``), per the WHATWG HTML standard's event stream format.

Pure codec, no I/O. Each plain item is one event whose ``data`` is the item's JSON:

```pycon
>>> FRAMING.encode(b'{"a":1}', first=True)
b'data: {"a":1}\\n\\n'
>>> encode_event(ServerSentEvent(raw_data="two\\nlines", event="note", id="7"))
b'event: note\\nid: 7\\ndata: two\\ndata: lines\\n\\n'
>>> decoder = SseDecoder()
>>> [event.raw_data for event in decoder.feed(b'data: {"a":1}\\n\\nid: 8\\ndata: x\\r\\n\\r\\n')]
['{"a":1}', 'x']
>>> decoder.last_event_id
'8'

```

Encoding rules: ``data``/``raw_data``/``comment`` spanning several lines become several ``data:``/``:``
lines; ``event`` and ``id`` may not contain CR or LF (nor NUL for ``id``), and ``retry`` is a non-negative
integer of milliseconds; anything else raises ``ValueError`` when the event is created. Decoding follows the
standard's parsing algorithm: lines end at CRLF, LF or CR; a leading BOM is dropped; one space after the colon
is removed; ``id`` with NUL and non-digit ``retry`` are ignored; an event is dispatched at a blank line and only
if it carried data.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from typing import Any, Generic, TypeVar

from linestream.exceptions import FrameTooLarge, StreamTruncated
from linestream.streams._format import (
    END_ID,
    RECORD_NAMES,
    Frame,
    FrameReader,
    KindFramer,
    StreamDocs,
    StreamFormat,
    json_bytes,
)
from linestream.streams._framing import DEFAULT_MAX_FRAME_SIZE, FrameDecoder, Framing

__all__ = [
    "FRAMING",
    "KEEPALIVE",
    "MEDIA_TYPE",
    "ServerSentEvent",
    "SseDecoder",
    "SseFormat",
    "encode_event",
    "event_schema",
]

MEDIA_TYPE = "text/event-stream"
FRAMING = Framing(media_type=MEDIA_TYPE, prefix=b"data: ", suffix=b"\n\n")
KEEPALIVE = b": ping\n\n"

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_LINE_BREAK_BYTES = re.compile(rb"\r\n|\r|\n")
_HAS_BREAK = re.compile(rb"[\r\n]")


DataT = TypeVar("DataT")


@dataclasses.dataclass(frozen=True)
class ServerSentEvent(Generic[DataT]):
    """One server-sent event, with the fields of FastAPI's ``fastapi.sse.ServerSentEvent``; generic in its data.

    ``data`` is serialized as JSON (validated as the route's item type, if it has one); ``raw_data`` is sent
    as is. Set at most one of them. ``comment`` lines are ignored by clients (useful as a heartbeat).
    Yielded to a client that asked for another format (JSON Lines...), the event's ``data`` is the item and
    its other fields are dropped. A route declared ``AsyncIterable[ServerSentEvent[Order]]`` streams
    ``Order`` items, wrapped in events it sets the fields of (``AsyncIterable[ServerSentEvent[Order] | Usage]``:
    events of orders, and plain ``Usage`` items).
    """

    data: DataT | None = None
    raw_data: str | None = None
    event: str | None = None
    id: str | None = None
    retry: int | None = None
    comment: str | None = None

    def __post_init__(self) -> None:
        if self.data is not None and self.raw_data is not None:
            raise ValueError("ServerSentEvent takes data or raw_data, not both.")
        for name in ("event", "id"):
            value = getattr(self, name)
            if value is not None and ("\r" in value or "\n" in value):
                raise ValueError(f"ServerSentEvent {name} may not contain a line break (CR or LF): {value!r}.")
        if self.id is not None and "\0" in self.id:
            raise ValueError("ServerSentEvent id may not contain NUL: clients would ignore it.")
        if self.retry is not None and (
            isinstance(self.retry, bool) or not isinstance(self.retry, int) or self.retry < 0
        ):
            raise ValueError(f"ServerSentEvent retry must be a non-negative integer of milliseconds: {self.retry!r}.")


def encode_event(event: ServerSentEvent[Any], data: bytes | None = None) -> bytes:
    """The frame of ``event``; ``data`` is its serialized ``data`` (``raw_data`` is used when it is ``None``)."""
    parts: list[bytes] = []
    if event.comment is not None:
        parts.extend(b": " + line.encode() + b"\n" for line in _LINE_BREAK.split(event.comment))
    if event.event is not None:
        parts.append(b"event: " + event.event.encode() + b"\n")
    if event.id is not None:
        parts.append(b"id: " + event.id.encode() + b"\n")
    if event.retry is not None:
        parts.append(b"retry: %d\n" % event.retry)
    if data is None and event.raw_data is not None:
        data = event.raw_data.encode()
    if data is not None:
        parts.extend(b"data: " + line + b"\n" for line in _LINE_BREAK_BYTES.split(data))
    parts.append(b"\n")
    return b"".join(parts)


class SseDecoder(FrameDecoder):
    """Incremental event-stream parser: ``feed(bytes)`` returns the events dispatched so far.

    Each event is a ``ServerSentEvent`` whose ``raw_data`` is the event's data string; ``id`` is the last
    event ID in force when it was dispatched (as a browser's ``MessageEvent.lastEventId``), ``event`` its type
    (``None`` for the default ``message``) and ``retry`` the reconnection time it set, if any. ``close()``
    raises ``StreamTruncated`` if the stream ended inside an event.

    ``retry`` is the last reconnection time the stream set; ``pending_retry`` is one set after the last event
    (a ``retry:`` with no event after it, as a server that shuts down sends: "come back in this many ms").
    """

    __slots__ = (
        "_buffer",
        "_data",
        "_event_type",
        "_pending",
        "_retry",
        "_started",
        "last_event_id",
        "pending_retry",
        "retry",
    )

    def __init__(self, *, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        super().__init__(max_frame_size=max_frame_size)
        self.last_event_id = ""
        self.retry: int | None = None
        self.pending_retry: int | None = None
        self._buffer = bytearray()
        self._data: list[str] = []
        self._event_type = ""
        self._retry: int | None = None
        self._pending = 0
        self._started = False

    def feed(self, data: bytes) -> list[ServerSentEvent[Any]]:
        """Add received bytes; return the events they completed."""
        buffer = self._buffer
        self._examined += len(data)
        if self._started and not buffer.endswith(b"\r") and not _HAS_BREAK.search(data):
            # The buffer holds an unfinished line; without a line break, this only makes it longer.
            buffer += data
            self._check_size(len(buffer))
            return []
        buffer += data
        if not self._started and buffer:
            if len(buffer) < 3 and b"\xef\xbb\xbf".startswith(bytes(buffer)):
                return []
            if buffer.startswith(b"\xef\xbb\xbf"):
                del buffer[:3]
            self._started = True
        events: list[ServerSentEvent[Any]] = []
        text, hold = buffer, b""
        if text.endswith(b"\r"):
            # A CR at the very end may be the first half of a CRLF: keep it until the next byte arrives.
            text, hold = text[:-1], b"\r"
        self._examined += len(text)
        lines = _LINE_BREAK_BYTES.split(text)
        rest = lines.pop() + hold
        for line in lines:
            self._line(line.decode("utf-8", "replace"), events)
        self._buffer = bytearray(rest)
        self._check_size(len(rest))
        return events

    def _check_size(self, pending: int) -> None:
        if pending + self._pending > self.max_frame_size:
            raise FrameTooLarge(
                f"Event {self._frames + 1} is longer than max_frame_size={self.max_frame_size} bytes.",
                frame_index=self._frames,
            )

    def close(self) -> list[ServerSentEvent[Any]]:
        """Signal the end of the stream; raise ``StreamTruncated`` if it ended inside an event."""
        events: list[ServerSentEvent[Any]] = []
        if self._buffer.endswith(b"\r"):
            # The CR held back in case a LF followed: at the end, it is a line break of its own.
            *lines, rest = _LINE_BREAK_BYTES.split(bytes(self._buffer))
            for line in lines:
                self._line(line.decode("utf-8", "replace"), events)
            self._buffer = bytearray(rest)
        if self._buffer or self._data:
            raise StreamTruncated(
                f"The stream ended inside event {self._frames + 1} (no blank line closed it): the connection was "
                "cut or the server aborted the stream.",
                frame_index=self._frames,
                items_received=self._frames,
            )
        return events

    def _line(self, line: str, events: list[ServerSentEvent[Any]]) -> None:
        if not line:
            self._dispatch(events)
            return
        if line.startswith(":"):
            return
        field, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if field == "data":
            self._data.append(value)
            self._pending += len(value) + 1
            if self._pending > self.max_frame_size:
                raise FrameTooLarge(
                    f"Event {self._frames + 1} is longer than max_frame_size={self.max_frame_size} bytes.",
                    frame_index=self._frames,
                )
        elif field == "event":
            self._event_type = value
        elif field == "id":
            if "\0" not in value:
                self.last_event_id = value
        elif field == "retry" and value.isascii() and value.isdigit():
            self.retry = self._retry = self.pending_retry = int(value)

    def _dispatch(self, events: list[ServerSentEvent[Any]]) -> None:
        self._pending = 0
        data, self._data = self._data, []
        event_type, self._event_type = self._event_type, ""
        retry, self._retry = self._retry, None
        if not data:
            return
        self.pending_retry = None
        self._frames += 1
        events.append(
            ServerSentEvent(
                raw_data="\n".join(data),
                event=event_type or None,
                id=self.last_event_id or None,
                retry=retry,
            )
        )


class SseFrameReader(FrameReader):
    """Reads an event stream: each event is a ``Frame`` of its data, name, id and retry; the server's own events
    (``error``, ``gap``, and ``end`` when the response announces end records) are records."""

    __slots__ = ()

    decoder: SseDecoder

    @property
    def retry(self) -> int | None:
        return self.decoder.retry

    @property
    def pending_retry(self) -> int | None:
        return self.decoder.pending_retry

    def feed(self, chunk: bytes) -> list[Frame]:
        return [self._event(event) for event in self.decoder.feed(chunk)]

    def close(self) -> list[Frame]:
        return [self._event(event) for event in self.decoder.close()]

    def _event(self, event: ServerSentEvent[Any]) -> Frame:
        name = event.event
        data = (event.raw_data or "").encode()
        record = name if name in RECORD_NAMES and (name != "end" or "end" in self.records) else None
        return Frame(data, name, event.id, event.retry, record)


def _kind_event(kind: bytes, data: bytes) -> bytes:
    return b"event: " + kind + b"\ndata: " + data


class SseFormat(StreamFormat):
    """Server-Sent Events: each item is an event whose data is the item's JSON (an item of a named kind has its
    kind as the event's name); records are the events ``error``, ``end`` (with the id ``END_ID``) and ``gap``;
    a shutdown sends ``retry:`` so that clients come back."""

    uploads = False
    names_kinds = True

    @property
    def content_type(self) -> str:
        # SSE is UTF-8 by definition; saying so (as FastAPI does) spares clients a guess.
        return self.media_type + "; charset=utf-8"

    @property
    def closes_itself(self) -> bool:
        return False

    def frame_event(
        self,
        event: Any,
        data: bytes | None,
        *,
        first: bool,
        kind: bytes | None = None,
        envelope: bool = False,
    ) -> bytes | None:
        if kind is not None and event.event is None:
            event = dataclasses.replace(event, event=kind.decode())
        return encode_event(event, data)

    def frame_message(self, message_id: str, data: bytes, *, first: bool) -> bytes:
        return b"id: " + message_id.encode() + b"\ndata: " + data + b"\n\n"

    def kind_framing(self, *, envelope: bool) -> tuple[Framing, KindFramer | None]:
        # The kind's name comes first, so the frame's "data: " is written by the kind framer.
        return dataclasses.replace(self.framing, prefix=b""), _kind_event

    def error_record(self, problem: Mapping[str, Any], *, first: bool) -> bytes:
        return b"event: error\ndata: " + json_bytes(problem) + b"\n\n"

    def end_record(self, count: int, *, first: bool) -> bytes | None:
        return b'event: end\nid: %s\ndata: {"count":%d}\n\n' % (END_ID.encode(), count)

    def gap_record(self, after: str, next_id: str) -> bytes | None:
        return b"event: gap\ndata: " + json_bytes({"after": after, "next": next_id}) + b"\n\n"

    def shutdown_frame(self, retry: int | None) -> bytes | None:
        return None if retry is None else b"retry: %d\n\n" % retry

    def reader(self, *, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE, records: Iterable[str] = ()) -> FrameReader:
        return SseFrameReader(SseDecoder(max_frame_size=max_frame_size), records)

    def document(self, docs: StreamDocs, version: str) -> dict[str, Any]:
        events = [event_schema(name, schema) for name, schema in docs.kinds] or [event_schema(None, docs.item)]
        for name, (_, data) in sorted(docs.records.items()):
            events.append(event_schema(name, data, id=END_ID if name == "end" else None))
        event = events[0] if len(events) == 1 else {"oneOf": events}
        if version.startswith("3.2"):
            return {"itemSchema": event}
        return {"schema": {"type": "string"}, "x-oai-itemSchema": event}


def event_schema(name: str | None, data: dict[str, Any], *, id: str | None = None) -> dict[str, Any]:
    """One event of the stream: its name, and its data as JSON of ``data``'s schema."""
    properties: dict[str, Any] = {
        "event": {"type": "string"} if name is None else {"const": name},
        "data": {"type": "string", "contentMediaType": "application/json", "contentSchema": data},
        "id": {"type": "string"} if id is None else {"const": id},
        "retry": {"type": "integer", "minimum": 0},
    }
    return {"type": "object", "properties": properties, "required": ["data"] if name is None else ["event", "data"]}
