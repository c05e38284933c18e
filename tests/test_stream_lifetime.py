"""``max_stream_duration``: a stream ends at a moment drawn in the last ``stream_duration_jitter`` of its
lifetime; SSE cleanly with ``retry:`` (an ``EventSource`` comes back, and on a topic resumes with
``Last-Event-ID`` without loss), the other formats with their error record, or visibly truncated."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any

import anyio
import httpx
import pytest
from pydantic import BaseModel

from linestream import Header, LineStream
from linestream.client import Client
from linestream.topics import SerializedItem, Topic
from tests.conftest import serve


class Tick(BaseModel):
    n: int


CLOSED: list[str] = []
app = LineStream(max_stream_duration=0.2, stream_duration_jitter=0.5)


async def ticks(name: str) -> AsyncIterator[Tick]:
    try:
        for n in range(10_000):
            yield Tick(n=n)
            await anyio.sleep(0.005)
    finally:
        CLOSED.append(name)


@app.get("/ticks")
async def all_ticks() -> AsyncIterator[Tick]:
    async for tick in ticks("ticks"):
        yield tick


@app.get("/recorded", stream_errors="record")
async def recorded_ticks() -> AsyncIterator[Tick]:
    async for tick in ticks("recorded"):
        yield tick


@app.get("/unbounded", max_stream_duration=None)
async def unbounded() -> AsyncIterator[Tick]:
    for n in range(3):
        await anyio.sleep(0.3)  # longer than the app's lifetime, in all
        yield Tick(n=n)


@app.get("/silent")
async def silent() -> AsyncIterator[Tick]:
    await anyio.sleep(30)
    yield Tick(n=0)  # pragma: no cover - the lifetime ends it first


orders = Topic("lifetime-orders", Tick)
OPENED: list[str | None] = []


@app.post("/orders", status_code=201)
async def place(tick: Tick) -> dict[str, str]:
    return {"id": await orders.publish(tick)}


@app.get("/orders/live", max_stream_duration=0.15)
async def live(last_event_id: Annotated[str | None, Header()] = None) -> AsyncIterator[SerializedItem[Tick]]:
    OPENED.append(last_event_id)
    async for message in orders.subscribe(last_event_id):
        yield message


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with serve(app) as base:
        yield base


def test_an_sse_stream_ends_cleanly_asking_its_client_to_come_back(url: str) -> None:
    response = httpx.get(url + "/ticks", headers={"accept": "text/event-stream"}, timeout=10)
    assert response.status_code == 200
    assert response.text.endswith("\n\nretry: 1000\n\n")
    assert response.text.count("data: ") >= 1
    assert "ticks" in CLOSED  # the generator was closed at the end of its lifetime


def test_a_json_lines_stream_ends_with_its_error_record_naming_the_setting(url: str) -> None:
    response = httpx.get(url + "/recorded", headers={"accept": "application/jsonl"}, timeout=10)
    last = response.text.splitlines()[-1]
    assert last.startswith(' {"error":')
    assert '"status":503' in last
    assert "max_stream_duration" in last


def test_a_json_lines_stream_without_records_is_visibly_truncated(url: str) -> None:
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(url + "/ticks", headers={"accept": "application/jsonl"}, timeout=10)


def test_a_route_can_lift_the_apps_lifetime(url: str) -> None:
    response = httpx.get(url + "/unbounded", headers={"accept": "application/jsonl"}, timeout=10)
    assert len(response.text.splitlines()) == 3


def test_a_lifetime_reached_before_the_first_item_is_a_503_to_retry_at_once(url: str) -> None:
    response = httpx.get(url + "/silent", timeout=10)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "0"
    assert "max_stream_duration" in response.json()["detail"]


def test_a_topic_subscriber_resumes_across_lifetimes_without_loss(url: str) -> None:
    OPENED.clear()
    published: list[str] = []

    def publish() -> None:
        with httpx.Client(base_url=url) as client:
            for n in range(60):
                published.append(client.post("/orders", json={"n": n}).json()["id"])
                time.sleep(0.01)  # 60 messages over at least 0.6 s: four lifetimes or more

    received: list[Any] = []
    with Client(url) as client, client.events("/orders/live", item=Tick) as events:
        publisher = threading.Thread(target=publish)
        publisher.start()
        for event in events:
            received.append(event)
            if event.data.n == 59:
                break
        publisher.join()
    assert [event.data.n for event in received] == list(range(60))  # each once, in order
    assert [event.id for event in received] == published
    assert len(OPENED) >= 2  # it reconnected, each time from the last id it saw
    assert OPENED[0] is None
    assert all(last in published for last in OPENED[1:])
