"""JSON text sequences (RFC 7464, ``application/json-seq``): each record is ``0x1E`` + JSON text + ``\\n``.

Pure codec, no I/O::

    >>> FRAMING.encode(b'{"a":1}', first=True)
    b'\\x1e{"a":1}\\n'
    >>> decoder = JsonSeqDecoder()
    >>> decoder.feed(b'\\x1e1\\n\\x1e2')
    [b'1']
    >>> decoder.feed(b'\\n')
    [b'2']
    >>> decoder.close()
    []

A record is only known to be complete when the next record separator (or the end of the stream) arrives, and
RFC 7464 makes the final line feed mandatory precisely so that a reader can tell a truncated last record:
``close()`` raises ``StreamTruncated`` if the last record does not end with ``\\n``.
"""

from __future__ import annotations

import pydantic_core

from linestream.exceptions import FrameTooLarge, StreamDecodeError, StreamTruncated
from linestream.streams._framing import DEFAULT_MAX_FRAME_SIZE, FrameDecoder, Framing

__all__ = ["FRAMING", "MEDIA_TYPE", "RECORD_SEPARATOR", "JsonSeqDecoder"]

MEDIA_TYPE = "application/json-seq"
RECORD_SEPARATOR = b"\x1e"
FRAMING = Framing(media_type=MEDIA_TYPE, prefix=RECORD_SEPARATOR, suffix=b"\n")


class JsonSeqDecoder(FrameDecoder):
    """Incremental RFC 7464 decoder: ``feed(bytes)`` returns the records completed so far (without framing).

    A record is complete when the next record separator arrives, or as soon as it ends with a line feed and
    holds one whole JSON text: a live stream's last record is delivered without waiting for the next one.
    """

    __slots__ = ("_buffer", "_open", "_started")

    def __init__(self, *, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        super().__init__(max_frame_size=max_frame_size)
        self._buffer = bytearray()
        self._started = False
        self._open = False

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return the records they completed."""
        head, *records = data.split(RECORD_SEPARATOR)
        frames: list[bytes] = []
        if not self._started:
            if head.strip():
                raise StreamDecodeError("A JSON text sequence must start with the separator 0x1E.", frame_index=0)
            head = b""
            if records:
                self._started = True
        self._buffer += head
        for record in records:
            self._finish(frames)
            self._buffer = bytearray(record)
            self._open = True
        buffer = self._buffer
        if len(buffer) > self.max_frame_size:
            self._too_large(len(buffer))
        if buffer.endswith(b"\n") and _is_json(buffer):
            self._finish(frames)
        return frames

    def close(self) -> list[bytes]:
        """Signal the end of the stream; return the last record or raise ``StreamTruncated``."""
        if self._open and not self._buffer.endswith(b"\n"):
            raise StreamTruncated(
                f"The stream ended inside record {self._frames + 1}, which lacks its final line feed: the "
                "connection was cut or the server aborted the stream.",
                frame_index=self._frames,
                items_received=self._frames,
            )
        frames: list[bytes] = []
        self._finish(frames)
        return frames

    def _finish(self, frames: list[bytes]) -> None:
        record = self._buffer
        self._buffer = bytearray()
        self._open = False
        if len(record) > self.max_frame_size:
            self._too_large(len(record))
        text = bytes(record).strip()
        if not text:
            return
        if not record.endswith(b"\n"):
            raise StreamDecodeError(
                f"Record {self._frames + 1} does not end with a line feed, so it may be truncated (RFC 7464).",
                frame_index=self._frames,
            )
        self._frames += 1
        frames.append(text)

    def _too_large(self, size: int) -> None:
        raise FrameTooLarge(
            f"Record {self._frames + 1} is longer than max_frame_size={self.max_frame_size} bytes ({size} bytes).",
            frame_index=self._frames,
        )


def _is_json(data: bytearray) -> bool:
    try:
        pydantic_core.from_json(data)
    except ValueError:
        return False
    return True
