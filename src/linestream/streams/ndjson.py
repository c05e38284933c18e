"""NDJSON (``application/x-ndjson``): the same framing as JSON Lines under the media type many log tools use.

Pure codec, no I/O: ``FRAMING`` frames items, ``NdjsonDecoder`` (a ``JsonLinesDecoder``) splits them.
"""

from __future__ import annotations

from linestream.streams._framing import Framing
from linestream.streams.jsonlines import JsonLinesDecoder

__all__ = ["FRAMING", "MEDIA_TYPE", "NdjsonDecoder"]

MEDIA_TYPE = "application/x-ndjson"
FRAMING = Framing(media_type=MEDIA_TYPE, suffix=b"\n")


class NdjsonDecoder(JsonLinesDecoder):
    """Incremental NDJSON decoder; see ``JsonLinesDecoder``."""

    __slots__ = ()
