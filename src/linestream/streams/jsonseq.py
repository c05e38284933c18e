"""JSON text sequences (RFC 7464, ``application/json-seq``): each record is ``0x1E`` + JSON text + ``\\n``.

Pure codec, no I/O:

```pycon
>>> FRAMING.encode(b'{"a":1}', first=True)
b'\\x1e{"a":1}\\n'
>>> decoder = JsonSeqDecoder()
>>> decoder.feed(b'\\x1e1\\n\\x1e2')
[b'1']
>>> decoder.feed(b'\\n')
[b'2']
>>> decoder.close()
[]

```

A record is only known to be complete when the next record separator (or the end of the stream) arrives, and
RFC 7464 makes the final line feed mandatory precisely so that a reader can tell a truncated last record:
``close()`` raises ``StreamTruncated`` if the last record does not end with ``\\n``.
"""

from __future__ import annotations

import re

from linestream.exceptions import FrameTooLarge, StreamDecodeError, StreamTruncated
from linestream.streams._framing import DEFAULT_MAX_FRAME_SIZE, FrameDecoder, Framing

__all__ = ["FRAMING", "MEDIA_TYPE", "RECORD_SEPARATOR", "JsonSeqDecoder"]

MEDIA_TYPE = "application/json-seq"
RECORD_SEPARATOR = b"\x1e"
FRAMING = Framing(media_type=MEDIA_TYPE, prefix=RECORD_SEPARATOR, suffix=b"\n")

_STRING_END = re.compile(rb'["\\]')
_NESTED = re.compile(rb'["{}\[\]]')
_TOP = re.compile(rb"[^ \t\r]")
_SCALAR = re.compile(rb'[^ \t\r\n"{}\[\]]+')
_LF, _QUOTE, _BACKSLASH = ord("\n"), ord('"'), ord("\\")
_OPEN, _CLOSE = frozenset(b"{["), frozenset(b"}]")


class JsonSeqDecoder(FrameDecoder):
    """Incremental RFC 7464 decoder: ``feed(bytes)`` returns the records completed so far (without framing).

    A record is complete when the next record separator arrives, or as soon as it ends with a line feed right
    after one whole JSON value: a live stream's last record is delivered without waiting for the next one. The
    record is scanned once, incrementally (strings, escapes and nesting), to know when that is.
    """

    __slots__ = ("_buffer", "_depth", "_in_string", "_open", "_scanned", "_started", "_value")

    def __init__(self, *, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE, keep_space: bool = False) -> None:
        super().__init__(max_frame_size=max_frame_size, keep_space=keep_space)
        self._buffer = bytearray()
        self._started = False
        self._open = False
        self._reset()

    def _reset(self) -> None:
        self._scanned = 0
        self._depth = 0
        self._in_string = False
        self._value = False

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return the records they completed."""
        self._examined += len(data)
        head, *records = data.split(RECORD_SEPARATOR)
        frames: list[bytes] = []
        if not self._started:
            if head.strip():
                raise StreamDecodeError("A JSON text sequence must start with the separator 0x1E.", frame_index=0)
            head = b""
            if records:
                self._started = True
        self._append(head, frames)
        for record in records:
            self._finish(frames)
            self._open = True
            self._append(record, frames)
        return frames

    def _append(self, data: bytes, frames: list[bytes]) -> None:
        if not data:
            return
        buffer = self._buffer
        buffer += data
        if len(buffer) > self.max_frame_size:
            self._too_large(len(buffer))
        if self._open and self._scan():
            self._finish(frames)

    def _scan(self) -> bool:
        """Scan what arrived of the record; true when it ends with a line feed right after a whole value."""
        buffer = self._buffer
        position = self._scanned
        end = len(buffer)
        complete = False
        while position < end:
            if self._in_string:
                match = _STRING_END.search(buffer, position)
                if match is None:
                    break
                at = match.start()
                if buffer[at] == _BACKSLASH:
                    position = at + 2  # the escaped byte, even if it has not arrived yet
                    continue
                self._in_string = False
            else:
                match = (_NESTED if self._depth else _TOP).search(buffer, position)
                if match is None:
                    break
                at = match.start()
                char = buffer[at]
                if char == _QUOTE:
                    self._in_string = True
                    self._value = True
                elif char in _OPEN:
                    self._depth += 1
                    self._value = True
                elif char in _CLOSE:
                    self._depth = max(0, self._depth - 1)
                elif char == _LF:
                    complete = self._value and at == end - 1
                else:  # a top-level scalar: skip it whole
                    self._value = True
                    scalar = _SCALAR.match(buffer, at)
                    at = scalar.end() - 1 if scalar is not None else at
            self._examined += at + 1 - position
            position = at + 1
        else:
            self._scanned = position
            return complete
        self._examined += end - position
        self._scanned = end
        return False

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
        self._reset()
        if len(record) > self.max_frame_size:
            self._too_large(len(record))
        text = bytes(record).strip()
        if not text:
            return
        if self.keep_space and record[:1].isspace():
            text = b" " + text
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
