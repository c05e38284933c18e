"""Redis Streams across processes: workers that share topics, servers and Redis restarted under live streams."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import anyio.to_thread
import h11
import httpx
import pytest
import redis
from playwright.sync_api import sync_playwright

from linestream.streams.sse import SseDecoder
from linestream.topics import RedisBackend, Topic, TopicBackendUnavailable
from tests.conftest import CHROMIUM, CHROMIUM_ARGS, free_port, wait_for
from tests.redis_server import redis_server

ROOT = Path(__file__).parent.parent.parent
SSE = {"accept": "text/event-stream"}


class AppProcess:
    """``examples.orders:app`` in a uvicorn process of its own, on a fixed port so that it can be restarted."""

    def __init__(self, redis_url: str, prefix: str, *extra: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "LINESTREAM_REDIS_URL": redis_url, "LINESTREAM_TOPIC_PREFIX": prefix}
        self.extra = extra
        self.process: subprocess.Popen[bytes] | None = None
        # The server's log: a file, not a pipe that nobody reads (a pipe that fills up blocks the server).
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop()

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def start(self, *, wait: bool = True) -> None:
        command = [
            sys.executable, "-m", "uvicorn", "examples.orders:app", "--host", "127.0.0.1", "--port", str(self.port),
            "--log-level", "warning", "--timeout-graceful-shutdown", "1", *self.extra,
        ]  # fmt: skip
        self.process = subprocess.Popen(command, cwd=ROOT, env=self.env, stderr=self.log)
        if wait:
            wait_for(self.ready, timeout=20)

    def ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(
                f"the app exited: {self.process.stderr.read().decode() if self.process.stderr else ''}"
            )
        try:
            return httpx.get(self.url + "/openapi.json", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(15)
            self.process = None

    def close(self) -> None:
        self.stop()
        self.log.close()

    def place(self, item: str) -> str:
        response = httpx.post(self.url + "/orders", json={"item": item}, timeout=10)
        assert response.status_code == 201, response.text
        message_id: str = response.json()["id"]
        return message_id


@contextlib.contextmanager
def app_process(redis_url: str, prefix: str, *extra: str) -> Iterator[AppProcess]:
    app = AppProcess(redis_url, prefix, *extra)
    app.start()
    try:
        yield app
    finally:
        with contextlib.suppress(Exception):
            app.stop()
        app.log.close()


class EventReader:
    """Reads an SSE response event by event, across calls."""

    def __init__(self, response: httpx.Response) -> None:
        self.chunks = response.iter_bytes()
        self.decoder = SseDecoder()
        self.events: list[tuple[str | None, str]] = []

    def next(self, count: int) -> list[tuple[str | None, str]]:
        """The next ``count`` events (id, data)."""
        while len(self.events) < count:
            chunk = next(self.chunks)
            self.events.extend((event.id, event.raw_data or "") for event in self.decoder.feed(chunk))
        taken, self.events = self.events[:count], self.events[count:]
        return taken


def read_events(response: httpx.Response, count: int) -> list[tuple[str | None, str]]:
    return EventReader(response).next(count)


def order(item: str) -> str:
    return '{"item":"%s","quantity":1}' % item  # noqa: UP031 - the exact bytes on the wire


@pytest.fixture
def prefix() -> str:
    return f"test:{uuid.uuid4().hex}:"


def test_published_on_one_worker_process_received_on_another_then_resumed_after_a_restart(
    redis_url: str, prefix: str
) -> None:
    with app_process(redis_url, prefix) as a, app_process(redis_url, prefix) as b:
        start = b.place("zero")
        with httpx.Client(timeout=10) as client:
            with client.stream("GET", a.url + "/orders/live", headers={**SSE, "last-event-id": start}) as response:
                ids = [b.place(f"o{i}") for i in range(1, 6)]
                assert read_events(response, 5) == [(ids[i], order(f"o{i + 1}")) for i in range(5)]
            # The server the client was connected to stops; orders keep coming in through the other one.
            a.stop()
            missed = [b.place(f"m{i}") for i in range(5)]
            a.start()
            headers = {**SSE, "last-event-id": ids[-1]}
            with client.stream("GET", a.url + "/orders/live", headers=headers) as response:
                later = b.place("later")
                events = read_events(response, 6)
        assert events == [(missed[i], order(f"m{i}")) for i in range(5)] + [(later, order("later"))]


@pytest.mark.parametrize("persistent", [True, False], ids=["redis-keeps-data", "redis-loses-data"])
def test_redis_restarted_mid_stream(tmp_path: Path, prefix: str, persistent: bool) -> None:
    with redis_server(tmp_path, persistent=persistent) as server, app_process(server.url, prefix) as app:
        start = app.place("zero")
        with httpx.Client(timeout=20) as client:
            headers = {**SSE, "last-event-id": start}
            with client.stream("GET", app.url + "/orders/live", headers=headers) as response:
                reader = EventReader(response)
                before = [app.place(f"b{i}") for i in range(3)]
                received = reader.next(3)
                server.stop()
                # While Redis is down, publishing fails with a clear error, and the stream stays open.
                failed = httpx.post(app.url + "/orders", json={"item": "lost"}, timeout=20)
                assert failed.status_code == 503
                assert failed.headers["retry-after"] == "1"
                server.start()
                after = [app.place(f"a{i}") for i in range(3)]
                received += reader.next(3)
    assert received == [(before[i], order(f"b{i}")) for i in range(3)] + [(after[i], order(f"a{i}")) for i in range(3)]


def test_unreachable_redis_fails_at_start_up_with_a_clear_error(prefix: str) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"

    async def start() -> None:
        async with RedisBackend(url):
            pass  # pragma: no cover - never reached

    with pytest.raises(TopicBackendUnavailable, match=f"Redis at {url} cannot be reached"):
        anyio.run(start)
    app = AppProcess(url, prefix)
    app.start(wait=False)
    assert app.process is not None
    assert app.process.wait(20) != 0
    assert f"Redis at {url} cannot be reached" in app.output()
    app.close()


def test_a_backend_that_is_not_started_says_how_to_start_it(redis_url: str, prefix: str) -> None:
    backend = RedisBackend(redis_url, key_prefix=prefix)
    topic = Topic("orders", backend=backend)

    async def subscribe() -> None:
        async for _ in topic.subscribe():
            pass  # pragma: no cover - never reached

    with pytest.raises(RuntimeError, match=r"is not started: pass it to LineStream\(topic_backend=...\)"):
        anyio.run(subscribe)


@pytest.mark.slow
def test_1000_subscribers_on_one_topic_share_one_redis_reader(redis_url: str, prefix: str) -> None:
    with app_process(redis_url, prefix, "--backlog", "2048") as app:
        start = app.place("zero")
        ids: list[str] = []
        readers: list[int] = []

        def count_readers() -> None:
            clients = redis.Redis.from_url(redis_url).client_list()
            readers.append(sum(1 for c in clients if c.get("cmd") == "xread"))

        results = anyio.run(_subscribe_many, app, start, 1000, 10, ids, count_readers)
    expected = [(ids[i], order(f"o{i}")) for i in range(10)]
    assert len(results) == 1000
    assert all(result == expected for result in results)
    assert readers == [1]  # one blocking XREAD for the topic in that process, however many subscribers


async def _subscribe_many(
    app: AppProcess, start: str, subscribers: int, count: int, ids: list[str], while_connected: Callable[[], None]
) -> list[object]:
    """``subscribers`` SSE connections (plain sockets + h11, lighter than 1000 httpx clients) resuming after
    ``start``; once all are connected, ``count`` orders are placed; ``while_connected`` runs before the last
    one, when every subscriber is still waiting for it; each connection's events are returned."""
    results: list[object] = []
    connected = 0

    async def subscriber() -> None:
        nonlocal connected
        connection = h11.Connection(h11.CLIENT)
        headers = [("host", "127.0.0.1"), ("accept", "text/event-stream"), ("last-event-id", start)]
        async with await anyio.connect_tcp("127.0.0.1", app.port) as stream:
            await stream.send(connection.send(h11.Request(method="GET", target="/orders/live", headers=headers)))
            await stream.send(connection.send(h11.EndOfMessage()))
            connected += 1
            decoder = SseDecoder()
            events: list[tuple[str | None, str]] = []
            while len(events) < count:
                event = connection.next_event()
                if event is h11.NEED_DATA:
                    connection.receive_data(await stream.receive())
                elif isinstance(event, h11.Response):
                    assert event.status_code == 200
                elif isinstance(event, h11.Data):
                    events.extend((e.id, e.raw_data or "") for e in decoder.feed(bytes(event.data)))
                else:  # pragma: no cover - the stream never ends by itself
                    raise AssertionError(event)
            results.append(events)

    with anyio.fail_after(120):
        async with anyio.create_task_group() as tg:
            for _ in range(subscribers):
                tg.start_soon(subscriber)
            while connected < subscribers:  # noqa: ASYNC110 - waiting for the sockets this test opens
                await anyio.sleep(0.05)
            for i in range(count):
                if i == count - 1:
                    await anyio.to_thread.run_sync(while_connected)
                ids.append(await anyio.to_thread.run_sync(app.place, f"o{i}"))
    return results


def test_a_browser_event_source_resumes_a_topic_across_a_server_restart(redis_url: str, prefix: str) -> None:
    """Chromium's EventSource, connected to one server that restarts while orders keep coming in through
    another: after its automatic reconnect (with Last-Event-ID), it has every order exactly once, in order."""
    with app_process(redis_url, prefix) as a, app_process(redis_url, prefix) as b, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(a.url + "/openapi.json")  # any page of that origin (the HTML pages forbid eval by their CSP)
        page.evaluate(
            """() => {
                window.received = [];
                window.opened = 0;
                const source = new EventSource('/orders/live');
                source.onopen = () => { window.opened += 1; };
                source.onmessage = (event) => window.received.push([event.lastEventId, JSON.parse(event.data).item]);
            }"""
        )
        page.wait_for_function("window.opened === 1")  # the response starts once the subscription is in place
        sent = [b.place(f"o{i}") for i in range(3)]
        page.wait_for_function("window.received.length === 3")
        # The server stops: the stream ends with `retry: 1000`, and EventSource keeps retrying until it is back.
        a.stop()
        sent += [b.place(f"m{i}") for i in range(3)]
        a.start()
        page.wait_for_function("window.opened === 2", timeout=20_000)
        sent.append(b.place("after"))
        page.wait_for_function("window.received.length >= 7", timeout=10_000)
        received = page.evaluate("window.received")
        browser.close()
    assert received == [
        [message_id, item] for message_id, item in zip(sent, ["o0", "o1", "o2", "m0", "m1", "m2", "after"], strict=True)
    ]
