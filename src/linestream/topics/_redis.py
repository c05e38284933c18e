"""The Redis Streams backend: topics shared by every worker and host that uses the same Redis.

Each topic is a Redis stream (``XADD`` with an approximate ``MAXLEN``); stream ids are message ids, so a client
that reconnects to any worker resumes where it left off. Each process reads each topic it has subscribers for
with one blocking ``XREAD`` loop and fans the messages out to them in memory: a thousand subscribers in a worker
cost one Redis connection, not a thousand.
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc

from linestream._redis_client import import_redis, redis_client
from linestream._serialization import SerializedItem
from linestream.exceptions import TopicBackendUnavailable
from linestream.topics._base import MessageKey, TopicBackend, format_id, logger, parse_id

if TYPE_CHECKING:
    import redis.asyncio

__all__ = ["RedisBackend"]

_FIELD = b"d"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class _Reader:
    """The blocking read loop of one topic in this process."""

    __slots__ = ("position", "ready", "scope")

    def __init__(self) -> None:
        self.ready = anyio.Event()
        self.position: MessageKey | None = None
        self.scope = anyio.CancelScope()


class RedisBackend(TopicBackend):
    """Topics stored in Redis Streams (Redis ≥ 6.2), shared across processes and hosts.

    ``url`` is a ``redis://`` (or ``rediss://``, ``unix://``) URL; or pass a configured
    ``redis.asyncio.Redis`` as ``client`` (its ``socket_timeout`` must exceed ``block`` seconds). Keys are
    ``key_prefix + topic name``. Commands are retried with exponential backoff on connection errors; the read
    loops retry forever (backing off up to ``max_backoff`` seconds) and continue from their last position, so
    subscribers miss nothing across a Redis restart or failover that kept the data.
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        client: redis.asyncio.Redis | None = None,
        key_prefix: str = "linestream:topic:",
        block: float = 2.0,
        max_backoff: float = 2.0,
        max_catch_up_connections: int = 32,
    ) -> None:
        super().__init__()
        redis = import_redis("RedisBackend")
        self.url = url
        self.key_prefix = key_prefix
        self.block = block
        self.max_backoff = max_backoff
        self._errors: tuple[type[BaseException], ...] = (redis.ConnectionError, redis.TimeoutError, OSError)
        self._response_error: type[Exception] = redis.ResponseError
        if client is None:
            client = redis_client(url, socket_timeout=block + 5.0, backend="RedisBackend")
        self.client: Any = client
        self._readers: dict[str, _Reader] = {}
        # Subscribers catching up share a few connections, leaving the pool's others to publishes and read
        # loops (a burst of reconnecting clients must not exhaust the pool: redis-py's holds 100 by default).
        self._catch_up_limit = anyio.Semaphore(max_catch_up_connections)
        self._task_group: anyio.abc.TaskGroup | None = None
        self._stack: contextlib.AsyncExitStack | None = None

    def _key(self, topic: str) -> str:
        return self.key_prefix + topic

    def __repr__(self) -> str:
        return f"RedisBackend({self.url!r})"

    # -- lifecycle -----------------------------------------------------------------------------------------
    async def start(self) -> None:
        try:
            await self.client.ping()
        except self._errors as exc:
            raise TopicBackendUnavailable(f"Redis at {self.url} cannot be reached: {exc}") from exc
        stack = contextlib.AsyncExitStack()
        self._task_group = await stack.enter_async_context(anyio.create_task_group())
        self._stack = stack

    async def close(self) -> None:
        self._close_subscriptions()
        if self._stack is not None:
            assert self._task_group is not None
            self._task_group.cancel_scope.cancel()
            stack, self._stack, self._task_group = self._stack, None, None
            await stack.aclose()
        self._readers.clear()
        await self.client.aclose()

    # -- the log -------------------------------------------------------------------------------------------
    async def append(self, topic: str, data: bytes, *, retention: int) -> SerializedItem[Any]:
        try:
            raw_id = await self.client.xadd(self._key(topic), {_FIELD: data}, maxlen=retention, approximate=True)
        except (*self._errors, self._response_error) as exc:
            # A connection that retries ran out, or Redis refused (BUSY, OOM, LOADING, WRONGTYPE...): the publish
            # did not happen, which the caller learns as a 503 with Retry-After.
            raise TopicBackendUnavailable(f"Cannot publish to topic {topic!r}: Redis at {self.url}: {exc}") from exc
        message_id = _text(raw_id)
        return self.message(topic, parse_id(topic, message_id), data, message_id)

    async def delete(self, topic: str) -> None:
        key = self._key(topic)
        await self._retrying(f"delete topic {topic!r}", lambda: self.client.delete(key))

    async def read(self, topic: str, after: MessageKey, limit: int) -> Sequence[SerializedItem[Any]]:
        key = self._key(topic)
        entries = await self._retrying(
            f"read topic {topic!r}", lambda: self.client.xrange(key, min="(" + format_id(after), count=limit)
        )
        return self._messages(topic, entries)

    async def last_key(self, topic: str) -> MessageKey:
        key = self._key(topic)
        entries = await self._retrying(f"read topic {topic!r}", lambda: self.client.xrevrange(key, count=1))
        if not entries:
            return (0, 0)
        return parse_id(topic, _text(entries[0][0]))

    async def trimmed_key(self, topic: str) -> MessageKey:
        """Redis does not record what ``MAXLEN`` trimmed: once some entry was trimmed, this is the id just
        before the oldest kept one (so a resume from older than that is reported, perhaps too eagerly)."""
        key = self._key(topic)

        async def stream_info() -> Any:
            try:
                return await self.client.xinfo_stream(key)
            except self._response_error:  # no such stream yet: nothing was trimmed
                return {}

        info = await self._retrying(f"inspect topic {topic!r}", stream_info)
        added, length, first = info.get("entries-added"), info.get("length"), info.get("first-entry")
        if added is None or length is None or not first or added <= length:
            return (0, 0)
        ms, seq = parse_id(topic, _text(first[0]))
        return (ms, seq - 1) if seq else (ms - 1, 2**64 - 1)

    def _messages(self, topic: str, entries: Any) -> list[SerializedItem[Any]]:
        messages = []
        for raw_id, fields in entries:
            message_id = _text(raw_id)
            data = fields.get(_FIELD, fields.get(_FIELD.decode()))
            if data is None:  # an entry another program added: not a linestream message
                continue
            messages.append(self.message(topic, parse_id(topic, message_id), data, message_id))
        return messages

    async def _retrying(self, what: str, call: Any, *, limited: bool = True) -> Any:
        """``call()`` until it succeeds, backing off on connection errors and on error replies that pass (BUSY
        during a long script, LOADING, OOM...); cancellation ends the wait. A topic whose key holds another type
        (WRONGTYPE) cannot be read at all: that raises ``TopicBackendUnavailable``.
        ``limited``: one of the few connections for catching up (not for the read loops' blocking reads)."""
        delay = 0.05
        while True:
            try:
                if not limited:
                    return await call()
                async with self._catch_up_limit:
                    return await call()
            except self._response_error as exc:
                if str(exc).startswith("WRONGTYPE"):
                    raise TopicBackendUnavailable(
                        f"Redis at {self.url} cannot {what}: its key holds another type of value ({exc})."
                    ) from exc
                logger.warning("Redis at %s refused to %s (%s); retrying in %.2f s.", self.url, what, exc, delay)
            except self._errors as exc:
                logger.warning("Redis at %s: cannot %s (%s); retrying in %.2f s.", self.url, what, exc, delay)
            await anyio.sleep(delay)
            delay = min(delay * 2, self.max_backoff)

    # -- live delivery -------------------------------------------------------------------------------------
    def watch(self, topic: str) -> None:
        if topic in self._readers:
            return
        if self._task_group is None:
            raise RuntimeError(
                f"{self!r} is not started: pass it to LineStream(topic_backend=...), or use `async with backend:`."
            )
        reader = self._readers[topic] = _Reader()
        self._task_group.start_soon(self._read_loop, topic, reader)

    def unwatch(self, topic: str) -> None:
        reader = self._readers.pop(topic, None)
        if reader is not None:
            reader.scope.cancel()  # its blocking XREAD holds a connection of the pool: give it back now

    async def ready(self, topic: str) -> None:
        reader = self._readers.get(topic)
        if reader is not None:
            await reader.ready.wait()

    async def _read_loop(self, topic: str, reader: _Reader) -> None:
        """Deliver the topic's new messages to this process's subscribers while it has any. Nothing that happens
        here may end the backend's other read loops: a topic that cannot be read fails its own subscribers."""
        try:
            with reader.scope:
                await self._follow(topic, reader)
        except Exception as exc:  # noqa: BLE001 - one topic's failure is reported to its own subscribers
            logger.error("Topic %r: its read loop failed; its subscribers are ended.", topic, exc_info=exc)
            reason = str(exc) if isinstance(exc, TopicBackendUnavailable) else f"Topic {topic!r} cannot be read."
            self.fail_topic(topic, reason)
        finally:
            reader.ready.set()
            # No subscriber left, or the topic failed (a new subscriber starts a new loop).
            if self._readers.get(topic) is reader:
                del self._readers[topic]

    async def _follow(self, topic: str, reader: _Reader) -> None:
        key = self._key(topic)
        block = max(1, math.ceil(self.block * 1000))
        reader.position = await self.last_key(topic)
        reader.ready.set()
        while self.subscriber_count(topic):
            streams = {key: format_id(reader.position)}
            result = await self._retrying(
                f"read topic {topic!r}",
                functools.partial(self.client.xread, streams, count=PAGE, block=block),
                limited=False,
            )
            if not result:
                continue
            entries = result[0][1] if isinstance(result, list) else next(iter(result.values()))[0]
            messages = self._messages(topic, entries)
            if entries:
                reader.position = parse_id(topic, _text(entries[-1][0]))
            if messages:
                self.deliver(topic, messages)


#: Messages per XREAD of a read loop.
PAGE = 1000
