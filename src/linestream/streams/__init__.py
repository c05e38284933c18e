"""Wire formats of item streams: one pure, I/O-free codec per format, shared by server, test client and client.

Each format module exposes its ``MEDIA_TYPE``, a ``FRAMING`` (how the server frames serialized items) and an
incremental decoder (``feed(bytes) -> frames``, ``close()`` raising ``StreamTruncated`` on a cut stream).
``FORMATS`` lists them in the server's order of preference, as ``StreamFormat`` descriptions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from linestream.streams import jsonarray, jsonlines, jsonseq, ndjson, sse
from linestream.streams._framing import Framing
from linestream.streams.jsonarray import JsonArrayDecoder
from linestream.streams.jsonlines import JsonLinesDecoder
from linestream.streams.jsonseq import JsonSeqDecoder
from linestream.streams.ndjson import NdjsonDecoder
from linestream.streams.sse import ServerSentEvent, SseDecoder

__all__ = [
    "ACCEPT_ANY",
    "FORMATS",
    "Framing",
    "JsonArrayDecoder",
    "JsonLinesDecoder",
    "JsonSeqDecoder",
    "NdjsonDecoder",
    "ServerSentEvent",
    "SseDecoder",
    "StreamFormat",
    "accept_header",
    "format_named",
    "format_for_media_type",
]


@dataclasses.dataclass(frozen=True, slots=True)
class StreamFormat:
    """One wire format: its short ``name``, framing, decoder class and keep-alive bytes (``None``: it has none)."""

    name: str
    framing: Framing
    decoder: Callable[..., Any]
    keepalive: bytes | None

    @property
    def media_type(self) -> str:
        return self.framing.media_type


JSON_LINES = StreamFormat("jsonl", jsonlines.FRAMING, JsonLinesDecoder, b"\n")
NDJSON = StreamFormat("ndjson", ndjson.FRAMING, NdjsonDecoder, b"\n")
JSON_SEQ = StreamFormat("json-seq", jsonseq.FRAMING, JsonSeqDecoder, None)
SSE = StreamFormat("sse", sse.FRAMING, SseDecoder, sse.KEEPALIVE)
JSON_ARRAY = StreamFormat("json", jsonarray.FRAMING, JsonArrayDecoder, None)

#: Every format, in the server's order of preference (the first is the default for ``*/*`` or no ``Accept``).
FORMATS: tuple[StreamFormat, ...] = (JSON_LINES, NDJSON, JSON_SEQ, SSE, JSON_ARRAY)


def format_named(name: str) -> StreamFormat:
    """The format called ``name`` (``"jsonl"``, ``"ndjson"``, ``"json-seq"``, ``"sse"``, ``"json"``) or with that
    media type; ``ValueError`` naming the choices otherwise."""
    for stream_format in FORMATS:
        if name in (stream_format.name, stream_format.media_type):
            return stream_format
    choices = ", ".join(f"{f.name!r}" for f in FORMATS)
    raise ValueError(f"Unknown stream format {name!r}; choose among {choices} (or their media types).")


def format_for_media_type(content_type: str) -> StreamFormat | None:
    """The format of a response's ``Content-Type`` (parameters ignored), or ``None``."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    for stream_format in FORMATS:
        if stream_format.media_type == media_type:
            return stream_format
    return None


#: An ``Accept`` header asking for any stream format, in the server's order of preference (JSON Lines first).
ACCEPT_ANY = ", ".join(
    f"{f.media_type};q={q}" if q != 1 else f.media_type for f, q in zip(FORMATS, (1, 0.9, 0.8, 0.7, 0.5), strict=True)
)


def accept_header(format: str | None) -> str:
    """The ``Accept`` header asking for ``format`` (a name like ``"sse"`` or a media type), or for any format."""
    return ACCEPT_ANY if format is None else format_named(format).media_type
