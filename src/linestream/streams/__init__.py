"""Wire formats of item streams: one pure, I/O-free codec per format, shared by server, test client and client.

Each format module exposes its ``MEDIA_TYPE``, a ``FRAMING`` (how the server frames serialized items) and an
incremental decoder (``feed(bytes) -> frames``, ``close()``).
"""

from __future__ import annotations

from linestream.streams._framing import Framing
from linestream.streams.jsonlines import JsonLinesDecoder

__all__ = ["Framing", "JsonLinesDecoder"]
