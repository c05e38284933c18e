"""The framing shared by the stream formats whose frames wrap each serialized item in fixed bytes."""

from __future__ import annotations

import dataclasses

__all__ = ["Framing"]


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
