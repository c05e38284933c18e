"""``Accept`` header -> stream format, with q-values, wildcards and the server's order of preference."""

from __future__ import annotations

import functools
from collections.abc import Sequence

from linestream.streams import StreamFormat

__all__ = ["negotiate"]


@functools.lru_cache(maxsize=512)
def _ranges(accept: str) -> tuple[tuple[str, str, float], ...]:
    """The media ranges of an ``Accept`` value as ``(type, subtype, q)``; unparsable ones are skipped."""
    ranges = []
    for part in accept.split(","):
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


@functools.lru_cache(maxsize=1024)
def _negotiate(accept: str, offered: tuple[StreamFormat, ...]) -> StreamFormat | None:
    ranges = _ranges(accept)
    best: StreamFormat | None = None
    best_quality = 0.0
    for stream_format in offered:
        quality = _quality(stream_format.media_type, ranges)
        if quality > best_quality:
            best, best_quality = stream_format, quality
    return best


def negotiate(accept: str | None, offered: Sequence[StreamFormat]) -> StreamFormat | None:
    """The offered format the client prefers: highest q-value, then most specific range, then the server's
    order. No ``Accept`` (or an empty one) means the first offered format; ``None`` means nothing acceptable."""
    if accept is None or not accept.strip():
        return offered[0]
    return _negotiate(accept, tuple(offered))
