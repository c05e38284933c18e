"""Fault injection on a real server: disconnects, slow clients, error policies, shutdown, middleware, bad input."""

import json
import logging
import signal
import socket
import threading
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import GZipMiddleware

from linestream import Depends, HTTPException, LineStream, Request, Response
from linestream.streams import FORMATS, StreamFormat
from linestream.testing import TestClient
from tests.conftest import observe, serve, serve_process, wait_for


class Item(BaseModel):
    name: str
    payload: str = "x" * 100


class Events:
    """Lifecycle events recorded by the server (a thread in this process)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.log: list[str] = []
        self.produced = 0

    def add(self, event: str) -> None:
        with self.lock:
            self.log.append(event)

    def count(self, event: str) -> int:
        with self.lock:
            return self.log.count(event)


def make_app(events: Events, **options: Any) -> LineStream:
    app = LineStream(sse_keepalive=None, **options)

    async def resource() -> AsyncIterator[None]:
        events.add("dependency entered")
        try:
            yield
        finally:
            events.add("dependency closed")

    @app.get("/waiting")
    async def waiting(_: None = Depends(resource)) -> AsyncIterable[Item]:
        try:
            yield Item(name="first")
            await anyio.sleep(3600)
        finally:
            events.add("generator closed")

    @app.get("/tight")
    async def tight(_: None = Depends(resource)) -> AsyncIterable[Item]:
        try:
            while True:  # never awaits
                events.produced += 1
                yield Item(name="tight")
        finally:
            events.add("generator closed")

    @app.get("/sync-sleeping")
    def sync_sleeping(_: None = Depends(resource)) -> Iterable[Item]:
        try:
            while True:
                yield Item(name="sleepy")
                time.sleep(0.1)
        finally:
            events.add("generator closed")

    @app.get("/sync-tight")
    def sync_tight(_: None = Depends(resource)) -> Iterable[Item]:
        try:
            while True:
                events.produced += 1
                yield Item(name="tight")
        finally:
            events.add("generator closed")

    @app.get("/fails")
    async def fails(after: int = 2, status: int | None = None) -> AsyncIterable[Item]:
        for index in range(after):
            yield Item(name=f"item {index}")
        if status is not None:
            raise HTTPException(status_code=status, detail="upstream went away")
        raise RuntimeError("secret internal detail")

    @app.get("/fails-record", stream_errors="record")
    async def fails_record(after: int = 2) -> AsyncIterable[Item]:
        for index in range(after):
            yield Item(name=f"item {index}")
        raise RuntimeError("secret internal detail")

    @app.get("/huge")
    async def huge(size: int = 10) -> AsyncIterable[Item]:
        yield Item(name="small")
        yield Item(name="big", payload="y" * size)

    @app.get("/huge-first")
    async def huge_first(size: int = 10) -> AsyncIterable[Item]:
        yield Item(name="big", payload="y" * size)

    return app


@pytest.fixture
def events() -> Events:
    return Events()


def open_stream(url: str, path: str, rcvbuf: int | None = None) -> socket.socket:
    """A raw client socket with the request sent and the response head read."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.socket()
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(5)
    sock.connect((host, int(port)))
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 200"), head
    return sock


# -- disconnect ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/waiting", "/tight", "/sync-sleeping", "/sync-tight"])
def test_disconnect_closes_every_kind_of_generator_once_before_teardown(events: Events, path: str) -> None:
    app = make_app(events)
    with serve(app) as url:
        sock = open_stream(url, path)
        sock.recv(1024)
        sock.close()
        # /waiting's generator waits an hour for its next item: its close is driven by the disconnect alone.
        wait_for(lambda: events.count("dependency closed") == 1, timeout=10)
        assert app.stream_stats().sync_running == 0, "a sync generator thread is still running"
        assert app.stream_stats().open == 0
    # The server has stopped: a second close, had there been one, would be in the log by now.
    assert events.log == ["dependency entered", "generator closed", "dependency closed"], events.log


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(["/tight", "/sync-tight", "/waiting"]), read=st.integers(0, 200_000))
def test_disconnect_at_a_random_point_always_cleans_up_once(
    server_events: tuple[str, Events], path: str, read: int
) -> None:
    url, events = server_events
    before_closed = events.count("generator closed")
    before_teardown = events.count("dependency closed")
    sock = open_stream(url, path)
    sock.settimeout(0.3)  # /waiting sends one item, then nothing: stop reading when nothing comes
    received = 0
    while received < read:
        try:
            chunk = sock.recv(min(65536, read - received))
        except TimeoutError:
            break
        if not chunk:
            break
        received += len(chunk)
    sock.close()
    wait_for(lambda: events.count("dependency closed") == before_teardown + 1, timeout=3)
    assert events.count("generator closed") == before_closed + 1


@pytest.fixture(scope="module")
def server_events() -> Iterator[tuple[str, Events]]:
    events = Events()
    with serve(make_app(events)) as url:
        yield url, events


# -- slow clients ----------------------------------------------------------------------------------------------
def test_a_slow_reader_pauses_the_generator(events: Events) -> None:
    with serve(make_app(events)) as url:
        sock = open_stream(url, "/tight", rcvbuf=16 * 1024)
        item_size = len(Item(name="tight").model_dump_json()) + 1
        # The generator never awaits: only backpressure stops it. It runs until the buffers between it and the
        # socket are full...
        wait_for(lambda: events.produced * item_size > 256 * 1024, timeout=10)
        received = 0
        for _ in range(6):
            received += len(sock.recv(200))  # about one item at a time
            # ...and then never further ahead of the reader than socket buffers, uvicorn's write buffer and one
            # 64 KiB chunk: a few MB at most, at every moment of a bounded observation.
            observe(lambda read=received: events.produced * item_size - read < 8 * 1024 * 1024, polls=10)
        sock.close()
        wait_for(lambda: events.count("dependency closed") == 1)


@pytest.mark.parametrize("path", ["/tight", "/sync-tight"])
def test_send_timeout_ends_a_stream_whose_client_stopped_reading(
    events: Events, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    with serve(make_app(events, send_timeout=0.5)) as url:
        sock = open_stream(url, path, rcvbuf=16 * 1024)
        sock.recv(100)
        wait_for(lambda: events.count("dependency closed") == 1, timeout=10)
        sock.close()
    assert events.log == ["dependency entered", "generator closed", "dependency closed"]
    assert any("stopped reading" in record.getMessage() for record in caplog.records)


def test_send_timeout_counts_only_blocked_sends_not_idle_time(caplog: pytest.LogCaptureFixture) -> None:
    """A stream that is quiet for longer than send_timeout, or whose client reads slowly but steadily, goes on:
    only a send blocked for the whole timeout ends it."""
    app = LineStream(send_timeout=0.3, sse_keepalive=None)

    @app.get("/quiet")
    async def quiet() -> AsyncIterable[Item]:
        for index in range(3):
            yield Item(name=f"quiet {index}")
            await anyio.sleep(0.5)  # longer than the timeout, between sends

    @app.get("/many")
    async def many() -> AsyncIterable[Item]:
        for index in range(2000):
            yield Item(name=f"item {index} " + "x" * 200)

    with serve(app) as url, httpx.Client(base_url=url) as client:
        assert client.get("/quiet").text.count("quiet") == 3
        with client.stream("GET", "/many") as response:
            lines = 0
            for chunk in response.iter_lines():
                lines += 1
                if lines % 500 == 0:
                    time.sleep(0.1)  # a slow reader: each send still completes well within the timeout
                assert chunk.startswith('{"name":"item')
        assert lines == 2000
    assert not any("stopped reading" in record.getMessage() for record in caplog.records)


# -- error policy ----------------------------------------------------------------------------------------------
def decode_all(stream_format: StreamFormat, body: bytes) -> list[Any]:
    decoder = stream_format.decoder()
    frames = decoder.feed(body) + decoder.close()
    if stream_format.name == "sse":
        return [(event.event, json.loads(event.raw_data)) for event in frames]
    return [(None, json.loads(frame)) for frame in frames]


@pytest.mark.parametrize("stream_format", FORMATS, ids=lambda f: f.name)
def test_record_policy_ends_cleanly_with_an_error_record(events: Events, stream_format: StreamFormat) -> None:
    with TestClient(make_app(events)) as client:
        response = client.get("/fails-record", headers={"accept": stream_format.media_type})
    assert response.status_code == 200
    frames = decode_all(stream_format, response.content)
    assert [frame[1] for frame in frames[:2]] == [Item(name=f"item {i}").model_dump() for i in range(2)]
    event, record = frames[2]
    problem = {
        "type": "about:blank",
        "title": "Internal Server Error",
        "status": 500,
        "detail": "The stream failed after 2 item(s).",
    }
    if stream_format.name == "sse":
        assert (event, record) == ("error", problem)
    else:
        assert (event, record) == (None, {"error": problem})
    assert "secret" not in response.text


def test_record_policy_carries_an_http_exception_raised_mid_stream(events: Events) -> None:
    with TestClient(make_app(events, stream_errors="record")) as client:
        lines = client.get("/fails?status=503").text.splitlines()
    assert json.loads(lines[-1])["error"]["status"] == 503
    assert json.loads(lines[-1])["error"]["detail"] == "upstream went away"


def test_truncate_policy_is_the_default(events: Events) -> None:
    with (
        TestClient(make_app(events)) as client,
        client.stream("GET", "/fails") as response,
        pytest.raises(httpx.RemoteProtocolError),
    ):
        response.read()


def test_error_policies_are_in_the_openapi_document(events: Events) -> None:
    from openapi_spec_validator import validate

    document = make_app(events).openapi()
    validate(document)
    record = document["paths"]["/fails-record"]["get"]["responses"]["200"]
    truncate = document["paths"]["/fails"]["get"]["responses"]["200"]
    item = {"$ref": "#/components/schemas/Item"}
    error = {"$ref": "#/components/schemas/StreamError"}
    assert record["content"]["application/jsonl"]["x-oai-itemSchema"] == {"anyOf": [item, error]}
    assert truncate["content"]["application/jsonl"]["x-oai-itemSchema"] == item
    assert "error record" in record["description"]
    assert "truncated" in truncate["description"]
    assert document["components"]["schemas"]["StreamError"]["required"] == ["error"]


def test_unknown_error_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="stream_errors"):
        LineStream(stream_errors="ignore")


# -- bad input -------------------------------------------------------------------------------------------------
def test_item_larger_than_the_limit_truncates_and_is_logged(events: Events, caplog: pytest.LogCaptureFixture) -> None:
    with serve(make_app(events, max_item_size=1000)) as url:
        with (
            httpx.Client() as client,
            client.stream("GET", url + "/huge?size=5000") as response,
            pytest.raises(httpx.RemoteProtocolError),
        ):
            response.read()
        assert httpx.get(url + "/huge-first?size=5000").status_code == 500
        assert httpx.get(url + "/huge?size=10").status_code == 200
    assert any("max_item_size=1000" in record.getMessage() for record in caplog.records)


def test_oversized_headers_are_refused_and_the_server_keeps_serving(events: Events) -> None:
    with serve(make_app(events)) as url:
        # uvicorn refuses a request head over its limit before the app sees it (a 4xx, or a closed connection
        # while the client is still sending), and goes on serving.
        try:
            response = httpx.get(url + "/fails?after=0", headers={"x-big": "a" * 200_000})
        except (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError):
            pass
        else:
            assert 400 <= response.status_code < 500
        assert httpx.get(url + "/huge").status_code == 200
    assert events.log == []


@pytest.mark.parametrize("query", ["after=abc", "after=1&status=abc", "after=1e400"])
def test_malformed_query_gets_a_problem_before_the_stream_starts(events: Events, query: str) -> None:
    with TestClient(make_app(events)) as client:
        response = client.get(f"/fails?{query}")
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


# -- middleware ------------------------------------------------------------------------------------------------
def test_first_item_of_an_endless_stream_passes_through_gzip(events: Events) -> None:
    app = make_app(events, middleware=[Middleware(GZipMiddleware, minimum_size=10)])
    with serve(app) as url, httpx.Client() as client:
        with client.stream("GET", url + "/waiting", headers={"accept-encoding": "gzip"}) as response:
            assert response.headers["content-encoding"] == "gzip"
            line = next(response.iter_lines())
        assert json.loads(line)["name"] == "first"
        wait_for(lambda: events.count("dependency closed") == 1)


def test_streams_pass_through_cors(events: Events) -> None:
    app = make_app(events, middleware=[Middleware(CORSMiddleware, allow_origins=["https://example.test"])])
    with (
        TestClient(app) as client,
        client.stream("GET", "/waiting", headers={"origin": "https://example.test"}) as response,
    ):
        assert response.headers["access-control-allow-origin"] == "https://example.test"
        assert json.loads(next(response.iter_lines()))["name"] == "first"


def test_disconnect_is_seen_behind_base_http_middleware(events: Events) -> None:
    class Stamp(BaseHTTPMiddleware):
        async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
            response = await call_next(request)
            response.headers["x-stamp"] = "1"
            return response

    with serve(make_app(events, middleware=[Middleware(Stamp)])) as url:
        sock = open_stream(url, "/waiting")
        sock.recv(1024)
        sock.close()
        wait_for(lambda: events.count("dependency closed") == 1, timeout=3)
    assert events.log == ["dependency entered", "generator closed", "dependency closed"]


# -- shutdown --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/slow", "/slow-sync"])
def test_sigterm_with_open_streams_closes_them_and_exits_0(tmp_path: Path, path: str) -> None:
    log = tmp_path / "events.log"
    # A long grace period: the streams must end because linestream ends them, not because uvicorn gave up on them.
    options = {"env": {"LINESTREAM_TEST_LOG": str(log)}, "args": ["--timeout-graceful-shutdown", "30"]}
    with serve_process("tests.apps.lifecycle_app:app", **options) as server:  # type: ignore[arg-type]
        sockets = [open_stream(server.url, path) for _ in range(3)]
        for sock in sockets:
            sock.recv(100)
        started = time.monotonic()
        # uvicorn (>= 0.29) re-raises the signal it handled once it has shut down, so that process managers
        # see why it stopped: a graceful exit by SIGTERM is status -SIGTERM here, 143 in a shell.
        assert server.terminate() in (0, -signal.SIGTERM)
        assert time.monotonic() - started < 15  # at once (under a second on an idle machine), not after 30 s
        for sock in sockets:
            sock.close()
    lines = log.read_text().splitlines()
    assert lines.count("generator closed") == 3
    assert lines.count("dependency closed") == 3


def _ready(url: str) -> bool:
    try:
        return httpx.get(url + "/ready", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


# -- load ------------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_load_2000_concurrent_streams_in_two_rounds(tmp_path: Path) -> None:
    log = tmp_path / "events.log"
    # Two rounds of 2000 streams held 5 s each: the second round must fit in the memory the first one left
    # (CPython keeps freed memory for reuse rather than returning it to the OS), so any per-stream leak would
    # show as growth.
    streams, hold = 2000, 5.0
    rounds = []
    options = {"env": {"LINESTREAM_TEST_LOG": str(log)}, "args": ["--backlog", "4096"]}
    with serve_process("tests.apps.lifecycle_app:app", **options) as server:  # type: ignore[arg-type]
        port = int(server.url.rsplit(":", 1)[1])
        wait_for(lambda: _ready(server.url), timeout=15)
        baseline = server.rss
        for _ in range(2):
            result = anyio.run(_hold_streams, port, streams, hold)
            result["peak_rss"] = server.rss
            wait_for(lambda: log.read_text().count("dependency closed") == streams * (len(rounds) + 1), timeout=10)
            result["after_rss"] = server.rss
            rounds.append(result)
        assert server.terminate() in (0, -signal.SIGTERM)
    lines = log.read_text().splitlines()
    first, second = rounds
    logging.getLogger("linestream.tests").warning(
        "load: %d streams x 2 rounds, %.1f KiB/stream, worst gap %.2f s, RSS MiB: %d, %d -> %d, %d -> %d",
        streams, (first["peak_rss"] - baseline) / streams / 1024, max(r["worst_gap"] for r in rounds),
        baseline >> 20, first["peak_rss"] >> 20, first["after_rss"] >> 20,
        second["peak_rss"] >> 20, second["after_rss"] >> 20,
    )  # fmt: skip
    for result in rounds:
        assert result["opened"] == streams
        assert min(result["items"]) >= 1, "a stream received nothing"  # gaps and rates are bench/'s to measure
    assert lines.count("generator started") == 2 * streams
    assert lines.count("generator closed") == 2 * streams
    assert lines.count("dependency closed") == 2 * streams
    growth = second["after_rss"] - first["after_rss"]
    assert growth < (first["peak_rss"] - baseline) * 0.1, f"RSS grew by {growth >> 20} MiB in the second round"


async def _hold_streams(port: int, count: int, hold: float) -> dict[str, Any]:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
    items: list[int] = []
    worst_gap = 0.0
    opened = 0
    all_open = anyio.Event()

    async def one() -> None:
        nonlocal worst_gap, opened
        async with await anyio.connect_tcp("127.0.0.1", port) as stream:
            await stream.send(b"GET /slow HTTP/1.1\r\nHost: load\r\n\r\n")
            received = b""
            while b"}\n" not in received:
                received += await stream.receive()
            opened += 1
            if opened == count:
                all_open.set()
            await all_open.wait()
            count_items = 0
            last = time.monotonic()
            end = last + hold
            while (remaining := end - time.monotonic()) > 0:
                with anyio.move_on_after(remaining):
                    data = await stream.receive()
                    count_items += data.count(b"\n")
                    now = time.monotonic()
                    worst_gap = max(worst_gap, now - last)
                    last = now
            items.append(count_items)

    with anyio.fail_after(hold + 60):
        async with anyio.create_task_group() as group:
            for _ in range(count):
                group.start_soon(one)
                await anyio.sleep(0.001)
    return {"opened": opened, "items": items, "worst_gap": worst_gap}
