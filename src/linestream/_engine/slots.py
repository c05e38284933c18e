"""Stream limits: how many streams an app serves at once, in all and per client.

``max_streams`` bounds the open streams of one app (one worker): the one over it is answered 503 with
``Retry-After`` before any item, so a load balancer can try another worker. ``max_streams_per_client``
bounds those of one client, keyed by ``stream_client_key`` (a dependency: the user id, the API key; by
default the client's address): the one over it is answered 429. A slot is taken once the request's
dependencies are solved (so the key may be the authenticated user) and given back when the stream ends. With
``shared_stream_limits`` (``linestream.limits.RedisStreamLimits``), both are counted across every worker and
host that shares the store, instead of in this process.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable

from linestream._declare.options import app_setting
from linestream._shared_limits import LimitReached, SharedStreamLimits
from linestream.exceptions import HTTPException

__all__ = ["StreamSlots"]


class StreamSlots:
    """The slots of one app's streams (see the module docstring)."""

    __slots__ = ("_by_client", "max_per_client", "max_streams", "open", "shared")

    def __init__(
        self, max_streams: int | None, max_per_client: int | None, shared: SharedStreamLimits | None = None
    ) -> None:
        self.max_streams = max_streams
        self.max_per_client = max_per_client
        self.shared = shared
        self.open = 0
        self._by_client: dict[Hashable, int] = {}

    @property
    def limited(self) -> bool:
        return self.max_streams is not None or self.max_per_client is not None

    def of(self, key: Hashable) -> int:
        """How many streams the client ``key`` has open."""
        return self._by_client.get(key, 0)

    async def take_shared(self, key: Hashable) -> Callable[[], Awaitable[None]]:
        """``take`` across workers, in the shared store: return the coroutine function that gives it back."""
        assert self.shared is not None
        shared = self.shared
        try:
            token = await shared.take(None if key is None else repr(key), self.max_streams, self.max_per_client)
        except LimitReached as exc:
            raise self._full() if exc.which == "streams" else self._client_full(exc.held) from None

        async def release() -> None:
            await shared.release(token)

        return release

    def take(self, key: Hashable) -> Callable[[], None]:
        """Take a slot for client ``key``; return the function that gives it back (once). 503 when the app is
        full, 429 when the client is."""
        if self.max_streams is not None and self.open >= self.max_streams:
            raise self._full()
        held = self._by_client.get(key, 0)
        if self.max_per_client is not None and held >= self.max_per_client:
            raise self._client_full(held)
        self.open += 1
        self._by_client[key] = held + 1
        released = False

        def release() -> None:
            nonlocal released
            if released:
                return
            released = True
            self.open -= 1
            left = self._by_client[key] - 1
            if left:
                self._by_client[key] = left
            else:
                del self._by_client[key]

        return release

    def _full(self) -> HTTPException:
        where = "every worker of this service" if self.shared is not None else "this server"
        return HTTPException(
            503,
            f"{where.capitalize()} serves {self.max_streams} streams at most; retry later "
            f"({app_setting('max_streams')}).",
            {"retry-after": "1"},
        )

    def _client_full(self, held: int) -> HTTPException:
        return HTTPException(
            429,
            f"This client has {held} streams open, the most it may; close one first "
            f"({app_setting('max_streams_per_client')}).",
            {"retry-after": "5"},
        )
