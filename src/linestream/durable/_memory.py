"""The in-memory durable stream backend: streams in one process, gone when it exits. The default, and the
model every other backend must answer like (the conformance suite runs on each).

A stream is its record (``StreamMeta``) and a list of chunks (one per append; in JSON mode a chunk holds the
append's messages) with the offset after each, so a read after an offset is a bisection. A fork holds its
source and the offset it diverged at; a read stitches the source chain's chunks up to that offset to the fork's
own. Every operation runs without an ``await`` between its checks and its change, so each is atomic in the
event loop (the protocol's serialization per producer comes with it).
"""

from __future__ import annotations

import bisect
import dataclasses
import time
from collections.abc import Iterator

import anyio

from linestream.durable._base import Appended, DurableBackend, NewStream, ReadResult, StreamInfo
from linestream.durable._protocol import Producer, ProtocolError, advance, json_messages
from linestream.durable._rules import (
    StreamMeta,
    check_append,
    fork_meta,
    new_meta,
    record_append,
    same_config,
    sub_offset_prefix,
)

__all__ = ["MemoryBackend"]

_SWEEP_INTERVAL = 1.0


@dataclasses.dataclass(slots=True)
class _Chunk:
    end: str
    pieces: tuple[bytes, ...]
    size: int


@dataclasses.dataclass(eq=False, slots=True)
class _Stream:
    key: str
    meta: StreamMeta
    source: _Stream | None = None
    chunks: list[_Chunk] = dataclasses.field(default_factory=list)
    ends: list[str] = dataclasses.field(default_factory=list)
    changed: anyio.Event = dataclasses.field(default_factory=anyio.Event)

    def add(self, pieces: tuple[bytes, ...]) -> None:
        meta = self.meta
        size = sum(map(len, pieces))
        meta.tail = advance(meta.tail, size)
        meta.size += size
        self.chunks.append(_Chunk(meta.tail, pieces, size))
        self.ends.append(meta.tail)

    def notify(self) -> None:
        """Wake every reader waiting on this stream (a long-poll, an SSE reader)."""
        self.changed.set()
        self.changed = anyio.Event()

    def chunks_after(self, offset: str | None, cap: str | None = None) -> Iterator[_Chunk]:
        """The chunks after ``offset`` up to ``cap``, the source chain's first for a fork (lazily: a read takes
        what it returns, not the whole stream)."""
        start = self.meta.start
        if self.source is not None and (offset is None or offset < start):
            yield from self.source.chunks_after(offset, start if cap is None else min(cap, start))
        chunks = self.chunks
        for index in range(0 if offset is None else bisect.bisect_right(self.ends, offset), len(chunks)):
            chunk = chunks[index]
            if cap is not None and chunk.end > cap:
                return
            yield chunk


class MemoryBackend(DurableBackend):
    """Durable streams in this process's memory.

    ``max_streams`` and ``max_stream_bytes`` bound what clients can make it hold: a create past the first is
    answered ``503``, an append past the second ``413``, each naming the setting.
    """

    def __init__(self, *, max_streams: int = 10_000, max_stream_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_streams = max_streams
        self.max_stream_bytes = max_stream_bytes
        self._streams: dict[str, _Stream] = {}
        self._swept = 0.0

    def _get(self, key: str) -> _Stream:
        """The stream at ``key`` for a client's operation: 404 if there is none (or it expired), 410 if it was
        deleted while forks still read it."""
        stream = self._streams.get(key)
        if stream is not None and stream.meta.expired(time.time()):
            self._drop(stream)
        if stream is None or key not in self._streams:
            raise ProtocolError(404, f"There is no stream at {key}.")
        if stream.meta.deleted:
            raise ProtocolError(410, f"The stream at {key} was deleted; its forks still read its data.")
        return stream

    def _drop(self, stream: _Stream) -> None:
        """Delete (or expire) a stream: forgotten at once, or kept for its forks' reads while it has some."""
        if stream.meta.forks:
            stream.meta.deleted = True
        else:
            self._remove(stream)
        stream.notify()

    def _remove(self, stream: _Stream) -> None:
        """Forget a stream, then each source up its chain that was deleted and is no longer forked."""
        self._streams.pop(stream.key, None)
        source = stream.source
        if source is not None:
            source.meta.forks -= 1
            if source.meta.deleted and source.meta.forks == 0:
                self._remove(source)

    def _sweep(self, now: float) -> None:
        """Drop expired streams that no one asks for any more (at most once a second)."""
        if now - self._swept < _SWEEP_INTERVAL:
            return
        self._swept = now
        for stream in [stream for stream in self._streams.values() if stream.meta.expired(now)]:
            if stream.key in self._streams and not stream.meta.deleted:
                self._drop(stream)

    async def create(self, key: str, stream: NewStream, body: bytes) -> tuple[StreamInfo, bool]:
        now = time.time()
        self._sweep(now)
        existing = self._streams.get(key)
        if existing is not None and existing.meta.expired(now) and not existing.meta.deleted:
            self._drop(existing)
            existing = self._streams.get(key)
        if existing is not None:
            if existing.meta.deleted:
                raise ProtocolError(
                    409, f"The stream at {key} was deleted and its forks still read it: the path cannot be reused "
                    "until they are deleted."
                )  # fmt: skip
            if not same_config(existing.meta.config, stream):
                raise ProtocolError(409, f"A stream exists at {key} with another configuration.")
            return existing.meta.info(), False
        if len(self._streams) >= self.max_streams:
            raise ProtocolError(
                503, f"This server holds its maximum of {self.max_streams} durable streams "
                "(MemoryBackend(max_streams=...)).", {"Retry-After": "1"},
            )  # fmt: skip
        if stream.forked_from is None:
            created = _Stream(key, new_meta(stream, now))
        else:
            source = self._streams.get(stream.forked_from)
            created = _Stream(key, fork_meta(stream, None if source is None else source.meta, now), source)
            if stream.fork_sub_offset:
                assert source is not None
                following = next(source.chunks_after(created.meta.start), None)
                next_chunk = None if following is None else following.pieces
                created.add(sub_offset_prefix(source.meta.json, next_chunk, stream.fork_sub_offset))
        if body:
            pieces = tuple(json_messages(body, creating=True)) if created.meta.json else (body,)
            if pieces:
                created.add(pieces)
        if created.meta.size > self.max_stream_bytes:
            raise self._too_large(key)
        if created.source is not None:
            created.source.meta.forks += 1
        self._streams[key] = created
        return created.meta.info(), True

    async def append(
        self,
        key: str,
        body: bytes,
        *,
        content_type: str | None,
        close: bool = False,
        seq: str | None = None,
        producer: Producer | None = None,
    ) -> Appended:
        stream = self._get(key)
        meta = stream.meta
        now = time.time()
        meta.touched = now
        plan = check_append(meta, key, bool(body), content_type=content_type, seq=seq, producer=producer, now=now)
        if plan.done is not None:
            return plan.done
        if body:
            pieces = tuple(json_messages(body, creating=False)) if meta.json else (body,)
            if meta.size + sum(map(len, pieces)) > self.max_stream_bytes:
                raise self._too_large(key)
            stream.add(pieces)
        done = record_append(meta, close=close, seq=seq, producer=producer, plan=plan, now=now)
        stream.notify()
        return done

    def _too_large(self, key: str) -> ProtocolError:
        return ProtocolError(
            413, f"The stream at {key} would hold more than {self.max_stream_bytes} bytes "
            "(MemoryBackend(max_stream_bytes=...))."
        )  # fmt: skip

    async def head(self, key: str) -> StreamInfo:
        return self._get(key).meta.info()

    async def read(self, key: str, offset: str | None, max_bytes: int) -> ReadResult:
        stream = self._get(key)
        stream.meta.touched = time.time()
        pieces: list[bytes] = []
        ends: list[tuple[str, int]] = []
        size = 0
        complete = True
        for chunk in stream.chunks_after(offset):
            if ends and size + chunk.size > max_bytes:
                complete = False
                break
            pieces += chunk.pieces
            ends.append((chunk.end, len(chunk.pieces)))
            size += chunk.size
        next_offset = ends[-1][0] if ends else stream.meta.tail
        return ReadResult(stream.meta.info(), pieces, next_offset, complete, ends)

    async def wait(self, key: str, offset: str, max_wait: float) -> None:
        stream = self._get(key)
        stream.meta.touched = time.time()
        if stream.meta.closed or stream.meta.tail > offset:
            return
        with anyio.move_on_after(max_wait):
            await stream.changed.wait()

    async def delete(self, key: str) -> None:
        self._drop(self._get(key))
