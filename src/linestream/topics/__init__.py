"""Topics: streams that someone publishes to and many subscribe to, across workers and hosts.

``Topic`` is the typed API; a backend stores the messages: ``MemoryBackend`` (the default, one process) or
``RedisBackend`` (Redis Streams, shared by every worker and host). See docs/scaling-out.md.
"""

import warnings
from typing import Any

from linestream._serialization import SerializedItem
from linestream.exceptions import InvalidMessageId, TopicBackendUnavailable
from linestream.topics._base import TopicBackend
from linestream.topics._memory import MemoryBackend, memory_topics
from linestream.topics._redis import RedisBackend
from linestream.topics._subscription import Subscription
from linestream.topics._topic import Topic, default_backend

__all__ = [
    "InvalidMessageId",
    "MemoryBackend",
    "RedisBackend",
    "SerializedItem",
    "Subscription",
    "Topic",
    "TopicBackend",
    "TopicBackendUnavailable",
    "default_backend",
    "memory_topics",
]


def __getattr__(name: str) -> Any:
    if name == "Message":
        warnings.warn(
            "linestream.topics.Message is now SerializedItem (linestream.topics.SerializedItem); Message goes in a "
            "future release.",
            DeprecationWarning,
            stacklevel=2,
        )
        return SerializedItem
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
