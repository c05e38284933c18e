"""``Topic``: a typed, named stream of messages that path operations publish to and subscribe to."""

from __future__ import annotations

from typing import Any, Generic, TypeVar, overload

from pydantic import TypeAdapter

from linestream._serialization import ItemEncoder
from linestream.telemetry import StreamTelemetry
from linestream.topics._base import TopicBackend, parse_id
from linestream.topics._memory import MemoryBackend
from linestream.topics._subscription import Subscription

__all__ = ["Topic", "default_backend"]

ItemT = TypeVar("ItemT")

_DEFAULT_BACKEND = MemoryBackend()


def default_backend() -> MemoryBackend:
    """The process-wide in-memory backend that topics use when given none."""
    return _DEFAULT_BACKEND


class Topic(Generic[ItemT]):
    """A named stream of items of one type, published once and delivered to every subscriber.

    ```python
    orders = Topic("orders", Order)

    @app.post("/orders")
    async def place(order: Order) -> dict[str, str]:
        return {"id": await orders.publish(order)}

    @app.get("/orders/live")
    async def live(last_event_id: str | None = Header(None)) -> AsyncIterable[SerializedItem[Order]]:
        async for message in orders.subscribe(last_event_id):
            yield message
    ```

    A publish validates the item as ``item_type`` and serializes it once; subscribers' streams send those bytes
    as they are (in SSE with the message id as the event id, so that a reconnecting ``EventSource`` resumes
    exactly after the last event it saw). ``retention``: how many messages the topic keeps for resuming
    (approximately, in Redis). ``max_pending``: how many messages a subscriber may have waiting before it
    drops them and reads them back from the log (so a slow client never holds the publisher or the others).
    ``telemetry`` (a ``linestream.telemetry.StreamTelemetry``) counts publishes and measures each subscriber's
    lag and gaps.
    """

    @overload
    def __init__(
        self: Topic[Any],
        name: str,
        item_type: None = None,
        *,
        backend: TopicBackend | None = None,
        retention: int = 1000,
        max_pending: int = 1000,
        telemetry: StreamTelemetry | None = None,
    ) -> None: ...

    @overload
    def __init__(
        self,
        name: str,
        item_type: type[ItemT],
        *,
        backend: TopicBackend | None = None,
        retention: int = 1000,
        max_pending: int = 1000,
        telemetry: StreamTelemetry | None = None,
    ) -> None: ...

    def __init__(
        self,
        name: str,
        item_type: Any = None,
        *,
        backend: TopicBackend | None = None,
        retention: int = 1000,
        max_pending: int = 1000,
        telemetry: StreamTelemetry | None = None,
    ) -> None:
        if not name:
            raise ValueError("A topic needs a non-empty name.")
        if retention < 1:
            raise ValueError(f"Topic {name!r}: retention must be a positive number of messages, not {retention!r}.")
        if max_pending < 1:
            raise ValueError(f"Topic {name!r}: max_pending must be a positive number of messages, not {max_pending!r}.")
        self.name = name
        self.item_type = item_type
        self.backend: TopicBackend = backend if backend is not None else _DEFAULT_BACKEND
        self.retention = retention
        self.max_pending = max_pending
        adapter: TypeAdapter[Any] | None = None if item_type is None else TypeAdapter(item_type)
        self._encode = ItemEncoder(adapter).encode
        self._declared = self.backend.declare(name, item_type, adapter)
        #: Counts publishes, and measures subscribers' lag and gaps (``telemetry=``, docs/operations.md).
        self._telemetry = None if telemetry is None else telemetry.topic(name)

    def __repr__(self) -> str:
        return f"Topic({self.name!r}, {self.item_type!r}, backend={self.backend!r})"

    async def publish(self, item: ItemT | Any) -> str:
        """Validate and serialize ``item``, append it to the topic and return its message id.

        Raises ``pydantic.ValidationError`` for an item that is not a valid ``item_type``, and
        ``TopicBackendUnavailable`` when the backend cannot store it.
        """
        message = await self.backend.append(self.name, self._encode(item), retention=self.retention)
        if self._telemetry is not None:
            self._telemetry.published()
        return message.id

    def subscribe(self, last_id: str | None = None, *, max_pending: int | None = None) -> Subscription[ItemT]:
        """The messages published after ``last_id`` (a message id, e.g. a client's ``Last-Event-ID``; ``None``
        or empty: from now on), as an async iterator of ``SerializedItem`` (``.id``, ``.item``, ``.data``).

        Raises ``InvalidMessageId`` (a 400 ``HTTPException``) when ``last_id`` is not a message id. The
        subscription starts when first iterated and stops when closed or garbage-collected.
        """
        after = parse_id(self.name, last_id) if last_id else None
        return Subscription(self.backend, self.name, after, max_pending or self.max_pending, self._telemetry)

    async def delete(self) -> None:
        """Drop the topic's history from its backend (every worker's, for a shared backend): resuming from an
        older id then reads nothing. Open subscriptions go on with the messages published from now on. A topic
        per room or per job calls this when it is done, so that its log does not outlive it."""
        await self.backend.delete(self.name)

    @property
    def subscribers(self) -> int:
        """How many subscriptions of this topic are open in this process."""
        return self.backend.subscriber_count(self.name)
