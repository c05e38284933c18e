"""Worker threads for blocking stream code: a few connections can neither hold them forever nor starve the
ordinary ``def`` endpoints."""

from __future__ import annotations

import json
import random
import socket
import time
from collections.abc import Iterable

import httpx

from linestream import LineStream
from tests.conftest import serve, wait_for
from tests.models import Item


def make_app(**options: float) -> LineStream:
    app = LineStream(sse_keepalive=None, **options)  # type: ignore[arg-type]

    @app.get("/firehose")
    def firehose() -> Iterable[Item]:
        while True:
            yield Item(name="x" * 1000)

    @app.post("/upload")
    def upload(items: Iterable[Item]) -> dict[str, int]:
        return {"count": sum(1 for _ in items)}

    @app.get("/ping")
    def ping() -> dict[str, bool]:
        return {"ok": True}

    return app


def never_reading(url: str, path: str) -> socket.socket:
    """A client that asks for a stream, reads its head, and then never reads again."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
    assert sock.recv(12) == b"HTTP/1.1 200"
    return sock


def test_clients_that_stop_reading_cannot_hold_every_thread_and_the_next_one_gets_a_503() -> None:
    app = make_app(max_sync_streams=4, sync_stream_wait=0.5, send_timeout=2.0)
    with serve(app) as url:
        stalled = [never_reading(url, "/firehose") for _ in range(4)]
        wait_for(lambda: app.stream_stats().sync_running == 4, timeout=10)
        refused = httpx.get(url + "/firehose", timeout=10)
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "1"
        assert "worker threads" in refused.json()["detail"]
        assert "the limit is LineStream(max_sync_streams=...)" in refused.json()["detail"]
        # The stalled streams end at their send timeout, and their threads serve streams again.
        wait_for(lambda: app.stream_stats().sync_running == 0, timeout=15)
        with httpx.stream("GET", url + "/firehose", timeout=10) as response:
            assert response.status_code == 200
            assert next(response.iter_lines()).startswith('{"name":"x')
        for sock in stalled:
            sock.close()


def test_trickling_uploads_into_def_endpoints_do_not_starve_other_def_endpoints() -> None:
    # 45 uploads that never end, into a `def` endpoint reading an Iterable: more than anyio's 40 default threads.
    app = make_app(max_sync_streams=8, sync_stream_wait=30.0)
    with serve(app) as url:
        host, port = url.removeprefix("http://").split(":")
        uploads: list[socket.socket] = []
        for _ in range(45):
            sock = socket.create_connection((host, int(port)))
            head = b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Type: application/jsonl\r\n"
            sock.sendall(head + b'Transfer-Encoding: chunked\r\n\r\nd\r\n{"name":"a"}\n\r\n')
            uploads.append(sock)
        wait_for(lambda: app.stream_stats().sync_running == 8, timeout=10)
        # The uploads never end while their sockets are open: an answer at all is one that did not wait for them.
        assert httpx.get(url + "/ping", timeout=10).json() == {"ok": True}
        assert app.stream_stats().sync_running == 8
        for sock in uploads:
            sock.close()


def test_a_def_generator_that_pauses_at_random_delivers_every_item_in_order() -> None:
    """The thread hands frames over without a lock: a generator that runs in bursts and pauses (so the loop waits,
    is woken and drains, again and again) delivers every item once, in order, in JSON Lines and SSE."""
    app = LineStream()
    pauses = random.Random(7)

    @app.get("/bursts")
    def bursts() -> Iterable[Item]:
        for n in range(3000):
            if pauses.random() < 0.05:
                time.sleep(pauses.choice((0, 0.0001, 0.001)))
            yield Item(name=str(n))

    with serve(app) as url:
        for accept in ("application/jsonl", "text/event-stream"):
            with httpx.Client(timeout=30) as client:
                text = client.get(url + "/bursts", headers={"accept": accept}).text
            names = [line for line in text.splitlines() if line.startswith(("{", "data: {"))]
            assert len(names) == 3000, accept
            assert [json.loads(n.removeprefix("data: "))["name"] for n in names] == [str(n) for n in range(3000)]
