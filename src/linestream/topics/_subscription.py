"""``Subscription``: the messages of one topic after a position, for one consumer (see ``_base`` for the fan-out).

A subscription reads the log from its position (when it resumes, or when its queue overflowed), then takes the
messages the fan-out delivers live. When the log no longer holds every message after its position (the topic's
retention dropped them before it could read them), the gap is logged and the first message after it carries
``gap_after``, the id after which messages were lost: an SSE stream sends an ``event: gap`` before it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Callable
from types import TracebackType
from typing import Any, Generic, TypeVar

import anyio.lowlevel

from linestream._early_start import response_may_start
from linestream._serialization import SerializedItem
from linestream._signal import EventWaiter
from linestream.exceptions import TopicBackendUnavailable
from linestream.telemetry import TopicTelemetry
from linestream.topics._base import PAGE_SIZE, Inbox, MessageKey, TopicBackend, format_id, logger

__all__ = ["Subscription"]

ItemT = TypeVar("ItemT")
#: Messages a subscription takes from the feed in a row before it lets the other tasks run.
_TURN = 16
SubscriptionT = TypeVar("SubscriptionT", bound="Subscription[Any]")


class Subscription(Generic[ItemT]):
    """The messages of one topic after a position, as an async iterator: first those already in the log
    (when resuming after an id), then new ones as they are published. Ends only when closed."""

    __slots__ = (
        "_after",
        "_backend",
        "_closed",
        "_history",
        "_inbox",
        "_listening",
        "_new_waiter",
        "_opened",
        "_run",
        "_started",
        "_telemetry",
        "topic",
    )

    def __init__(
        self,
        backend: TopicBackend,
        topic: str,
        after: MessageKey | None,
        max_pending: int,
        telemetry: TopicTelemetry | None = None,
    ) -> None:
        self._backend = backend
        #: Measures each message's lag (from its publish to this subscriber) and the gaps, if the topic has it.
        self._telemetry = telemetry
        self.topic = topic
        self._after = after
        self._inbox = Inbox(max_pending)
        self._history: collections.deque[SerializedItem[ItemT]] = collections.deque()
        self._opened = False
        self._listening = False
        self._closed = False
        self._new_waiter: Callable[[], asyncio.Future[None] | EventWaiter] = EventWaiter
        self._started = False
        #: Messages taken from the feed since this subscription last waited.
        self._run = 0

    @property
    def max_pending(self) -> int:
        """How many messages may wait in this subscription's queue before it drops them and re-reads the log."""
        return self._inbox.max_pending

    @property
    def pending(self) -> int:
        """How many delivered messages this subscription has yet to take from memory (it reads the others from
        the log)."""
        return self._inbox.pending

    @property
    def last_id(self) -> str | None:
        """The id of the last message this subscription returned (or it started after)."""
        return None if self._after is None else format_id(self._after)

    def __aiter__(self: SubscriptionT) -> SubscriptionT:
        return self

    async def __anext__(self) -> SerializedItem[ItemT]:
        try:
            if not self._opened:
                await self._open()
            elif not self._listening and not self._closed:
                # Iterated again after an error or a cancellation: listen again, and read what was missed.
                self._listen()
                self._inbox.behind = True
            message = await self._next()
            if self._telemetry is not None:
                self._telemetry.delivered(message.key[0], message.gap_after is not None)
            self._run += 1
            if self._run >= _TURN:
                # Many messages ready at once (a burst, or a reader catching up from the log): let the other tasks
                # run between batches, so that thousands of subscribers waking together share the loop fairly.
                self._run = 0
                await anyio.lowlevel.checkpoint()
            return message
        except BaseException:
            # Cancelled (the client left, the server stops) or failed: stop receiving now. Waiting for the garbage
            # collector would keep the subscription in the fan-out as long as a traceback holds this frame.
            self._stop_listening()
            raise

    async def _next(self) -> SerializedItem[ItemT]:
        inbox = self._inbox
        history = self._history
        while True:
            if history:
                message = history.popleft()
                self._after = message.key
                return message
            if self._closed:
                raise StopAsyncIteration
            if inbox.failure is not None:
                raise TopicBackendUnavailable(inbox.failure)
            if inbox.behind:
                await self._catch_up()
                continue
            while (live := inbox.take()) is not None:
                if live.key > self._after:
                    self._after = live.key
                    return live
            if inbox.behind:
                continue
            if not self._started:
                # Nothing to send yet, and nothing left that could fail with an error status: a stream waiting
                # for its first message starts its response now (the client sees it is subscribed).
                self._started = True
                response_may_start()
            self._run = 0
            await inbox.wait(self._new_waiter())

    def _listen(self) -> None:
        self._listening = True
        self._backend.register(self.topic, self._inbox)

    def _stop_listening(self) -> None:
        if self._listening:
            self._listening = False
            self._backend.unregister(self.topic, self._inbox)

    async def _open(self) -> None:
        # On asyncio a bare future is the cheapest way to wait for a push (one per message per subscriber); on
        # another event loop (trio), the anyio Event it was created with.
        with contextlib.suppress(RuntimeError):
            self._new_waiter = asyncio.get_running_loop().create_future
        backend = self._backend
        self._listen()
        await backend.ready(self.topic)
        last = await backend.last_key(self.topic)
        self._opened = True
        if self._after is None:
            self._after = last
            return
        if self._after > last:
            # An id this topic never gave (another topic's, a log that was reset, or made up): resuming from it
            # would wait for the clock to catch up; the subscriber gets what is published from now on instead.
            logger.warning(
                "A subscriber of topic %r resumed after %s, which is newer than the topic's newest message %s: it "
                "continues with the messages published from now on.",
                self.topic,
                format_id(self._after),
                format_id(last),
            )
            self._after = last

    async def _catch_up(self) -> None:
        """Read the next page of the log; once a page is not full, live delivery takes over. Messages the log
        dropped before this subscription could read them are a gap: logged, and flagged on the next message."""
        assert self._after is not None
        backend = self._backend
        trimmed = await backend.trimmed_key(self.topic)
        gap_after = None
        if trimmed > self._after:
            gap_after = format_id(self._after)
            feed = self._inbox.feed
            if feed is None or feed.should_report_gap():
                others = 0 if feed is None else feed.take_unreported_gaps()
                logger.warning(
                    "A subscriber of topic %r lost the messages after %s up to %s: the topic's retention dropped "
                    "them before it could read them (it reads slower than messages are published, or resumed from "
                    "an old id). It continues with the oldest message kept.%s",
                    self.topic,
                    gap_after,
                    format_id(trimmed),
                    f" ({others} other subscriber(s) of the topic lost messages since the last report.)"
                    if others
                    else "",
                )
            self._after = trimmed
        page = await backend.read(self.topic, self._after, PAGE_SIZE)
        inbox = self._inbox
        feed = inbox.feed
        if len(page) < PAGE_SIZE and feed is not None:
            # Caught up: what comes after the page is in the feed, unless the feed dropped some of it already.
            last = page[-1].key if page else self._after
            if last >= feed.trimmed:
                inbox.behind = False
                inbox.cursor = feed.position_after(last)
        if gap_after is not None and page:
            page = [page[0].after_gap(gap_after), *page[1:]]
        self._history.extend(page)

    async def aclose(self) -> None:
        """Stop receiving: the iteration ends (``async with`` closes it too)."""
        self._closed = True
        self._stop_listening()
        self._inbox.wake()

    def __del__(self) -> None:
        # A stream's generator that is closed at its `yield` drops its subscription without closing it.
        self._stop_listening()

    async def __aenter__(self: SubscriptionT) -> SubscriptionT:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
