"""The in-memory durable stream backend: streams in one process, gone when it exits. The default, and the
model every other backend must answer like (the conformance suite runs on each).

A stream is a list of chunks (one per append; in JSON mode a chunk holds the append's messages) with the
offset after each, so a read after an offset is a bisection. A fork holds its source and the offset it
diverged at; a read stitches the source chain's chunks up to that offset to the fork's own. Every operation
runs without an ``await`` between its checks and its change, so each is atomic in the event loop (the
protocol's serialization per producer comes with it).
"""

from __future__ import annotations

import bisect
import dataclasses
import time

import anyio

from linestream.durable._base import Appended, DurableBackend, NewStream, ReadResult, StreamInfo
from linestream.durable._protocol import (
    ZERO_OFFSET,
    Producer,
    ProtocolError,
    advance,
    is_json,
    json_messages,
    media_type,
)

__all__ = ["MemoryBackend"]

_PRODUCER_LIFETIME = 7 * 24 * 3600.0
_SWEEP_INTERVAL = 1.0


@dataclasses.dataclass(slots=True)
class _Chunk:
    end: str
    pieces: tuple[bytes, ...]
    size: int


@dataclasses.dataclass(slots=True)
class _ProducerState:
    epoch: int
    last_seq: int
    updated: float


@dataclasses.dataclass(eq=False, slots=True)
class _Stream:
    key: str
    content_type: str
    json: bool
    config: NewStream
    start: str
    tail: str
    ttl: int | None
    expires_at: str | None
    expires_at_moment: float | None
    touched: float
    source: _Stream | None = None
    closed: bool = False
    closed_by: Producer | None = None
    deleted: bool = False
    forks: int = 0
    size: int = 0
    last_seq: str | None = None
    chunks: list[_Chunk] = dataclasses.field(default_factory=list)
    ends: list[str] = dataclasses.field(default_factory=list)
    producers: dict[str, _ProducerState] = dataclasses.field(default_factory=dict)
    changed: anyio.Event = dataclasses.field(default_factory=anyio.Event)

    def info(self) -> StreamInfo:
        return StreamInfo(self.content_type, self.tail, self.closed, self.ttl, self.expires_at)

    def expired(self, now: float) -> bool:
        if self.expires_at_moment is not None and now >= self.expires_at_moment:
            return True
        return self.ttl is not None and now >= self.touched + self.ttl

    def add(self, pieces: tuple[bytes, ...]) -> None:
        size = sum(map(len, pieces))
        self.tail = advance(self.tail, size)
        self.chunks.append(_Chunk(self.tail, pieces, size))
        self.ends.append(self.tail)
        self.size += size

    def notify(self) -> None:
        """Wake every reader waiting on this stream (a long-poll, an SSE reader)."""
        self.changed.set()
        self.changed = anyio.Event()

    def chunks_after(self, offset: str | None, cap: str | None = None) -> list[_Chunk]:
        """The chunks after ``offset`` up to ``cap``, the source chain's first for a fork."""
        found: list[_Chunk] = []
        if self.source is not None and (offset is None or offset < self.start):
            found += self.source.chunks_after(offset, self.start if cap is None else min(cap, self.start))
        first = 0 if offset is None else bisect.bisect_right(self.ends, offset)
        for chunk in self.chunks[first:]:
            if cap is not None and chunk.end > cap:
                break
            found.append(chunk)
        return found


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
        if stream is not None and stream.expired(time.time()):
            self._expire(stream)
        if stream is None or key not in self._streams:
            raise ProtocolError(404, f"There is no stream at {key}.")
        if stream.deleted:
            raise ProtocolError(410, f"The stream at {key} was deleted; its forks still read its data.")
        return stream

    def _expire(self, stream: _Stream) -> None:
        if stream.forks:
            stream.deleted = True
        else:
            self._remove(stream)
        stream.notify()

    def _remove(self, stream: _Stream) -> None:
        """Forget a stream, then each source up its chain that was deleted and is no longer forked."""
        self._streams.pop(stream.key, None)
        source = stream.source
        if source is not None:
            source.forks -= 1
            if source.deleted and source.forks == 0:
                self._remove(source)

    def _sweep(self, now: float) -> None:
        """Drop expired streams that no one asks for any more (at most once a second)."""
        if now - self._swept < _SWEEP_INTERVAL:
            return
        self._swept = now
        for stream in [stream for stream in self._streams.values() if not stream.deleted and stream.expired(now)]:
            if stream.key in self._streams:
                self._expire(stream)

    async def create(self, key: str, stream: NewStream, body: bytes) -> tuple[StreamInfo, bool]:
        now = time.time()
        self._sweep(now)
        existing = self._streams.get(key)
        if existing is not None and existing.expired(now):
            self._expire(existing)
            existing = self._streams.get(key)
        if existing is not None:
            if existing.deleted:
                raise ProtocolError(
                    409,
                    f"The stream at {key} was deleted and its forks still read it: the path cannot be reused "
                    "until they are deleted.",
                )
            if not _same_config(existing.config, stream):
                raise ProtocolError(409, f"A stream exists at {key} with another configuration.")
            return existing.info(), False
        if len(self._streams) >= self.max_streams:
            raise ProtocolError(
                503,
                f"This server holds its maximum of {self.max_streams} durable streams "
                "(MemoryBackend(max_streams=...)).",
                {"Retry-After": "1"},
            )
        created = self._fork(key, stream, now) if stream.forked_from is not None else self._new(key, stream, now)
        if body:
            pieces = tuple(json_messages(body, creating=True)) if created.json else (body,)
            if pieces:
                created.add(pieces)
        if created.size > self.max_stream_bytes:
            raise self._too_large(key)
        if created.source is not None:
            created.source.forks += 1
        self._streams[key] = created
        return created.info(), True

    def _new(self, key: str, stream: NewStream, now: float) -> _Stream:
        content_type = stream.content_type or "application/octet-stream"
        return _Stream(
            key,
            content_type,
            is_json(content_type),
            stream,
            ZERO_OFFSET,
            ZERO_OFFSET,
            stream.ttl,
            stream.expires_at,
            stream.expires_at_moment,
            now,
            closed=stream.closed,
        )

    def _fork(self, key: str, stream: NewStream, now: float) -> _Stream:
        assert stream.forked_from is not None
        source = self._streams.get(stream.forked_from)
        if source is None or (not source.deleted and source.expired(now)):
            raise ProtocolError(404, f"There is no stream at {stream.forked_from} to fork.")
        if source.deleted:
            raise ProtocolError(409, f"The stream at {stream.forked_from} was deleted: it cannot be forked.")
        if stream.content_type is not None and media_type(stream.content_type) != media_type(source.content_type):
            raise ProtocolError(
                409, f"The fork's Content-Type {stream.content_type} is not its source's ({source.content_type})."
            )
        offset = stream.fork_offset or source.tail
        if offset > source.tail:
            raise ProtocolError(400, f"Stream-Fork-Offset {offset} is past the source's tail ({source.tail}).")
        ttl, expires_at, moment = stream.ttl, stream.expires_at, stream.expires_at_moment
        if ttl is None and expires_at is None:
            ttl, expires_at, moment = source.ttl, source.expires_at, source.expires_at_moment
        fork = _Stream(
            key,
            source.content_type,
            source.json,
            stream,
            offset,
            offset,
            ttl,
            expires_at,
            moment,
            now,
            source=source,
            closed=stream.closed,
        )
        if stream.fork_sub_offset:
            fork.add(_sub_offset_prefix(source, offset, stream.fork_sub_offset))
        return fork

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
        stream.touched = time.time()
        if stream.closed:
            if producer is not None and producer == stream.closed_by:
                return Appended(stream.tail, True, duplicate=True, producer_seq=producer.seq)
            if not body and producer is None:
                return Appended(stream.tail, True)
            raise ProtocolError(
                409,
                f"The stream at {key} is closed: it takes no more appends.",
                {"Stream-Closed": "true", "Stream-Next-Offset": stream.tail},
            )
        if body and media_type(content_type) != media_type(stream.content_type):
            raise ProtocolError(
                409, f"Content-Type {content_type} does not match the stream's ({stream.content_type})."
            )
        state = None
        if producer is not None:
            state = _check_producer(stream, producer)
            if state is None:
                last = stream.producers[producer.id].last_seq
                return Appended(stream.tail, stream.closed, duplicate=True, producer_seq=last)
        if seq is not None and stream.last_seq is not None and seq <= stream.last_seq:
            raise ProtocolError(409, f"Stream-Seq {seq!r} is not after the last one ({stream.last_seq!r}).")
        if body:
            pieces = tuple(json_messages(body, creating=False)) if stream.json else (body,)
            if stream.size + sum(map(len, pieces)) > self.max_stream_bytes:
                raise self._too_large(key)
            stream.add(pieces)
        if producer is not None and state is not None:
            stream.producers[producer.id] = state
        if seq is not None:
            stream.last_seq = seq
        if close:
            stream.closed = True
            stream.closed_by = producer
        stream.notify()
        return Appended(stream.tail, stream.closed, producer_seq=None if producer is None else producer.seq)

    def _too_large(self, key: str) -> ProtocolError:
        return ProtocolError(
            413,
            f"The stream at {key} would hold more than {self.max_stream_bytes} bytes "
            "(MemoryBackend(max_stream_bytes=...)).",
        )

    async def head(self, key: str) -> StreamInfo:
        return self._get(key).info()

    async def read(self, key: str, offset: str | None, max_bytes: int) -> ReadResult:
        stream = self._get(key)
        stream.touched = time.time()
        chunks = stream.chunks_after(offset)
        pieces: list[bytes] = []
        size = 0
        taken = 0
        for chunk in chunks:
            if taken and size + chunk.size > max_bytes:
                break
            pieces += chunk.pieces
            size += chunk.size
            taken += 1
        next_offset = chunks[taken - 1].end if taken else stream.tail
        return ReadResult(stream.info(), pieces, next_offset, taken == len(chunks))

    async def wait(self, key: str, offset: str, max_wait: float) -> None:
        stream = self._get(key)
        stream.touched = time.time()
        if stream.closed or stream.tail > offset:
            return
        with anyio.move_on_after(max_wait):
            await stream.changed.wait()

    async def delete(self, key: str) -> None:
        stream = self._get(key)
        if stream.forks:
            stream.deleted = True
        else:
            self._remove(stream)
        stream.notify()


def _same_config(existing: NewStream, requested: NewStream) -> bool:
    """Whether a ``PUT`` on an existing stream asks for what it is (then it is answered 200, else 409)."""
    return (
        (media_type(existing.content_type) or "application/octet-stream")
        == (media_type(requested.content_type) or "application/octet-stream")
        and (existing.ttl, existing.expires_at, existing.closed, existing.forked_from, existing.fork_sub_offset)
        == (requested.ttl, requested.expires_at, requested.closed, requested.forked_from, requested.fork_sub_offset)
        and (requested.fork_offset is None or requested.fork_offset == existing.fork_offset)
    )


def _check_producer(stream: _Stream, producer: Producer) -> _ProducerState | None:
    """The producer's state once this request is accepted, ``None`` for a retry of one already applied; a
    stale epoch, a new epoch not starting at 0 and a gap in the sequence are refused as the protocol says."""
    now = time.time()
    for name in [name for name, state in stream.producers.items() if now - state.updated > _PRODUCER_LIFETIME]:
        del stream.producers[name]
    state = stream.producers.get(producer.id)
    if state is None or producer.epoch > state.epoch:
        if producer.seq != 0:
            if state is None:
                raise ProtocolError(
                    409,
                    f"Producer {producer.id} is new here: its first Producer-Seq must be 0.",
                    {"Producer-Expected-Seq": "0", "Producer-Received-Seq": str(producer.seq)},
                )
            raise ProtocolError(400, f"Producer-Epoch {producer.epoch} is new: its Producer-Seq must start at 0.")
        return _ProducerState(producer.epoch, 0, now)
    if producer.epoch < state.epoch:
        raise ProtocolError(
            403,
            f"Producer-Epoch {producer.epoch} is stale: producer {producer.id} is at epoch {state.epoch}.",
            {"Producer-Epoch": str(state.epoch)},
        )
    if producer.seq <= state.last_seq:
        return None
    if producer.seq > state.last_seq + 1:
        raise ProtocolError(
            409,
            f"Producer-Seq {producer.seq} skips ahead: producer {producer.id} expected {state.last_seq + 1}.",
            {"Producer-Expected-Seq": str(state.last_seq + 1), "Producer-Received-Seq": str(producer.seq)},
        )
    return _ProducerState(producer.epoch, producer.seq, now)


def _sub_offset_prefix(source: _Stream, offset: str, sub_offset: int) -> tuple[bytes, ...]:
    """What a fork at ``offset`` + ``sub_offset`` inherits of the source's next chunk: its first messages (JSON
    mode) or bytes."""
    following = source.chunks_after(offset)
    if not following:
        raise ProtocolError(400, f"Stream-Fork-Sub-Offset {sub_offset} is past the source's tail.")
    chunk = following[0]
    if source.json:
        if sub_offset > len(chunk.pieces):
            raise ProtocolError(
                400, f"Stream-Fork-Sub-Offset {sub_offset} is past the next append ({len(chunk.pieces)} messages)."
            )
        return chunk.pieces[:sub_offset]
    data = b"".join(chunk.pieces)
    if sub_offset > len(data):
        raise ProtocolError(400, f"Stream-Fork-Sub-Offset {sub_offset} is past the next append ({len(data)} bytes).")
    return (data[:sub_offset],)
