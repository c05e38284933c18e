"""Streamed request bodies: ``items: AsyncIterable[Item]`` parameters, decoded and validated as they arrive.

The body is read from the request's ``receive`` in the chunks the server delivers, decompressed on the fly
(``Content-Encoding: gzip``), framed by the shared ``linestream.streams`` decoders and validated item by item,
so memory stays bounded by one chunk and one line whatever the body size. Errors are HTTP errors the endpoint
may catch; escaping before the response started they become 4xx problem responses:

- ``415``: a content type that is not JSON Lines, NDJSON, json-seq or a JSON array, or an unknown encoding;
- ``422`` (``InvalidRequestItem``): a line that is not valid JSON or not a valid item, naming the line and field;
- ``413``: a line longer than ``max_line_size``, or more than ``max_items`` items;
- ``408``: no body bytes for ``idle_timeout`` seconds.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import anyio.from_thread
import pydantic
import pydantic_core
from pydantic import TypeAdapter
from starlette.requests import ClientDisconnect
from starlette.types import Receive

from linestream._settings import BodyLimits
from linestream.exceptions import FrameTooLarge, HTTPException, InvalidRequestItem, StreamDecodeError
from linestream.streams import SSE, format_for_media_type

__all__ = ["RequestItems", "SyncRequestItems"]


class RequestItems:
    """The async iterator bound to an ``AsyncIterable[Item]`` parameter."""

    def __init__(
        self,
        receive: Receive,
        content_type: str,
        content_encoding: str,
        adapter: TypeAdapter[Any] | None,
        limits: BodyLimits,
    ) -> None:
        stream_format = format_for_media_type(content_type or "application/jsonl")
        if stream_format is None or stream_format is SSE:
            raise HTTPException(
                415,
                f"A streamed request body must be JSON Lines (application/jsonl), NDJSON (application/x-ndjson), "
                f"a JSON text sequence (application/json-seq) or a JSON array (application/json), "
                f"not {content_type!r}.",
            )
        encoding = content_encoding.strip().lower()
        if encoding not in ("", "identity", "gzip", "x-gzip"):
            raise HTTPException(415, f"Unsupported Content-Encoding {content_encoding!r}; send gzip or none.")
        self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS) if encoding in ("gzip", "x-gzip") else None
        self._receive = receive
        self._decoder = stream_format.decoder(max_frame_size=limits.max_line_size)
        self._validate = adapter.validate_json if adapter is not None else None
        self._limits = limits
        self._frames: list[bytes] = []
        self._position = 0
        self._done = False
        self.count = 0

    def __aiter__(self) -> AsyncIterator[Any]:
        return self

    async def __anext__(self) -> Any:
        while self._position >= len(self._frames):
            if self._done:
                raise StopAsyncIteration
            await self._read()
        frame = self._frames[self._position]
        self._position += 1
        return self._item(frame)

    async def next_batch(self) -> list[Any]:
        """The items of the next received chunk (empty list: the body ended); for ``SyncRequestItems``."""
        while self._position >= len(self._frames):
            if self._done:
                return []
            await self._read()
        frames = self._frames[self._position :]
        self._position = len(self._frames)
        return [self._item(frame) for frame in frames]

    async def _read(self) -> None:
        timeout = self._limits.idle_timeout
        with anyio.move_on_after(timeout if timeout is not None else float("inf")) as scope:
            message = await self._receive()
        if scope.cancelled_caught:
            raise HTTPException(408, f"No request body bytes arrived for {timeout} s after item {self.count}.")
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        more = message.get("more_body", False)
        if self._inflate is not None:
            try:
                chunk = self._inflate.decompress(chunk)
                if not more:
                    chunk += self._inflate.flush()
            except zlib.error as exc:
                raise HTTPException(400, f"The gzip-encoded request body is corrupt: {exc}") from exc
        try:
            frames = self._decoder.feed(chunk)
            if not more:
                frames += self._decoder.close()
                self._done = True
        except FrameTooLarge as exc:
            raise HTTPException(413, f"{exc} (max_line_size)") from exc
        except StreamDecodeError as exc:
            raise InvalidRequestItem(
                exc.frame_index + 1,
                [{"loc": ["body", exc.frame_index + 1], "msg": str(exc), "type": "stream_invalid"}],
            ) from exc
        self._frames = frames
        self._position = 0

    def _item(self, frame: bytes) -> Any:
        self.count += 1
        line = self.count
        limit = self._limits.max_items
        if limit is not None and line > limit:
            raise HTTPException(413, f"The request body holds more than max_items={limit} items.")
        try:
            if self._validate is None:
                return pydantic_core.from_json(frame)
            return self._validate(frame)
        except ValueError as exc:
            if not isinstance(exc, pydantic.ValidationError):
                raise InvalidRequestItem(
                    line, [{"loc": ["body", line], "msg": f"Invalid JSON: {exc}", "type": "json_invalid"}]
                ) from exc
            errors = [
                {"loc": ["body", line, *error["loc"]], "msg": error["msg"], "type": error["type"]}
                for error in exc.errors(include_url=False)
            ]
            raise InvalidRequestItem(line, errors) from exc


class SyncRequestItems:
    """The iterator bound to an ``Iterable[Item]`` parameter of a ``def`` path operation (run in a worker
    thread): it fetches items from the event loop one received chunk at a time, not one item at a time."""

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
