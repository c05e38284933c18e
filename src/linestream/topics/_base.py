"""What every topic backend shares: message ids, the subscriptions of this process, and their fan-out.

A backend stores each topic as an append-only log of serialized messages whose ids are ``<ms>-<seq>`` (Redis
Streams ids, which the in-memory backend imitates), so that an id is also a position: a subscription starting
after an id reads the log from there, then follows the messages delivered live.

Live delivery is one fan-out per process: the backend hands each new message to every local subscription of
its topic (``TopicBackend.deliver``), which only appends it to that subscription's bounded queue. Nothing a
subscriber does can slow the publisher or another subscriber. A subscription whose queue overflows (its
client reads slower than messages arrive) drops its queue and reads the log from its last position instead,
page by page, until it has caught up; only a subscriber that falls behind by more than the topic's retention
loses messages, and that is logged.
"""

from __future__ import annotations

import abc
import asyncio
import collections
import logging
import re
from collections.abc import Sequence
from types import TracebackType
from typing import Any, TypeVar

from pydantic import TypeAdapter

from linestream._serialization import SerializedItem
from linestream._signal import EventWaiter
from linestream.exceptions import InvalidMessageId

__all__ = ["PAGE_SIZE", "Inbox", "MessageKey", "TopicBackend", "format_id", "logger", "parse_id"]

BackendT = TypeVar("BackendT", bound="TopicBackend")

#: A message id as a sortable pair: (milliseconds, sequence number).
MessageKey = tuple[int, int]

_ID = re.compile(r"([0-9]{1,20})-([0-9]{1,20})", re.ASCII)
_ID_BOUND = 2**64

logger = logging.getLogger("linestream.topics")

#: Messages read from a log per request while a subscription catches up.
PAGE_SIZE = 500


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
    """The item type a topic name is declared with on a backend, to build its messages."""

    __slots__ = ("adapter", "item_type")

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
        self._types: dict[str, _TopicType] = {}
        # The inboxes of the open local subscriptions, per topic (dicts as ordered sets: cheap to iterate).
        self._inboxes: dict[str, dict[Inbox, None]] = {}

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

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Connect (raise ``TopicBackendUnavailable`` if the backend cannot be reached)."""

    async def close(self) -> None:
        """Disconnect; every open subscription then fails with ``TopicBackendUnavailable``."""
        self._close_subscriptions()

    def watch(self, topic: str) -> None:  # noqa: B027 - optional hook
        """Called when ``topic`` gets its first local subscription: start delivering its new messages."""

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

    def declare(self, topic: str, item_type: Any, adapter: TypeAdapter[Any] | None) -> None:
        """Record ``topic``'s item type; a second declaration with another type is a mistake caught early."""
        known = self._types.get(topic)
        if known is not None and known.item_type != item_type:
            raise ValueError(
                f"Topic {topic!r} is already declared with item type {known.item_type!r} on this backend; "
                f"a second Topic of that name cannot carry {item_type!r}. Use one Topic object, or another name."
            )
        self._types[topic] = _TopicType(item_type, adapter)

    def message(self, topic: str, key: MessageKey, data: bytes, message_id: str | None = None) -> SerializedItem[Any]:
        """A message of ``topic`` (typed as declared), for a backend to return or deliver."""
        known = self._types.get(topic)
        if known is None:
            return SerializedItem(message_id or format_id(key), data, key=key)
        return SerializedItem(message_id or format_id(key), data, known.item_type, adapter=known.adapter, key=key)

    def subscriber_count(self, topic: str) -> int:
        """How many subscriptions of ``topic`` are open in this process."""
        return len(self._inboxes.get(topic, ()))

    def deliver(self, topic: str, messages: Sequence[SerializedItem[Any]]) -> None:
        """Hand new messages (in id order) to every local subscription of ``topic``; never waits."""
        inboxes = self._inboxes.get(topic)
        if inboxes:
            for inbox in list(inboxes):
                inbox.push(messages)

    def register(self, topic: str, inbox: Inbox) -> None:
        inboxes = self._inboxes.get(topic)
        if inboxes is None:
            inboxes = self._inboxes[topic] = {}
        inboxes[inbox] = None
        if len(inboxes) == 1:
            self.watch(topic)

    def unregister(self, topic: str, inbox: Inbox) -> None:
        inboxes = self._inboxes.get(topic)
        if inboxes is not None:
            inboxes.pop(inbox, None)

    def fail_topic(self, topic: str, reason: str) -> None:
        """End every local subscription of ``topic`` with ``TopicBackendUnavailable(reason)``."""
        for inbox in list(self._inboxes.get(topic, ())):
            inbox.fail(reason)

    def _close_subscriptions(self) -> None:
        for topic in list(self._inboxes):
            self.fail_topic(topic, f"The backend of topic {topic!r} was closed.")


class Inbox:
    """What the fan-out of a backend holds of one subscription: its bounded queue and its wake-up. (Not the
    subscription itself, so that a subscription nobody iterates any more is freed, and unregisters.)"""

    __slots__ = ("behind", "failure", "max_pending", "pending", "waiter")

    def __init__(self, max_pending: int) -> None:
        self.max_pending = max_pending
        self.pending: collections.deque[SerializedItem[Any]] = collections.deque()
        #: The queue was dropped (or never filled): read the log before taking from it.
        self.behind = True
        #: Why the subscription cannot go on (its backend closed, its topic's key unusable); ``None``: it can.
        self.failure: str | None = None
        self.waiter: asyncio.Future[None] | EventWaiter | None = None

    def push(self, messages: Sequence[SerializedItem[Any]]) -> None:
        """Live delivery. A full queue is dropped: the subscription re-reads the log instead."""
        pending = self.pending
        if len(pending) + len(messages) > self.max_pending:
            pending.clear()
            self.behind = True
        else:
            pending.extend(messages)
        self.wake()

    def fail(self, reason: str) -> None:
        self.failure = reason
        self.wake()

    def wake(self) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
