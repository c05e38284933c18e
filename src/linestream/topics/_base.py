"""What every topic backend shares: message ids, the subscriptions of this process, and their fan-out.

A backend stores each topic as an append-only log of serialized messages whose ids are ``<ms>-<seq>`` (Redis
Streams ids, which the in-memory backend imitates), so that an id is also a position: a subscription starting
after an id reads the log from there, then follows the messages delivered live.

Live delivery is one ``Feed`` per topic per process: the backend appends each new message to it once
(``TopicBackend.deliver``) and wakes the subscriptions that wait for one; every subscription reads the feed at
its own cursor. So a publish costs the same whatever the number of subscribers that are busy or stuck (a
client that stopped reading costs nothing but its cursor), and nothing a subscriber does can slow the publisher
or another subscriber. A subscription that falls more than ``max_pending`` messages behind the newest (its
client reads slower than messages arrive) reads the log from its last position instead, page by page, until it
has caught up; only a subscriber that falls behind by more than the topic's retention loses messages, and that
is logged. A topic's feed lives while the topic has subscriptions in the process.
"""

from __future__ import annotations

import abc
import asyncio
import bisect
import logging
import re
import time
import weakref
from collections.abc import Sequence
from types import TracebackType
from typing import Any, TypeVar

from pydantic import TypeAdapter

from linestream._serialization import SerializedItem
from linestream._signal import EventWaiter
from linestream.exceptions import InvalidMessageId

__all__ = ["PAGE_SIZE", "Feed", "Inbox", "MessageKey", "TopicBackend", "format_id", "logger", "parse_id"]

BackendT = TypeVar("BackendT", bound="TopicBackend")

#: A message id as a sortable pair: (milliseconds, sequence number).
MessageKey = tuple[int, int]

_ID = re.compile(r"([0-9]{1,20})-([0-9]{1,20})", re.ASCII)
_ID_BOUND = 2**64

logger = logging.getLogger("linestream.topics")

#: Messages read from a log per request while a subscription catches up.
PAGE_SIZE = 500
#: Seconds between two reports of subscribers of one topic losing messages.
GAP_REPORT_INTERVAL = 10.0


def parse_id(topic: str, message_id: str) -> MessageKey:
    """The key of ``message_id``; ``InvalidMessageId`` (a 400 in a request) when it is not ``<ms>-<seq>`` with
    both parts below 2**64 (the ids Redis Streams can hold)."""
    match = _ID.fullmatch(message_id)
    if match is None:
        raise InvalidMessageId(topic, message_id)
    key = int(match[1]), int(match[2])
    if key[0] >= _ID_BOUND or key[1] >= _ID_BOUND:
        raise InvalidMessageId(topic, message_id)
    return key


def format_id(key: MessageKey) -> str:
    return f"{key[0]}-{key[1]}"


class _TopicType:
    """The item type a topic name is declared with on a backend, to build its messages. The backend holds it
    weakly: it lives as long as a ``Topic`` object of that name, or a subscription, uses it."""

    __slots__ = ("__weakref__", "adapter", "item_type")

    def __init__(self, item_type: Any, adapter: TypeAdapter[Any] | None) -> None:
        self.item_type = item_type
        self.adapter = adapter


class TopicBackend(abc.ABC):
    """Stores topics' messages and delivers new ones to this process's subscriptions.

    A backend implements ``append``, ``read`` and ``last_key`` (and ``start``/``close`` if it holds
    connections); live delivery is either done by ``append`` itself (one process) or by a reader that calls
    ``deliver`` (a shared log): see ``watch``. Use a backend as an async context manager, or pass it to
    ``LineStream(topic_backend=...)``, which starts it with the app and closes it at shutdown.
    """

    def __init__(self) -> None:
        self._types: weakref.WeakValueDictionary[str, _TopicType] = weakref.WeakValueDictionary()
        # The feed of each topic with open local subscriptions (and those subscriptions).
        self._feeds: dict[str, Feed] = {}

    # -- to implement --------------------------------------------------------------------------------------
    @abc.abstractmethod
    async def append(self, topic: str, data: bytes, *, retention: int) -> SerializedItem[Any]:
        """Add ``data`` (a serialized item) to ``topic``'s log, keeping about ``retention`` messages, and return
        the message with its new id."""

    @abc.abstractmethod
    async def read(self, topic: str, after: MessageKey, limit: int) -> Sequence[SerializedItem[Any]]:
        """At most ``limit`` messages of ``topic`` whose ids come after ``after``, oldest first."""

    @abc.abstractmethod
    async def last_key(self, topic: str) -> MessageKey:
        """The key of ``topic``'s newest message; ``(0, 0)`` for an empty topic."""

    async def trimmed_key(self, topic: str) -> MessageKey:
        """The key of the newest message dropped by retention; ``(0, 0)`` if none (or if unknown)."""
        return (0, 0)

    async def delete(self, topic: str) -> None:
        """Drop ``topic``'s log (its history); a backend that cannot raises ``NotImplementedError``."""
        raise NotImplementedError(f"{type(self).__name__} cannot delete a topic's history.")

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Connect (raise ``TopicBackendUnavailable`` if the backend cannot be reached)."""

    async def close(self) -> None:
        """Disconnect; every open subscription then fails with ``TopicBackendUnavailable``."""
        self._close_subscriptions()

    def watch(self, topic: str) -> None:  # noqa: B027 - optional hook
        """Called when ``topic`` gets its first local subscription: start delivering its new messages."""

    def unwatch(self, topic: str) -> None:  # noqa: B027 - optional hook
        """Called when the last local subscription of ``topic`` left: stop delivering its messages."""

    async def ready(self, topic: str) -> None:  # noqa: B027 - optional hook
        """Wait until every message appended from now on will be delivered to the subscriptions of ``topic``."""

    # -- shared --------------------------------------------------------------------------------------------
    async def __aenter__(self: BackendT) -> BackendT:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def declare(self, topic: str, item_type: Any, adapter: TypeAdapter[Any] | None) -> _TopicType:
        """Record ``topic``'s item type, for as long as the caller holds the record returned; a second declaration
        with another type while the first lives is a mistake caught early."""
        known = self._types.get(topic)
        if known is not None and known.item_type != item_type:
            raise ValueError(
                f"Topic {topic!r} is already declared with item type {known.item_type!r} on this backend; "
                f"a second Topic of that name cannot carry {item_type!r}. Use one Topic object, or another name."
            )
        declared = self._types[topic] = _TopicType(item_type, adapter) if known is None else known
        return declared

    def message(self, topic: str, key: MessageKey, data: bytes, message_id: str | None = None) -> SerializedItem[Any]:
        """A message of ``topic`` (typed as declared), for a backend to return or deliver."""
        known = self._types.get(topic)
        if known is None:
            return SerializedItem(message_id or format_id(key), data, key=key)
        return SerializedItem(message_id or format_id(key), data, known.item_type, adapter=known.adapter, key=key)

    def subscriber_count(self, topic: str) -> int:
        """How many subscriptions of ``topic`` are open in this process."""
        feed = self._feeds.get(topic)
        return 0 if feed is None else len(feed.inboxes)

    @property
    def topics(self) -> frozenset[str]:
        """The names of the topics this process holds anything for: a live ``Topic`` object, an open subscription
        (or, in memory, a log). A topic whose objects and subscriptions are gone leaves nothing here; its history
        stays in the backend's log until ``Topic.delete()``."""
        return frozenset(self._types.keys() | self._feeds.keys())

    def deliver(self, topic: str, messages: Sequence[SerializedItem[Any]]) -> None:
        """Append new messages (in id order) to ``topic``'s feed, waking the subscriptions that wait; never waits,
        and costs nothing per subscription that is busy or stuck."""
        feed = self._feeds.get(topic)
        if feed is not None:
            feed.extend(messages)

    def register(self, topic: str, inbox: Inbox) -> None:
        feed = self._feeds.get(topic)
        new = feed is None
        if feed is None:
            feed = self._feeds[topic] = Feed(self._types.get(topic))
        feed.add(inbox)
        if new:
            self.watch(topic)

    def unregister(self, topic: str, inbox: Inbox) -> None:
        feed = self._feeds.get(topic)
        if feed is not None and inbox.feed is feed:
            feed.remove(inbox)
            if not feed.inboxes:
                del self._feeds[topic]  # the last subscription left: the topic leaves nothing behind here
                self.unwatch(topic)

    def fail_topic(self, topic: str, reason: str) -> None:
        """End every local subscription of ``topic`` with ``TopicBackendUnavailable(reason)``."""
        feed = self._feeds.get(topic)
        for inbox in list(feed.inboxes if feed is not None else ()):
            inbox.fail(reason)

    def _close_subscriptions(self) -> None:
        for topic in list(self._feeds):
            self.fail_topic(topic, f"The backend of topic {topic!r} was closed.")


class Feed:
    """The recent messages of one topic in this process, shared by its subscriptions (see the module docstring):
    ``messages[i]`` is the message at position ``offset + i``; it keeps at least the ``max_pending`` of its
    largest subscription."""

    __slots__ = (
        "capacity",
        "declared",
        "gap_reported_at",
        "gaps_unreported",
        "inboxes",
        "messages",
        "offset",
        "trimmed",
        "waiting",
    )

    def __init__(self, declared: _TopicType | None) -> None:
        #: Keeps the topic's item type known while it has subscriptions here.
        self.declared = declared
        self.messages: list[SerializedItem[Any]] = []
        self.offset = 0
        #: The key of the newest message the feed dropped: a subscription after it finds all that follows here.
        self.trimmed: MessageKey = (0, 0)
        self.capacity = 1
        self.inboxes: dict[Inbox, None] = {}
        #: The subscriptions waiting for a new message (the only ones a publish touches).
        self.waiting: dict[Inbox, None] = {}
        # Lost messages are logged at most once per GAP_REPORT_INTERVAL per topic (with a count of the others):
        # thousands of slow subscribers must not flood the log.
        self.gap_reported_at = -GAP_REPORT_INTERVAL
        self.gaps_unreported = 0

    def should_report_gap(self) -> bool:
        now = time.monotonic()
        if now - self.gap_reported_at >= GAP_REPORT_INTERVAL:
            self.gap_reported_at = now
            return True
        self.gaps_unreported += 1
        return False

    def take_unreported_gaps(self) -> int:
        count, self.gaps_unreported = self.gaps_unreported, 0
        return count

    @property
    def end(self) -> int:
        """The position after the newest message."""
        return self.offset + len(self.messages)

    def add(self, inbox: Inbox) -> None:
        inbox.feed = self
        self.inboxes[inbox] = None
        self.capacity = max(self.capacity, inbox.max_pending)

    def remove(self, inbox: Inbox) -> None:
        self.inboxes.pop(inbox, None)
        self.waiting.pop(inbox, None)

    def extend(self, messages: Sequence[SerializedItem[Any]]) -> None:
        kept = self.messages
        kept.extend(messages)
        if len(kept) > 2 * self.capacity:  # trimmed in bulk: amortized O(1) a message
            drop = len(kept) - self.capacity
            self.trimmed = kept[drop - 1].key
            del kept[:drop]
            self.offset += drop
        waiting, self.waiting = self.waiting, {}
        for inbox in waiting:
            inbox.wake()

    def position_after(self, key: MessageKey) -> int:
        """The position of the first message after ``key`` (or the end)."""
        return self.offset + bisect.bisect_right(self.messages, key, key=lambda message: message.key)


class Inbox:
    """What the fan-out of a backend holds of one subscription: its cursor in the topic's feed, and its wake-up.
    (Not the subscription itself, so that a subscription nobody iterates any more is freed, and unregisters.)"""

    __slots__ = ("behind", "cursor", "failure", "feed", "max_pending", "waiter")

    def __init__(self, max_pending: int) -> None:
        self.max_pending = max_pending
        self.feed: Feed | None = None
        #: The position in the feed of the next message to take.
        self.cursor = 0
        #: Read the log before taking from the feed (set at the start, and when it fell ``max_pending`` behind).
        self.behind = True
        #: Why the subscription cannot go on (its backend closed, its topic's key unusable); ``None``: it can.
        self.failure: str | None = None
        self.waiter: asyncio.Future[None] | EventWaiter | None = None

    @property
    def pending(self) -> int:
        """How many messages it may take from the feed before it has to wait (0 when it reads the log)."""
        feed = self.feed
        if feed is None or self.behind:
            return 0
        lag = feed.end - self.cursor
        return lag if lag <= self.max_pending and self.cursor >= feed.offset else 0

    def take(self) -> SerializedItem[Any] | None:
        """The next message of the feed, or ``None`` when there is none yet; falling ``max_pending`` behind (or
        behind what the feed kept) sets ``behind``."""
        feed = self.feed
        assert feed is not None
        cursor = self.cursor
        end = feed.end
        if cursor >= end:
            return None
        if cursor < feed.offset or end - cursor > self.max_pending:
            self.behind = True
            return None
        self.cursor = cursor + 1
        return feed.messages[cursor - feed.offset]

    def wait(self, waiter: asyncio.Future[None] | EventWaiter) -> asyncio.Future[None] | EventWaiter:
        self.waiter = waiter
        if self.feed is not None:
            self.feed.waiting[self] = None
        return waiter

    def fail(self, reason: str) -> None:
        self.failure = reason
        self.wake()

    def wake(self) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
