"""End open streams when the server is told to stop, so that they close within its grace period.

ASGI has no event for "the server is shutting down" before connections are closed: uvicorn waits for open
responses until its graceful timeout, then cancels them, and a stream cancelled that late may not finish its
cleanup before the process exits. So, at lifespan startup in the main thread, the app chains a handler in
front of the server's SIGTERM/SIGINT handlers: it ends every open stream at once (generators closed,
dependencies torn down, SSE clients told when to reconnect), then lets the server's handler run as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

__all__ = ["OpenStreams", "shutdown_signals"]


class _Stoppable(Protocol):
    def shut_down(self) -> None: ...


class OpenStreams:
    """The streams an app is serving right now (each is removed by ``open()`` when it ends)."""

    __slots__ = ("_streams", "shutting_down")

    def __init__(self) -> None:
        self._streams: set[_Stoppable] = set()
        self.shutting_down = False

    def open(self, stream: _Stoppable) -> _Opened:
        """``with streams.open(stream):`` while ``stream`` is served (ended at once if the server is shutting
        down). A small object rather than a generator-based context manager: an open stream holds it."""
        return _Opened(self, stream)

    def _add(self, stream: _Stoppable) -> None:
        self._streams.add(stream)
        if self.shutting_down:
            stream.shut_down()

    def _discard(self, stream: _Stoppable) -> None:
        self._streams.discard(stream)

    def __len__(self) -> int:
        return len(self._streams)

    def shut_down(self) -> None:
        """End every open stream, and every stream that opens from now on."""
        self.shutting_down = True
        for stream in list(self._streams):
            stream.shut_down()


class _Opened:
    __slots__ = ("stream", "streams")

    def __init__(self, streams: OpenStreams, stream: _Stoppable) -> None:
        self.streams = streams
        self.stream = stream

    def __enter__(self) -> None:
        self.streams._add(self.stream)

    def __exit__(self, *exc_info: object) -> None:
        self.streams._discard(self.stream)


@contextlib.asynccontextmanager
async def shutdown_signals(streams: OpenStreams) -> AsyncIterator[None]:
    """While active, SIGTERM and SIGINT first end ``streams``, then reach the handlers installed before."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # not asyncio: leave signals alone
        yield
        return
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signals = (signal.SIGTERM, signal.SIGINT)
    previous: dict[int, Any] = {sig: signal.getsignal(sig) for sig in signals}

    def handler(signum: int, frame: Any) -> None:
        loop.call_soon_threadsafe(streams.shut_down)
        chained = previous[signum]
        if callable(chained):
            chained(signum, frame)
        elif chained == signal.SIG_DFL:
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)

    installed: Callable[[int, Any], None] = handler
    for sig in signals:
        signal.signal(sig, installed)
    try:
        yield
    finally:
        for sig in signals:
            if signal.getsignal(sig) is installed:
                signal.signal(sig, previous[sig])
