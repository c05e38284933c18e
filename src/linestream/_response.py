"""The streaming ASGI response: prefetch, coalescing, backpressure, disconnect and abort. Knows no routing.

``ItemStream.serve()`` drives one stream:

1. The first item is produced *before* the response starts (``prefetch()``), so an exception raised before the
   first ``yield`` (``HTTPException``, a failed lookup, an invalid first item) propagates unchanged to the
   exception handlers and becomes a real error status.
2. Then the response starts and the items are framed into one buffer. Items that are ready back to back are
   coalesced into ASGI messages of up to ``chunk_size`` bytes, but nothing ready is held back: the moment the
   generator starts waiting for something, what is buffered is handed to a writer task.
3. On the end, an error, the client's disconnect or a server shutdown, the generator is closed before
   ``serve()`` returns, so the route tears ``yield`` dependencies down after it.

An exception after the first item aborts the response: ``serve()`` raises ``StreamAborted`` (the exception as
its cause) instead of sending the final empty body message, so the server drops the connection without the
terminating chunk and every HTTP client sees a truncated stream, never a clean end. (With an error record
policy it sends the record and ends cleanly instead.)

Async generators are consumed by one ``async for`` loop with no ``await`` of its own per item; the loop runs
under ``_WakeBeforeSuspending``, which sees each real suspension of the generator and wakes the writer first.
Plain ``def`` generators run in one worker thread per stream, which encodes items into a bounded buffer that
the event loop drains in batches: no thread hop per item, and the loop stays free while the generator blocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import threading
from collections.abc import AsyncGenerator, Callable, Generator, Iterator
from typing import Any

import anyio
import anyio.abc
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread
from anyio.lowlevel import checkpoint
from starlette.types import Message, Receive, Send

from linestream._serialization import Message as Encoded
from linestream.exceptions import HTTPException, StreamAborted
from linestream.streams import Framing
from linestream.streams.sse import ServerSentEvent

__all__ = [
    "AsyncItemSource",
    "EventFramer",
    "ItemStream",
    "KeepAlive",
    "ReceiveChannel",
    "SyncItemSource",
    "logger",
    "response_may_start",
    "stream_headers",
]

#: Frames a yielded ``ServerSentEvent`` or pre-serialized ``Message`` for the negotiated format (``first``: no
#: separator); ``None`` skips it.
EventFramer = Callable[[ServerSentEvent | Encoded[Any], bool], "bytes | None"]
#: Keep-alive: the seconds of silence after which ``bytes`` are sent.
KeepAlive = tuple[float, bytes]

logger = logging.getLogger("linestream")


class _WakeBeforeSuspending:
    """Await a coroutine, calling ``before_suspend()`` each time it is about to wait for the event loop.

    This is how the producer learns, without an ``await`` per item, that its generator stopped having items
    ready: the producer coroutine runs ``async for`` over the generator, and whenever the generator (or the
    producer) really suspends, the suspension passes through here, where the writer is woken so that what is
    buffered goes out while the generator waits. Values and exceptions are relayed as ``yield from`` would.
    """

    __slots__ = ("before_suspend", "coro")

    def __init__(self, coro: Any, before_suspend: Callable[[], None]) -> None:
        self.coro = coro
        self.before_suspend = before_suspend

    def __await__(self) -> Generator[Any, Any, Any]:
        coro = self.coro
        before_suspend = self.before_suspend
        send, throw = coro.send, coro.throw
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                pending = send(value) if error is None else throw(error)
            except StopIteration as stop:
                return stop.value
            before_suspend()
            try:
                value = yield pending
                error = None
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # noqa: BLE001 - relayed into the coroutine, as `yield from` does
                value, error = None, exc


class _Outbox:
    """The bytes produced but not yet sent, shared by the producer and the writer task.

    Producer and writer run in one thread and only switch at ``await``, so the buffer needs no lock: the writer
    takes it only while the producer is suspended.
    """

    __slots__ = (
        "_space",
        "_wakeup",
        "buffer",
        "done",
        "error",
        "finished",
        "large",
        "send",
        "sending",
        "start_writer",
    )

    def __init__(self) -> None:
        self.send: Send | None = None
        #: Starts the writer task; ``None`` once started (or once it is known not to be needed).
        self.start_writer: Callable[[], None] | None = None
        #: True while a send is in progress (by the writer or the producer): sends never overlap.
        self.sending = False
        self.buffer = bytearray()
        #: A chunk too large to be worth copying into the buffer; sent as is, right after the buffer.
        self.large: bytes | None = None
        self.finished = False
        self.error: Exception | None = None
        # Events are made when first needed: an idle stream holds as few objects as possible.
        self.done: anyio.Event | None = None
        self._wakeup: anyio.Event | None = None
        self._space: anyio.Event | None = None

    async def wait_for_space(self) -> None:
        """Backpressure: hand the full buffer to the (running) writer and wait until it took it."""
        space = self._space = anyio.Event()
        assert self._wakeup is not None
        self._wakeup.set()
        await space.wait()

    async def flush(self, large: bytes | None = None) -> None:
        """Send the buffer, then ``large`` (sent as is, never copied), from the producer at an item boundary.

        The producer sends itself when the writer is idle (no task switch on the hot path), else hands over to
        the writer and waits until it took the data (backpressure). Either way it then lets other tasks run, so
        that a generator that never awaits cannot starve the event loop.
        """
        self.large = large
        if self.sending or self.send is None:
            await self.wait_for_space()
            return
        self.sending = True
        try:
            for chunk in self._take():
                await self.send({"type": "http.response.body", "body": chunk, "more_body": True})
        finally:
            self.sending = False
        await checkpoint()

    def _take(self) -> list[bytes]:
        buffer = self.buffer
        chunks = [bytes(buffer)] if buffer else []
        buffer.clear()
        if self.large is not None:
            chunks.append(self.large)
            self.large = None
        if self._space is not None:
            self._space.set()
        return chunks

    async def finish(self) -> None:
        """Send what is left: through the writer if it runs (and wait until it has), else directly."""
        self.finished = True
        if self.start_writer is not None or self.done is None:
            # The generator never suspended: no writer was needed, the producer sends the rest itself.
            self.start_writer = None
            if self.send is not None:
                for chunk in self._take():
                    await self.send({"type": "http.response.body", "body": chunk, "more_body": True})
            return
        assert self._wakeup is not None
        self._wakeup.set()
        await self.done.wait()

    def before_suspend(self) -> None:
        """Called each time the producer is about to wait: start the writer the first time, then wake it if
        there is something to send. (A stream whose generator never suspends never needs a writer task.)"""
        if self.start_writer is not None:
            start, self.start_writer = self.start_writer, None
            self.done = anyio.Event()
            self._wakeup = anyio.Event()
            start()
        if self.buffer and self._wakeup is not None:
            self._wakeup.set()

    async def write_all(self, send: Send, on_error: Callable[[], None], keepalive: KeepAlive | None) -> None:
        """The writer task: send whatever is buffered each time the producer wakes it (or a keep-alive after
        ``keepalive[0]`` seconds of silence)."""
        buffer = self.buffer
        assert self._wakeup is not None
        assert self.done is not None
        try:
            while True:
                wakeup = self._wakeup
                if keepalive is None:
                    await wakeup.wait()
                else:
                    with anyio.move_on_after(keepalive[0]):
                        await wakeup.wait()
                    if not wakeup.is_set():
                        await send({"type": "http.response.body", "body": keepalive[1], "more_body": True})
                        continue
                self._wakeup = anyio.Event()
                while buffer or self.large is not None:
                    # Take the buffer and the large chunk after it together, so that the producer, free again
                    # once `_space` is set, can only add what comes after both.
                    self.sending = True
                    try:
                        for chunk in self._take():
                            await send({"type": "http.response.body", "body": chunk, "more_body": True})
                    finally:
                        self.sending = False
                if self.finished:
                    return
        except Exception as exc:  # noqa: BLE001 - any failure of send() ends the stream; serve() reports it
            self.error = exc
            on_error()
        finally:
            self.done.set()


class AsyncItemSource:
    """Pulls items from an async generator and frames them into an ``_Outbox``."""

    def __init__(
        self,
        generator: AsyncGenerator[Any, None],
        encode: Callable[[Any], bytes],
        framing: Framing,
        chunk_size: int,
        frame_event: EventFramer,
    ) -> None:
        self.generator = generator
        self.encode = encode
        self.framing = framing
        self.chunk_size = chunk_size
        self.frame_event = frame_event
        self.count = 0
        self.exhausted = False
        self.outbox = _Outbox()
        self.keepalive: KeepAlive | None = None

    def start(self, task_group: anyio.abc.TaskGroup) -> None:
        """Nothing runs before ``prefetch()`` for an async generator."""

    async def prefetch(self) -> bytes:
        """The head and first frame, or head and tail of an empty stream; errors propagate unchanged."""
        framing = self.framing
        while True:
            try:
                item = await self.generator.__anext__()
            except StopAsyncIteration:
                self.exhausted = True
                return framing.head + framing.tail
            if item.__class__ is ServerSentEvent or item.__class__ is Encoded:
                frame = self.frame_event(item, True)
                if frame is None:
                    continue
            else:
                frame = framing.prefix + self.encode(item) + framing.suffix
            self.count = 1
            return framing.head + frame

    async def stream(self, send: Send, task_group: anyio.abc.TaskGroup) -> None:
        """Send every remaining item; return once all were handed to ``send``."""
        if self.exhausted:
            return
        outbox = self.outbox
        outbox.send = send
        keepalive = self.keepalive

        def start_writer() -> None:
            task_group.start_soon(outbox.write_all, send, task_group.cancel_scope.cancel, keepalive)

        outbox.start_writer = start_writer
        try:
            await self._pump(outbox)
        finally:
            # What was produced before an error or the end is still delivered.
            with anyio.CancelScope(shield=True):
                await outbox.finish()
        if outbox.error is not None:
            raise outbox.error

    async def _pump(self, outbox: _Outbox) -> None:
        await _WakeBeforeSuspending(self._produce(outbox), outbox.before_suspend)

    async def _produce(self, outbox: _Outbox) -> None:
        """Frame the remaining items into the outbox: the hot loop, with no ``await`` per item."""
        framing = self.framing
        prefix = framing.separator + framing.prefix
        suffix = framing.suffix
        encode = self.encode
        limit = self.chunk_size
        buffer = outbox.buffer
        frame_event = self.frame_event
        count = self.count
        # Raw byte streams: a chunk at least as large as a message goes out as it is, never copied.
        passthrough = not prefix and not suffix
        try:
            async for item in self.generator:
                if item.__class__ is ServerSentEvent or item.__class__ is Encoded:
                    frame = frame_event(item, False)
                    if frame is None:
                        continue
                    buffer += frame
                else:
                    data = encode(item)
                    if passthrough and len(data) >= limit:
                        count += 1
                        self.count = count
                        await outbox.flush(data)
                        continue
                    if prefix:
                        buffer += prefix
                    buffer += data
                    buffer += suffix
                count += 1
                if len(buffer) >= limit:
                    self.count = count
                    await outbox.flush()
        finally:
            self.count = count
        buffer += framing.tail

    def cancel(self) -> None:
        """Nothing to signal: cancelling the task group interrupts the generator where it awaits."""

    async def aclose(self) -> None:
        await self.generator.aclose()


class SyncItemSource:
    """Runs a plain generator in one worker thread that encodes items into a bounded, locked buffer.

    The event loop drains the buffer in batches; the thread only wakes the loop when the loop is waiting for
    data, so a fast generator costs no thread hop per item. The thread checks for cancellation after every
    item, so a disconnected client's generator is closed (in its own thread) at its next ``yield``.
    """

    def __init__(
        self,
        generator: Iterator[Any],
        encode: Callable[[Any], bytes],
        framing: Framing,
        chunk_size: int,
        frame_event: EventFramer,
        limiter: anyio.CapacityLimiter | None,
    ) -> None:
        self.generator = generator
        self.encode = encode
        self.framing = framing
        self.chunk_size = chunk_size
        self.frame_event = frame_event
        self.limiter = limiter
        self.keepalive: KeepAlive | None = None
        self.count = 0
        self._condition = threading.Condition()
        self._buffer = bytearray()
        self._done = False
        self._error: BaseException | None = None
        self._cancelled = False
        self._waiter: anyio.Event | None = None
        self._exhausted = False

    # -- worker thread -------------------------------------------------------------------------------------
    def _produce(self) -> None:
        framing = self.framing
        encode = self.encode
        limit = self.chunk_size
        condition = self._condition
        buffer = self._buffer
        frame_event = self.frame_event
        prefix = framing.prefix
        later_prefix = framing.separator + prefix
        suffix = framing.suffix
        count = 0
        try:
            for item in self.generator:
                if item.__class__ is ServerSentEvent or item.__class__ is Encoded:
                    frame = frame_event(item, count == 0)
                    if frame is None:
                        continue
                    head, data, tail = b"", frame, b""
                else:
                    head = prefix if count == 0 else later_prefix
                    data = encode(item)
                    tail = suffix
                with condition:
                    if head:
                        buffer += head
                    buffer += data
                    if tail:
                        buffer += tail
                    count += 1
                    self.count = count
                    waiter = self._waiter
                    self._waiter = None
                if waiter is not None:
                    # Wake the loop without waiting for it: items produced meanwhile join the same batch.
                    self._wake(waiter.set)
                # Only this thread grows the buffer, so reading its length without the lock is safe.
                if len(buffer) >= limit:
                    with condition:
                        while len(buffer) >= limit and not self._cancelled:
                            condition.wait()
                if self._cancelled:
                    break
        except BaseException as exc:  # noqa: BLE001 - handed to the event loop, which re-raises it
            self._error = exc
        finally:
            try:
                close = getattr(self.generator, "close", None)
                if close is not None:
                    close()
            except BaseException as exc:  # noqa: BLE001
                self._error = self._error or exc
            with condition:
                self._done = True
                waiter, self._waiter = self._waiter, None
            if waiter is not None:
                self._wake(waiter.set)

    # -- event loop ----------------------------------------------------------------------------------------
    def start(self, task_group: anyio.abc.TaskGroup) -> None:
        self._wake = _thread_safe_scheduler()
        task_group.start_soon(self._run_thread)

    async def _run_thread(self) -> None:
        await anyio.to_thread.run_sync(self._produce, limiter=self.limiter)

    def cancel(self) -> None:
        """Ask the thread to close the generator at its next ``yield``."""
        with self._condition:
            self._cancelled = True
            self._condition.notify_all()

    async def _take(self, keepalive: KeepAlive | None = None) -> bytes | None:
        """Wait for buffered bytes; ``None`` once the generator finished (its error, if any, is raised).
        With ``keepalive``, its bytes are returned after that many seconds without data."""
        while True:
            with self._condition:
                if self._buffer:
                    chunk = bytes(self._buffer)
                    self._buffer.clear()
                    self._condition.notify_all()
                    return chunk
                if self._done:
                    if self._error is not None:
                        raise self._error
                    return None
                waiter = self._waiter = anyio.Event()
            if keepalive is None:
                await waiter.wait()
                continue
            with anyio.move_on_after(keepalive[0]):
                await waiter.wait()
            if not waiter.is_set():
                return keepalive[1]

    async def prefetch(self) -> bytes:
        """The head and first items (or the whole empty stream); errors before them propagate unchanged."""
        framing = self.framing
        chunk = await self._take()
        if chunk is None:
            self._exhausted = True
            return framing.head + framing.tail
        return framing.head + chunk

    async def stream(self, send: Send, task_group: anyio.abc.TaskGroup) -> None:
        if self._exhausted:
            return
        while (chunk := await self._take(self.keepalive)) is not None:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        if self.framing.tail:
            await send({"type": "http.response.body", "body": self.framing.tail, "more_body": True})

    async def aclose(self) -> None:
        """The thread closes the generator itself; the task group waits for the thread."""
        self.cancel()


def _thread_safe_scheduler() -> Callable[[Callable[[], object]], None]:
    """A function that schedules a callback on the current event loop from another thread, without waiting."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # not asyncio (trio): anyio's portal call, which waits for the loop
        token = anyio.lowlevel.current_token()

        def blocking(callback: Callable[[], object]) -> None:
            anyio.from_thread.run_sync(callback, token=token)

        return blocking

    def schedule(callback: Callable[[], object]) -> None:
        loop.call_soon_threadsafe(callback)

    return schedule


_REQUEST_START: contextvars.ContextVar[Callable[[], None] | None] = contextvars.ContextVar(
    "linestream_request_start", default=None
)


def response_may_start() -> None:
    """Tell the stream being produced in this context that its response may start before its first item.

    For a generator about to wait a long time for its first item (a topic subscription) once nothing can fail
    with an error status any more: the client gets the response head at once instead of after the first item
    (or the first keep-alive). Errors after this point abort the stream like any error after the start. Outside
    of the first item's production, this does nothing.
    """
    request_start = _REQUEST_START.get()
    if request_start is not None:
        request_start()


class _ClientGone(Exception):
    """``send()`` failed because the client disconnected; the stream just ends."""


class ReceiveChannel:
    """The request's ``receive``, shared by the endpoint and a task watching for the client's disconnect.

    While a stream runs, one task reads ``receive()`` to notice ``http.disconnect`` at once; request body
    messages it reads on the way are kept (one at a time, so memory stays bounded) for the endpoint, which
    reads them through this object.
    """

    __slots__ = ("_arrived", "_consumed", "_pending", "_receive", "_watching", "disconnected")

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._pending: Message | None = None
        self._watching = False
        self._arrived: anyio.Event | None = None
        self._consumed: anyio.Event | None = None
        self.disconnected = False

    async def __call__(self) -> Message:
        if not self._watching:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self.disconnected = True
            return message
        while self._pending is None:
            if self.disconnected:
                return {"type": "http.disconnect"}
            arrived = self._arrived = anyio.Event()
            await arrived.wait()
        message, self._pending = self._pending, None
        if self._consumed is not None:
            self._consumed.set()
        return message

    async def watch(self, on_disconnect: Callable[[], None]) -> None:
        """Read ``receive()`` until the client disconnects, then call ``on_disconnect``."""
        self._watching = True
        if self.disconnected:
            on_disconnect()
            return
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self.disconnected = True
                if self._arrived is not None:
                    self._arrived.set()
                on_disconnect()
                return
            self._pending = message
            if self._arrived is not None:
                self._arrived.set()
            if message.get("more_body", False):
                # Bounded memory: wait until the endpoint took this part of the body before reading more.
                # (The last part is kept without waiting, so a request nobody reads still sees the disconnect.)
                consumed = self._consumed = anyio.Event()
                await consumed.wait()


class ItemStream:
    """Serves one item stream over ASGI (see the module docstring for the lifecycle)."""

    def __init__(self, source: AsyncItemSource | SyncItemSource, *, route: str, channel: ReceiveChannel) -> None:
        self.source = source
        self.route = route
        self.channel = channel
        self.disconnected = False
        self.started = False
        self.shutting_down = False
        self._stop: Callable[[], None] | None = None

    def shut_down(self) -> None:
        """End this stream because the server is shutting down (called from the event loop's thread)."""
        self.shutting_down = True
        if self._stop is not None:
            self._stop()

    async def serve(
        self,
        send: Send,
        make_start: Callable[[], Message],
        head_only: bool = False,
        keepalive: KeepAlive | None = None,
        send_timeout: float | None = None,
        error_record: Callable[[Exception, int], bytes] | None = None,
        shutdown_frame: bytes | None = None,
    ) -> None:
        """Prefetch, start and stream. Before the start, errors propagate unchanged (to become error
        responses); after it, they abort the response.

        With ``keepalive``, a generator that has not produced its first item after ``keepalive[0]`` seconds gets
        its response started anyway (headers and a keep-alive), so that clients and proxies see a live
        stream; errors after that point abort the stream like any error after the start.

        ``send_timeout``: a ``send()`` blocked that long (the client stopped reading) ends the stream as a
        disconnect would. ``error_record``: instead of aborting after an error, send the record it returns
        (for the error and the count of items sent) and end the response cleanly. ``shutdown_frame``: when
        ``shut_down()`` ends the stream, send these bytes and end cleanly (SSE: a ``retry`` hint) instead of
        aborting the response."""
        source = self.source
        source.keepalive = keepalive
        error: Exception | None = None
        # Only an early start (keep-alive before the first item, or the generator saying it is ready) can race
        # the normal start; the lock exists only then.
        start_lock = anyio.Lock() if keepalive is not None and not head_only else None
        first_ready: anyio.Event | None = None
        ready_requested = False

        async def send_or_disconnect(message: Message) -> None:
            try:
                if send_timeout is None:
                    await send(message)
                else:
                    with anyio.fail_after(send_timeout):
                        await send(message)
            except TimeoutError as exc:  # before OSError, of which it is a subclass
                self.disconnected = True
                logger.warning(
                    "Stream %s closed: the client stopped reading (a send blocked for %s s) after %d item(s).",
                    self.route,
                    send_timeout,
                    source.count,
                )
                raise _ClientGone from exc
            except OSError as exc:
                # ASGI 2.4 servers raise OSError from send() once the client is gone.
                self.disconnected = True
                raise _ClientGone from exc

        async with anyio.create_task_group() as task_group:

            def on_disconnect() -> None:
                self.disconnected = True
                stop()

            def stop() -> None:
                source.cancel()
                task_group.cancel_scope.cancel()

            self._stop = stop
            if self.shutting_down:
                stop()

            async def start_before_first(ping: bytes | None) -> None:
                """Start the response (and send ``ping``) while the first item is still awaited."""
                assert start_lock is not None
                try:
                    async with start_lock:
                        if first_ready is not None and first_ready.is_set():
                            return
                        if not self.started:
                            self.started = True
                            await send_or_disconnect(make_start())
                        if ping is not None:
                            await send_or_disconnect({"type": "http.response.body", "body": ping, "more_body": True})
                except _ClientGone:
                    on_disconnect()

            async def keep_alive_before_first(interval: float, ping: bytes) -> None:
                assert first_ready is not None
                while True:
                    with anyio.move_on_after(interval):
                        await first_ready.wait()
                    if first_ready.is_set():
                        return
                    await start_before_first(ping)

            def request_start() -> None:
                """Called by the generator (``response_may_start()``) when it is about to wait for its first
                item after the checks that could still fail with an error status."""
                nonlocal start_lock, ready_requested
                if ready_requested or head_only:
                    return
                ready_requested = True
                if start_lock is None:
                    start_lock = anyio.Lock()
                task_group.start_soon(start_before_first, None)

            task_group.start_soon(self.channel.watch, on_disconnect)
            if start_lock is not None:
                assert keepalive is not None
                first_ready = anyio.Event()
                task_group.start_soon(keep_alive_before_first, *keepalive)
            source.start(task_group)
            try:
                token = _REQUEST_START.set(request_start)
                try:
                    first = await source.prefetch()
                finally:
                    _REQUEST_START.reset(token)
                if first_ready is not None:
                    first_ready.set()
                async with start_lock if start_lock is not None else contextlib.nullcontext():
                    if not self.started:
                        self.started = True
                        await send_or_disconnect(make_start())
                    if not head_only:
                        await send_or_disconnect({"type": "http.response.body", "body": first, "more_body": True})
                if not head_only:
                    await source.stream(send_or_disconnect, task_group)
                await send_or_disconnect({"type": "http.response.body", "body": b"", "more_body": False})
            except Exception as exc:  # noqa: BLE001 - re-raised below, once the generator is closed
                error = exc
            finally:
                task_group.cancel_scope.cancel()
                with anyio.CancelScope(shield=True):
                    await source.aclose()
        self._stop = None
        if isinstance(source, AsyncItemSource) and error is None:
            error = source.outbox.error
        if self.disconnected:
            return
        if self.shutting_down:
            # The generator is closed; the route tears the dependencies down once this returns. Without a
            # frame to end with, the response is left incomplete: the client sees a truncated stream.
            if not self.started:
                raise HTTPException(503, "The server is shutting down; retry on another instance or later.")
            if shutdown_frame is not None:
                with contextlib.suppress(OSError):
                    await send({"type": "http.response.body", "body": shutdown_frame, "more_body": True})
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        if error is None:
            return
        if not self.started:
            raise error
        if error_record is not None:
            logger.error(
                "Stream %s failed after %d item(s); ending it with an error record.",
                self.route,
                source.count,
                exc_info=error,
            )
            with contextlib.suppress(OSError):
                record = error_record(error, source.count)
                await send({"type": "http.response.body", "body": record, "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        logger.error("Stream %s aborted after %d item(s): %r", self.route, source.count, error)
        # Raised to the server, which drops the connection: the client sees a truncated stream. A dedicated type,
        # because exception handlers must not try to answer an error whose response has already started.
        raise StreamAborted(self.route, source.count) from error


def stream_headers(media_type: str, extra: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """Response headers of a stream: its content type, anti-buffering hints for proxies, then ``extra``."""
    headers = [
        (b"content-type", media_type.encode("latin-1")),
        (b"cache-control", b"no-cache"),
        (b"x-accel-buffering", b"no"),
    ]
    names = {name for name, _ in extra}
    return [header for header in headers if header[0] not in names] + extra
