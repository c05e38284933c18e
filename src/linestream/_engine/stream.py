"""The streaming ASGI response: run one ``StreamPlan`` for one request. Knows no routing and no app.

``ItemStream.serve()`` drives one stream:

1. The first item is produced *before* the response starts (``prefetch()``), so an exception raised before the
   first ``yield`` (``HTTPException``, a failed lookup, an invalid first item) propagates unchanged to the
   exception handlers and becomes a real error status. (A generator may let the response start earlier with
   ``response_may_start()``; a keep-alive due before the first item starts it too.)
2. Then the response starts and the item source (``_async_source`` or ``_sync_source``) sends the rest, framed
   and coalesced as the plan says.
3. On the end, an error, the client's disconnect (seen by a task watching ``receive``) or a server shutdown,
   the generator is closed before ``serve()`` returns, so the route tears ``yield`` dependencies down after it.

An exception after the first item aborts the response: ``serve()`` raises ``StreamAborted`` (the exception as
its cause) instead of sending the final empty body message, so the server drops the connection without the
terminating chunk and every HTTP client sees a truncated stream, never a clean end. (With an error-record plan
it sends the record and ends cleanly instead; on shutdown, the plan's shutdown frame, if it has one.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

import anyio
import anyio.abc
from starlette.types import Message, Send

from linestream._compile.plan import StreamPlan
from linestream._early_start import offering_early_start
from linestream._engine.receive import ReceiveChannel
from linestream._engine.state import Ending, EndReason, Frame, Phase, Raise, StreamState
from linestream._engine.sync_source import Spawn
from linestream._engine.tasks import StreamTasks
from linestream._signal import SendWatchdog, WakeBeforeSuspending
from linestream.exceptions import HTTPException, StreamAborted

__all__ = ["ItemSource", "ItemStream", "logger"]

logger = logging.getLogger("linestream")


class ItemSource(Protocol):
    """Where a stream's frames come from: ``AsyncItemSource`` or ``SyncItemSource``."""

    @property
    def count(self) -> int:
        """Items produced so far."""

    @property
    def failure(self) -> Exception | None:
        """A failure of the sending machinery that ``stream()`` could not raise (it was cancelled)."""

    def start(self, spawn: Spawn | None, state: StreamState) -> None:
        """Start what produces the items (with ``spawn``, given when ``producer_task`` is true) before the first
        item is awaited; ``state`` is the stream's."""

    @property
    def producer_task(self) -> bool:
        """Whether the items are produced by a task of their own (a ``def`` generator's thread), which may be
        blocked when the stream ends: the ending then goes out at once, and the generator's dependencies are torn
        down once it closed (``closed()``)."""

    @property
    def producing(self) -> bool:
        """Whether that task still runs."""

    async def closed(self) -> None:
        """Wait until the generator is closed."""

    async def prefetch(self) -> bytes:
        """The head and first frame (or the whole empty stream); errors propagate unchanged."""

    async def stream(self, send: Send, tasks: StreamTasks, waiting: Callable[[], None]) -> None:
        """Send every remaining frame (helpers it needs run in ``tasks``); call ``waiting()`` before the
        generator first waits for something."""

    def cancel(self) -> None:
        """Ask the generator to stop as soon as it can."""

    @property
    def finished(self) -> bool:
        """Whether the generator returned (nothing to close)."""

    async def aclose(self) -> None:
        """Close the generator (it has stopped or been cancelled)."""


class _ClientGone(Exception):
    """``send()`` failed because the client disconnected (or stopped reading); the stream just ends."""


def _body(data: bytes, more: bool = True) -> Message:
    # A new dict each time: middleware (GZipMiddleware) rewrites the messages it passes on.
    return {"type": "http.response.body", "body": data, "more_body": more}


class ItemStream:
    """Serves one item stream over ASGI (see the module docstring for the lifecycle). Its ``state`` (shared with
    the receive channel and the item source) is the one record of where the stream is and why it ends."""

    __slots__ = (
        "_early_start",
        "_expires_in",
        "_first_ready",
        "_head_only",
        "_make_start",
        "_send",
        "_start_lock",
        "_task_group",
        "_watchdog",
        "_watching",
        "channel",
        "plan",
        "producer_pending",
        "source",
        "state",
    )

    def __init__(self, plan: StreamPlan, source: ItemSource, channel: ReceiveChannel) -> None:
        self.plan = plan
        self.source = source
        self.channel = channel
        self.state: StreamState = channel.state
        self._task_group: StreamTasks | None = None
        # Only an early start (a keep-alive before the first item, or the generator saying it is ready) can race
        # the normal start; the lock exists only then.
        self._start_lock: anyio.Lock | None = None
        self._first_ready: anyio.Event | None = None
        #: ``response_may_start()`` was called: the start is scheduled (once).
        self._early_start = False
        self._watchdog: SendWatchdog | None = None
        self._watching = False
        #: The stream ended in an exception while its ``def`` generator still ran (see ``serve``).
        self.producer_pending = False

    def shut_down(self) -> None:
        """End this stream because the server is shutting down (called from the event loop's thread)."""
        self._end_because(EndReason.SHUTDOWN)

    def serve(
        self,
        send: Send,
        make_start: Callable[[], Message],
        *,
        head_only: bool = False,
        expires_in: float | None = None,
        spawn: Spawn | None = None,
    ) -> Coroutine[Any, Any, None]:
        """Prefetch, start (with ``make_start()``, called once the first item exists) and stream: await what it
        returns. Before the start, errors propagate unchanged (to become error responses); after it, the stream
        ends as its state and plan say (``_engine.state.ENDINGS``). ``expires_in``: seconds until the request's
        credentials expire, when the stream ends. ``spawn`` starts a task of the app (``AppRuntime.spawn``),
        where a ``def`` generator's thread then runs: a stream that ends in an exception (a truncation, a
        status) while its generator is blocked raises it at once, ``producer_pending`` set: whoever tears its
        dependencies down waits for ``source.closed()`` first. (The caller awaits the serving coroutine itself:
        an open stream holds one coroutine frame fewer.)"""
        self._send = send
        self._make_start = make_start
        self._head_only = head_only
        self._expires_in = expires_in
        if not self.source.producer_task:
            return self._serve(None)
        return self._serve_with_producer(spawn)

    async def _serve_with_producer(self, spawn: Spawn | None) -> None:
        source = self.source
        # The producer's task (a def generator's thread) lives outside the stream's task group: when the stream
        # ends while the generator is blocked, the ending goes out now, and the generator closes at its next
        # yield, before the dependencies it uses are torn down.
        if spawn is None:
            async with anyio.create_task_group() as producers:  # no app task group: this one waits for it
                await self._serve(producers.start_soon)
            return
        try:
            await self._serve(spawn)
        except BaseException:
            self.producer_pending = source.producing
            raise
        with anyio.CancelScope(shield=True):
            await source.closed()

    async def _serve(self, spawn: Spawn | None) -> None:
        source = self.source
        state = self.state
        head_only = self._head_only
        error: Exception | None = None
        async with StreamTasks() as task_group:
            self._task_group = task_group
            if self.plan.send_timeout is not None:
                self._watchdog = SendWatchdog.start(self.plan.send_timeout, self._on_send_timeout)
            if state.ending:
                self._stop()  # the server was already shutting down
            if source.producer_task:
                self._watch()  # the stream waits for its thread from the start
            timer = self._arm_deadline(task_group)
            source.start(spawn, state)
            try:
                with offering_early_start(self._request_start):
                    # The disconnect watcher (and keep-alives before the first item) start the first time the
                    # source waits: a stream whose items are ready at once needs no task, lock or event.
                    first = await WakeBeforeSuspending(source.prefetch(), self._before_waiting_for_first)
                await self._send_first(first)
                if not head_only:
                    await source.stream(self._send_or_disconnect, task_group, self._watch)
                state.end(EndReason.COMPLETE)
                if state.reason is EndReason.COMPLETE:
                    await self._conclude(state.ending_with(resumable=False, records=False), None)
            except Exception as exc:  # noqa: BLE001 - the ending decides, once the generator is closed
                error = exc
                state.end(EndReason.FAILED)  # a client that left (_ClientGone) keeps its higher-ranking reason
            finally:
                if not state.ending:
                    # Cancelled from outside: the server ends the request (at its shutdown). Stop the source.
                    state.end(EndReason.SHUTDOWN)
                if self._watchdog is not None:
                    self._watchdog.stop()
                    self._watchdog = None
                if timer is not None:
                    timer.cancel()
                task_group.cancel_helpers()
                if not source.finished:
                    with anyio.CancelScope(shield=True):
                        await source.aclose()
        self._task_group = None
        error = error or source.failure
        if error is not None and not isinstance(error, _ClientGone):
            state.end(EndReason.FAILED)
        if state.phase is not Phase.ENDED:
            plan = self.plan
            ending = state.ending_with(resumable=plan.shutdown_frame is not None, records=plan.error_record is not None)
            await self._conclude(ending, error)

    # -- while serving ---------------------------------------------------------------------------------------
    def _end_because(self, reason: EndReason) -> None:
        """A cause to end the stream from outside the generator: stop it, if that is now why it ends."""
        self.state.end(reason)
        if self.state.reason is reason and self._task_group is not None:
            self._stop()

    def _stop(self) -> None:
        assert self._task_group is not None
        self.source.cancel()
        self._task_group.cancel()

    def _arm_deadline(self, task_group: StreamTasks) -> asyncio.TimerHandle | None:
        """End the stream when its credentials expire or it reaches its lifetime (``max_stream_duration``),
        whichever comes first: a timer of the loop (no task for an idle stream to hold), or a helper task on a
        loop that is not asyncio's."""
        deadlines = []
        if self._expires_in is not None:
            deadlines.append((self._expires_in, EndReason.EXPIRED))
        lifetime = self.plan.lifetime_of_a_stream()
        if lifetime is not None:
            deadlines.append((lifetime, EndReason.LIFETIME))
        if not deadlines:
            return None
        seconds, reason = min(deadlines, key=lambda deadline: deadline[0])
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # pragma: no cover - not asyncio (trio)
            task_group.start_soon(self._end_after, seconds, reason)
            return None
        return loop.call_later(max(seconds, 0.0), self._end_because, reason)

    async def _end_after(self, seconds: float, reason: EndReason) -> None:  # pragma: no cover - trio only
        await anyio.sleep(max(seconds, 0.0))
        self._end_because(reason)

    def _on_send_timeout(self) -> None:
        """A send blocked for ``send_timeout`` seconds: the client stopped reading."""
        self._end_because(EndReason.SEND_TIMEOUT)

    def _on_disconnect(self) -> None:
        self._end_because(EndReason.CLIENT_GONE)

    async def _send_or_disconnect(self, message: Message) -> None:
        watchdog = self._watchdog
        timeout = self.plan.send_timeout
        try:
            if watchdog is not None:
                watchdog.sending = watchdog.time()
                try:
                    await WakeBeforeSuspending(self._send(message), watchdog.blocked)
                finally:
                    watchdog.sending = None
            elif timeout is None:
                await self._send(message)
            else:  # pragma: no cover - without a watchdog (not asyncio)
                with anyio.fail_after(timeout):
                    await self._send(message)
        except TimeoutError as exc:  # pragma: no cover - before OSError, of which it is a subclass
            self._on_send_timeout()
            raise _ClientGone from exc
        except OSError as exc:
            # ASGI 2.4 servers raise OSError from send() once the client is gone.
            self.state.end(EndReason.CLIENT_GONE)
            raise _ClientGone from exc

    async def _send_first(self, first: bytes) -> None:
        if self._first_ready is not None:
            self._first_ready.set()
        lock = self._start_lock
        async with lock if lock is not None else contextlib.nullcontext():
            if not self.state.started:
                self.state.start()
                await self._send_or_disconnect(self._make_start())
            if not self._head_only:
                await self._send_or_disconnect(_body(first))

    async def _start_before_first(self, ping: bytes | None) -> None:
        """Start the response (and send ``ping``) while the first item is still awaited."""
        assert self._start_lock is not None
        try:
            async with self._start_lock:
                if self._first_ready is not None and self._first_ready.is_set():
                    return
                if self.state.phase is Phase.BEFORE_START:
                    self.state.start()
                    await self._send_or_disconnect(self._make_start())
                if ping is not None and not self.state.ending:
                    await self._send_or_disconnect(_body(ping))
        except _ClientGone:
            self._on_disconnect()

    def _watch(self) -> None:
        """Start the task that sees the client leave (once): the stream is about to wait for something."""
        if not self._watching and self._task_group is not None:
            self._watching = True
            self._task_group.start_soon(self.channel.watch, self._on_disconnect)

    def _before_waiting_for_first(self) -> None:
        """The source is about to wait for its first item: watch for a disconnect, send keep-alives (once)."""
        self._watch()
        if self.plan.keepalive is not None and not self._head_only:
            self._start_pinger()

    def _start_pinger(self) -> None:
        if self._first_ready is not None or self._task_group is None:
            return
        keepalive = self.plan.keepalive
        assert keepalive is not None
        if self._start_lock is None:
            self._start_lock = anyio.Lock()
        self._first_ready = anyio.Event()
        self._task_group.start_soon(self._keep_alive_before_first, *keepalive)

    async def _keep_alive_before_first(self, interval: float, ping: bytes) -> None:
        first_ready = self._first_ready
        assert first_ready is not None
        while True:
            with anyio.move_on_after(interval):
                await first_ready.wait()
            if first_ready.is_set():
                return
            await self._start_before_first(ping)

    def _request_start(self) -> None:
        """``response_may_start()`` called by the generator while its first item is awaited."""
        if self._early_start or self._head_only or self._task_group is None:
            return
        self._early_start = True
        if self._start_lock is None:
            self._start_lock = anyio.Lock()
        self._task_group.start_soon(self._start_before_first, None)

    # -- at the end ------------------------------------------------------------------------------------------
    async def _conclude(self, ending: Ending, error: Exception | None) -> None:
        """Do what ``ending`` says the client sees (see ``_engine.state``): the last frame and the clean end, or
        an incomplete response; the log line; what is raised (to the exception handlers before the start, to
        the server after it)."""
        plan = self.plan
        state = self.state
        count = self.source.count
        if ending.log is not None:
            level, message = ending.log
            details = {"label": plan.label, "count": count, "error": error, "timeout": plan.send_timeout}
            logger.log(level, message, details, exc_info=error if ending.frame is Frame.ERROR else None)
        reason = state.reason
        cause = _EXPIRED if reason is EndReason.EXPIRED else _LIFETIME if reason is EndReason.LIFETIME else error
        if ending.frame is not None or ending.finish:
            frames = []
            if ending.frame is Frame.END and plan.end_record is not None:
                frames.append(plan.end_record(count))
            elif ending.frame is Frame.ERROR and plan.error_record is not None:
                assert cause is not None
                frames.append(plan.error_record(cause, count))
            elif ending.frame is Frame.SHUTDOWN and plan.shutdown_frame is not None:
                frames.append(plan.shutdown_frame)
            if reason is EndReason.COMPLETE:
                # Still serving: a client that stops reading now is seen as any other.
                for frame in frames:
                    await self._send_or_disconnect(_body(frame))
                await self._send_or_disconnect(_body(b"", more=False))
            else:
                with contextlib.suppress(OSError):
                    for frame in frames:
                        await self._send(_body(frame))
                    await self._send(_body(b"", more=False))
        state.ended()
        raises = ending.raises
        if raises is Raise.ERROR and error is not None:
            raise error
        if raises is Raise.UNAVAILABLE:
            if reason is EndReason.LIFETIME:
                raise _LIFETIME
            raise HTTPException(503, "The server is shutting down; retry on another instance or later.")
        if raises is Raise.EXPIRED:
            raise _EXPIRED
        if raises is Raise.ABORTED:
            # Raised to the server, which drops the connection: the client sees a truncated stream. A dedicated
            # type, because exception handlers must not try to answer an error whose response has already started.
            raise StreamAborted(plan.label, count) from cause


#: Why a stream that reached its lifetime ends (``max_stream_duration``): its error record, in a format that
#: cannot ask its client to come back.
_LIFETIME = HTTPException(
    503, "The stream reached its maximum duration (max_stream_duration); reconnect to go on.", {"Retry-After": "0"}
)
#: Why a stream whose credentials expired ends: a 401 before its start, its error record after it.
_EXPIRED = HTTPException(
    401, "The credentials of this stream expired; reconnect with fresh ones.", {"WWW-Authenticate": "Bearer"}
)
