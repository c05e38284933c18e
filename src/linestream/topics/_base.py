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
import contextlib
import logging
import re
from collections.abc import Callable, Generator, Sequence
from types import TracebackType
from typing import Any, Generic, TypeVar

import anyio
from pydantic import TypeAdapter

from linestream._early_start import response_may_start
from linestream._serialization import SerializedItem
from linestream.exceptions import InvalidMessageId, TopicBackendUnavailable

__all__ = ["MessageKey", "Subscription", "TopicBackend", "format_id", "parse_id"]

ItemT = TypeVar("ItemT")
BackendT = TypeVar("BackendT", bound="TopicBackend")
SubscriptionT = TypeVar("SubscriptionT", bound="Subscription[Any]")

#: A message id as a sortable pair: (milliseconds, sequence number).
MessageKey = tuple[int, int]

_ID = re.compile(r"([0-9]{1,20})-([0-9]{1,20})", re.ASCII)

logger = logging.getLogger("linestream.topics")

#: Messages read from a log per request while a subscription catches up.
PAGE_SIZE = 500


def parse_id(topic: str, message_id: str) -> MessageKey:
    """The key of ``message_id``; ``InvalidMessageId`` (a 400 in a request) when it is not ``<ms>-<seq>``."""
    match = _ID.fullmatch(message_id)
    if match is None:
        raise InvalidMessageId(topic, message_id)
    return int(match[1]), int(match[2])


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

    def _close_subscriptions(self) -> None:
        for inboxes in self._inboxes.values():
            for inbox in list(inboxes):
                inbox.fail()


class Inbox:
    """What the fan-out of a backend holds of one subscription: its bounded queue and its wake-up. (Not the
    subscription itself, so that a subscription nobody iterates any more is freed, and unregisters.)"""

    __slots__ = ("behind", "failed", "max_pending", "pending", "waiter")

    def __init__(self, max_pending: int) -> None:
        self.max_pending = max_pending
        self.pending: collections.deque[SerializedItem[Any]] = collections.deque()
        #: The queue was dropped (or never filled): read the log before taking from it.
        self.behind = True
        self.failed = False
        self.waiter: asyncio.Future[None] | _EventWaiter | None = None

    def push(self, messages: Sequence[SerializedItem[Any]]) -> None:
        """Live delivery. A full queue is dropped: the subscription re-reads the log instead."""
        pending = self.pending
        if len(pending) + len(messages) > self.max_pending:
            pending.clear()
            self.behind = True
        else:
            pending.extend(messages)
        self.wake()

    def fail(self) -> None:
        self.failed = True
        self.wake()

    def wake(self) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class _EventWaiter:  # pragma: no cover - for trio, which the test environment does not install
    """A one-shot wake-up with the part of ``asyncio.Future``'s interface a subscription uses, for other loops."""

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event = anyio.Event()

    def done(self) -> bool:
        return self._event.is_set()

    def set_result(self, result: None) -> None:
        self._event.set()

    def __await__(self) -> Generator[Any, Any, None]:
        return self._event.wait().__await__()


class Subscription(Generic[ItemT]):
    """The messages of one topic after a position, as an async iterator: first those already in the log
    (when resuming after an id), then new ones as they are published. Ends only when closed."""

    __slots__ = (
        "_after",
        "_backend",
        "_closed",
        "_history",
        "_inbox",
        "_new_waiter",
        "_opened",
        "_started",
        "topic",
    )

    def __init__(self, backend: TopicBackend, topic: str, after: MessageKey | None, max_pending: int) -> None:
        self._backend = backend
        self.topic = topic
        self._after = after
        self._inbox = Inbox(max_pending)
        self._history: collections.deque[SerializedItem[ItemT]] = collections.deque()
        self._opened = False
        self._closed = False
        self._new_waiter: Callable[[], asyncio.Future[None] | _EventWaiter] = _EventWaiter
        self._started = False

    @property
    def max_pending(self) -> int:
        """How many messages may wait in this subscription's queue before it drops them and re-reads the log."""
        return self._inbox.max_pending

    @property
    def pending(self) -> int:
        """How many delivered messages wait in this subscription's queue."""
        return len(self._inbox.pending)

    @property
    def last_id(self) -> str | None:
        """The id of the last message this subscription returned (or it started after)."""
        return None if self._after is None else format_id(self._after)

    def __aiter__(self: SubscriptionT) -> SubscriptionT:
        return self

    async def __anext__(self) -> SerializedItem[ItemT]:
        if not self._opened:
            await self._open()
        inbox = self._inbox
        pending = inbox.pending
        history = self._history
        while True:
            if history:
                message = history.popleft()
                self._after = message.key
                return message
            if self._closed:
                raise StopAsyncIteration
            if inbox.failed:
                raise TopicBackendUnavailable(f"The backend of topic {self.topic!r} was closed.")
            if inbox.behind:
                await self._catch_up()
                continue
            while pending:
                message = pending.popleft()
                if message.key > self._after:
                    self._after = message.key
                    return message
            if not self._started:
                # Nothing to send yet, and nothing left that could fail with an error status: a stream waiting
                # for its first message starts its response now (the client sees it is subscribed).
                self._started = True
                response_may_start()
            waiter = inbox.waiter = self._new_waiter()
            await waiter

    async def _open(self) -> None:
        self._opened = True
        # On asyncio a bare future is the cheapest way to wait for a push (one per message per subscriber); on
        # another event loop (trio), the anyio Event it was created with.
        with contextlib.suppress(RuntimeError):
            self._new_waiter = asyncio.get_running_loop().create_future
        backend = self._backend
        backend.register(self.topic, self._inbox)
        await backend.ready(self.topic)
        if self._after is None:
            self._after = await backend.last_key(self.topic)
            return
        trimmed = await backend.trimmed_key(self.topic)
        if trimmed > self._after:
            logger.warning(
                "A subscriber of topic %r resumed after %s, but messages up to %s were dropped by the topic's "
                "retention: it continues with the oldest message kept.",
                self.topic,
                format_id(self._after),
                format_id(trimmed),
            )

    async def _catch_up(self) -> None:
        """Read the next page of the log; once a page is not full, live delivery takes over."""
        assert self._after is not None
        page = await self._backend.read(self.topic, self._after, PAGE_SIZE)
        if len(page) < PAGE_SIZE:
            self._inbox.behind = False
        self._history.extend(page)

    async def aclose(self) -> None:
        """Stop receiving: the iteration ends (``async with`` closes it too)."""
        self._closed = True
        self._backend.unregister(self.topic, self._inbox)
        self._inbox.wake()

    def __del__(self) -> None:
        # A stream's generator that is closed drops its subscription without closing it: unregister then.
        if self._opened and not self._closed:
            self._backend.unregister(self.topic, self._inbox)

    async def __aenter__(self: SubscriptionT) -> SubscriptionT:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
