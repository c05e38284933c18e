"""Stream plans: everything about serving one route's stream in one format, decided once when the route is built.

A ``StreamPlan`` holds the framing, the item encoder (size-checked), the framer of yielded events and serialized
items, the keep-alive, the send timeout, the error-record policy and its frame, the shutdown frame and the
response headers. The route builds one plan per format it offers; a request only picks one by ``Accept``, and
``_response`` runs it without looking back at the route or the app.
"""

from __future__ import annotations

import dataclasses
import functools
import random
import types
import typing
from collections.abc import Callable, Sequence
from typing import Any

from starlette.responses import Response, StreamingResponse
from starlette.types import Message

from linestream._compile.encoders import (
    EndRecord,
    ErrorRecord,
    EventFramer,
    NamedEncoder,
    Payload,
    error_record,
    event_framer,
    raw_chunk_encoder,
    refuse_events,
    size_checked,
)
from linestream._declare.options import Settings
from linestream.exceptions import EndpointDefinitionError, StreamItemTooLarge
from linestream.streams import Framing, StreamFormat, Transcoder

__all__ = ["KeepAlive", "RawFormat", "StreamPlan", "build_plans", "raw_stream_format"]

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
    #: A new transcoder per stream, for a format whose frames depend on the stream's state (an LLM protocol),
    #: given the id of a stream read again (a durable job's): the generator's items pass through it, and
    #: ``encode`` sends what it returns as it is.
    transcoder: Callable[..., Transcoder] | None = None
    #: ``max_stream_duration`` and ``stream_duration_jitter``: each stream ends at a moment drawn between
    #: ``(1 - jitter) * duration`` and ``duration`` seconds after it began (``None``: no limit).
    lifetime: tuple[float, float] | None = None

    def lifetime_of_a_stream(self) -> float | None:
        """The seconds one stream may last (drawn, so that streams opened together do not end together)."""
        if self.lifetime is None:
            return None
        duration, jitter = self.lifetime
        return duration * (1.0 - jitter * random.random())

    def start_message(self, status: int, extra: Sequence[tuple[bytes, bytes]] = ()) -> Message:
        """The ``http.response.start`` message; ``extra`` headers (set by the endpoint) replace the plan's."""
        headers = list(self.headers)
        if extra:
            names = {name for name, _ in extra}
            headers = [header for header in headers if header[0] not in names]
            headers.extend(extra)
        return {"type": "http.response.start", "status": status, "headers": headers}


def _keepalive(stream_format: StreamFormat, settings: Settings) -> KeepAlive | None:
    if stream_format.keepalive is None or stream_format.keepalive_option is None:
        return None
    interval = getattr(settings, stream_format.keepalive_option)
    return None if interval is None else (float(interval), stream_format.keepalive)


def _kind_encoder(named: NamedEncoder, framer: Callable[[bytes, bytes], bytes] | None) -> Callable[[Any], bytes]:
    if framer is None:
        return lambda item: named(item)[1]

    def encode_kind(item: Any) -> bytes:
        kind, json = named(item)
        return framer(kind, json)

    return encode_kind


def _named_checked(named: NamedEncoder, endpoint: str, limit: int) -> NamedEncoder:
    def encode_checked(item: Any) -> tuple[bytes, bytes]:
        kind, data = named(item)
        if len(data) > limit:
            raise StreamItemTooLarge(endpoint, len(data), limit)
        return kind, data

    return encode_checked


def build_plans(
    settings: Settings,
    *,
    label: str,
    endpoint: str,
    encode: Callable[[Any], bytes],
    payload: Payload,
    raw: bool,
    named: NamedEncoder | None = None,
    item_type: Any = Any,
) -> tuple[StreamPlan, ...]:
    """One plan per format of ``settings.stream_formats`` (the route's, in the server's order of preference).

    ``raw``: a byte/text stream (``response_class=StreamingResponse``), whose chunks are sent as they are and
    which has no record to carry an error. ``named``: the items are of several kinds (a union), each sent with
    its kind's name: in SSE as the event's name, in JSON in an envelope if ``settings.event_envelope``."""
    if raw:
        encode = raw_chunk_encoder(endpoint)
    limit = settings.max_item_size
    if named is not None and limit is not None:
        named = _named_checked(named, endpoint, limit)
    checked = encode if limit is None else size_checked(encode, endpoint, limit)
    envelope = settings.event_envelope
    vary = len(settings.stream_formats) > 1
    records = [name for name, on in (("error", settings.stream_errors == "record"), ("end", settings.stream_end)) if on]
    plans = []
    for stream_format in settings.stream_formats:
        headers = [(b"content-type", stream_format.content_type.encode("latin-1")), *_STREAM_HEADERS]
        headers.extend(stream_format.headers)
        if vary:
            headers.append((b"vary", b"Accept"))
        if stream_format.transcoder() is not None:
            plans.append(_transcoding_plan(stream_format, settings, endpoint, item_type, headers, label))
            continue
        if records and not raw:
            headers.append((b"stream-records", ", ".join(records).encode()))
        if named is not None and envelope and not stream_format.names_kinds:
            headers.append((b"stream-envelope", b"event"))
        framing = stream_format.framing
        item_encode = stream_format.item_encoder(checked)
        if named is not None:
            framing, framer = stream_format.kind_framing(envelope=envelope)
            item_encode = _kind_encoder(named, framer)
        plans.append(
            StreamPlan(
                format=stream_format,
                framing=framing,
                encode=item_encode,
                frame_event=refuse_events(endpoint)
                if raw
                else event_framer(stream_format, checked, payload, named, envelope=envelope),
                chunk_size=settings.chunk_size,
                keepalive=_keepalive(stream_format, settings),
                send_timeout=settings.send_timeout,
                error_record=error_record(stream_format) if "error" in records and not raw else None,
                end_record=_end_record(stream_format) if settings.stream_end and not raw else None,
                shutdown_frame=stream_format.shutdown_frame(settings.sse_shutdown_retry),
                headers=tuple(headers),
                label=label,
                lifetime=_lifetime(settings),
            )
        )
    return tuple(plans)


def _lifetime(settings: Settings) -> tuple[float, float] | None:
    if settings.max_stream_duration is None:
        return None
    return float(settings.max_stream_duration), float(settings.stream_duration_jitter)


def _transcoding_plan(
    stream_format: StreamFormat,
    settings: Settings,
    endpoint: str,
    item_type: Any,
    headers: list[tuple[bytes, bytes]],
    label: str,
) -> StreamPlan:
    """The plan of a format with a transcoder: items pass through a new one per stream, which writes the
    format's frames, its end and its error event (after which the response ends cleanly: the empty record)."""
    try:
        stream_format.check_item_type(item_type, endpoint)
    except ValueError as exc:
        raise EndpointDefinitionError(str(exc)) from exc
    return StreamPlan(
        format=stream_format,
        framing=stream_format.framing,
        encode=_frames,
        frame_event=refuse_events(endpoint),
        chunk_size=settings.chunk_size,
        keepalive=_keepalive(stream_format, settings),
        send_timeout=settings.send_timeout,
        error_record=_no_record,
        end_record=None,
        shutdown_frame=stream_format.shutdown_frame(settings.sse_shutdown_retry),
        headers=tuple(headers),
        label=label,
        transcoder=functools.partial(_new_transcoder, stream_format),
        lifetime=_lifetime(settings),
    )


def _new_transcoder(stream_format: StreamFormat, stream_id: str | None = None) -> Transcoder:
    transcoder = stream_format.transcoder(stream_id)
    assert transcoder is not None
    return transcoder


def _frames(frames: bytes) -> bytes:
    return frames


def _no_record(error: Exception, count: int) -> bytes:
    return b""


def _end_record(stream_format: StreamFormat) -> EndRecord | None:
    if stream_format.end_record(0, first=True) is None:
        return None

    def record(count: int) -> bytes:
        frame = stream_format.end_record(count, first=count == 0)
        assert frame is not None
        return frame

    return record


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
    return RawFormat("raw", Framing(media_type=media_type), _no_decoder)


def _no_decoder(**options: Any) -> Any:
    raise TypeError("a raw byte stream has no frames to decode")


class RawFormat(StreamFormat):
    """The one format of a raw byte stream (``response_class=StreamingResponse``): chunks as they are, no
    records, no reader; it is not negotiated (``Accept`` is ignored, as by Starlette's ``StreamingResponse``)."""

    uploads = False

    @property
    def closes_itself(self) -> bool:
        return False

    def error_record(self, problem: Any, *, first: bool) -> bytes:
        raise TypeError("a raw byte stream has no record to carry an error")

    def end_record(self, count: int, *, first: bool) -> bytes | None:
        return None
