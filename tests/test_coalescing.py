"""Ready items are coalesced into bounded ASGI messages; nothing ready is held back (driven in-process)."""

from collections.abc import AsyncIterable, Iterable
from typing import Any

import anyio
import pytest

from linestream import LineStream
from tests.models import PricedItem as Item


async def call(app: Any, path: str, send_time: float = 0.0) -> list[dict[str, Any]]:
    """Drive ``app``; each ``send`` takes ``send_time`` seconds (a client that reads at its own pace)."""
    messages: list[dict[str, Any]] = []
    received = False

    async def receive() -> dict[str, Any]:
        nonlocal received
        if not received:
            received = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await anyio.sleep_forever()
        raise AssertionError("unreachable")  # pragma: no cover

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)
        if send_time:
            await anyio.sleep(send_time)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [],
        "server": ("test", 80),
        "client": ("127.0.0.1", 1),
    }
    with anyio.fail_after(20):
        await app(scope, receive, send)
    return messages


def make_app(chunk_size: int) -> LineStream:
    app = LineStream(chunk_size=chunk_size)

    @app.get("/fast")
    async def fast() -> AsyncIterable[Item]:
        for index in range(10_000):
            yield Item(name=f"item {index}", price=index)

    @app.get("/fast-sync")
    def fast_sync() -> Iterable[Item]:
        for index in range(10_000):
            yield Item(name=f"item {index}", price=index)

    @app.get("/awaiting")
    async def awaiting() -> AsyncIterable[Item]:
        for index in range(5):
            await anyio.sleep(0.001)
            yield Item(name=f"item {index}", price=index)

    return app


@pytest.mark.anyio
@pytest.mark.parametrize("path", ["/fast", "/fast-sync"])
async def test_back_to_back_items_are_coalesced_into_bounded_messages(path: str) -> None:
    chunk_size = 16 * 1024
    # A def generator runs in another thread: how many of its items are ready when the event loop takes them
    # depends on thread scheduling, unless sending takes a while (as it does to a real client), during which
    # the thread produces hundreds of items. An async generator's items are coalesced whatever send costs.
    messages = await call(make_app(chunk_size), path, send_time=0.005 if path == "/fast-sync" else 0.0)
    bodies = [m["body"] for m in messages if m["type"] == "http.response.body"]
    data = b"".join(bodies)
    assert data.count(b"\n") == 10_000
    assert messages[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
    # ~290 KB of items: a few dozen messages instead of one per item.
    assert len(bodies) < (60 if path == "/fast" else 500)
    line_size = max(len(line) for line in data.split(b"\n")) + 1
    assert max(len(body) for body in bodies) < chunk_size + 2 * line_size


@pytest.mark.anyio
async def test_an_item_followed_by_an_await_is_sent_at_once() -> None:
    messages = await call(make_app(64 * 1024), "/awaiting")
    bodies = [m["body"] for m in messages if m["type"] == "http.response.body" and m["body"]]
    assert len(bodies) == 5
    assert all(body.count(b"\n") == 1 for body in bodies)
