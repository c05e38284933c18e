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

import contextlib
import logging
from collections.abc import Callable
from typing import Protocol

import anyio
import anyio.abc
from starlette.types import Message, Send

from linestream._compile.plan import StreamPlan
from linestream._early_start import offering_early_start
from linestream._engine.receive import ReceiveChannel
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

    def start(self, task_group: anyio.abc.TaskGroup) -> None:
        """Start what must run before the first item is awaited."""

    async def prefetch(self) -> bytes:
        """The head and first frame (or the whole empty stream); errors propagate unchanged."""

    async def stream(self, send: Send, task_group: anyio.abc.TaskGroup) -> None:
        """Send every remaining frame."""

    def cancel(self) -> None:
        """Ask the generator to stop as soon as it can."""

    async def aclose(self) -> None:
        """Close the generator (it has stopped or been cancelled)."""


class _ClientGone(Exception):
    """``send()`` failed because the client disconnected (or stopped reading); the stream just ends."""


def _body(data: bytes, more: bool = True) -> Message:
    # A new dict each time: middleware (GZipMiddleware) rewrites the messages it passes on.
    return {"type": "http.response.body", "body": data, "more_body": more}


class ItemStream:
    """Serves one item stream over ASGI (see the module docstring for the lifecycle)."""

    __slots__ = (
        "_first_ready",
        "_head_only",
        "_make_start",
        "_ready_requested",
        "_send",
        "_start_lock",
        "_task_group",
        "_watchdog",
        "channel",
        "disconnected",
        "expired",
        "plan",
        "shutting_down",
        "source",
        "started",
    )

    def __init__(self, plan: StreamPlan, source: ItemSource, channel: ReceiveChannel) -> None:
        self.plan = plan
        self.source = source
        self.channel = channel
        self.disconnected = False
        self.started = False
        self.shutting_down = False
        #: The request's credentials expired while it streamed (``credentials_expire_at``).
        self.expired = False
        self._task_group: anyio.abc.TaskGroup | None = None
        # Only an early start (a keep-alive before the first item, or the generator saying it is ready) can race
        # the normal start; the lock exists only then.
        self._start_lock: anyio.Lock | None = None
        self._first_ready: anyio.Event | None = None
        self._ready_requested = False
        self._watchdog: SendWatchdog | None = None

    def shut_down(self) -> None:
        """End this stream because the server is shutting down (called from the event loop's thread)."""
        self.shutting_down = True
        if self._task_group is not None:
            self._stop()

    async def serve(
        self,
        send: Send,
        make_start: Callable[[], Message],
        *,
        head_only: bool = False,
        expires_in: float | None = None,
    ) -> None:
        """Prefetch, start (with ``make_start()``, called once the first item exists) and stream. Before the
        start, errors propagate unchanged (to become error responses); after it, they end the stream as the plan
        says. ``expires_in``: seconds until the request's credentials expire, when the stream ends."""
        self._send = send
        self._make_start = make_start
        self._head_only = head_only
        source = self.source
        keepalive = self.plan.keepalive
        error: Exception | None = None
        async with anyio.create_task_group() as task_group:
            self._task_group = task_group
            if self.plan.send_timeout is not None:
                self._watchdog = SendWatchdog.start(self.plan.send_timeout, self._on_send_timeout)
            if self.shutting_down:
                self._stop()
            task_group.start_soon(self.channel.watch, self._on_disconnect)
            if expires_in is not None:
                task_group.start_soon(self._expire_after, expires_in)
            source.start(task_group)
            try:
                with offering_early_start(self._request_start):
                    if keepalive is not None and not head_only:
                        # Keep-alives before the first item, from the moment the source waits for it: a stream
                        # whose first item is ready at once needs no pinger task, lock or event.
                        first = await WakeBeforeSuspending(source.prefetch(), self._start_pinger)
                    else:
                        first = await source.prefetch()
                await self._send_first(first)
                if not head_only:
                    await source.stream(self._send_or_disconnect, task_group)
                    if self.plan.end_record is not None:
                        await self._send_or_disconnect(_body(self.plan.end_record(source.count)))
                await self._send_or_disconnect(_body(b"", more=False))
            except Exception as exc:  # noqa: BLE001 - handled by _end(), once the generator is closed
                error = exc
            finally:
                if self._watchdog is not None:
                    self._watchdog.stop()
                    self._watchdog = None
                task_group.cancel_scope.cancel()
                with anyio.CancelScope(shield=True):
                    await source.aclose()
        self._task_group = None
        await self._end(error or source.failure)

    # -- while serving ---------------------------------------------------------------------------------------
    def _stop(self) -> None:
        assert self._task_group is not None
        self.source.cancel()
        self._task_group.cancel_scope.cancel()

    async def _expire_after(self, seconds: float) -> None:
        await anyio.sleep(max(seconds, 0.0))
        self.expired = True
        self._stop()

    def _on_send_timeout(self) -> None:
        """A send blocked for ``send_timeout`` seconds: the client stopped reading."""
        logger.warning(
            "Stream %s closed: the client stopped reading (a send blocked for %s s) after %d item(s).",
            self.plan.label,
            self.plan.send_timeout,
            self.source.count,
        )
        self._on_disconnect()

    def _on_disconnect(self) -> None:
        self.disconnected = True
        self._stop()

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
            self.disconnected = True
            raise _ClientGone from exc

    async def _send_first(self, first: bytes) -> None:
        if self._first_ready is not None:
            self._first_ready.set()
        lock = self._start_lock
        async with lock if lock is not None else contextlib.nullcontext():
            if not self.started:
                self.started = True
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
                if not self.started:
                    self.started = True
                    await self._send_or_disconnect(self._make_start())
                if ping is not None:
                    await self._send_or_disconnect(_body(ping))
        except _ClientGone:
            self._on_disconnect()

    def _start_pinger(self) -> None:
        """The source is about to wait for its first item: start sending keep-alives (once)."""
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
        if self._ready_requested or self._head_only or self._task_group is None:
            return
        self._ready_requested = True
        if self._start_lock is None:
            self._start_lock = anyio.Lock()
        self._task_group.start_soon(self._start_before_first, None)

    # -- at the end ------------------------------------------------------------------------------------------
    async def _end(self, error: Exception | None) -> None:
        """What the client sees once the generator is closed (see the module docstring)."""
        if self.disconnected:
            return
        plan = self.plan
        send = self._send
        if self.shutting_down:
            # The route tears the dependencies down once this returns. Without a frame to end with, the response
            # is left incomplete: the client sees a truncated stream.
            if not self.started:
                raise HTTPException(503, "The server is shutting down; retry on another instance or later.")
            if plan.shutdown_frame is not None:
                with contextlib.suppress(OSError):
                    await send(_body(plan.shutdown_frame))
                    await send(_body(b"", more=False))
            return
        if self.expired:
            await self._end_expired()
            return
        if error is None:
            return
        if not self.started:
            raise error
        count = self.source.count
        if plan.error_record is not None:
            logger.error(
                "Stream %s failed after %d item(s); ending it with an error record.", plan.label, count, exc_info=error
            )
            with contextlib.suppress(OSError):
                await send(_body(plan.error_record(error, count)))
                await send(_body(b"", more=False))
            return
        logger.error("Stream %s aborted after %d item(s): %r", plan.label, count, error)
        # Raised to the server, which drops the connection: the client sees a truncated stream. A dedicated type,
        # because exception handlers must not try to answer an error whose response has already started.
        raise StreamAborted(plan.label, count) from error

    async def _end_expired(self) -> None:
        """The credentials expired: SSE ends cleanly with ``retry:`` (the client comes back with fresh ones and
        ``Last-Event-ID``); the other formats end visibly, with an error record or truncated."""
        plan = self.plan
        send = self._send
        expired = HTTPException(
            401, "The credentials of this stream expired; reconnect with fresh ones.", {"WWW-Authenticate": "Bearer"}
        )
        if not self.started:
            raise expired
        if plan.shutdown_frame is not None:
            with contextlib.suppress(OSError):
                await send(_body(plan.shutdown_frame))
                await send(_body(b"", more=False))
            return
        if plan.error_record is not None:
            with contextlib.suppress(OSError):
                await send(_body(plan.error_record(expired, self.source.count)))
                await send(_body(b"", more=False))
            return
        logger.info("Stream %s ended after %d item(s): its credentials expired.", plan.label, self.source.count)
        raise StreamAborted(plan.label, self.source.count) from expired
