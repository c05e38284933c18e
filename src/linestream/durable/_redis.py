"""The Redis backend: durable streams shared by every worker and host that uses the same Redis (≥ 6.2).

A stream is two keys. ``<prefix>m:<path>`` is a hash: its record (``StreamMeta`` as JSON, field ``m``) and
when it was last read or written (field ``t``, apart so that a read's touch never overwrites a write). The
data is the Redis stream ``<prefix>c:<path>``: one entry per chunk, whose id is the chunk's number
(``<n>-0``), with its end offset and bytes (a JSON chunk's messages joined by newlines, which compact JSON
never holds). Closing adds a marker entry ``<n>-1`` without data, so that a reader blocked in ``XREAD`` on
the stream wakes for the close as it does for data.

Writes are optimistic transactions (``WATCH`` the record, decide with the shared rules, ``MULTI``/``EXEC``,
again if another write came first): so each operation is atomic across processes, and the protocol's
serialization per producer holds on every worker. A live reader blocks in ``XREAD`` after its position, on
a connection of its own while it waits. Keys whose stream has a TTL or an expiry also get a Redis expiry an
hour past it, so that streams nobody reads again do not stay forever.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from linestream._redis_client import import_redis, redis_client
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

__all__ = ["RedisBackend"]

T = TypeVar("T")
_PAGE = 256
_GRACE = 3600.0


def _chunk_id(offset: str) -> int:
    return int(offset[:16])


class _Chunk:
    __slots__ = ("end", "pieces", "size")

    def __init__(self, end: str, pieces: tuple[bytes, ...]) -> None:
        self.end, self.pieces, self.size = end, pieces, sum(map(len, pieces))


class RedisBackend(DurableBackend):
    """Durable streams in Redis, shared across processes and hosts.

    ``url`` is a ``redis://`` (or ``rediss://``, ``unix://``) URL; or pass a configured ``redis.asyncio.Redis``
    as ``client`` (its ``socket_timeout`` must exceed the longest wait, ``DurableStreams``'s long-poll and SSE
    timeouts). ``max_stream_bytes`` bounds one stream (an append past it: ``413``).
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        client: Any = None,
        key_prefix: str = "linestream:durable:",
        max_stream_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        redis = import_redis("durable.RedisBackend")
        self.url = url
        self.key_prefix = key_prefix
        self.max_stream_bytes = max_stream_bytes
        self._watch_error: type[Exception] = redis.exceptions.WatchError
        if client is None:
            client = redis_client(url, socket_timeout=70.0, backend="durable.RedisBackend")
        self.client: Any = client

    def __repr__(self) -> str:
        return f"durable.RedisBackend({self.url!r})"

    async def aclose(self) -> None:
        await self.client.aclose()

    # -- keys and records ----------------------------------------------------------------------------------
    def _meta_key(self, key: str) -> str:
        return f"{self.key_prefix}m:{key}"

    def _chunks_key(self, key: str) -> str:
        return f"{self.key_prefix}c:{key}"

    async def _load(self, client: Any, key: str) -> StreamMeta | None:
        fields = await client.hgetall(self._meta_key(key))
        if not fields:
            return None
        meta = StreamMeta.from_json(json.loads(fields[b"m"]))
        meta.touched = max(meta.touched, float(fields.get(b"t", 0)))
        return meta

    def _store(self, pipe: Any, key: str, meta: StreamMeta) -> None:
        """Queue the writes of ``meta``, with the keys' Redis expiry (none while forks read the stream)."""
        meta_key, chunks_key = self._meta_key(key), self._chunks_key(key)
        pipe.hset(meta_key, mapping={"m": json.dumps(meta.to_json()), "t": repr(meta.touched)})
        expires = meta.expires()
        if expires is None:
            return  # a stream without expiry never had one; its keys live until it is deleted
        for name in (meta_key, chunks_key):
            if meta.forks:
                pipe.persist(name)  # a fork still reads it
            else:
                pipe.pexpireat(name, int((expires + _GRACE) * 1000))

    async def _transaction(self, keys: list[str], body: Callable[[Any], Awaitable[T]]) -> T:
        """Run ``body`` with ``keys`` watched, again whenever another client changed one of them first."""
        async with self.client.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(*keys)
                    result = await body(pipe)
                    if pipe.explicit_transaction:
                        await pipe.execute()
                    else:
                        await pipe.unwatch()
                    return result
                except self._watch_error:
                    await pipe.reset()

    async def _live(self, client: Any, key: str, now: float) -> StreamMeta:
        """The record of ``key`` for a client's operation (404 unknown or expired, 410 deleted but forked)."""
        meta = await self._load(client, key)
        if meta is not None and not meta.deleted and meta.expired(now):
            await self._drop(key)
            meta = await self._load(self.client, key)
        if meta is None:
            raise ProtocolError(404, f"There is no stream at {key}.")
        if meta.deleted:
            raise ProtocolError(410, f"The stream at {key} was deleted; its forks still read its data.")
        return meta

    async def _drop(self, key: str) -> None:
        """Delete (or expire) ``key``: removed with its data, or kept for its forks' reads while it has some;
        removing a fork releases its source, and a deleted source no fork reads any more goes too."""
        while key:

            async def drop(pipe: Any, key: str = key) -> str | None:
                meta = await self._load(pipe, key)
                if meta is None:
                    return None
                pipe.multi()
                if meta.forks:
                    meta.deleted = True
                    self._store(pipe, key, meta)
                    pipe.xadd(self._chunks_key(key), {"x": b"deleted"}, id="*")
                    return None
                pipe.delete(self._meta_key(key), self._chunks_key(key))
                return meta.source

            source = await self._transaction([self._meta_key(key)], drop)
            if source is None:
                return
            key = await self._release(source)

    async def _release(self, key: str) -> str:
        """One fork of ``key`` is gone: count it; the key to remove next if ``key`` was deleted (else "")."""

        async def release(pipe: Any) -> str:
            meta = await self._load(pipe, key)
            if meta is None:
                return ""
            meta.forks = max(0, meta.forks - 1)
            pipe.multi()
            self._store(pipe, key, meta)
            return key if meta.deleted and meta.forks == 0 else ""

        return await self._transaction([self._meta_key(key)], release)

    # -- chunks --------------------------------------------------------------------------------------------
    async def _chunks_after(
        self, key: str, meta: StreamMeta, offset: str | None, cap: str, max_bytes: int
    ) -> tuple[list[_Chunk], bool]:
        """The chunks after ``offset`` up to ``cap`` (the source chain's first for a fork), about ``max_bytes``
        of them (at least one); and whether that is all of them."""
        found: list[_Chunk] = []
        size = 0
        if meta.source is not None and (offset is None or offset < meta.start):
            source = await self._load(self.client, meta.source)
            if source is not None:
                found, complete = await self._chunks_after(meta.source, source, offset, min(cap, meta.start), max_bytes)
                if not complete:
                    return found, False
                size = sum(chunk.size for chunk in found)
        lowest = "-" if offset is None else f"{_chunk_id(offset)}-0"
        highest = f"{_chunk_id(cap)}-0"
        while True:
            entries = await self.client.xrange(self._chunks_key(key), min=lowest, max=highest, count=_PAGE)
            for entry_id, fields in entries:
                lowest = "(" + entry_id.decode()
                end = fields.get(b"e")
                if end is None:
                    continue  # a close or delete marker
                end = end.decode()
                if offset is not None and end <= offset:
                    continue
                if end > cap:
                    return found, True
                data = fields[b"d"]
                chunk = _Chunk(end, tuple(data.split(b"\n")) if meta.json else (data,))
                if found and size + chunk.size > max_bytes:
                    return found, False
                found.append(chunk)
                size += chunk.size
            if len(entries) < _PAGE:
                return found, True

    def _add(self, pipe: Any, key: str, meta: StreamMeta, pieces: tuple[bytes, ...]) -> None:
        size = sum(map(len, pieces))
        meta.tail = advance(meta.tail, size)
        meta.size += size
        data = b"\n".join(pieces) if meta.json else pieces[0]
        pipe.xadd(self._chunks_key(key), {"e": meta.tail, "d": data}, id=f"{_chunk_id(meta.tail)}-0")

    def _too_large(self, key: str) -> ProtocolError:
        return ProtocolError(
            413, f"The stream at {key} would hold more than {self.max_stream_bytes} bytes "
            "(durable.RedisBackend(max_stream_bytes=...))."
        )  # fmt: skip

    # -- the operations ------------------------------------------------------------------------------------
    async def create(self, key: str, stream: NewStream, body: bytes) -> tuple[StreamInfo, bool]:
        now = time.time()
        existing = await self._load(self.client, key)
        if existing is not None and existing.expired(now) and not existing.deleted:
            await self._drop(key)
        watched = [self._meta_key(key)]
        if stream.forked_from is not None:
            watched.append(self._meta_key(stream.forked_from))

        async def create(pipe: Any) -> tuple[StreamInfo, bool]:
            existing = await self._load(pipe, key)
            if existing is not None:
                if existing.deleted:
                    raise ProtocolError(
                        409, f"The stream at {key} was deleted and its forks still read it: the path cannot be "
                        "reused until they are deleted."
                    )  # fmt: skip
                if not same_config(existing.config, stream):
                    raise ProtocolError(409, f"A stream exists at {key} with another configuration.")
                return existing.info(), False
            source = None
            if stream.forked_from is None:
                meta = new_meta(stream, now)
            else:
                source = await self._load(pipe, stream.forked_from)
                meta = fork_meta(stream, source, now)
            prefix: tuple[bytes, ...] = ()
            if stream.fork_sub_offset:
                assert source is not None
                assert stream.forked_from is not None
                following, _ = await self._chunks_after(stream.forked_from, source, meta.start, source.tail, 0)
                prefix = sub_offset_prefix(source.json, following[0].pieces if following else None,
                                           stream.fork_sub_offset)  # fmt: skip
            pieces = tuple(json_messages(body, creating=True)) if body and meta.json else (body,) if body else ()
            if sum(map(len, prefix + pieces)) > self.max_stream_bytes:
                raise self._too_large(key)
            pipe.multi()
            pipe.delete(self._chunks_key(key))
            for chunk in (prefix, pieces):
                if chunk:
                    self._add(pipe, key, meta, chunk)
            if meta.closed:
                pipe.xadd(self._chunks_key(key), {"x": b"closed"}, id=f"{_chunk_id(meta.tail)}-1")
            self._store(pipe, key, meta)
            if source is not None and stream.forked_from is not None:
                source.forks += 1
                self._store(pipe, stream.forked_from, source)
            return meta.info(), True

        return await self._transaction(watched, create)

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
        now = time.time()

        async def append(pipe: Any) -> Appended:
            meta = await self._live(pipe, key, now)
            meta.touched = now
            plan = check_append(meta, key, bool(body), content_type=content_type, seq=seq, producer=producer, now=now)
            if plan.done is not None:
                return plan.done
            pieces = tuple(json_messages(body, creating=False)) if body and meta.json else (body,)
            if body and meta.size + sum(map(len, pieces)) > self.max_stream_bytes:
                raise self._too_large(key)
            pipe.multi()
            if body:
                self._add(pipe, key, meta, pieces)
            done = record_append(meta, close=close, seq=seq, producer=producer, plan=plan, now=now)
            if close:
                pipe.xadd(self._chunks_key(key), {"x": b"closed"}, id=f"{_chunk_id(meta.tail)}-1")
            self._store(pipe, key, meta)
            return done

        return await self._transaction([self._meta_key(key)], append)

    async def head(self, key: str) -> StreamInfo:
        return (await self._live(self.client, key, time.time())).info()

    async def _touch(self, key: str, meta: StreamMeta, now: float) -> None:
        """A read extends a TTL: record when (apart from the record, which a read never writes)."""
        if meta.ttl is None:
            return
        meta.touched = now
        expires = meta.expires()
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.hset(self._meta_key(key), "t", repr(now))
            if expires is not None and not meta.forks:
                for name in (self._meta_key(key), self._chunks_key(key)):
                    pipe.pexpireat(name, int((expires + _GRACE) * 1000))
            await pipe.execute()

    async def read(self, key: str, offset: str | None, max_bytes: int) -> ReadResult:
        now = time.time()
        meta = await self._live(self.client, key, now)
        await self._touch(key, meta, now)
        chunks, complete = await self._chunks_after(key, meta, offset, meta.tail, max_bytes)
        pieces = [piece for chunk in chunks for piece in chunk.pieces]
        next_offset = chunks[-1].end if chunks else meta.tail
        return ReadResult(
            meta.info(), pieces, next_offset, complete, [(chunk.end, len(chunk.pieces)) for chunk in chunks]
        )

    async def wait(self, key: str, offset: str, max_wait: float) -> None:
        now = time.time()
        meta = await self._live(self.client, key, now)
        await self._touch(key, meta, now)
        if meta.closed or meta.tail > offset:
            return
        # Block on the stream's own entries after its tail (a chunk, or the close marker); an offset in a fork's
        # inherited range was answered by the read before any wait.
        position = f"{_chunk_id(meta.tail)}-0" if meta.tail > meta.start else "0-0"
        await self.client.xread({self._chunks_key(key): position}, count=1, block=max(1, int(max_wait * 1000)))

    async def delete(self, key: str) -> None:
        await self._live(self.client, key, time.time())
        await self._drop(key)
