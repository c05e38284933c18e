"""Wake-ups and timers of an open stream: ``Signal``, for one waiting task, much lighter than an ``anyio.Event``;
``WakeBeforeSuspending``, which sees a coroutine about to wait for the event loop; and ``SendWatchdog``, a send
timeout with one timer per stream.

A stream holds a few wake-ups for as long as it is open (the writer's "there is something to send", the
producer's "the writer is done"); with tens of thousands of idle streams per worker their size counts. On
asyncio a ``Signal`` waits on a bare future, made only when someone waits (an ``anyio.Event`` carries an
``asyncio.Event`` and its deque, about 760 bytes); on other loops (trio) on an ``anyio.Event``. One task at a
time may wait on a signal: cancelling a waiter cancels the future it waits on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Generator
from typing import Any

import anyio

__all__ = ["EventWaiter", "SendWatchdog", "Signal", "WakeBeforeSuspending", "new_waiter"]


class EventWaiter:  # pragma: no cover - for trio, which the test environment does not install
    """A one-shot wake-up with the part of ``asyncio.Future``'s interface that waiters use, for other loops."""

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event = anyio.Event()

    def done(self) -> bool:
        return self._event.is_set()

    def set_result(self, result: None) -> None:
        self._event.set()

    def __await__(self) -> Generator[Any, Any, None]:
        return self._event.wait().__await__()


def new_waiter() -> asyncio.Future[None] | EventWaiter:
    """A one-shot wake-up for the running loop: a bare future on asyncio, else an ``EventWaiter``."""
    try:
        return asyncio.get_running_loop().create_future()
    except RuntimeError:  # pragma: no cover - not asyncio (trio)
        return EventWaiter()


class Signal:
    """Set once; ``wait()`` returns once it is set (at once if it already is)."""

    __slots__ = ("_set", "_waiter")

    def __init__(self) -> None:
        self._set = False
        self._waiter: asyncio.Future[None] | EventWaiter | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self) -> None:
        if self._set:
            return
        waiter = self._waiter
        if waiter is None or waiter.done():
            waiter = self._waiter = new_waiter()
        await waiter


class WakeBeforeSuspending:
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


class SendWatchdog:
    """A send timeout for a whole stream, without a cancel scope per send and without a timer while no send is
    blocked.

    ``anyio.fail_after()`` around each ``send()`` costs more than sending a 64 KiB chunk does, and a timer per
    open stream costs memory on every idle one. Here a send notes when it began (``sending``), and only a send
    that really waits for the client (``blocked()``, called when it is about to suspend) arms a timer at its
    deadline; the timer calls ``on_timeout()`` if that send (or a later one still blocked) has waited ``timeout``
    seconds. asyncio only: ``start`` returns ``None`` on other loops, where the caller falls back to
    ``fail_after``.
    """

    __slots__ = ("_handle", "_loop", "on_timeout", "sending", "time", "timeout")

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float, on_timeout: Callable[[], None]) -> None:
        self._loop = loop
        self.time = loop.time
        self.timeout = timeout
        self.on_timeout = on_timeout
        #: When the send in progress began (the loop's clock), or ``None``.
        self.sending: float | None = None
        self._handle: asyncio.TimerHandle | None = None

    @classmethod
    def start(cls, timeout: float, on_timeout: Callable[[], None]) -> SendWatchdog | None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # pragma: no cover - not asyncio (trio)
            return None
        return cls(loop, timeout, on_timeout)

    def blocked(self) -> None:
        """The send in progress is about to wait for the client: make sure a timer watches its deadline."""
        if self._handle is None and self.sending is not None:
            self._handle = self._loop.call_at(self.sending + self.timeout, self._check)

    def _check(self) -> None:
        self._handle = None
        began = self.sending
        if began is None:
            return  # that send completed; the next blocked one arms a new timer
        if self._loop.time() - began >= self.timeout:
            self.on_timeout()
        else:
            self._handle = self._loop.call_at(began + self.timeout, self._check)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
