"""Frames -> validated items: the one decoder of items, for every reader (the clients, the test clients, streamed
request bodies, both sides of a typed WebSocket). I/O-free and server-free: the client imports it.

``ItemValidator`` validates one item's JSON as the declared type: a model, a union of kinds (each item validated
as its own kind, told by an SSE event name, an envelope or the kinds' tag field), anything. ``StreamReader``
reads a whole response body with a format's ``FrameReader``: items as ``Event``s, the records the server added
(an error record raises ``StreamError``, the end record marks the stream complete, gaps are collected), and the
decisions a reconnecting client needs (the last event id, the server's ``retry``).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import pydantic_core

from linestream._kinds import EventKinds, discriminated, event_kinds
from linestream.exceptions import StreamDecodeError, StreamError, StreamTruncated
from linestream.streams import FORMATS, Frame, FrameReader, StreamFormat, format_for_media_type
from linestream.streams.jsonlines import DEFAULT_MAX_FRAME_SIZE

if TYPE_CHECKING:
    from pydantic import TypeAdapter

__all__ = ["Event", "ItemValidator", "SKIPPED", "StreamReader", "UnknownKind"]

T = TypeVar("T")

logger = logging.getLogger("linestream.client")

#: What ``ItemValidator.validate_kind`` returns for an item of a kind the type does not have (and skips).
SKIPPED: Any = object()


@dataclasses.dataclass(frozen=True, slots=True)
class Event(Generic[T]):
    """One item of a stream with its SSE fields (``event``, ``id``, ``retry`` are ``None`` outside SSE)."""

    data: T
    event: str | None = None
    id: str | None = None
    retry: int | None = None


class UnknownKind(ValueError):
    """An item of a kind the declared union does not have (``unknown_kinds="raise"``)."""


def _adapter(item: Any) -> TypeAdapter[Any]:
    from pydantic import TypeAdapter  # the client imports this module; pydantic's main loads on first use

    return TypeAdapter(discriminated(item))


class ItemValidator:
    """Validates items' JSON as ``item`` (``None``: any JSON value). ``validate`` raises ``ValueError`` (a
    ``pydantic.ValidationError``, or a JSON error) for an item that is not one.

    A union of models (``Token | Usage``) is validated by the kinds' tag field when they share one; an item whose
    kind is named (``validate_kind``) is validated as that kind alone, and one of a kind the union does not have
    is skipped (``unknown_kinds="skip"``, logged) or refused (``"raise"``: ``UnknownKind``).
    """

    __slots__ = ("_adapter", "_kind_adapters", "item", "kinds", "unknown_kinds")

    def __init__(
        self, item: Any = None, *, unknown_kinds: str = "skip", adapter: TypeAdapter[Any] | None = None
    ) -> None:
        if unknown_kinds not in ("skip", "raise"):
            raise ValueError(f"unknown_events must be 'skip' or 'raise', not {unknown_kinds!r}")
        self.item = item
        self.unknown_kinds = unknown_kinds
        #: The kinds of a union item type (each validated as itself), else ``None``.
        self.kinds: EventKinds | None = None if item is None else event_kinds(item)
        #: Validates the item type (made on first use unless given: a server's route has one already).
        self._adapter: TypeAdapter[Any] | None = adapter
        self._kind_adapters: dict[str, TypeAdapter[Any]] = {}

    @property
    def adapter(self) -> TypeAdapter[Any] | None:
        if self._adapter is None and self.item is not None:
            self._adapter = _adapter(self.item)
        return self._adapter

    def validate(self, data: bytes | str) -> Any:
        """The item that ``data`` (its JSON) is."""
        adapter = self.adapter
        if adapter is None:
            return pydantic_core.from_json(data)
        return adapter.validate_json(data)

    def validate_python(self, value: Any) -> Any:
        """The item that ``value`` (already parsed JSON) is."""
        adapter = self.adapter
        return value if adapter is None else adapter.validate_python(value)

    def validate_kind(self, kind: str, data: bytes | str) -> Any:
        """The item of kind ``kind`` that ``data`` is; ``SKIPPED`` for an unknown kind that is skipped."""
        if self.kinds is None:
            return self.validate(data)
        adapter = self._kind_adapters.get(kind)
        if adapter is None:
            member = self.kinds.by_name.get(kind)
            if member is None:
                if self.unknown_kinds == "raise":
                    raise UnknownKind(f"it is of a kind {kind!r} that is none of {', '.join(self.kinds.by_name)}")
                logger.info("Skipped an item of the unknown kind %r.", kind)
                return SKIPPED
            adapter = self._kind_adapters[kind] = _adapter(member)
        return adapter.validate_json(data)

    def kind_of(self, value: Any) -> str | None:
        """The name of the kind of a validated item (``None`` when the type is not a union of kinds)."""
        return None if self.kinds is None else self.kinds.name_of(value.__class__).decode()


class StreamReader:
    """Decodes one response body, chunk by chunk, into ``Event``s whose data are validated ``item``s.

    ``read(chunk)`` yields the events a chunk completes and raises at the first frame that is not a valid item,
    after the items before it (``feed`` returns them as a list). Raises ``StreamError`` for an in-band error
    record (an SSE ``error`` event; in the JSON formats a ``{"error": problem}`` record, when the response
    announces error records in ``Stream-Records``), ``StreamTruncated`` when the body ends inside a frame (or an
    array is left unterminated), and ``StreamDecodeError`` for a frame that is not a valid item; each carries the
    count of items received before it.

    ``item`` may be a union of models (``Token | Usage``): each item is validated as its own kind, told by the
    SSE event name, the kinds' tag field, or the ``{"event", "data"}`` envelope the response announces in
    ``Stream-Envelope``; an item of a kind the union does not have is skipped (``unknown_events="skip"``,
    with a log line) or raises ``StreamDecodeError`` (``"raise"``).

    A response that announces end records (``Stream-Records: end``) is only complete with its end record:
    ``close()`` raises ``StreamTruncated`` without it, even when the transport ended cleanly (a proxy that
    re-chunks, an HTTP/2 stream reset as a clean end). An SSE stream that ends with a ``retry:`` after its last
    event (what a server says when it shuts down: "come back") is not complete either, unless the reader is
    ``resumable`` (the caller reconnects with ``Last-Event-ID``, as ``events()`` does).

    ``formats``: the formats known beside the built-in ones (a format of the server's own, ``docs/formats.md``).
    """

    def __init__(
        self,
        content_type: str,
        item: Any = None,
        *,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        resumable: bool = False,
        records: str = "",
        envelope: bool = False,
        unknown_events: str = "skip",
        formats: Iterable[StreamFormat] = (),
    ) -> None:
        known = (*formats, *FORMATS)
        stream_format = format_for_media_type(content_type, known)
        if stream_format is None:
            choices = ", ".join(f.media_type for f in known)
            raise StreamDecodeError(
                f"The response's content type {content_type!r} is not a stream format ({choices}).",
                frame_index=0,
            )
        self.format: StreamFormat = stream_format
        self.validator = ItemValidator(item, unknown_kinds=unknown_events)
        self.records = frozenset(part.strip() for part in records.split(",") if part.strip())
        self.frames: FrameReader = stream_format.reader(max_frame_size=max_frame_size, records=self.records)
        self.resumable = resumable
        self.envelope = envelope and not stream_format.names_kinds
        #: Whether the end record arrived (streams that announce end records).
        self.ended = False
        self.count = 0
        self.last_event_id: str | None = None
        #: The gaps the server announced (SSE ``gap`` events: messages lost after ``after``, before ``next``).
        self.gaps: list[dict[str, Any]] = []

    @classmethod
    def for_response(cls, headers: Mapping[str, str], item: Any = None, **options: Any) -> StreamReader:
        """The reader of a response with these ``headers`` (its content type, and what it announces)."""
        return cls(
            headers.get("content-type", ""),
            item,
            records=headers.get("stream-records", ""),
            envelope=headers.get("stream-envelope", "") == "event",
            **options,
        )

    @property
    def retry(self) -> int | None:
        """The reconnection time (ms) the SSE stream set last, in an event or alone; ``None`` if none (or not SSE)."""
        return self.frames.retry

    @property
    def reconnect_requested(self) -> bool:
        """Whether the SSE stream ended by asking the client to come back (a ``retry:`` after its last event)."""
        return not self.ended and self.frames.pending_retry is not None

    def read(self, chunk: bytes) -> Iterator[Event[Any]]:
        """The events ``chunk`` completes; raises at the first invalid frame, after the events before it."""
        return self._events(self.frames.feed(chunk))

    def feed(self, chunk: bytes) -> list[Event[Any]]:
        """The events ``chunk`` completes, as a list (see ``read``)."""
        return list(self.read(chunk))

    def finish(self) -> Iterator[Event[Any]]:
        """The events of the end of the body; raises if the stream is incomplete."""
        try:
            frames = self.frames.close()
        except StreamTruncated as exc:
            raise StreamTruncated(str(exc), frame_index=exc.frame_index, items_received=self.count) from exc
        yield from self._events(frames)
        if self.reconnect_requested and not self.resumable:
            raise self.incomplete()
        if "end" in self.records and not self.ended and not self.format.closes_itself and not self.reconnect_requested:
            raise StreamTruncated(
                f"The stream ended after {self.count} item(s) without its end record: it was cut (by a proxy, or "
                "a connection that closed cleanly), so it may be incomplete.",
                frame_index=self.count,
                items_received=self.count,
            )

    def close(self) -> list[Event[Any]]:
        """Signal the end of the body; return its last events (see ``finish``)."""
        return list(self.finish())

    def incomplete(self) -> StreamTruncated:
        """The error for an SSE stream that ended asking the client to come back, when it does not."""
        return StreamTruncated(
            f"The server ended the stream after {self.count} item(s) asking the client to reconnect (it is "
            "shutting down): the stream is not complete. Client.events() resumes such streams.",
            frame_index=self.count,
            items_received=self.count,
        )

    def truncated(self, cause: BaseException) -> StreamTruncated:
        """The error for a body the connection cut (without its final chunk)."""
        error = StreamTruncated(
            f"The stream was cut after {self.count} item(s): {cause}",
            frame_index=self.count,
            items_received=self.count,
        )
        error.__cause__ = cause
        return error

    def _events(self, frames: list[Frame]) -> Iterator[Event[Any]]:
        for frame in frames:
            if frame.id is not None:
                self.last_event_id = frame.id
            if frame.record is not None:
                self._record(frame)
                continue
            event = self._event(frame)
            if event is not None:
                self.count += 1
                yield event

    def _record(self, frame: Frame) -> None:
        payload = _object(frame.data)
        if frame.record == "error":
            raise StreamError(payload, items_received=self.count)
        if frame.record == "gap":
            self.gaps.append(payload)
            after, next_id = payload.get("after"), payload.get("next")
            logger.warning("The server lost messages of this stream after %s, before %s.", after, next_id)
        elif frame.record == "end":
            self.ended = True

    def _event(self, frame: Frame) -> Event[Any] | None:
        validator = self.validator
        name = frame.event
        data = frame.data
        if self.envelope:
            envelope = self._valid(frame.data, pydantic_core.from_json)
            name = envelope.get("event") if isinstance(envelope, dict) else None
            if not isinstance(name, str) or "data" not in envelope:
                raise StreamDecodeError(
                    f'Item {self.count + 1} is not an envelope {{"event": kind, "data": item}}.',
                    frame_index=self.count,
                    items_received=self.count,
                )
            data = pydantic_core.to_json(envelope["data"])
        if name is not None and (validator.kinds is not None or self.envelope):
            value = self._valid(data, lambda raw: validator.validate_kind(name, raw))
            if value is SKIPPED:
                return None
            return Event(value, name, frame.id, frame.retry)
        value = self._valid(data, validator.validate)
        return Event(value, name or validator.kind_of(value), frame.id, frame.retry)

    def _valid(self, data: bytes, validate: Any) -> Any:
        try:
            return validate(data)
        except ValueError as exc:
            raise StreamDecodeError(
                f"Item {self.count + 1} is not valid: {exc}", frame_index=self.count, items_received=self.count
            ) from exc


def _object(data: bytes) -> dict[str, Any]:
    """A record's payload as an object (a problem, a gap), whatever the server sent."""
    try:
        value = pydantic_core.from_json(data)
    except ValueError:
        return {"title": "Stream error", "detail": data.decode("utf-8", "replace")}
    return value if isinstance(value, dict) else {"title": "Stream error", "detail": value}
