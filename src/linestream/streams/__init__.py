"""Wire formats of item streams: one object per format, pure (no I/O), shared by server, test client and client.

Each format is a ``StreamFormat`` (``_format.py``): its media type and framing, how it frames items, events and
the server's records, its keep-alive, how its frames are read back and how a stream in it is documented. Each
format module also exposes its ``MEDIA_TYPE``, ``FRAMING`` and incremental decoder (``feed(bytes) -> frames``,
``close()`` raising ``StreamTruncated`` on a cut stream). ``FORMATS`` lists them in the server's order of
preference.
"""

from __future__ import annotations

from collections.abc import Iterable

from linestream.streams import jsonarray, jsonlines, jsonseq, ndjson, sse
from linestream.streams._format import (
    END_ID,
    RECORD_NAMES,
    Frame,
    FrameReader,
    JsonFormat,
    StreamDocs,
    StreamFormat,
    Transcoder,
)
from linestream.streams._framing import Framing
from linestream.streams.jsonarray import JsonArrayDecoder, JsonArrayFormat
from linestream.streams.jsonlines import JsonLinesDecoder
from linestream.streams.jsonseq import JsonSeqDecoder
from linestream.streams.ndjson import NdjsonDecoder
from linestream.streams.sse import ServerSentEvent, SseDecoder, SseFormat

__all__ = [
    "ACCEPT_ANY",
    "END_ID",
    "FORMATS",
    "RECORD_NAMES",
    "Frame",
    "FrameReader",
    "Framing",
    "JSON_ARRAY",
    "JSON_LINES",
    "JSON_SEQ",
    "JsonArrayDecoder",
    "JsonArrayFormat",
    "JsonFormat",
    "JsonLinesDecoder",
    "JsonSeqDecoder",
    "NDJSON",
    "NdjsonDecoder",
    "SSE",
    "ServerSentEvent",
    "SseDecoder",
    "SseFormat",
    "StreamDocs",
    "StreamFormat",
    "Transcoder",
    "accept_header",
    "format_named",
    "format_for_media_type",
]

JSON_LINES = JsonFormat("jsonl", jsonlines.FRAMING, JsonLinesDecoder, b"\n", keepalive_option="jsonl_keepalive")
NDJSON = JsonFormat("ndjson", ndjson.FRAMING, NdjsonDecoder, b"\n", keepalive_option="jsonl_keepalive")
JSON_SEQ = JsonFormat("json-seq", jsonseq.FRAMING, JsonSeqDecoder)
SSE = SseFormat("sse", sse.FRAMING, SseDecoder, sse.KEEPALIVE, keepalive_option="sse_keepalive")
JSON_ARRAY = JsonArrayFormat("json", jsonarray.FRAMING, JsonArrayDecoder)

#: Every format, in the server's order of preference (the first is the default for ``*/*`` or no ``Accept``).
FORMATS: tuple[StreamFormat, ...] = (JSON_LINES, NDJSON, JSON_SEQ, SSE, JSON_ARRAY)


def format_named(name: str | StreamFormat, formats: Iterable[StreamFormat] = FORMATS) -> StreamFormat:
    """The format called ``name`` (``"jsonl"``, ``"ndjson"``, ``"json-seq"``, ``"sse"``, ``"json"``) or with that
    media type, among ``formats``; a ``StreamFormat`` is returned as it is; ``ValueError`` naming the choices
    otherwise."""
    if isinstance(name, StreamFormat):
        return name
    formats = tuple(formats)
    for stream_format in formats:
        if name in (stream_format.name, stream_format.media_type):
            return stream_format
    choices = ", ".join(f"{f.name!r}" for f in formats)
    raise ValueError(f"Unknown stream format {name!r}; choose among {choices} (or their media types).")


def format_for_media_type(content_type: str, formats: Iterable[StreamFormat] = FORMATS) -> StreamFormat | None:
    """The format of a response's ``Content-Type`` (parameters ignored) among ``formats``, or ``None``."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    for stream_format in formats:
        if stream_format.media_type == media_type:
            return stream_format
    return None


#: An ``Accept`` header asking for any stream format, in the server's order of preference (JSON Lines first).
ACCEPT_ANY = ", ".join(
    f"{f.media_type};q={q}" if q != 1 else f.media_type for f, q in zip(FORMATS, (1, 0.9, 0.8, 0.7, 0.5), strict=True)
)


def accept_header(format: str | None, formats: Iterable[StreamFormat] = ()) -> str:
    """The ``Accept`` header asking for ``format`` (a name like ``"sse"`` or a media type), or for any format:
    the built-in ones, and ``formats`` of the server's own after them."""
    extra = tuple(formats)
    if format is not None:
        return format_named(format, (*extra, *FORMATS)).media_type
    return ", ".join((ACCEPT_ANY, *(f"{f.media_type};q=0.4" for f in extra)))
