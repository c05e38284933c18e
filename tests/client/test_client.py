"""The typed clients (sync and async twins) against real servers: every format, truncation, errors, SSE."""

import threading
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterator
from typing import Annotated, Any

import anyio
import httpx
import pytest
from pydantic import BaseModel, Field
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from linestream import Header, HTTPException, LineStream
from linestream.client import (
    AsyncClient,
    Client,
    Event,
    HTTPStatusError,
    RetryPolicy,
    StreamDecodeError,
    StreamError,
    StreamTruncated,
)
from linestream.sse import ServerSentEvent
from linestream.streams import FORMATS, StreamFormat
from linestream.testing import AsyncTestClient, TestClient
from tests.conftest import free_port, serve
from tests.models import PricedItem as Item

ITEMS = [Item(name=f"item {index}", price=index / 2) for index in range(5)]


def make_app() -> LineStream:
    app = LineStream(sse_keepalive=None)

    @app.get("/items")
    async def items() -> AsyncIterable[Item]:
        for item in ITEMS:
            yield item

    @app.get("/broken")
    async def broken() -> AsyncIterable[Item]:
        yield ITEMS[0]
        yield ITEMS[1]
        raise RuntimeError("mid-stream failure")

    @app.get("/broken-record", stream_errors="record")
    async def broken_record() -> AsyncIterable[Item]:
        yield ITEMS[0]
        raise HTTPException(status_code=503, detail="the upstream went away")

    @app.get("/lint")
    async def lint() -> AsyncIterable[dict[str, Any]]:
        # Items that look like error records, on a route that never sends records: items all the same.
        yield {"error": {"line": 3, "message": "unused import"}}
        yield {"error": {"line": 9, "message": "line too long"}}

    @app.get("/missing")
    async def missing() -> AsyncIterable[Item]:
        raise HTTPException(status_code=404, detail="no such stream")
        yield ITEMS[0]  # pragma: no cover

    @app.get("/ticks")
    async def ticks(last_event_id: Annotated[str | None, Header()] = None) -> AsyncIterable[Item]:
        start = int(last_event_id) + 1 if last_event_id is not None else 0
        for index in range(start, 5):
            yield ServerSentEvent(data=ITEMS[index], id=str(index), event="tick")

    return app


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with serve(make_app()) as url:
        yield url


Collect = Callable[..., Any]


def collect_sync(base_url: str, path: str, **options: Any) -> list[Any]:
    with Client(base_url, retry=options.pop("retry", RetryPolicy())) as client:
        return list(client.get_stream(path, **options))


def collect_async(base_url: str, path: str, **options: Any) -> list[Any]:
    async def run() -> list[Any]:
        async with AsyncClient(base_url, retry=options.pop("retry", RetryPolicy())) as client:
            return [value async for value in client.get_stream(path, **options)]

    return anyio.run(run)


@pytest.fixture(params=[collect_sync, collect_async], ids=["sync", "async"])
def collect(request: pytest.FixtureRequest) -> Collect:
    return request.param  # type: ignore[no-any-return]


@pytest.mark.parametrize("stream_format", FORMATS, ids=lambda f: f.name)
def test_every_format_gives_validated_items(base_url: str, collect: Collect, stream_format: StreamFormat) -> None:
    assert collect(base_url, "/items", item=Item, format=stream_format.name) == ITEMS


def test_without_item_type_values_are_plain_json(base_url: str, collect: Collect) -> None:
    assert collect(base_url, "/items") == [item.model_dump() for item in ITEMS]


@pytest.mark.parametrize("stream_format", FORMATS, ids=lambda f: f.name)
def test_a_cut_stream_raises_truncated_with_the_count(
    base_url: str, collect: Collect, stream_format: StreamFormat
) -> None:
    with pytest.raises(StreamTruncated) as caught:
        collect(base_url, "/broken", item=Item, format=stream_format.name)
    assert caught.value.items_received == 2


@pytest.mark.parametrize("stream_format", FORMATS, ids=lambda f: f.name)
def test_an_error_record_raises_stream_error(base_url: str, collect: Collect, stream_format: StreamFormat) -> None:
    with pytest.raises(StreamError) as caught:
        collect(base_url, "/broken-record", item=Item, format=stream_format.name)
    assert caught.value.items_received == 1
    assert caught.value.problem["status"] == 503
    assert caught.value.problem["detail"] == "the upstream went away"


@pytest.mark.parametrize("stream_format", FORMATS, ids=lambda f: f.name)
def test_items_shaped_like_error_records_are_items_where_no_records_are_announced(
    base_url: str, collect: Collect, stream_format: StreamFormat
) -> None:
    values = collect(base_url, "/lint", format=stream_format.name)
    assert [value["error"]["line"] for value in values] == [3, 9]


def test_an_error_status_raises_with_the_problem(base_url: str, collect: Collect) -> None:
    with pytest.raises(HTTPStatusError) as caught:
        collect(base_url, "/missing", item=Item)
    assert caught.value.response.status_code == 404
    assert caught.value.problem is not None
    assert caught.value.problem["detail"] == "no such stream"
    assert isinstance(caught.value, httpx.HTTPStatusError)


def test_an_invalid_item_names_its_position(base_url: str) -> None:
    class Strict(BaseModel):
        name: int

    with Client(base_url) as client, pytest.raises(Exception, match="Item 1 is not valid"):
        list(client.get_stream("/items", item=Strict))


def test_stream_context_manager_and_an_existing_httpx_client(base_url: str) -> None:
    with httpx.Client(base_url=base_url) as http:
        client = Client(http=http)
        with client.stream("GET", "/items", item=Item) as items:
            assert next(items) == ITEMS[0]
        client.close()
        assert not http.is_closed  # it belongs to the caller


def test_sse_events_carry_their_fields(base_url: str) -> None:
    with Client(base_url) as client:
        events = list(client.events("/ticks", item=Item))
    assert [event.id for event in events] == ["0", "1", "2", "3", "4"]
    assert {event.event for event in events} == {"tick"}
    assert [event.data for event in events] == ITEMS
    assert isinstance(events[0], Event)


def restartable_app(stop_after: threading.Event, seen_ids: list[str | None]) -> LineStream:
    app = LineStream(sse_keepalive=None)

    @app.get("/live")
    async def live(last_event_id: Annotated[str | None, Header()] = None) -> AsyncIterable[Item]:
        seen_ids.append(last_event_id)
        start = int(last_event_id) + 1 if last_event_id is not None else 0
        for index in range(start, 5):
            yield ServerSentEvent(data=ITEMS[index], id=str(index))
            if index == 2 and not stop_after.is_set():
                stop_after.set()
                await anyio.sleep(3600)  # the first server is stopped while the stream waits here

    return app


@pytest.mark.parametrize("twin", ["sync", "async"])
def test_sse_reconnects_with_last_event_id_across_a_server_restart(twin: str) -> None:
    port = free_port()
    stop_after = threading.Event()
    seen_ids: list[str | None] = []
    received: list[Event[Any]] = []
    policy = RetryPolicy(max_attempts=20, backoff=0.05, max_backoff=0.2)

    def consume() -> None:
        if twin == "sync":
            with Client(f"http://127.0.0.1:{port}", retry=policy) as client:
                received.extend(client.events("/live", item=Item))
        else:

            async def run() -> None:
                async with AsyncClient(f"http://127.0.0.1:{port}", retry=policy) as client:
                    async for event in client.events("/live", item=Item):
                        received.append(event)

            anyio.run(run)

    consumer = threading.Thread(target=consume)
    with serve(restartable_app(stop_after, seen_ids), port=port, timeout_graceful_shutdown=0.1):
        consumer.start()
        assert stop_after.wait(10)
    with serve(restartable_app(stop_after, seen_ids), port=port):
        consumer.join(15)
    assert not consumer.is_alive()
    assert [event.id for event in received] == ["0", "1", "2", "3", "4"]
    assert [event.data for event in received] == ITEMS
    assert seen_ids[0] is None
    assert seen_ids[-1] == "2"


def test_without_retries_a_cut_sse_stream_raises() -> None:
    port = free_port()
    stop_after = threading.Event()
    with serve(restartable_app(stop_after, []), port=port, timeout_graceful_shutdown=0.1):
        errors: list[BaseException] = []

        def consume() -> None:
            try:
                with Client(f"http://127.0.0.1:{port}", retry=RetryPolicy(max_attempts=0)) as client:
                    list(client.events("/live", item=Item))
            except BaseException as exc:
                errors.append(exc)

        consumer = threading.Thread(target=consume)
        consumer.start()
        assert stop_after.wait(10)
    consumer.join(10)
    assert len(errors) == 1
    assert isinstance(errors[0], StreamTruncated)
    assert errors[0].items_received == 3


def plain_starlette_app() -> Starlette:
    async def lines(request: Request) -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            for item in ITEMS:
                yield item.model_dump_json().encode() + b"\r\n"

        return StreamingResponse(body(), media_type="application/x-ndjson")

    async def events(request: Request) -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            yield b": hello\n\n"
            for index, item in enumerate(ITEMS):
                yield f"id: {index}\nevent: item\ndata: {item.model_dump_json()}\n\n".encode()

        return StreamingResponse(body(), media_type="text/event-stream; charset=utf-8")

    return Starlette(routes=[Route("/lines", lines), Route("/events", events)])


def test_clients_read_a_plain_starlette_server(collect: Collect) -> None:
    with serve(plain_starlette_app()) as url:
        assert collect(url, "/lines", item=Item) == ITEMS
        assert collect(url, "/events", item=Item) == ITEMS


class CheapItem(BaseModel):
    """Stricter than the server's items: a price of at most 1.5."""

    name: str
    price: float = Field(le=1.5)


@pytest.mark.parametrize("stream_format", [f.name for f in FORMATS])
def test_a_refused_item_comes_after_every_item_before_it_even_in_the_same_chunk(stream_format: str) -> None:
    # The five items are ready at once: they reach the client in one chunk, the fifth (price 2.0) refused.
    received: list[CheapItem] = []
    with TestClient(make_app()) as http, Client(http=http) as client, pytest.raises(StreamDecodeError) as caught:
        received.extend(client.get_stream("/items", item=CheapItem, format=stream_format))
    assert [item.name for item in received] == [f"item {index}" for index in range(4)]
    assert caught.value.items_received == 4
    assert "Item 5 is not valid" in str(caught.value)


@pytest.mark.anyio
@pytest.mark.parametrize("stream_format", ["jsonl", "sse"])
async def test_the_async_client_delivers_the_items_before_a_refused_one_too(stream_format: str) -> None:
    received: list[CheapItem] = []

    async def read(client: AsyncClient) -> None:
        async for item in client.get_stream("/items", item=CheapItem, format=stream_format):
            received.append(item)

    async with AsyncTestClient(make_app()) as http, AsyncClient(http=http) as client:
        with pytest.raises(StreamDecodeError) as caught:
            await read(client)
    assert len(received) == 4
    assert caught.value.items_received == 4


def test_events_takes_the_url_first_and_the_old_order_warns() -> None:
    with TestClient(make_app()) as http, Client(http=http) as client:
        events = list(client.events("/ticks", item=Item))
        assert [(event.id, event.event) for event in events] == [(str(n), "tick") for n in range(5)]
        with client.events("/items", item=Item, format="jsonl") as items:
            assert [event.data for event in items] == ITEMS
        with pytest.warns(DeprecationWarning, match=r"events\(method, url\) is deprecated"):
            old = list(client.events("GET", "/ticks", item=Item))  # type: ignore[call-overload]
        assert old == events
