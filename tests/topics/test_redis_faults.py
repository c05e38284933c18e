"""Redis error replies against live topics, on a real redis-server of this module's own: a key overwritten with
another type (WRONGTYPE), a long script (BUSY), a full memory (OOM). Each fails only what it must."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import AsyncIterable, Iterator
from pathlib import Path

import httpx
import pytest
import redis
from pydantic import BaseModel

from linestream import LineStream
from linestream.streams.sse import SseDecoder
from linestream.topics import RedisBackend, SerializedItem, Topic
from tests.conftest import serve, wait_for
from tests.redis_server import RedisServer, redis_server

SSE = {"accept": "text/event-stream"}


class Order(BaseModel):
    item: str


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with redis_server(tmp_path_factory.mktemp("redis-faults")) as running:
        yield running


def make_app(url: str, prefix: str) -> LineStream:
    backend = RedisBackend(url, key_prefix=prefix, block=0.2, max_backoff=0.2)
    topics = {name: Topic(name, Order, backend=backend) for name in ("orders", "other")}
    app = LineStream(topic_backend=backend, sse_keepalive=None)

    @app.post("/publish/{name}", status_code=201)
    async def publish(name: str, order: Order) -> dict[str, str]:
        return {"id": await topics[name].publish(order)}

    @app.get("/live/{name}")
    async def live(name: str) -> AsyncIterable[SerializedItem[Order]]:
        async for message in topics[name].subscribe():
            yield message

    return app


class Stream:
    """An SSE stream read in a thread; what it received, and how it ended."""

    def __init__(self, url: str) -> None:
        self.items: list[str] = []
        self.ended: str | None = None
        self.opened = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(url,), daemon=True)
        self._thread.start()
        assert self.opened.wait(10)

    def _run(self, url: str) -> None:
        decoder = SseDecoder()
        try:
            with httpx.stream("GET", url, headers=SSE, timeout=30) as response:
                self.opened.set()
                for chunk in response.iter_bytes():
                    self.items.extend(event.raw_data or "" for event in decoder.feed(chunk))
            self.ended = "cleanly"
        except httpx.HTTPError as exc:
            self.ended = type(exc).__name__

    def wait_for(self, count: int) -> None:
        deadline = time.monotonic() + 10
        while len(self.items) < count:
            assert time.monotonic() < deadline, f"{len(self.items)} of {count} items arrived: {self.items}"
            time.sleep(0.01)

    def join(self) -> None:
        self._thread.join(15)


def publish(url: str, name: str, item: str) -> httpx.Response:
    return httpx.post(f"{url}/publish/{name}", json={"item": item}, timeout=30)


def test_a_key_overwritten_with_another_type_fails_only_its_own_topic(server: RedisServer) -> None:
    prefix = f"faults:{uuid.uuid4().hex}:"
    with serve(make_app(server.url, prefix)) as url:
        orders, other = Stream(url + "/live/orders"), Stream(url + "/live/other")
        assert publish(url, "orders", "a").status_code == 201
        assert publish(url, "other", "b").status_code == 201
        orders.wait_for(1)
        other.wait_for(1)
        client = redis.Redis(port=server.port)
        client.delete(prefix + "orders")
        client.set(prefix + "orders", "not a stream")
        refused = publish(url, "orders", "c")
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "1"
        orders.join()
        assert orders.ended == "RemoteProtocolError"  # the topic's own subscribers see a truncated stream
        assert publish(url, "other", "d").status_code == 201
        other.wait_for(2)
        assert other.ended is None  # the other topic's subscriber goes on
        later = Stream(url + "/live/other")
        assert publish(url, "other", "e").status_code == 201
        later.wait_for(1)
        client.delete(prefix + "orders")
        assert publish(url, "orders", "f").status_code == 201  # the key is usable again
    assert other.items == ['{"item":"b"}', '{"item":"d"}', '{"item":"e"}']


def test_a_busy_redis_refuses_publishes_with_503_then_delivers_again(server: RedisServer) -> None:
    prefix = f"faults:{uuid.uuid4().hex}:"
    with serve(make_app(server.url, prefix)) as url:
        live = Stream(url + "/live/orders")
        assert publish(url, "orders", "before").status_code == 201
        live.wait_for(1)
        admin = redis.Redis(port=server.port)
        admin.config_set("busy-reply-threshold", 100)
        script = "local i = 0 while i < 60000000 do i = i + 1 end return i"  # about a second of Lua
        busy = threading.Thread(target=lambda: redis.Redis(port=server.port).eval(script, 0), daemon=True)
        busy.start()
        wait_for(lambda: _busy(admin), timeout=10)  # the script runs: Redis answers BUSY
        statuses = [publish(url, "orders", f"during {index}").status_code for index in range(3)]
        busy.join(30)
        admin.config_set("busy-reply-threshold", 5000)
        assert 503 in statuses, statuses
        assert set(statuses) <= {201, 503}
        assert publish(url, "orders", "after").status_code == 201
        expected = 2 + statuses.count(201)
        live.wait_for(expected)
        assert live.ended is None
    assert live.items[0] == '{"item":"before"}'
    assert live.items[-1] == '{"item":"after"}'


def test_a_full_redis_refuses_publishes_with_503_and_recovers(server: RedisServer) -> None:
    prefix = f"faults:{uuid.uuid4().hex}:"
    with serve(make_app(server.url, prefix)) as url:
        live = Stream(url + "/live/orders")
        admin = redis.Redis(port=server.port)
        admin.config_set("maxmemory-policy", "noeviction")
        admin.config_set("maxmemory", 1)
        try:
            refused = publish(url, "orders", "too much")
        finally:
            admin.config_set("maxmemory", 0)
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "1"
        assert publish(url, "orders", "fits").status_code == 201
        live.wait_for(1)
    assert live.items == ['{"item":"fits"}']


@pytest.fixture(autouse=True)
def _no_leftover_settings(server: RedisServer, tmp_path: Path) -> Iterator[None]:
    yield
    admin = redis.Redis(port=server.port)
    admin.config_set("maxmemory", 0)
    admin.config_set("busy-reply-threshold", 5000)


def _busy(admin: redis.Redis) -> bool:
    try:
        admin.ping()
    except redis.exceptions.ResponseError as exc:
        return str(exc).startswith("BUSY")
    return False
