"""The in-memory backend: one process's topics, each a bounded log in a list."""

from __future__ import annotations

import bisect
import time
import weakref
from collections.abc import Sequence
from typing import Any

from linestream._serialization import SerializedItem
from linestream.topics._base import MessageKey, TopicBackend

__all__ = ["MemoryBackend", "memory_topics"]

# Every in-memory backend of this process, for `memory_topics`.
_BACKENDS: weakref.WeakSet[MemoryBackend] = weakref.WeakSet()


def memory_topics() -> frozenset[str]:
    """The names of the topics this process holds in memory (on any ``MemoryBackend``): what a second worker
    process would not see."""
    return frozenset(name for backend in list(_BACKENDS) for name in backend.topics)


class _Log:
    __slots__ = ("keys", "last", "messages", "start", "trimmed")

    def __init__(self) -> None:
        # Trimmed from the front by advancing `start`; compacted when half of the list is dead.
        self.messages: list[SerializedItem[Any]] = []
        self.keys: list[MessageKey] = []
        self.start = 0
        self.last: MessageKey = (0, 0)
        self.trimmed: MessageKey = (0, 0)


class MemoryBackend(TopicBackend):
    """Topics held in this process: the default backend, for one worker.

    Each topic keeps its last ``retention`` messages (the ``Topic``'s setting) so that a reconnecting client
    can resume; a publish delivers to the process's subscriptions at once. Ids are ``<ms>-<seq>`` from the
    wall clock, like Redis Streams', so ids from before a restart still compare as older. ``Topic.delete()``
    drops a topic's log; a log of a topic nobody deletes lives as long as the backend.
    """

    def __init__(self) -> None:
        super().__init__()
        self._logs: dict[str, _Log] = {}
        # The newest id given (to any topic): ids only grow, even for a topic deleted and published to again.
        self._clock: MessageKey = (0, 0)
        _BACKENDS.add(self)

    def _log(self, topic: str) -> _Log:
        log = self._logs.get(topic)
        if log is None:
            log = self._logs[topic] = _Log()
        return log

    async def append(self, topic: str, data: bytes, *, retention: int) -> SerializedItem[Any]:
        log = self._log(topic)
        now = time.time_ns() // 1_000_000
        clock = self._clock
        key = (now, 0) if now > clock[0] else (clock[0], clock[1] + 1)
        log.last = self._clock = key
        message = self.message(topic, key, data)
        log.messages.append(message)
        log.keys.append(key)
        if len(log.messages) - log.start > retention:
            drop = len(log.messages) - log.start - retention
            log.start += drop
            log.trimmed = log.keys[log.start - 1]
            if log.start > len(log.messages) // 2:
                del log.messages[: log.start]
                del log.keys[: log.start]
                log.start = 0
        self.deliver(topic, (message,))
        return message

    async def delete(self, topic: str) -> None:
        self._logs.pop(topic, None)

    @property
    def topics(self) -> frozenset[str]:
        return super().topics | self._logs.keys()

    async def read(self, topic: str, after: MessageKey, limit: int) -> Sequence[SerializedItem[Any]]:
        log = self._logs.get(topic)
        if log is None:
            return ()
        first = bisect.bisect_right(log.keys, after, lo=log.start)
        return log.messages[first : first + limit]

    async def last_key(self, topic: str) -> MessageKey:
        log = self._logs.get(topic)
        return (0, 0) if log is None else log.last

    async def trimmed_key(self, topic: str) -> MessageKey:
        log = self._logs.get(topic)
        return (0, 0) if log is None else log.trimmed
