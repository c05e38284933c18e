"""Live orders: ``POST /orders`` publishes to a topic that ``GET /orders/live`` streams to every subscriber.

Run one process as is (the in-memory backend). Set ``LINESTREAM_REDIS_URL`` (e.g. ``redis://127.0.0.1:6379/0``)
and the topic lives in Redis Streams instead: every worker and host that uses that Redis sees every order, and a
client that reconnects to any of them resumes after its ``Last-Event-ID``::

    LINESTREAM_REDIS_URL=redis://127.0.0.1:6379/0 uvicorn examples.orders:app --workers 4
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterable
from typing import Annotated

from pydantic import BaseModel, Field

from linestream import APIRouter, Header, LineStream
from linestream.topics import MemoryBackend, RedisBackend, SerializedItem, Topic, TopicBackend


class Order(BaseModel):
    item: str = Field(min_length=1)
    quantity: int = Field(default=1, gt=0)


class Placed(BaseModel):
    id: str


def make_backend() -> TopicBackend:
    url = os.environ.get("LINESTREAM_REDIS_URL")
    if not url:
        return MemoryBackend()
    return RedisBackend(url, key_prefix=os.environ.get("LINESTREAM_TOPIC_PREFIX", "linestream:topic:"))


backend = make_backend()
orders = Topic("orders", Order, backend=backend, retention=10_000)
router = APIRouter(tags=["orders"])


@router.post("/orders", status_code=201)
async def place_order(order: Order) -> Placed:
    """Publish an order to everyone watching ``/orders/live``."""
    return Placed(id=await orders.publish(order))


@router.get("/orders/live")
async def live_orders(last_event_id: Annotated[str | None, Header()] = None) -> AsyncIterable[SerializedItem[Order]]:
    """Every order placed from now on; with ``Last-Event-ID``, first those placed after that one."""
    async for message in orders.subscribe(last_event_id):
        yield message


app = LineStream(title="Live orders", topic_backend=backend)
app.include_router(router)
