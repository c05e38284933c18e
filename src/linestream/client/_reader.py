"""I/O-free core of the clients: bytes of a streamed response -> validated items, errors, reconnect decisions.

Shared by ``Client`` and ``AsyncClient`` (and usable on its own): both twins only move bytes and sleep.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, Generic, TypeVar

import pydantic_core
from pydantic import TypeAdapter

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

    Raises ``StreamError`` for an in-band error record (a ``{"error": problem}`` item, or an SSE ``error``
    event), ``StreamTruncated`` when the body ends inside a frame (or an array is left unterminated), and
    ``StreamDecodeError`` for a frame that is not a valid item.

    An SSE stream that ends with a ``retry:`` after its last event (what a server says when it shuts down:
    "come back") is not complete: ``close()`` raises ``StreamTruncated`` unless the reader is ``resumable`` (the
    caller reconnects with ``Last-Event-ID``, as ``events()`` does).
    """

    def __init__(
        self,
        content_type: str,
        item: Any = None,
        *,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        resumable: bool = False,
    ) -> None:
        stream_format = format_for_media_type(content_type)
        if stream_format is None:
            choices = ", ".join(f.media_type for f in FORMATS)
            raise StreamDecodeError(
                f"The response's content type {content_type!r} is not a stream format ({choices}).",
                frame_index=0,
            )
        self.format: StreamFormat = stream_format
        self.adapter: TypeAdapter[Any] | None = None if item is None else TypeAdapter(item)
        self.decoder = stream_format.decoder(max_frame_size=max_frame_size)
        self.resumable = resumable
        self.count = 0
        self.last_event_id: str | None = None
        #: The gaps the server announced (SSE ``gap`` events: messages lost after ``after``, before ``next``).
        self.gaps: list[dict[str, Any]] = []

    def feed(self, chunk: bytes) -> list[Event[Any]]:
        return self._events(self.decoder.feed(chunk))

    @property
    def retry(self) -> int | None:
        """The reconnection time (ms) the SSE stream set last, in an event or alone; ``None`` if none (or not SSE)."""
        return self.decoder.retry if self.format is SSE else None

    @property
    def reconnect_requested(self) -> bool:
        """Whether the SSE stream ended by asking the client to come back (a ``retry:`` after its last event)."""
        return self.format is SSE and self.decoder.pending_retry is not None

    def close(self) -> list[Event[Any]]:
        try:
            frames = self.decoder.close()
        except StreamTruncated as exc:
            raise StreamTruncated(str(exc), frame_index=exc.frame_index, items_received=self.count) from exc
        events = self._events(frames)
        if self.reconnect_requested and not self.resumable:
            raise self.incomplete()
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
            event = self._event(frame)
            if event is not None:
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

    def _event(self, frame: Any) -> Event[Any] | None:
        if self.format is SSE:
            assert isinstance(frame, ServerSentEvent)
            if frame.id is not None:
                self.last_event_id = frame.id
            text = frame.raw_data or ""
            if frame.event == "error":
                raise StreamError(_problem(text.encode()), items_received=self.count)
            if frame.event == "gap":
                gap = _problem(text.encode())
                self.gaps.append(gap)
                logger.warning(
                    "The server lost messages of this stream after %s, before %s.", gap.get("after"), gap.get("next")
                )
                return None
            event = Event(self._validate(text.encode()), frame.event, frame.id, frame.retry)
        else:
            if frame[:12].replace(b" ", b"").startswith(b'{"error":'):
                value = pydantic_core.from_json(frame)
                if isinstance(value, dict) and set(value) == {"error"} and isinstance(value["error"], dict):
                    raise StreamError(value["error"], items_received=self.count)
            event = Event(self._validate(frame))
        self.count += 1
        return event

    def _validate(self, data: bytes) -> Any:
        try:
            if self.adapter is None:
                return pydantic_core.from_json(data)
            return self.adapter.validate_json(data)
        except ValueError as exc:
            raise StreamDecodeError(f"Item {self.count + 1} is not valid: {exc}", frame_index=self.count) from exc


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
        server_retry = reader.retry if reader is not None else None
        if error is None and server_retry is None:
            return None  # a clean end the server did not ask to come back from
        self.failures += 1
        if self.failures > self.policy.max_attempts:
            return None
        if server_retry is not None:
            return server_retry / 1000
        return float(min(self.policy.backoff * 2 ** (self.failures - 1), self.policy.max_backoff))
