"""The framing shared by the stream formats whose frames wrap each serialized item in fixed bytes."""

from __future__ import annotations

import dataclasses

__all__ = ["DEFAULT_MAX_FRAME_SIZE", "FrameDecoder", "Framing"]

DEFAULT_MAX_FRAME_SIZE = 16 * 1024 * 1024


class FrameDecoder:
    """What every incremental decoder has: a bound on one frame's size, the count of frames decoded, and the
    count of bytes it examined to find them.

    Decoders are linear in their input: each byte is examined a bounded number of times, however the stream is
    cut into chunks (``bytes_examined`` stays within a small multiple of the bytes fed), so a peer cannot make
    the reader's work grow with the square of what it sends.
    """

    __slots__ = ("_examined", "_frames", "keep_space", "max_frame_size")

    def __init__(self, *, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE, keep_space: bool = False) -> None:
        if max_frame_size < 1:
            raise ValueError("max_frame_size must be a positive number of bytes")
        self.max_frame_size = max_frame_size
        #: Return a frame whose JSON text begins with white space with one leading space (how a linestream
        #: server marks its records), instead of stripped.
        self.keep_space = keep_space
        self._frames = 0
        self._examined = 0

    @property
    def frames_decoded(self) -> int:
        """How many frames (items) this decoder has returned."""
        return self._frames

    @property
    def bytes_examined(self) -> int:
        """How many bytes the decoder's searches and splits have looked at so far (a measure of its work)."""
        return self._examined


@dataclasses.dataclass(frozen=True, slots=True)
class Framing:
    """How a stream format frames serialized items, as constant byte strings.

    A stream of items ``a``, ``b`` is written ``head + prefix + a + suffix + separator + prefix + b + suffix + tail``.
    The server's hot path appends these constants itself instead of calling a function per item.
    """

    media_type: str
    head: bytes = b""
    prefix: bytes = b""
    suffix: bytes = b""
    separator: bytes = b""
    tail: bytes = b""

    def encode(self, item: bytes, *, first: bool) -> bytes:
        """The frame of one serialized item; ``first`` is true for the stream's first item."""
        separator = b"" if first else self.separator
        return b"".join((separator, self.prefix, item, self.suffix))
