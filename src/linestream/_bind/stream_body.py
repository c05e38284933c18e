"""Streamed request bodies: ``items: AsyncIterable[Item]`` parameters, decoded and validated as they arrive.

The body is read from the request's ``receive`` in the chunks the server delivers, its ``Content-Encoding``
undone in slices of at most ``SLICE`` bytes (``_request_body``), framed by the shared ``linestream.streams``
decoders and validated item by item. So memory stays bounded by one slice, one item and the items of one slice,
whatever the body's size or compression, and between two slices the event loop runs other tasks. Errors are
HTTP errors the endpoint may catch; escaping before the response started they become 4xx problem responses:

- ``415``: a content type that is not JSON Lines, NDJSON, json-seq or a JSON array, or an unknown encoding;
- ``422`` (``InvalidRequestItem``): a line that is not valid JSON or not a valid item, naming the line and field;
- ``413``: an item longer than ``max_line_size``, more than ``max_items`` items, or a decompression bomb;
- ``400``: a compressed body that is corrupt, truncated or followed by garbage;
- ``408``: no complete item for ``idle_timeout`` seconds.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import anyio
import anyio.from_thread
import anyio.lowlevel
import pydantic
from starlette.requests import ClientDisconnect
from starlette.types import Receive

from linestream._bind.body import ContentDecoder
from linestream._bind.validation import echo, located_errors
from linestream._declare.options import BodyLimits, body_limit
from linestream._decoding import ItemValidator
from linestream.exceptions import FrameTooLarge, HTTPException, InvalidRequestItem, StreamDecodeError
from linestream.streams import Frame, format_for_media_type

__all__ = ["STREAMED_TYPES", "RequestItems", "SyncRequestItems"]

#: What a streamed request body may be sent as, for error messages.
STREAMED_TYPES = (
    "Content-Type: application/jsonl (JSON Lines), application/x-ndjson (NDJSON), application/json-seq (a JSON "
    "text sequence) or application/json (a JSON array)."
)


class RequestItems:
    """The async iterator bound to an ``AsyncIterable[Item]`` parameter."""

    def __init__(
        self,
        receive: Receive,
        content_type: str,
        content_encoding: str,
        validator: ItemValidator,
        limits: BodyLimits,
        on_end: Callable[[int, int | None], None] | None = None,
    ) -> None:
        stream_format = format_for_media_type(content_type or "application/jsonl")
        if stream_format is None or not stream_format.uploads:
            raise HTTPException(415, f"The request body is {echo(content_type)!r}; send {STREAMED_TYPES}")
        self._content = ContentDecoder(content_encoding, limits)
        self._receive = receive
        self._reader = stream_format.reader(max_frame_size=limits.max_line_size)
        self._validator = validator
        self._limits = limits
        self._frames: list[Frame] = []
        self._position = 0
        #: Decoded slices of the last message received, not framed yet.
        self._slices: Iterator[bytes] | None = None
        self._last_message = False
        self._done = False
        #: Since when the client owes the next item (``None``: it is not waited for yet).
        self._waiting_since: float | None = None
        self.count = 0
        #: The items that passed validation.
        self.valid = 0
        #: Told once how the body ended: the items read, and the status that refused it (``None``: complete).
        self._on_end = on_end

    def __aiter__(self) -> AsyncIterator[Any]:
        return self

    async def __anext__(self) -> Any:
        try:
            while self._position >= len(self._frames):
                if self._done:
                    self._ended(None)
                    raise StopAsyncIteration
                await self._read()
            frame = self._frames[self._position]
            self._position += 1
            return self._item(frame)
        except HTTPException as exc:
            self._ended(exc.status_code)
            raise

    def _ended(self, status: int | None) -> None:
        on_end, self._on_end = self._on_end, None
        if on_end is not None:
            on_end(self.valid, status)

    async def next_batch(self) -> list[Any]:
        """The items of the next slice of the body (empty list: the body ended); for ``SyncRequestItems``."""
        try:
            while self._position >= len(self._frames):
                if self._done:
                    self._ended(None)
                    return []
                await self._read()
            frames = self._frames[self._position :]
            self._position = len(self._frames)
            return [self._item(frame) for frame in frames]
        except HTTPException as exc:
            self._ended(exc.status_code)
            raise

    async def _read(self) -> None:
        """One step: frame the next decoded slice (after letting other tasks run), or receive more body."""
        if self._slices is not None:
            piece = next(self._slices, None)
            if piece is not None:
                await anyio.lowlevel.checkpoint()
                self._decode(piece)
                return
            self._slices = None
            if self._last_message:
                self._content.close()
                self._decode(b"", end=True)
                return
        message = await self._receive_message()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        self._last_message = not message.get("more_body", False)
        self._slices = self._content.feed(message.get("body", b""))

    async def _receive_message(self) -> Any:
        timeout = self._limits.idle_timeout
        if timeout is None:
            return await self._receive()
        now = anyio.current_time()
        if self._waiting_since is None:
            # The clock starts when the endpoint wants more after its last item, not while it works on items.
            self._waiting_since = now
        with anyio.move_on_after(self._waiting_since + timeout - now) as scope:
            message = await self._receive()
        if scope.cancelled_caught:
            raise HTTPException(
                408, f"No complete item arrived for {timeout} s, after item {self.count}; {body_limit('idle_timeout')}."
            )
        return message

    def _decode(self, piece: bytes, *, end: bool = False) -> None:
        try:
            frames = self._reader.close() if end else self._reader.feed(piece)
        except FrameTooLarge as exc:
            raise HTTPException(
                413,
                f"Item {exc.frame_index + 1} of the request body is longer than {self._limits.max_line_size} bytes; "
                f"{body_limit('max_line_size')}.",
            ) from exc
        except StreamDecodeError as exc:
            line = exc.frame_index + 1
            raise InvalidRequestItem(
                line, [{"loc": ["body", line], "msg": str(exc), "type": "stream_invalid"}]
            ) from exc
        if frames:
            self._waiting_since = None
        self._done = end
        self._frames = frames
        self._position = 0

    def _item(self, frame: Frame) -> Any:
        self.count += 1
        line = self.count
        limit = self._limits.max_items
        if limit is not None and line > limit:
            raise HTTPException(413, f"The request body holds more than {limit} items; {body_limit('max_items')}.")
        try:
            item = self._validator.validate(frame.data)
        except ValueError as exc:
            if not isinstance(exc, pydantic.ValidationError):
                raise InvalidRequestItem(
                    line, [{"loc": ["body", line], "msg": f"Invalid JSON: {exc}", "type": "json_invalid"}]
                ) from exc
            errors, omitted = located_errors(exc, ("body", line), self._limits.max_errors)
            raise InvalidRequestItem(line, errors, errors_omitted=omitted) from exc
        self.valid += 1
        return item


class SyncRequestItems:
    """The iterator bound to an ``Iterable[Item]`` parameter of a ``def`` path operation (run in a worker
    thread): it fetches items from the event loop one slice of the body at a time, not one item at a time."""

    def __init__(self, items: RequestItems) -> None:
        self._items = items
        self._batch: Iterator[Any] = iter(())

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        while True:
            try:
                return next(self._batch)
            except StopIteration:
                batch = anyio.from_thread.run(self._items.next_batch)
                if not batch:
                    raise
                self._batch = iter(batch)
