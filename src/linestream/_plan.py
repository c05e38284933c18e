"""Stream plans: everything about serving one route's stream in one format, decided once when the route is built.

A ``StreamPlan`` holds the framing, the item encoder (size-checked), the framer of yielded events and serialized
items, the keep-alive, the send timeout, the error-record policy and its frame, the shutdown frame and the
response headers. The route builds one plan per format it offers; a request only picks one by ``Accept``, and
``_response`` runs it without looking back at the route or the app.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Sequence
from typing import Any

from starlette.responses import Response, StreamingResponse
from starlette.types import Message

from linestream._frames import (
    EndRecord,
    ErrorRecord,
    EventFramer,
    NamedEncoder,
    Payload,
    end_record,
    error_record,
    event_framer,
    kind_encoders,
    raw_chunk_encoder,
    refuse_events,
    shutdown_frame,
    size_checked,
)
from linestream._settings import Settings
from linestream.exceptions import EndpointDefinitionError
from linestream.streams import SSE, Framing, StreamFormat

__all__ = ["KeepAlive", "StreamPlan", "build_plans", "raw_stream_format"]

#: Keep-alive: the seconds of silence after which ``bytes`` are sent.
KeepAlive = tuple[float, bytes]

_STREAM_HEADERS = ((b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no"))


@dataclasses.dataclass(frozen=True, slots=True)
class StreamPlan:
    """How one route streams in one format (see the module docstring). ``label`` names the route in logs."""

    format: StreamFormat
    framing: Framing
    encode: Callable[[Any], bytes]
    frame_event: EventFramer
    chunk_size: int
    keepalive: KeepAlive | None
    send_timeout: float | None
    error_record: ErrorRecord | None
    end_record: EndRecord | None
    shutdown_frame: bytes | None
    headers: tuple[tuple[bytes, bytes], ...]
    label: str

    def start_message(self, status: int, extra: Sequence[tuple[bytes, bytes]] = ()) -> Message:
        """The ``http.response.start`` message; ``extra`` headers (set by the endpoint) replace the plan's."""
        headers = list(self.headers)
        if extra:
            names = {name for name, _ in extra}
            headers = [header for header in headers if header[0] not in names]
            headers.extend(extra)
        return {"type": "http.response.start", "status": status, "headers": headers}


def _keepalive(stream_format: StreamFormat, settings: Settings) -> KeepAlive | None:
    if stream_format.keepalive is None:
        return None
    interval = settings.sse_keepalive if stream_format is SSE else settings.jsonl_keepalive
    return None if interval is None else (float(interval), stream_format.keepalive)


def build_plans(
    settings: Settings,
    *,
    label: str,
    endpoint: str,
    encode: Callable[[Any], bytes],
    payload: Payload,
    raw: bool,
    named: NamedEncoder | None = None,
) -> tuple[StreamPlan, ...]:
    """One plan per format of ``settings.stream_formats`` (the route's, in the server's order of preference).

    ``raw``: a byte/text stream (``response_class=StreamingResponse``), whose chunks are sent as they are and
    which has no record to carry an error. ``named``: the items are of several kinds (a union), each sent with
    its kind's name: in SSE as the event's name, in JSON in an envelope if ``settings.event_envelope``."""
    if raw:
        encode = raw_chunk_encoder(endpoint)
    sse_encode = envelope = None
    if named is not None:
        sse_encode, envelope = kind_encoders(named)
        if settings.event_envelope:
            encode = envelope
    limit = settings.max_item_size
    checked = encode if limit is None else size_checked(encode, endpoint, limit)
    vary = len(settings.stream_formats) > 1
    records = [name for name, on in (("error", settings.stream_errors == "record"), ("end", settings.stream_end)) if on]
    plans = []
    for stream_format in settings.stream_formats:
        # SSE is UTF-8 by definition; saying so (as FastAPI does) spares clients a guess.
        content_type = stream_format.media_type + ("; charset=utf-8" if stream_format is SSE else "")
        headers = [(b"content-type", content_type.encode("latin-1")), *_STREAM_HEADERS]
        if vary:
            headers.append((b"vary", b"Accept"))
        if records and not raw:
            headers.append((b"stream-records", ", ".join(records).encode()))
        if named is not None and settings.event_envelope and stream_format is not SSE:
            headers.append((b"stream-envelope", b"event"))
        framing = stream_format.framing
        item_encode = checked
        if sse_encode is not None and stream_format is SSE:
            # The kind's name comes first, so the frame's "data: " is written by the encoder.
            framing = dataclasses.replace(framing, prefix=b"")
            item_encode = sse_encode if limit is None else size_checked(sse_encode, endpoint, limit)
        frame_event = event_framer(stream_format, checked, payload, named)
        plans.append(
            StreamPlan(
                format=stream_format,
                framing=framing,
                encode=item_encode,
                frame_event=refuse_events(endpoint) if raw else frame_event,
                chunk_size=settings.chunk_size,
                keepalive=_keepalive(stream_format, settings),
                send_timeout=settings.send_timeout,
                error_record=error_record(stream_format) if "error" in records and not raw else None,
                end_record=end_record(stream_format) if settings.stream_end and not raw else None,
                shutdown_frame=shutdown_frame(stream_format, settings.sse_shutdown_retry),
                headers=tuple(headers),
                label=label,
            )
        )
    return tuple(plans)


_CHUNK_TYPES = (str, bytes, bytearray, memoryview)


def raw_stream_format(endpoint: str, item_type: Any, response_class: type[Response]) -> StreamFormat:
    """The single format of a generator declared with ``response_class=StreamingResponse`` (or a subclass)."""
    if not issubclass(response_class, StreamingResponse):
        raise EndpointDefinitionError(
            f"{endpoint}: a generator path operation cannot use response_class={response_class.__name__}. "
            "Use StreamingResponse (or a subclass with its media_type) to stream raw chunks, EventSourceResponse "
            "for SSE, or no response_class to stream items in the format the client asks for."
        )
    union = typing.get_origin(item_type) in (typing.Union, types.UnionType)
    chunk_types = typing.get_args(item_type) if union else (item_type,)
    if item_type is not Any and not all(t in _CHUNK_TYPES for t in chunk_types):
        raise EndpointDefinitionError(
            f"{endpoint}: a {response_class.__name__} stream yields str or bytes chunks, but its items are declared "
            f"as {item_type!r}. Declare AsyncIterable[bytes] / Iterable[str] (or drop response_class to stream "
            "JSON items)."
        )
    media_type = response_class.media_type
    if media_type is None:
        media_type = "text/plain" if chunk_types == (str,) else "application/octet-stream"
    if media_type.startswith("text/") and "charset" not in media_type:
        media_type += "; charset=utf-8"
    return StreamFormat("raw", Framing(media_type=media_type), _no_decoder, None)


def _no_decoder(**options: Any) -> Any:
    raise TypeError("a raw byte stream has no frames to decode")
