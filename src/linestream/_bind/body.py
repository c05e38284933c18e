"""Reading a request body without trusting it, for plain JSON bodies and streamed bodies alike.

``ContentDecoder`` undoes the ``Content-Encoding`` (identity, gzip with any number of members, deflate)
incrementally, in slices of at most ``SLICE`` decoded bytes, so that no chunk of input can make the server
allocate more than a slice at a time, and callers can let the event loop run between slices. A compressed
body that decodes to more than ``max_inflation_ratio`` times its size (past 1 MiB) or ``max_inflated_size``
bytes is refused with 413; one that ends before its gzip trailer, has trailing garbage or is corrupt with 400.
``read_body`` reads a whole plain body within ``max_body_size``, ``idle_timeout`` and ``body_timeout``.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator, Iterator

import anyio
from starlette.requests import ClientDisconnect
from starlette.types import Receive

from linestream._declare.options import BodyLimits, body_limit
from linestream.exceptions import HTTPException

__all__ = ["SLICE", "ContentDecoder", "body_slices", "read_body"]

#: Decoded bytes handed on at a time.
SLICE = 8 * 1024
#: Decoded bytes after which the inflation ratio is enforced (small bodies may compress very well).
RATIO_FLOOR = 1024 * 1024

_GZIP_MAGIC = b"\x1f\x8b"
_ENCODINGS = ("identity", "gzip", "x-gzip", "deflate")


class ContentDecoder:
    """Incremental decoder of one ``Content-Encoding``; ``feed()`` yields decoded slices of at most ``SLICE``."""

    __slots__ = ("_between", "_decoded", "_encoded", "_encoding", "_inflater", "_limits", "_raw_deflate")

    def __init__(self, content_encoding: str, limits: BodyLimits) -> None:
        encoding = content_encoding.strip().lower() or "identity"
        if encoding not in _ENCODINGS:
            raise HTTPException(
                415,
                f"Unsupported Content-Encoding {content_encoding[:100]!r}: send the body as is (identity), "
                "or compressed with gzip or deflate.",
            )
        self._encoding = "gzip" if encoding == "x-gzip" else encoding
        self._limits = limits
        self._inflater: zlib._Decompress | None = None
        #: gzip: between two members (or before the first); holds the start of the next member's header.
        self._between: bytes | None = b""
        self._encoded = 0
        self._decoded = 0
        self._raw_deflate = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        """The decoded bytes of ``data``, slice by slice (lazily: each slice is decoded when it is asked for)."""
        if self._encoding == "identity":
            for start in range(0, len(data), SLICE):
                yield data[start : start + SLICE]
            return
        while data:
            if self._encoding == "gzip" and self._between is not None:
                data = self._next_member(data)
                if not data:
                    return
            yield from self._inflate(data)
            data = b""
            inflater = self._inflater
            assert inflater is not None
            if inflater.eof:
                if self._encoding == "deflate":
                    if inflater.unused_data.strip(b"\0"):
                        raise HTTPException(400, "The deflate-encoded request body has data after its end.")
                    return
                # The member ended: what follows must be another member (RFC 1952), or nothing.
                data, self._between = inflater.unused_data, b""

    def _next_member(self, data: bytes) -> bytes:
        assert self._between is not None
        data = self._between + data
        if len(data) < len(_GZIP_MAGIC):
            if not _GZIP_MAGIC.startswith(data):
                raise HTTPException(400, "The gzip-encoded request body has trailing garbage after its last member.")
            self._between = data
            return b""
        if not data.startswith(_GZIP_MAGIC):
            what = "is not gzip data" if self._inflater is None else "has trailing garbage after its last member"
            raise HTTPException(400, f"The gzip-encoded request body {what}.")
        self._between = None
        self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        return data

    def _inflate(self, data: bytes) -> Iterator[bytes]:
        if self._inflater is None:  # deflate: zlib-wrapped as RFC 9110 says, or raw as some clients send it
            self._inflater = zlib.decompressobj(zlib.MAX_WBITS)
        while True:
            try:
                inflater = self._inflater
                out = inflater.decompress(data, SLICE)
                # What the ratio compares: the compressed bytes this slice really took, not those received.
                left = len(inflater.unconsumed_tail) + (len(inflater.unused_data) if inflater.eof else 0)
                self._encoded += len(data) - left
            except zlib.error as exc:
                if self._encoding == "deflate" and not self._raw_deflate and self._decoded == 0:
                    self._raw_deflate = True  # no zlib header: read it as raw deflate
                    self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
                    continue
                raise HTTPException(400, f"The {self._encoding}-encoded request body is corrupt: {exc}") from exc
            data = self._inflater.unconsumed_tail
            if out:
                self._decoded += len(out)
                self._check_size()
                yield out
            if self._inflater.eof or (not data and len(out) < SLICE):
                return

    def _check_size(self) -> None:
        limits = self._limits
        if limits.max_inflated_size is not None and self._decoded > limits.max_inflated_size:
            raise HTTPException(
                413,
                f"The request body decodes to more than {limits.max_inflated_size} bytes; "
                f"{body_limit('max_inflated_size')}.",
            )
        ratio = limits.max_inflation_ratio
        if ratio is not None and self._decoded > RATIO_FLOOR and self._decoded > ratio * self._encoded:
            raise HTTPException(
                413,
                f"The {self._encoding}-encoded request body decodes to more than {ratio:g} times its size: it "
                f"looks like a decompression bomb; {body_limit('max_inflation_ratio')}.",
            )

    def close(self) -> None:
        """The body ended: refuse one that ended inside a compressed member (truncated, or its trailer missing)."""
        if self._encoding == "identity":
            return
        if self._encoding == "gzip" and self._between is not None:
            if self._between:
                raise HTTPException(400, "The gzip-encoded request body has trailing garbage after its last member.")
            return
        if self._inflater is not None and not self._inflater.eof:
            raise HTTPException(
                400,
                f"The {self._encoding}-encoded request body is truncated: it ended before its final block and "
                "trailer, so it may be incomplete.",
            )


async def body_slices(
    receive: Receive, content_encoding: str, limits: BodyLimits, *, whole_within: float | None = None
) -> AsyncIterator[bytes]:
    """The decoded bytes of a body as they arrive, slice by slice; 408 past ``idle_timeout`` without a byte, or
    when the whole body takes longer than ``whole_within`` seconds."""
    decoder = ContentDecoder(content_encoding, limits)
    deadline = None if whole_within is None else anyio.current_time() + whole_within
    received = 0
    while True:
        wait = limits.idle_timeout if limits.idle_timeout is not None else float("inf")
        if deadline is not None:
            wait = min(wait, deadline - anyio.current_time())
        with anyio.move_on_after(wait) as scope:
            message = await receive()
        if scope.cancelled_caught:
            idle = deadline is None or anyio.current_time() < deadline
            raise HTTPException(
                408,
                "The request body did not arrive in time: "
                + (
                    f"no byte for {limits.idle_timeout} s after {received} bytes; {body_limit('idle_timeout')}."
                    if idle
                    else f"not whole within {whole_within} s ({received} bytes came); {body_limit('body_timeout')}."
                ),
            )
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        for piece in decoder.feed(message.get("body", b"")):
            received += len(piece)
            yield piece
        if not message.get("more_body", False):
            decoder.close()
            return


async def read_body(receive: Receive, content_length: str | None, content_encoding: str, limits: BodyLimits) -> bytes:
    """A whole plain body, decoded; 413 past ``max_body_size``, 408 past ``idle_timeout`` or ``body_timeout``."""
    limit = limits.max_body_size
    if content_length is not None and content_length.isdigit() and int(content_length) > limit:
        raise HTTPException(413, f"The request body is larger than {limit} bytes; {body_limit('max_body_size')}.")
    body = bytearray()
    async for piece in body_slices(receive, content_encoding, limits, whole_within=limits.body_timeout):
        body += piece
        if len(body) > limit:
            raise HTTPException(413, f"The request body is larger than {limit} bytes; {body_limit('max_body_size')}.")
    return bytes(body)
