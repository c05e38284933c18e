"""The streaming test clients (sync and async twins) really stream, and report truncation and disconnects."""

import threading
from collections.abc import AsyncIterable, Iterable

import anyio
import httpx
import pytest
from pydantic import BaseModel

from linestream import LineStream
from linestream.exceptions import StreamAborted, StreamDecodeError
from linestream.testing import AsyncTestClient, TestClient, aiter_json_lines, iter_json_lines


class Tick(BaseModel):
    n: int


def make_app(closed: threading.Event) -> LineStream:
    app = LineStream()

    @app.get("/ticks")
    async def ticks() -> AsyncIterable[Tick]:
        n = 0
        try:
            while True:
                yield Tick(n=n)
                n += 1
                await anyio.sleep(0.01)
        finally:
            closed.set()

    @app.get("/sync-ticks")
    def sync_ticks() -> Iterable[Tick]:
        try:
            for n in range(1_000_000):
                yield Tick(n=n)
        finally:
            closed.set()

    @app.get("/broken")
    async def broken() -> AsyncIterable[Tick]:
        yield Tick(n=0)
        raise RuntimeError("mid-stream failure")

    @app.get("/garbage")
    async def garbage() -> AsyncIterable[str]:
        yield "not a tick"

    return app


@pytest.mark.parametrize("path", ["/ticks", "/sync-ticks"])
def test_sync_client_reads_the_first_items_of_an_endless_stream(path: str) -> None:
    closed = threading.Event()
    with TestClient(make_app(closed)) as client:
        with client.stream("GET", path) as response:
            items = iter_json_lines(response, Tick)
            assert [next(items).n for _ in range(3)] == [0, 1, 2]
            assert not closed.is_set()
        assert closed.wait(5), "closing the response must close the generator"


@pytest.mark.anyio
async def test_async_client_reads_the_first_items_of_an_endless_stream() -> None:
    closed = threading.Event()
    async with AsyncTestClient(make_app(closed)) as client:
        async with client.stream("GET", "/ticks") as response:
            received = []
            async for tick in aiter_json_lines(response, Tick):
                received.append(tick.n)
                if len(received) == 3:
                    break
        assert received == [0, 1, 2]
        assert closed.is_set()


def test_truncated_stream_raises_a_protocol_error_with_the_cause() -> None:
    with TestClient(make_app(threading.Event())) as client, client.stream("GET", "/broken") as response:
        items = iter_json_lines(response)
        assert next(items) == {"n": 0}
        with pytest.raises(httpx.RemoteProtocolError) as caught:
            next(items)
    assert isinstance(caught.value.__cause__, StreamAborted)
    assert isinstance(caught.value.__cause__.__cause__, RuntimeError)


def test_items_failing_validation_are_reported_with_their_line() -> None:
    with (
        TestClient(make_app(threading.Event())) as client,
        client.stream("GET", "/garbage") as response,
        pytest.raises(StreamDecodeError, match="Item 1 is not valid") as caught,
    ):
        list(iter_json_lines(response, Tick))
    assert caught.value.frame_index == 0  # the first line


def test_untyped_iteration_yields_plain_json() -> None:
    with TestClient(make_app(threading.Event())) as client, client.stream("GET", "/garbage") as response:
        assert list(iter_json_lines(response)) == ["not a tick"]


def test_server_exceptions_are_raised_or_answered_as_500() -> None:
    app = LineStream()

    @app.get("/fail")
    async def fail() -> dict[str, str]:
        raise KeyError("missing")

    with TestClient(app) as client, pytest.raises(KeyError):
        client.get("/fail")
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/fail").status_code == 500


def test_client_without_context_manager_starts_on_first_request() -> None:
    app = LineStream()

    @app.get("/hello")
    async def hello() -> str:
        return "hi"

    client = TestClient(app)
    try:
        assert client.get("/hello").json() == "hi"
    finally:
        client.close()


@pytest.mark.anyio
async def test_async_client_requires_its_context_manager() -> None:
    client = AsyncTestClient(LineStream())
    with pytest.raises(RuntimeError, match="async context manager"):
        await client.get("/")
    await client.aclose()
