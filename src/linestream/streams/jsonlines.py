"""JSON Lines (``application/jsonl``): one compact JSON value per line, each line ending in ``\\n``.

Pure codec, no I/O:

```pycon
>>> FRAMING.encode(b'{"a":1}', first=True)
b'{"a":1}\\n'
>>> decoder = JsonLinesDecoder()
>>> decoder.feed(b'{"a":1}\\n{"a"')
[b'{"a":1}']
>>> decoder.feed(b':2}\\r\\n')
[b'{"a":2}']
>>> decoder.close()
[]

```

The decoder splits on the byte ``\\n`` only (never on U+2028/U+2029, which JSON strings may contain
unescaped), accepts ``\\r\\n``, skips blank lines, and returns each line's bytes for the caller to parse or
validate (``TypeAdapter.validate_json`` on bytes is faster than parsing then validating).
"""

from __future__ import annotations

from linestream.exceptions import FrameTooLarge, StreamTruncated
from linestream.streams._framing import DEFAULT_MAX_FRAME_SIZE, FrameDecoder, Framing

__all__ = ["DEFAULT_MAX_FRAME_SIZE", "FRAMING", "MEDIA_TYPE", "JsonLinesDecoder"]

MEDIA_TYPE = "application/jsonl"
FRAMING = Framing(media_type=MEDIA_TYPE, suffix=b"\n")


class JsonLinesDecoder(FrameDecoder):
    """Incremental JSON Lines decoder: ``feed(bytes)`` returns the complete lines received so far.

    ``max_frame_size`` bounds the bytes one line may take (``FrameTooLarge`` past it), so a peer that never
    sends a newline cannot make the reader buffer without limit. ``close()`` raises ``StreamTruncated`` if the
    stream ended inside a line; with ``require_final_newline=False`` such a last line is returned instead (the
    JSON Lines text allows a file's last line to lack its newline).
    """

    __slots__ = ("_buffer", "require_final_newline")

    def __init__(
        self,
        *,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        require_final_newline: bool = True,
        keep_space: bool = False,
    ) -> None:
        super().__init__(max_frame_size=max_frame_size, keep_space=keep_space)
        self.require_final_newline = require_final_newline
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return the lines they completed, without their line ending."""
        buffer = self._buffer
        self._examined += len(data)
        if b"\n" not in data:
            buffer += data
            if len(buffer) > self.max_frame_size:
                self._too_large(len(buffer))
            return []
        buffer += data
        # The buffer held no newline before this chunk: splitting it looks at each byte once more, at most.
        self._examined += len(buffer)
        *lines, rest = buffer.split(b"\n")
        self._buffer = bytearray(rest)
        frames = []
        limit = self.max_frame_size
        for line in lines:
            if line.endswith(b"\r"):
                line = line[:-1]
            if len(line) > limit:
                self._too_large(len(line))
            if line.strip():
                frames.append(bytes(line))
                self._frames += 1
        if len(rest) > limit:
            self._too_large(len(rest))
        return frames

    def close(self) -> list[bytes]:
        """Signal the end of the stream; return a final unterminated line or raise ``StreamTruncated``."""
        rest = bytes(self._buffer).rstrip(b"\r")
        self._buffer = bytearray()
        if not rest.strip():
            return []
        if self.require_final_newline:
            raise StreamTruncated(
                f"The stream ended inside line {self._frames + 1} ({len(rest)} bytes without a final newline): "
                "the connection was cut or the server aborted the stream.",
                frame_index=self._frames,
                items_received=self._frames,
            )
        self._frames += 1
        return [rest]

    def _too_large(self, size: int) -> None:
        raise FrameTooLarge(
            f"Line {self._frames + 1} is longer than max_frame_size={self.max_frame_size} bytes "
            f"({size} bytes so far); raise max_frame_size if such items are expected.",
            frame_index=self._frames,
        )
