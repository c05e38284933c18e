"""I/O-free core of the clients: bytes of a streamed response -> validated items, errors, reconnect decisions.

Shared by ``Client`` and ``AsyncClient`` (and usable on its own): both twins only move bytes and sleep.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any, Generic, TypeVar

import pydantic_core
from pydantic import TypeAdapter

from linestream._events import discriminated, event_kinds
from linestream.exceptions import StreamDecodeError, StreamError, StreamTruncated
from linestream.streams import FORMATS, SSE, StreamFormat, format_for_media_type
from linestream.streams.jsonlines import DEFAULT_MAX_FRAME_SIZE
from linestream.streams.sse import ServerSentEvent

__all__ = ["Event", "RetryPolicy", "StreamReader"]

T = TypeVar("T")

logger = logging.getLogger("linestream.client")


@dataclasses.dataclass(frozen=True, slots=True)
class Event(Generic[T]):
    """One item of a stream with its SSE fields (``event``, ``id``, ``retry`` are ``None`` outside SSE)."""

    data: T
    event: str | None = None
    id: str | None = None
    retry: int | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When and how often the SSE client reconnects (sending ``Last-Event-ID``).

    It reconnects after a truncated stream or a connection error, and after a clean end if the server sent a
    ``retry`` field on that connection (its way to say "come back", as linestream servers do when they shut
    down). It waits the server's ``retry`` (milliseconds) if it gave one, else ``backoff`` seconds doubled on each
    consecutive failure up to ``max_backoff``; after ``max_attempts`` consecutive attempts that brought no
    event it gives up and raises the last error. ``RetryPolicy(max_attempts=0)`` never reconnects.
    """

    max_attempts: int = 5
    backoff: float = 0.5
    max_backoff: float = 30.0


class StreamReader:
    """Decodes one response body, chunk by chunk, into ``Event``s whose data are validated ``item``s.

    Raises ``StreamError`` for an in-band error record (an SSE ``error`` event; in the JSON formats a
    ``{"error": problem}`` item, when the response announces error records in ``Stream-Records``),
    ``StreamTruncated`` when the body ends inside a frame (or an array is left unterminated), and
    ``StreamDecodeError`` for a frame that is not a valid item.

    ``item`` may be a union of models (``Token | Usage``): each item is validated as its own kind, told by the
    SSE event name, the kinds' tag field, or the ``{"event", "data"}`` envelope the response announces in
    ``Stream-Envelope``; an SSE event of a kind the union does not have is skipped (``unknown_events="skip"``,
    with a log line) or raises ``StreamDecodeError`` (``"raise"``).

    A response that announces end records (``Stream-Records: end``) is only complete with its end record:
    ``close()`` raises ``StreamTruncated`` without it, even when the transport ended cleanly (a proxy that
    re-chunks, an HTTP/2 stream reset as a clean end). An SSE stream that ends with a ``retry:`` after its last
    event (what a server says when it shuts down: "come back") is not complete either, unless the reader is
    ``resumable`` (the caller reconnects with ``Last-Event-ID``, as ``events()`` does).
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
    ) -> None:
        stream_format = format_for_media_type(content_type)
        if stream_format is None:
            choices = ", ".join(f.media_type for f in FORMATS)
            raise StreamDecodeError(
                f"The response's content type {content_type!r} is not a stream format ({choices}).",
                frame_index=0,
            )
        if unknown_events not in ("skip", "raise"):
            raise ValueError(f"unknown_events must be 'skip' or 'raise', not {unknown_events!r}")
        self.format: StreamFormat = stream_format
        self.adapter: TypeAdapter[Any] | None = None if item is None else TypeAdapter(discriminated(item))
        #: The kinds of a union item type (each validated as itself), else ``None``.
        self.kinds = None if item is None else event_kinds(item)
        self._kind_adapters: dict[str, TypeAdapter[Any]] = {}
        self.decoder = stream_format.decoder(max_frame_size=max_frame_size)
        self.resumable = resumable
        self.records = frozenset(part.strip() for part in records.split(",") if part.strip())
        self.envelope = envelope and stream_format is not SSE
        self.unknown_events = unknown_events
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
        return self.decoder.retry if self.format is SSE else None

    @property
    def reconnect_requested(self) -> bool:
        """Whether the SSE stream ended by asking the client to come back (a ``retry:`` after its last event)."""
        return self.format is SSE and not self.ended and self.decoder.pending_retry is not None

    def feed(self, chunk: bytes) -> list[Event[Any]]:
        return self._events(self.decoder.feed(chunk))

    def close(self) -> list[Event[Any]]:
        try:
            frames = self.decoder.close()
        except StreamTruncated as exc:
            raise StreamTruncated(str(exc), frame_index=exc.frame_index, items_received=self.count) from exc
        events = self._events(frames)
        if self.reconnect_requested and not self.resumable:
            raise self.incomplete()
        if "end" in self.records and not self.ended and not self.format.framing.tail and not self.reconnect_requested:
            raise StreamTruncated(
                f"The stream ended after {self.count} item(s) without its end record: it was cut (by a proxy, or "
                "a connection that closed cleanly), so it may be incomplete.",
                frame_index=self.count,
                items_received=self.count,
            )
        return events

    def incomplete(self) -> StreamTruncated:
        """The error for an SSE stream that ended asking the client to come back, when it does not."""
        return StreamTruncated(
            f"The server ended the stream after {self.count} item(s) asking the client to reconnect (it is "
            "shutting down): the stream is not complete. Client.events() resumes such streams.",
            frame_index=self.count,
            items_received=self.count,
        )

    def _events(self, frames: list[Any]) -> list[Event[Any]]:
        events = []
        for frame in frames:
            event = self._sse_event(frame) if self.format is SSE else self._json_event(frame)
            if event is not None:
                self.count += 1
                events.append(event)
        return events

    def truncated(self, cause: BaseException) -> StreamTruncated:
        """The error for a body the connection cut (without its final chunk)."""
        error = StreamTruncated(
            f"The stream was cut after {self.count} item(s): {cause}",
            frame_index=self.count,
            items_received=self.count,
        )
        error.__cause__ = cause
        return error

    def _sse_event(self, frame: ServerSentEvent[Any]) -> Event[Any] | None:
        if frame.id is not None:
            self.last_event_id = frame.id
        data = (frame.raw_data or "").encode()
        name = frame.event
        if name == "error":
            raise StreamError(_problem(data), items_received=self.count)
        if name == "gap":
            gap = _problem(data)
            self.gaps.append(gap)
            logger.warning(
                "The server lost messages of this stream after %s, before %s.", gap.get("after"), gap.get("next")
            )
            return None
        if name == "end" and "end" in self.records:
            self.ended = True
            return None
        if self.kinds is not None and name is not None:
            adapter = self._kind_adapter(name)
            if adapter is None:
                return None
            return Event(self._validate(data, adapter), name, frame.id, frame.retry)
        value = self._validate(data)
        return Event(value, name or self._kind_name(value), frame.id, frame.retry)

    def _json_event(self, frame: bytes) -> Event[Any] | None:
        if self.records and frame[:12].replace(b" ", b"").startswith((b'{"error":', b'{"end":')):
            value = pydantic_core.from_json(frame)
            if isinstance(value, dict) and len(value) == 1 and isinstance(next(iter(value.values())), dict):
                if "error" in value and "error" in self.records:
                    raise StreamError(value["error"], items_received=self.count)
                if "end" in value and "end" in self.records:
                    self.ended = True
                    return None
        if self.envelope:
            envelope = self._validate(frame, _ENVELOPE)
            name = envelope.get("event")
            if not isinstance(name, str) or "data" not in envelope:
                raise StreamDecodeError(
                    f'Item {self.count + 1} is not an envelope {{"event": kind, "data": item}}.',
                    frame_index=self.count,
                )
            adapter = self._kind_adapter(name) if self.kinds is not None else self.adapter
            if adapter is None and self.kinds is not None:
                return None
            return Event(self._validate(pydantic_core.to_json(envelope["data"]), adapter), name)
        value = self._validate(frame)
        return Event(value, self._kind_name(value))

    def _kind_adapter(self, name: str) -> TypeAdapter[Any] | None:
        assert self.kinds is not None
        adapter = self._kind_adapters.get(name)
        if adapter is None:
            member = self.kinds.by_name.get(name)
            if member is None:
                if self.unknown_events == "raise":
                    raise StreamDecodeError(
                        f"Item {self.count + 1} is of a kind {name!r} that is none of {', '.join(self.kinds.by_name)}.",
                        frame_index=self.count,
                    )
                logger.info("Skipped an item of the unknown kind %r.", name)
                return None
            adapter = self._kind_adapters[name] = TypeAdapter(member)
        return adapter

    def _kind_name(self, value: Any) -> str | None:
        return None if self.kinds is None else self.kinds.name_of(value.__class__).decode()

    def _validate(self, data: bytes, adapter: TypeAdapter[Any] | None = None) -> Any:
        adapter = adapter or self.adapter
        try:
            if adapter is None:
                return pydantic_core.from_json(data)
            return adapter.validate_json(data)
        except ValueError as exc:
            raise StreamDecodeError(f"Item {self.count + 1} is not valid: {exc}", frame_index=self.count) from exc


_ENVELOPE: TypeAdapter[dict[str, Any]] = TypeAdapter(dict[str, Any])


def _problem(data: bytes) -> dict[str, Any]:
    try:
        value = pydantic_core.from_json(data)
    except ValueError:
        return {"title": "Stream error", "detail": data.decode("utf-8", "replace")}
    return value if isinstance(value, dict) else {"title": "Stream error", "detail": value}


class Reconnection:
    """The reconnect decisions of one SSE ``events()`` call (I/O-free)."""

    def __init__(self, policy: RetryPolicy | None) -> None:
        self.policy = policy or RetryPolicy(max_attempts=0)
        self.failures = 0
        self.last_event_id: str | None = None

    def on_event(self, event: Event[Any]) -> None:
        self.failures = 0
        if event.id is not None:
            self.last_event_id = event.id

    def raise_unless_complete(self, reader: StreamReader | None, error: BaseException | None) -> None:
        """Once reconnecting stopped: raise ``error`` (the last attempt failed), or ``StreamTruncated`` if the server
        asked the client to come back (it shut down) and the policy allows no more attempts."""
        if error is not None:
            raise error
        if reader is not None and reader.reconnect_requested:
            raise reader.incomplete()

    def next_delay(self, reader: StreamReader | None, error: BaseException | None) -> float | None:
        """Seconds to wait before reconnecting, or ``None`` to stop (the caller raises ``error`` if any)."""
        if reader is not None and reader.last_event_id is not None:
            self.last_event_id = reader.last_event_id
        if reader is not None and reader.ended:
            return None  # the end record: the stream is complete, whatever else the server said
        server_retry = reader.retry if reader is not None else None
        if error is None and server_retry is None:
            return None  # a clean end the server did not ask to come back from
        self.failures += 1
        if self.failures > self.policy.max_attempts:
            return None
        if server_retry is not None:
            return server_retry / 1000
        return float(min(self.policy.backoff * 2 ** (self.failures - 1), self.policy.max_backoff))
