"""Stream mechanics over a real uvicorn server: errors before/after the first item, disconnect, teardown order,
non-blocking sync generators, and lines arriving as they are produced."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator

import anyio
import httpx
import pytest
from pydantic import BaseModel

from linestream import Depends, HTTPException, LineStream
from tests.conftest import read_into, serve, wait_for


class Item(BaseModel):
    name: str
    price: float = 0.0


class Recorder:
    """Thread-safe log of lifecycle events, shared by the server thread and the test."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.lock = threading.Lock()

    def add(self, event: str) -> None:
        with self.lock:
            self.events.append(event)


def make_app(recorder: Recorder, release: threading.Event) -> LineStream:
    app = LineStream()

    async def resource() -> AsyncIterator[str]:
        recorder.add("dependency entered")
        try:
            yield "db"
        finally:
            recorder.add("dependency closed")

    def sync_resource() -> Iterator[str]:
        recorder.add("sync dependency entered")
        try:
            yield "db"
        finally:
            recorder.add("sync dependency closed")

    @app.get("/missing")
    async def missing() -> AsyncIterable[Item]:
        raise HTTPException(status_code=404, detail="Item not found")
        yield Item(name="never")  # pragma: no cover

    @app.get("/missing-sync")
    def missing_sync() -> Iterable[Item]:
        raise HTTPException(status_code=404, detail="Nothing here")
        yield Item(name="never")  # pragma: no cover

    @app.get("/crash-first")
    async def crash_first() -> AsyncIterable[Item]:
        raise RuntimeError("boom before the first item")
        yield Item(name="never")  # pragma: no cover

    @app.get("/invalid-first")
    async def invalid_first() -> AsyncIterable[Item]:
        yield {"name": None}  # type: ignore[misc]

    @app.get("/crash-later")
    async def crash_later(db: str = Depends(resource)) -> AsyncIterable[Item]:
        yield Item(name="one")
        yield Item(name="two")
        raise RuntimeError("boom after two items")

    @app.get("/invalid-later")
    async def invalid_later() -> AsyncIterable[Item]:
        yield Item(name="one")
        yield {"name": "two", "price": "not a number"}  # type: ignore[misc]

    @app.get("/crash-later-sync")
    def crash_later_sync(db: str = Depends(sync_resource)) -> Iterable[Item]:
        yield Item(name="one")
        raise RuntimeError("boom in a sync generator")

    @app.get("/forever")
    async def forever(db: str = Depends(resource)) -> AsyncIterable[Item]:
        recorder.add("generator started")
        try:
            yield Item(name="first")
            await anyio.sleep(3600)
            yield Item(name="never")  # pragma: no cover
        finally:
            recorder.add("generator closed")

    @app.get("/forever-sync")
    def forever_sync(db: str = Depends(resource)) -> Iterable[Item]:
        recorder.add("sync generator started")
        try:
            index = 0
            while True:
                yield Item(name=f"item {index}")
                index += 1
                time.sleep(0.05)
        finally:
            recorder.add("sync generator closed")

    @app.get("/sleepy-sync")
    def sleepy_sync() -> Iterable[Item]:
        yield Item(name="before sleep")
        release.wait(10)
        yield Item(name="after sleep")

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        return {"pong": "yes"}

    @app.get("/gated")
    async def gated() -> AsyncIterable[Item]:
        yield Item(name="first")
        await anyio.to_thread.run_sync(release.wait, 10)
        yield Item(name="second")

    return app


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def release() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()


@pytest.fixture
def base_url(recorder: Recorder, release: threading.Event) -> Iterator[str]:
    with serve(make_app(recorder, release)) as url:
        yield url


@pytest.mark.parametrize(("path", "detail"), [("/missing", "Item not found"), ("/missing-sync", "Nothing here")])
def test_http_exception_before_first_item_is_a_real_error_status(base_url: str, path: str, detail: str) -> None:
    response = httpx.get(base_url + path)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {"type": "about:blank", "title": "Not Found", "status": 404, "detail": detail}


def test_exception_before_first_item_is_a_500_problem(base_url: str) -> None:
    response = httpx.get(base_url + "/crash-first")
    assert response.status_code == 500
    assert response.json()["title"] == "Internal Server Error"


def test_invalid_first_item_is_a_500_problem(base_url: str) -> None:
    response = httpx.get(base_url + "/invalid-first")
    assert response.status_code == 500
    assert response.json()["detail"] == "The server produced a response that does not match its declared type."


@pytest.mark.parametrize(
    ("path", "complete_lines"),
    [("/crash-later", 2), ("/invalid-later", 1), ("/crash-later-sync", 1)],
)
def test_failure_after_first_item_truncates_the_stream(
    base_url: str, path: str, complete_lines: int, recorder: Recorder
) -> None:
    received = bytearray()
    with httpx.Client() as client, client.stream("GET", base_url + path) as response:
        assert response.status_code == 200
        with pytest.raises(httpx.RemoteProtocolError, match="incomplete chunked read"):
            read_into(received, response.iter_raw())
    lines = bytes(received).split(b"\n")
    assert lines[-1] == b""
    assert len(lines) - 1 == complete_lines
    for line in lines[:-1]:
        Item.model_validate_json(line)
    if path != "/invalid-later":
        wait_for(lambda: any(event.endswith("dependency closed") for event in recorder.events))


def test_failure_after_first_item_is_logged_with_the_item_count(
    base_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        httpx.Client() as client,
        client.stream("GET", base_url + "/crash-later") as response,
        pytest.raises(httpx.RemoteProtocolError),
    ):
        response.read()
    wait_for(lambda: any("aborted after 2 item(s)" in record.getMessage() for record in caplog.records))


def test_disconnect_closes_a_waiting_async_generator_before_dependency_teardown(
    base_url: str, recorder: Recorder
) -> None:
    with httpx.Client() as client, client.stream("GET", base_url + "/forever") as response:
        first = next(response.iter_lines())
        assert json.loads(first) == {"name": "first", "price": 0.0}
    # /forever waits an hour for its next item: only the disconnect can close it.
    wait_for(lambda: "dependency closed" in recorder.events, timeout=10)
    assert recorder.events == ["dependency entered", "generator started", "generator closed", "dependency closed"]


def test_disconnect_closes_a_sync_generator_at_its_next_yield_before_teardown(
    base_url: str, recorder: Recorder
) -> None:
    with httpx.Client() as client, client.stream("GET", base_url + "/forever-sync") as response:
        lines = response.iter_lines()
        assert json.loads(next(lines))["name"] == "item 0"
        assert json.loads(next(lines))["name"] == "item 1"
    wait_for(lambda: "dependency closed" in recorder.events, timeout=3)
    assert recorder.events == [
        "dependency entered",
        "sync generator started",
        "sync generator closed",
        "dependency closed",
    ]


def test_sleeping_sync_generator_does_not_block_other_requests(base_url: str, release: threading.Event) -> None:
    with httpx.Client() as client, client.stream("GET", base_url + "/sleepy-sync") as response:
        lines = response.iter_lines()
        assert json.loads(next(lines))["name"] == "before sleep"
        # The generator sleeps until released: a ping answered before that proves the loop was free.
        assert httpx.get(base_url + "/ping", timeout=30).json() == {"pong": "yes"}
        release.set()
        assert json.loads(next(lines))["name"] == "after sleep"


def test_item_is_sent_while_the_generator_waits(base_url: str, release: threading.Event) -> None:
    with httpx.Client() as client, client.stream("GET", base_url + "/gated") as response:
        lines = response.iter_lines()
        # The generator is now blocked until `release` is set: the first item must already be on the wire.
        assert json.loads(next(lines))["name"] == "first"
        release.set()
        assert json.loads(next(lines))["name"] == "second"


def test_curl_shows_each_line_as_it_is_produced(base_url: str, release: threading.Event) -> None:
    with subprocess.Popen(["curl", "-sN", base_url + "/gated"], stdout=subprocess.PIPE) as curl:
        assert curl.stdout is not None
        first = curl.stdout.readline()
        assert json.loads(first)["name"] == "first"
        assert curl.poll() is None  # still streaming: the generator waits for `release`
        release.set()
        assert json.loads(curl.stdout.readline())["name"] == "second"
        assert curl.wait(timeout=5) == 0


def test_head_request_sends_headers_only(base_url: str) -> None:
    response = httpx.head(base_url + "/forever")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/jsonl"
    assert response.content == b""


def test_disconnect_before_the_first_item_closes_the_generator() -> None:
    events: list[str] = []
    app = LineStream()

    @app.get("/quiet")
    async def quiet() -> AsyncIterable[Item]:
        events.append("started")
        try:
            await anyio.sleep(3600)
            yield Item(name="never")  # pragma: no cover
        finally:
            events.append("closed")

    with serve(app) as url:
        with httpx.Client(timeout=0.3) as client, pytest.raises(httpx.ReadTimeout):
            client.get(url + "/quiet")
        wait_for(lambda: events == ["started", "closed"], timeout=2)


@pytest.mark.parametrize("kind", ["async", "sync"])
def test_empty_stream_is_a_successful_empty_body(kind: str) -> None:
    app = LineStream()

    @app.get("/empty-async")
    async def empty_async() -> AsyncIterable[Item]:
        return
        yield  # pragma: no cover

    @app.get("/empty-sync")
    def empty_sync() -> Iterable[Item]:
        return iter(())  # type: ignore[return-value]
        yield  # pragma: no cover

    with serve(app) as url:
        response = httpx.get(f"{url}/empty-{kind}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/jsonl"
    assert response.content == b""
