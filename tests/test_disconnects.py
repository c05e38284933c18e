"""A client's disconnect is seen whatever the endpoint does with the request body; the body is never split
between two readers."""

from __future__ import annotations

import gc
import logging
import socket
import threading
import time
from collections.abc import AsyncIterable, AsyncIterator

import anyio
import httpx
import pytest

from linestream import Depends, LineStream, Request
from linestream.topics import MemoryBackend, SerializedItem, Topic
from tests.conftest import serve, wait_for
from tests.models import Item


class Log:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.events: list[str] = []

    def add(self, event: str) -> None:
        with self.lock:
            self.events.append(event)

    def count(self, event: str) -> int:
        with self.lock:
            return self.events.count(event)


def make_app(log: Log, topic: Topic[Item]) -> LineStream:
    app = LineStream(sse_keepalive=None)

    async def connection() -> AsyncIterator[None]:
        log.add("dependency entered")
        try:
            yield
        finally:
            log.add("dependency closed")

    @app.get("/endless")
    async def endless(_: None = Depends(connection)) -> AsyncIterable[Item]:
        try:
            while True:
                yield Item(name="tick")
                await anyio.sleep(0.05)
        finally:
            log.add("generator closed")

    @app.get("/holds-request")
    async def holds_request(request: Request, _: None = Depends(connection)) -> AsyncIterable[Item]:
        try:
            yield Item(name=request.url.path)
            await anyio.sleep(3600)
        finally:
            log.add("generator closed")

    @app.get("/live")
    async def live(_: None = Depends(connection)) -> AsyncIterable[SerializedItem[Item]]:
        try:
            async for message in topic.subscribe():
                yield message
        finally:
            log.add("generator closed")

    return app


def request_with_unread_body(url: str, path: str, body_size: int) -> socket.socket:
    """A GET whose body (``body_size`` bytes, in two writes) the endpoint never reads; the response head read."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=5)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\nContent-Length: {body_size}\r\n\r\n".encode())
    half = body_size // 2
    sock.sendall(b"x" * half)
    time.sleep(0.05)
    sock.sendall(b"x" * (body_size - half))
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 200"), head
    return sock


@pytest.mark.parametrize("body_size", [100, 256 * 1024])
@pytest.mark.parametrize("path", ["/endless", "/live"])
def test_a_disconnect_is_seen_when_the_endpoint_never_reads_the_body(path: str, body_size: int) -> None:
    log = Log()
    topic = Topic("ticks", Item, backend=MemoryBackend())
    with serve(make_app(log, topic)) as url:
        for _ in range(5):
            sock = request_with_unread_body(url, path, body_size)
            sock.close()
        wait_for(lambda: log.count("dependency closed") == 5, timeout=10)
        assert topic.subscribers == 0
    assert log.count("generator closed") == 5


def test_a_disconnect_is_seen_when_the_endpoint_holds_the_request_but_never_reads_a_small_body() -> None:
    log = Log()
    with serve(make_app(log, Topic("unused", Item, backend=MemoryBackend()))) as url:
        sock = request_with_unread_body(url, "/holds-request", 1000)
        sock.recv(1024)
        sock.close()
        wait_for(lambda: log.count("dependency closed") == 1, timeout=10)
    assert log.events == ["dependency entered", "generator closed", "dependency closed"]


class ConcurrentReceive(AssertionError):
    pass


def test_the_server_receive_is_never_awaited_by_two_tasks_at_once() -> None:
    # A streamed body read while the stream runs: before the fix, the endpoint's first read and the disconnect
    # watcher's awaited receive() together, and under uvicorn one of them could take an empty "end of body",
    # ending the upload early as if it were complete.
    app = LineStream(sse_keepalive=None)

    @app.post("/echo")
    async def echo(items: AsyncIterable[Item]) -> AsyncIterable[Item]:
        async for item in items:
            yield item

    lines = [b'{"name":"%d"}\n' % index for index in range(50)]

    async def run() -> list[bytes]:
        waiting = 0
        parts = list(lines)
        sent: list[bytes] = []
        done = anyio.Event()

        async def receive() -> dict[str, object]:
            nonlocal waiting
            waiting += 1
            try:
                if waiting > 1:
                    raise ConcurrentReceive("receive() awaited by two tasks at once")
                await anyio.sleep(0.001)
                if parts:
                    return {"type": "http.request", "body": parts.pop(0), "more_body": bool(parts)}
                await done.wait()
                return {"type": "http.disconnect"}
            finally:
                waiting -= 1

        async def send(message: dict[str, object]) -> None:
            if message["type"] == "http.response.body":
                sent.append(message.get("body", b""))  # type: ignore[arg-type]
                if not message.get("more_body", False):
                    done.set()

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/echo",
            "raw_path": b"/echo",
            "query_string": b"",
            "root_path": "",
            "headers": [(b"content-type", b"application/jsonl")],
            "server": ("t", 80),
            "client": ("127.0.0.1", 1),
            "state": {},
        }
        await app(scope, receive, send)
        return sent

    body = b"".join(anyio.run(run))
    assert body == b"".join(lines)


def test_a_subscription_leaves_the_topic_as_soon_as_its_client_leaves() -> None:
    # Without the garbage collector: a cancelled subscription used to stay in the fan-out (and receive every
    # message) until a collection found the traceback that held it.
    log = Log()
    topic = Topic("busy", Item, backend=MemoryBackend())
    app = make_app(log, topic)

    @app.post("/publish")
    async def publish() -> None:
        for _ in range(20):
            await topic.publish(Item(name="x" * 100))

    gc.disable()
    try:
        with serve(app) as url:
            publisher = Publisher(url + "/publish")
            sockets = [request_with_unread_body(url, "/live", 0) for _ in range(50)]
            wait_for(lambda: topic.subscribers == 50, timeout=10)
            for sock in sockets:
                sock.close()
            wait_for(lambda: topic.subscribers == 0, timeout=10)
            publisher.stop()
    finally:
        gc.enable()


class Publisher:
    def __init__(self, url: str) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(url,), daemon=True)
        self._thread.start()

    def _run(self, url: str) -> None:
        with httpx.Client() as client:
            while not self._stop.wait(0.01):
                client.post(url)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_a_client_that_leaves_mid_upload_is_an_info_line_not_a_traceback() -> None:
    app = LineStream()

    @app.post("/count")
    async def count(items: AsyncIterable[Item]) -> dict[str, int]:
        return {"count": len([item async for item in items])}

    records = Records()
    loggers = [logging.getLogger(name) for name in ("uvicorn.error", "linestream")]
    for logger in loggers:
        logger.addHandler(records)
    previous = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.INFO)
    try:
        with serve(app) as url:
            host, port = url.removeprefix("http://").split(":")
            for _ in range(20):
                with socket.create_connection((host, int(port))) as sock:
                    head = b"POST /count HTTP/1.1\r\nHost: t\r\nContent-Type: application/jsonl\r\n"
                    sock.sendall(head + b'Transfer-Encoding: chunked\r\n\r\nd\r\n{"name":"a"}\n\r\n')
                    time.sleep(0.02)
            wait_for(lambda: sum("disconnected" in r.getMessage() for r in records.records) == 20, timeout=10)
    finally:
        for logger, level in zip(loggers, previous, strict=True):
            logger.removeHandler(records)
            logger.setLevel(level)
    assert [r.getMessage() for r in records.records if r.levelno >= logging.WARNING] == []
