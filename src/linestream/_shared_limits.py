"""What stream limits shared by several workers need of their store: ``SharedStreamLimits``, what
``LineStream(shared_stream_limits=...)`` takes. A leaf: ``linestream.limits.RedisStreamLimits`` implements it;
the app's stream slots (``_engine/slots.py``) only call it."""

from __future__ import annotations

import abc
from typing import Any

__all__ = ["LimitReached", "SharedStreamLimits"]


class LimitReached(Exception):
    """A slot was refused: ``which`` is ``"streams"`` (every worker's streams: ``max_streams``) or ``"client"``
    (this client's: ``max_streams_per_client``); ``held``: the streams counted."""

    def __init__(self, which: str, held: int) -> None:
        super().__init__(which)
        self.which = which
        self.held = held


class SharedStreamLimits(abc.ABC):
    """Counts the streams of every worker (and host) that shares it, each slot held under a lease that its
    worker renews, so that the slots of a worker that dies come back when their lease runs out. Entered with
    the app's lifespan (``async with``: the renewals run while it is)."""

    @abc.abstractmethod
    async def take(self, client: str | None, max_streams: int | None, max_per_client: int | None) -> Any:
        """Take a slot for ``client`` (``None``: not counted per client), atomically for every worker; return
        its token for ``release``; raise ``LimitReached`` when a limit is reached."""

    @abc.abstractmethod
    async def release(self, token: Any) -> None:
        """Give back the slot of ``token`` (once)."""

    async def __aenter__(self) -> SharedStreamLimits:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None
