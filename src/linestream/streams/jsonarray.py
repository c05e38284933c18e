"""One JSON array (``application/json``), written and read incrementally: ``[`` item ``,`` item ... ``]``.

Pure codec, no I/O:

```pycon
>>> FRAMING.head + FRAMING.encode(b'1', first=True) + FRAMING.encode(b'2', first=False) + FRAMING.tail
b'[1,2]'
>>> decoder = JsonArrayDecoder()
>>> decoder.feed(b'[{"a": [1, "]"]}, 2')
[b'{"a": [1, "]"]}']
>>> decoder.feed(b']')
[b'2']
>>> decoder.close()
[]

```

The decoder scans bytes (strings, escapes and nesting) to find where each element ends, so elements are
returned as soon as they are complete, without loading the whole array. An array the stream never closes
(the server aborted it mid-way) makes ``close()`` raise ``StreamTruncated``.
"""

from __future__ import annotations

import re
from typing import Any

from linestream.exceptions import FrameTooLarge, StreamDecodeError, StreamTruncated
from linestream.streams._format import JsonFormat, StreamDocs
from linestream.streams._framing import DEFAULT_MAX_FRAME_SIZE, FrameDecoder, Framing

__all__ = ["FRAMING", "MEDIA_TYPE", "JsonArrayDecoder", "JsonArrayFormat"]

MEDIA_TYPE = "application/json"
FRAMING = Framing(media_type=MEDIA_TYPE, head=b"[", separator=b",", tail=b"]")

_NON_SPACE = re.compile(rb"[^ \t\r\n]")
_STRUCTURE = re.compile(rb'["\[\]{},]')
_STRING_END = re.compile(rb'["\\]')

_BEFORE, _FIRST, _VALUE, _IN_VALUE, _AFTER, _DONE = range(6)
_SPACE = re.compile(rb"[ \t\r\n]")
_STRUCTURED = frozenset(b'"[{')
_OPEN = frozenset(b"[{")
_CLOSE = frozenset(b"]}")


class JsonArrayDecoder(FrameDecoder):
    """Incremental decoder of one top-level JSON array into the bytes of each element."""

    __slots__ = ("_buffer", "_closers", "_in_string", "_position", "_spaced", "_start", "_state")

    def __init__(self, *, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE, keep_space: bool = False) -> None:
        super().__init__(max_frame_size=max_frame_size, keep_space=keep_space)
        self._buffer = bytearray()
        self._position = 0
        self._start = 0
        self._closers = bytearray()  # the closing bracket each open container of the element expects
        self._in_string = False
        self._state = _BEFORE
        #: White space came between the element's separator (or the ``[``) and its first byte.
        self._spaced = False

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return the elements they completed."""
        buffer = self._buffer
        buffer += data
        frames: list[bytes] = []
        position = self._position
        end = len(buffer)
        self._examined += len(data) + max(0, end - position)  # the copy, and one scan of what is new
        while position < end:
            state = self._state
            if state == _IN_VALUE:
                position = self._scan_value(buffer, position, frames)
                continue
            match = _NON_SPACE.search(buffer, position)
            if match is None:
                self._spaced = self._spaced or (state in (_FIRST, _VALUE) and position < end)
                position = end
                break
            at = match.start()
            if at > position and state in (_FIRST, _VALUE):
                self._spaced = True
            char = buffer[at]
            if state == _BEFORE:
                if char != ord("["):
                    self._error(f"the body must be a JSON array, but it starts with {chr(char)!r}")
                self._state = _FIRST
            elif state in (_FIRST, _VALUE):
                if char == ord("]") and state == _FIRST:
                    self._state = _DONE
                elif char in b",]":
                    self._error(f"unexpected {chr(char)!r} where element {self._frames + 1} should start")
                else:
                    self._state = _IN_VALUE
                    self._start = at
                    self._closers.clear()
                    position = at
                    continue
            elif state == _AFTER:
                if char == ord(","):
                    self._state = _VALUE
                elif char == ord("]"):
                    self._state = _DONE
                else:
                    self._error(f"expected ',' or ']' after element {self._frames}, got {chr(char)!r}")
            else:
                self._error("data after the end of the array")
            position = at + 1
        # Forget what was consumed, so memory stays bounded by one element.
        if self._state == _IN_VALUE:
            keep, self._start = self._start, 0
        else:
            keep = min(position, end)
        del buffer[:keep]
        position -= keep
        self._position = position
        if self._state == _IN_VALUE and len(buffer) - self._start > self.max_frame_size:
            raise FrameTooLarge(
                f"Element {self._frames + 1} is longer than max_frame_size={self.max_frame_size} bytes.",
                frame_index=self._frames,
            )
        return frames

    def _scan_value(self, buffer: bytearray, position: int, frames: list[bytes]) -> int:
        if self._in_string:
            match = _STRING_END.search(buffer, position)
            if match is None:
                return len(buffer)
            at = match.start()
            if buffer[at] == ord("\\"):
                return at + 2  # skip the escaped byte, even if it has not arrived yet
            self._in_string = False
            if not self._closers:
                self._emit(buffer, at + 1, frames)
            return at + 1
        match = _STRUCTURE.search(buffer, position)
        if match is None:
            return len(buffer)
        at = match.start()
        char = buffer[at]
        if char == ord('"'):
            self._in_string = True
        elif char in _OPEN:
            self._closers.append(ord("]") if char == ord("[") else ord("}"))
        elif char in _CLOSE:
            if not self._closers:
                if char != ord("]"):
                    self._error(f"unbalanced '}}' in element {self._frames + 1}")
                self._emit(buffer, at, frames)
                self._state = _DONE
                return at + 1
            if self._closers.pop() != char:
                self._error(f"mismatched {chr(char)!r} in element {self._frames + 1}")
            if not self._closers:
                self._emit(buffer, at + 1, frames)
        elif not self._closers:  # a ',' ending a scalar element
            self._emit(buffer, at, frames)
            self._state = _VALUE
        return at + 1

    def _emit(self, buffer: bytearray, end: int, frames: list[bytes]) -> None:
        if end - self._start > self.max_frame_size:
            raise FrameTooLarge(
                f"Element {self._frames + 1} is longer than max_frame_size={self.max_frame_size} bytes.",
                frame_index=self._frames,
            )
        self._examined += end - self._start
        element = bytes(buffer[self._start : end]).strip()
        if not element:
            self._error(f"element {self._frames + 1} is empty")
        if element[0] not in _STRUCTURED and _SPACE.search(element):
            self._error(f"expected ',' or ']' after element {self._frames + 1}")
        if self.keep_space and self._spaced:
            element = b" " + element
        self._spaced = False
        frames.append(element)
        self._frames += 1
        self._state = _AFTER

    def close(self) -> list[bytes]:
        """Signal the end of the stream; raise ``StreamTruncated`` unless the array was closed."""
        if self._state != _DONE:
            raise StreamTruncated(
                f"The JSON array ended without its closing ']' after {self._frames} element(s): the connection "
                "was cut or the server aborted the stream.",
                frame_index=self._frames,
                items_received=self._frames,
            )
        return []

    def _error(self, message: str) -> None:
        raise StreamDecodeError(f"Invalid JSON array stream: {message}.", frame_index=self._frames)


class JsonArrayFormat(JsonFormat):
    """One JSON array: its ``]`` is its end (no end record); an error record is its last element."""

    def document(self, docs: StreamDocs, version: str) -> dict[str, Any]:
        item = docs.json_item()
        records = [schema for name, (schema, _) in sorted(docs.records.items()) if self._carries(name)]
        if records:
            item = {"anyOf": [item, *records]}
        return {"schema": {"type": "array", "items": item}}
