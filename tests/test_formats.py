"""One generator served in every format, chosen by Accept; consumed by real clients over uvicorn."""

import json
import subprocess
import threading
from collections.abc import AsyncIterable, Iterable, Iterator
from typing import Annotated, Any

import anyio
import httpx
import httpx_sse
import jsonlines
import pytest
from pydantic import BaseModel

from linestream import Header, LineStream
from linestream.exceptions import StreamTruncated
from linestream.sse import EventSourceResponse, ServerSentEvent
from linestream.streams import FORMATS, StreamFormat, format_named
from linestream.testing import TestClient
from tests.conftest import read_into, serve


class Item(BaseModel):
    name: str
    price: float


ITEMS = [Item(name=f"item {index}", price=index * 1.5) for index in range(5)]
EXPECTED = [item.model_dump() for item in ITEMS]


def make_app() -> LineStream:
    app = LineStream(sse_keepalive=None)

    @app.get("/items")
    async def items(n: int = 5) -> AsyncIterable[Item]:
        for item in ITEMS[:n]:
            yield item

    @app.get("/items-sync")
    def items_sync() -> Iterable[Item]:
        yield from ITEMS

    @app.get("/broken")
    async def broken() -> AsyncIterable[Item]:
        yield ITEMS[0]
        yield ITEMS[1]
        raise RuntimeError("mid-stream failure")

    @app.get("/lines-only", stream_formats=["jsonl", "ndjson"])
    async def lines_only() -> AsyncIterable[Item]:
        yield ITEMS[0]

    @app.get("/events", response_class=EventSourceResponse)
    async def events(last_event_id: Annotated[str | None, Header()] = None) -> AsyncIterable[Item]:
        # Resume after the last event the client saw: ids are the items' positions.
        start = int(last_event_id) + 1 if last_event_id is not None else 0
        for index in range(start, len(ITEMS)):
            yield ServerSentEvent(data=ITEMS[index], id=str(index), event="item")

    @app.get("/mixed")
    async def mixed() -> AsyncIterable[Item]:
        yield ServerSentEvent(comment="starting")
        yield ServerSentEvent(data=ITEMS[0], id="0")
        yield ITEMS[1]

    return app


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with serve(make_app()) as url:
        yield url


def decode(stream_format: StreamFormat, body: bytes) -> list[Any]:
    decoder = stream_format.decoder()
    frames = decoder.feed(body) + decoder.close()
    if stream_format.name == "sse":
        return [json.loads(event.raw_data) for event in frames]
    return [json.loads(frame) for frame in frames]


@pytest.mark.parametrize(
    ("accept", "media_type"),
    [
        (None, "application/jsonl"),
        ("*/*", "application/jsonl"),
        ("application/*", "application/jsonl"),
        ("application/x-ndjson", "application/x-ndjson"),
        ("application/json-seq", "application/json-seq"),
        ("text/event-stream", "text/event-stream"),
        ("application/json", "application/json"),
        ("text/html, application/json;q=0.5, */*;q=0.1", "application/json"),
        ("application/jsonl;q=0.2, application/x-ndjson;q=0.9", "application/x-ndjson"),
        ("text/event-stream, application/json", "text/event-stream"),
        ("text/*, application/json;q=0", "text/event-stream"),
        ("application/json;q=0, */*", "application/jsonl"),
    ],
)
def test_accept_chooses_the_format(accept: str | None, media_type: str) -> None:
    headers = {"accept": accept} if accept is not None else {}
    with TestClient(make_app()) as client:
        response = client.get("/items", headers=headers)
    assert response.status_code == 200
    charset = "; charset=utf-8" if media_type == "text/event-stream" else ""
    assert response.headers["content-type"] == media_type + charset
    assert response.headers["vary"] == "Accept"
    assert decode(format_named(media_type), response.content) == EXPECTED


@pytest.mark.parametrize("accept", ["text/html", "image/png, text/plain", "application/json;q=0", "garbage"])
def test_unacceptable_accept_is_a_406_listing_the_formats(accept: str) -> None:
    with TestClient(make_app()) as client:
        response = client.get("/items", headers={"accept": accept})
    assert response.status_code == 406
    assert response.headers["content-type"] == "application/problem+json"
    detail = response.json()["detail"]
    for stream_format in FORMATS:
        assert stream_format.media_type in detail


def test_route_restricted_to_some_formats() -> None:
    with TestClient(make_app()) as client:
        assert client.get("/lines-only", headers={"accept": "application/json"}).status_code == 406
        response = client.get("/lines-only", headers={"accept": "application/x-ndjson, */*;q=0.1"})
        assert response.headers["content-type"] == "application/x-ndjson"


def test_app_restricted_to_some_formats() -> None:
    app = LineStream(stream_formats=["sse"])

    @app.get("/only-sse")
    async def only_sse() -> AsyncIterable[int]:
        yield 1

    with TestClient(app) as client:
        response = client.get("/only-sse")
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert "vary" not in response.headers
        assert response.text == "data: 1\n\n"
    media = app.openapi()["paths"]["/only-sse"]["get"]["responses"]["200"]["content"]
    assert list(media) == ["text/event-stream"]


def test_event_source_response_serves_sse_whatever_the_accept() -> None:
    with TestClient(make_app()) as client:
        response = client.get("/events", headers={"accept": "*/*"})
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.text.startswith('event: item\nid: 0\ndata: {"name":"item 0","price":0.0}\n\n')


def test_events_in_other_formats_carry_their_data() -> None:
    with TestClient(make_app()) as client:
        lines = client.get("/mixed").text
        sse = client.get("/mixed", headers={"accept": "text/event-stream"}).text
    assert lines == '{"name":"item 0","price":0.0}\n{"name":"item 1","price":1.5}\n'
    assert sse == ': starting\n\nid: 0\ndata: {"name":"item 0","price":0.0}\n\ndata: {"name":"item 1","price":1.5}\n\n'


@pytest.mark.parametrize("stream_format", FORMATS, ids=lambda f: f.name)
@pytest.mark.parametrize("path", ["/items", "/items-sync"])
def test_every_format_over_uvicorn(base_url: str, stream_format: StreamFormat, path: str) -> None:
    response = httpx.get(base_url + path, headers={"accept": stream_format.media_type})
    assert response.headers["content-type"].split(";")[0] == stream_format.media_type
    assert decode(stream_format, response.content) == EXPECTED


@pytest.mark.parametrize("stream_format", FORMATS, ids=lambda f: f.name)
def test_every_format_is_visibly_truncated_by_a_mid_stream_error(base_url: str, stream_format: StreamFormat) -> None:
    received = bytearray()
    with (
        httpx.Client() as client,
        client.stream("GET", base_url + "/broken", headers={"accept": stream_format.media_type}) as response,
        pytest.raises(httpx.RemoteProtocolError),
    ):
        read_into(received, response.iter_raw())
    decoder = stream_format.decoder()
    frames = decoder.feed(bytes(received))
    assert len(frames) == 2
    if stream_format.name == "json":
        # Even a client that ignores the cut connection cannot parse an unterminated array.
        with pytest.raises(StreamTruncated):
            decoder.close()
        with pytest.raises(json.JSONDecodeError):
            json.loads(received)


def test_httpx_sse_client_reads_the_events(base_url: str) -> None:
    with httpx.Client() as client, httpx_sse.connect_sse(client, "GET", base_url + "/events") as source:
        events = list(source.iter_sse())
    assert [event.id for event in events] == ["0", "1", "2", "3", "4"]
    assert {event.event for event in events} == {"item"}
    assert [Item.model_validate_json(event.data) for event in events] == ITEMS


def test_last_event_id_resumes_the_stream(base_url: str) -> None:
    with (
        httpx.Client() as client,
        httpx_sse.connect_sse(client, "GET", base_url + "/events", headers={"Last-Event-ID": "2"}) as source,
    ):
        assert [event.id for event in source.iter_sse()] == ["3", "4"]


@pytest.mark.parametrize("media_type", ["application/jsonl", "application/x-ndjson"])
def test_jsonlines_package_reads_the_stream(base_url: str, media_type: str) -> None:
    response = httpx.get(base_url + "/items", headers={"accept": media_type})
    with jsonlines.Reader(response.text.splitlines()) as reader:
        assert list(reader) == EXPECTED


@pytest.mark.parametrize("stream_format", FORMATS, ids=lambda f: f.name)
def test_curl_reads_every_format(base_url: str, stream_format: StreamFormat) -> None:
    result = subprocess.run(
        ["curl", "-sN", "-H", f"Accept: {stream_format.media_type}", base_url + "/items"],
        capture_output=True,
        timeout=10,
        check=True,
    )
    assert decode(stream_format, result.stdout) == EXPECTED


def make_slow_app(gate: threading.Event, **options: Any) -> LineStream:
    """``/slow`` is silent after its first item, ``/late`` before it, until the test opens ``gate``."""
    app = LineStream(**options)

    @app.get("/slow")
    async def slow() -> AsyncIterable[Item]:
        yield ITEMS[0]
        await anyio.to_thread.run_sync(gate.wait)
        yield ITEMS[1]

    @app.get("/late")
    async def late() -> AsyncIterable[Item]:
        await anyio.to_thread.run_sync(gate.wait)
        yield ITEMS[0]

    return app


def read_until(chunks: Iterator[bytes], wanted: bytes, count: int) -> bytes:
    """What ``chunks`` give until it holds ``wanted`` ``count`` times (the rest stays in the iterator)."""
    body = b""
    while body.count(wanted) < count:
        body += next(chunks)
    return body


def test_sse_keepalive_comments_fill_silences() -> None:
    gate = threading.Event()
    with (
        serve(make_slow_app(gate, sse_keepalive=0.1)) as url,
        httpx.Client(timeout=10) as client,
        client.stream("GET", url + "/slow", headers={"accept": "text/event-stream"}) as response,
    ):
        chunks = response.iter_raw()
        body = read_until(chunks, b": ping\n\n", 2)  # two keep-alives while the generator is silent
        gate.set()
        body += b"".join(chunks)
    assert body.startswith(b'data: {"name":"item 0","price":0.0}\n\n: ping\n\n')
    assert decode(format_named("sse"), body) == EXPECTED[:2]


def test_sse_keepalive_starts_a_response_whose_first_item_is_late() -> None:
    gate = threading.Event()
    with (
        serve(make_slow_app(gate, sse_keepalive=0.1)) as url,
        httpx.Client(timeout=10) as client,
        client.stream("GET", url + "/late", headers={"accept": "text/event-stream"}) as response,
    ):
        assert response.status_code == 200  # the head came while the generator still waits
        assert not gate.is_set()
        gate.set()
        body = response.read()
    assert body.startswith(b": ping\n\n")
    assert decode(format_named("sse"), body) == EXPECTED[:1]


def test_jsonl_keepalive_is_off_by_default_and_opt_in() -> None:
    gate = threading.Event()
    with serve(make_slow_app(gate, sse_keepalive=0.1)) as url, httpx.Client(timeout=10) as client:
        with client.stream("GET", url + "/slow") as response:
            chunks = response.iter_raw()
            body = read_until(chunks, b"\n", 1)
            # An SSE keep-alive interval sends nothing in JSON Lines: an SSE stream of this app gets a ping now.
            with client.stream("GET", url + "/slow", headers={"accept": "text/event-stream"}) as events:
                read_until(events.iter_raw(), b": ping\n\n", 1)
            gate.set()
            body += b"".join(chunks)
        assert body.count(b"\n") == 2
    gate.clear()
    with (
        serve(make_slow_app(gate, jsonl_keepalive=0.1)) as url,
        httpx.Client(timeout=10) as client,
        client.stream("GET", url + "/slow") as response,
    ):
        chunks = response.iter_raw()
        body = read_until(chunks, b"\n\n", 1)  # an empty line while the generator is silent
        gate.set()
        body += b"".join(chunks)
    assert decode(format_named("jsonl"), body) == EXPECTED[:2]


def test_keepalive_can_be_disabled_per_route() -> None:
    app = LineStream(sse_keepalive=0.1)

    @app.get("/quiet", sse_keepalive=None)
    async def quiet() -> AsyncIterable[int]:
        yield 1
        await anyio.sleep(0.4)
        yield 2

    with serve(app) as url:
        assert httpx.get(url + "/quiet", headers={"accept": "text/event-stream"}).text == "data: 1\n\ndata: 2\n\n"


def test_openapi_documents_every_format() -> None:
    from openapi_spec_validator import validate

    app = make_app()
    document = app.openapi()
    validate(document)
    content = document["paths"]["/items"]["get"]["responses"]["200"]["content"]
    assert list(content) == [f.media_type for f in FORMATS]
    item = {"$ref": "#/components/schemas/Item"}
    assert content["application/json"] == {"schema": {"type": "array", "items": item}}
    assert content["application/json-seq"]["x-oai-itemSchema"] == item
    sse = content["text/event-stream"]["x-oai-itemSchema"]
    assert sse["properties"]["data"]["contentSchema"] == item
    assert list(document["paths"]["/events"]["get"]["responses"]["200"]["content"]) == ["text/event-stream"]
    app32 = LineStream(openapi_version="3.2.0")
    app32.router = app.router
    document32 = app32.openapi()
    validate(document32)
    content32 = document32["paths"]["/items"]["get"]["responses"]["200"]["content"]
    assert content32["application/x-ndjson"] == {"itemSchema": item}
    assert content32["text/event-stream"]["itemSchema"]["required"] == ["data"]
