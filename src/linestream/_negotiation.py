"""``Accept`` header -> stream format, with q-values, wildcards and the server's order of preference.

Clients send a handful of distinct short ``Accept`` values, so their answers are cached; a hostile client can
send endless distinct long ones, so only short values are cached (the cache stays small), and values longer
than ``MAX_ACCEPT_LENGTH`` or with more than ``MAX_RANGES`` media ranges are refused before they are parsed.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from linestream.exceptions import HTTPException
from linestream.streams import StreamFormat

__all__ = ["MAX_ACCEPT_LENGTH", "MAX_RANGES", "negotiate"]

#: The longest ``Accept`` value parsed (431 past it); browsers send about 100 characters.
MAX_ACCEPT_LENGTH = 4096
#: The most media ranges parsed in one ``Accept`` value (400 past it).
MAX_RANGES = 64
#: The longest ``Accept`` value whose answer is cached.
_CACHED_LENGTH = 256


def _ranges(accept: str) -> tuple[tuple[str, str, float], ...]:
    """The media ranges of an ``Accept`` value as ``(type, subtype, q)``; unparsable ones are skipped."""
    parts = accept.split(",", MAX_RANGES)
    if len(parts) > MAX_RANGES:
        raise HTTPException(400, f"The Accept header lists more than {MAX_RANGES} media ranges.")
    ranges = []
    for part in parts:
        media_range, *parameters = part.split(";")
        kind, slash, subtype = media_range.strip().lower().partition("/")
        if not slash or not kind or not subtype or (kind == "*" and subtype != "*"):
            continue
        quality = 1.0
        for parameter in parameters:
            name, _, value = parameter.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value.strip())
                except ValueError:
                    quality = -1.0
        if 0.0 <= quality <= 1.0:
            ranges.append((kind, subtype, quality))
    return tuple(ranges)


def _quality(media_type: str, ranges: tuple[tuple[str, str, float], ...]) -> float:
    kind, _, subtype = media_type.partition("/")
    best_specificity = -1
    quality = 0.0
    for range_kind, range_subtype, range_quality in ranges:
        if range_kind == kind and range_subtype == subtype:
            specificity = 2
        elif range_kind == kind and range_subtype == "*":
            specificity = 1
        elif range_kind == "*":
            specificity = 0
        else:
            continue
        if specificity > best_specificity:
            best_specificity, quality = specificity, range_quality
    return quality


def _negotiate(accept: str, offered: tuple[StreamFormat, ...]) -> StreamFormat | None:
    ranges = _ranges(accept)
    best: StreamFormat | None = None
    best_quality = 0.0
    for stream_format in offered:
        quality = _quality(stream_format.media_type, ranges)
        if quality > best_quality:
            best, best_quality = stream_format, quality
    if best is None:
        # A protocol the route chose (an LLM protocol) answers clients that do not ask for its media type.
        best = next((f for f in offered if f.answers_any_accept), None)
    return best


def negotiate(accept: str | None, offered: Sequence[StreamFormat]) -> StreamFormat | None:
    """The offered format the client prefers: highest q-value, then most specific range, then the server's
    order. No ``Accept`` (or an empty one) means the first offered format; when no offered format is acceptable,
    the first that answers any ``Accept`` (``StreamFormat.answers_any_accept``); else ``None``."""
    if accept is None or not accept.strip():
        return offered[0]
    if len(accept) > MAX_ACCEPT_LENGTH:
        raise HTTPException(431, f"The Accept header is longer than {MAX_ACCEPT_LENGTH} characters.")
    if len(accept) > _CACHED_LENGTH:
        return _negotiate(accept, tuple(offered))
    return _negotiate_cached(accept, tuple(offered))


_negotiate_cached = functools.lru_cache(maxsize=1024)(_negotiate)
