"""Streams of several kinds of item, and streams that say they are complete: over uvicorn, with httpx-sse, the
typed client and headless Chromium."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterable, Iterator
from typing import Any, Literal

import httpx
import pytest
from httpx_sse import connect_sse
from openapi_spec_validator import validate
from playwright.sync_api import sync_playwright
from pydantic import BaseModel
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from linestream import EndpointDefinitionError, Header, HTTPException, LineStream
from linestream.client import Client, StreamDecodeError, StreamError, StreamReader, StreamTruncated
from linestream.openapi import build_openapi
from linestream.responses import HTMLResponse
from linestream.sse import ServerSentEvent
from linestream.testing import TestClient, iter_json_lines
from tests.conftest import CHROMIUM, CHROMIUM_ARGS, serve


class Token(BaseModel):
    type: Literal["token"] = "token"
    text: str


class ToolCall(BaseModel):
    type: Literal["tool_call"] = "tool_call"
    name: str
    arguments: dict[str, Any] = {}


class Usage(BaseModel):
    type: Literal["usage"] = "usage"
    tokens: int


Chat = Token | ToolCall | Usage
ANSWER: list[Chat] = [
    Token(text="Hel"),
    Token(text="lo"),
    ToolCall(name="search", arguments={"q": "x"}),
    Usage(tokens=3),
]


class Created(BaseModel):
    op: Literal["create"] = "create"
    name: str


class Deleted(BaseModel):
    op: Literal["delete"] = "delete"
    id: int


class Untagged(BaseModel):
    text: str


class Span(BaseModel):
    """Items shaped like the server's records, whatever they hold."""

    model_config = {"extra": "forbid"}
    end: dict[str, int] | None = None
    error: dict[str, int] | None = None


SPANS = [Span(end={"line": 3}), Span(error={"line": 4}), Span(end={"count": 2})]


class Counter:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls = 0

    def add(self) -> None:
        with self.lock:
            self.calls += 1


def make_app(counter: Counter | None = None) -> LineStream:
    app = LineStream(sse_keepalive=None)

    @app.get("/chat")
    async def chat() -> AsyncIterable[ServerSentEvent[Token] | ToolCall | Usage]:
        for index, item in enumerate(ANSWER):
            yield ServerSentEvent(data=item, id=str(index)) if isinstance(item, Token) else item

    @app.get("/chat-enveloped", event_envelope=True)
    async def chat_enveloped() -> AsyncIterable[Chat]:
        for item in ANSWER:
            yield item

    @app.get("/untagged", stream_formats=["sse"])
    async def untagged() -> AsyncIterable[Untagged | Usage]:
        yield Untagged(text="a")
        yield Usage(tokens=1)

    @app.get("/complete", stream_end=True)
    async def complete(n: int = 3, last_event_id: str | None = Header(None)) -> AsyncIterable[Usage]:
        if counter is not None:
            counter.add()
        for index in range(n):
            yield Usage(tokens=index)

    @app.get("/spans", stream_end=True, stream_errors="record", response_model_exclude_none=True)
    async def spans(fail: bool = False) -> AsyncIterable[Span]:
        yield Span(end={"line": 3})
        yield Span(error={"line": 4})
        yield Span(end={"count": 2})
        if fail:
            raise HTTPException(409, "the job was cancelled")

    @app.post("/operations")
    async def operations(items: AsyncIterable[Created | Deleted]) -> dict[str, list[str]]:
        return {"kinds": [type(item).__name__ async for item in items]}

    return app


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with serve(make_app()) as url:
        yield url


def test_each_kind_goes_by_its_name_in_sse_and_by_its_tag_in_json(base_url: str) -> None:
    with httpx.Client() as http, connect_sse(http, "GET", base_url + "/chat") as source:
        events = [(event.event, event.id, json.loads(event.data)) for event in source.iter_sse()]
    assert [(name, identifier) for name, identifier, _ in events] == [
        ("token", "0"),
        ("token", "1"),
        ("tool_call", "1"),  # the id in force, as EventSource reports it
        ("usage", "1"),
    ]
    assert [data for *_, data in events] == [item.model_dump() for item in ANSWER]
    lines = httpx.get(base_url + "/chat", headers={"accept": "application/jsonl"}).text.splitlines()
    assert [json.loads(line) for line in lines] == [item.model_dump() for item in ANSWER]


@pytest.mark.parametrize("path", ["/chat", "/chat-enveloped"])
@pytest.mark.parametrize("stream_format", ["sse", "jsonl", "json-seq", "json"])
def test_the_typed_client_gives_each_item_as_its_own_model(base_url: str, path: str, stream_format: str) -> None:
    with Client(base_url) as client, client.stream("GET", path, item=Chat, format=stream_format) as items:
        received = list(items)
    assert received == ANSWER
    assert [type(item) for item in received] == [Token, Token, ToolCall, Usage]


def test_the_envelope_carries_the_kind_in_json(base_url: str) -> None:
    response = httpx.get(base_url + "/chat-enveloped", headers={"accept": "application/jsonl"})
    assert response.headers["stream-envelope"] == "event"
    first = json.loads(response.text.splitlines()[2])
    assert first == {"event": "tool_call", "data": ANSWER[2].model_dump()}


def test_events_carry_the_kind_name_and_unknown_kinds_are_skipped_or_refused(base_url: str) -> None:
    with Client(base_url) as client:
        events = list(client.events("/chat", item=Chat))
        assert [event.event for event in events] == ["token", "token", "tool_call", "usage"]
        assert [event.data for event in events] == ANSWER
    reader = StreamReader("text/event-stream", Token | Usage)
    body = b'event: token\ndata: {"text":"a"}\n\nevent: weather\ndata: {"sunny":true}\n\n'
    body += b'event: usage\ndata: {"tokens":1}\n\n'
    assert [event.event for event in reader.feed(body)] == ["token", "usage"]
    strict = StreamReader("text/event-stream", Token | Usage, unknown_events="raise")
    with pytest.raises(StreamDecodeError, match="'weather' that is none of token, usage"):
        strict.feed(body)


def test_kinds_without_a_tag_are_named_after_their_class(base_url: str) -> None:
    with Client(base_url) as client, client.stream("GET", "/untagged", item=Untagged | Usage) as items:
        assert list(items) == [Untagged(text="a"), Usage(tokens=1)]
    body = httpx.get(base_url + "/untagged").text
    assert body.startswith('event: untagged\ndata: {"text":"a"}\n\nevent: usage\n')


class Error(BaseModel):
    type: Literal["error"] = "error"


class Twin(BaseModel):
    type: Literal["usage"] = "usage"


def test_mis_declared_kinds_fail_when_the_route_is_declared() -> None:
    app = LineStream()

    async def untagged() -> AsyncIterable[Untagged | Usage]:
        yield Usage(tokens=1)

    async def reserved() -> AsyncIterable[Error | Usage]:
        yield Usage(tokens=1)

    async def twins() -> AsyncIterable[Twin | Usage]:
        yield Usage(tokens=1)

    for endpoint, message in [
        (untagged, r"cannot tell apart: give each kind a tag field .* or set event_envelope=True"),
        (reserved, "the event name 'error', which the server uses for its own events"),
        (twins, r"cannot tell apart: .*\(type: the same value in several kinds, so it tells nothing apart\)"),
    ]:
        with pytest.raises(EndpointDefinitionError, match=message):
            app.get("/x")(endpoint)


class OrderPlaced(BaseModel):
    """A CloudEvents-style kind: every kind has specversion "1.0"; its type tells it apart."""

    specversion: Literal["1.0"] = "1.0"
    type: Literal["order.placed"] = "order.placed"
    order: int


class OrderShipped(BaseModel):
    specversion: Literal["1.0"] = "1.0"
    type: Literal["order.shipped"] = "order.shipped"
    order: int
    carrier: str


def test_kinds_that_share_a_constant_field_are_told_apart_by_the_field_that_differs() -> None:
    app = LineStream(sse_keepalive=None)

    @app.get("/orders")
    async def orders() -> AsyncIterable[OrderPlaced | OrderShipped]:
        yield OrderPlaced(order=1)
        yield OrderShipped(order=1, carrier="owl")

    expected = [OrderPlaced(order=1), OrderShipped(order=1, carrier="owl")]
    with TestClient(app) as http, Client(http=http) as client:
        sse = http.get("/orders", headers={"accept": "text/event-stream"}).text
        assert sse.startswith('event: order.placed\ndata: {"specversion":"1.0","type":"order.placed"')
        for stream_format in ("jsonl", "sse", "json"):
            events = list(client.events("/orders", item=OrderPlaced | OrderShipped, format=stream_format))
            assert [event.data for event in events] == expected
            assert [event.event for event in events] == ["order.placed", "order.shipped"]
    schema = app.openapi()["paths"]["/orders"]["get"]["responses"]["200"]["content"]["application/jsonl"]
    assert schema["x-oai-itemSchema"]["discriminator"]["propertyName"] == "type"


def test_a_streamed_request_body_of_several_kinds_is_validated_line_by_line(base_url: str) -> None:
    body = b'{"op":"create","name":"a"}\n{"op":"delete","id":3}\n'
    response = httpx.post(base_url + "/operations", content=body, headers={"content-type": "application/jsonl"})
    assert response.json() == {"kinds": ["Created", "Deleted"]}
    bad = httpx.post(
        base_url + "/operations",
        content=body + b'{"op":"delete","id":"three"}\n',
        headers={"content-type": "application/jsonl"},
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["loc"][:3] == ["body", 3, "delete"]


# -- the end of a stream -------------------------------------------------------------------------------------------
class EndsEarly:
    """Like a proxy that closes a response cleanly in the middle: the body ends (more_body=False) after
    ``items`` lines, whatever the app still sends."""

    def __init__(self, app: ASGIApp, items: int) -> None:
        self.app = app
        self.items = items

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        seen = 0
        done = False

        async def cut(message: Message) -> None:
            nonlocal seen, done
            if done:
                return
            if message["type"] == "http.response.body":
                body = message.get("body", b"")
                lines = body.split(b"\n\n" if b"data:" in body else b"\n")
                if seen + len(lines) - 1 >= self.items:
                    keep = self.items - seen
                    separator = b"\n\n" if b"data:" in body else b"\n"
                    message = {**message, "body": separator.join(lines[:keep]) + separator, "more_body": False}
                    done = True
                seen += len(lines) - 1
            await send(message)

        await self.app(scope, receive, cut)


@pytest.mark.parametrize("stream_format", ["jsonl", "ndjson", "json-seq", "sse"])
def test_a_stream_closed_cleanly_before_its_end_record_is_truncated_for_the_client(stream_format: str) -> None:
    with serve(EndsEarly(make_app(), 2)) as url, Client(url) as client:
        with pytest.raises(StreamTruncated, match="without its end record") as caught:
            list(client.get_stream("/complete?n=5", item=Usage, format=stream_format))
        assert caught.value.items_received == 2
    with serve(make_app()) as url, Client(url) as client:
        assert list(client.get_stream("/complete?n=5", item=Usage, format=stream_format)) == [
            Usage(tokens=index) for index in range(5)
        ]


@pytest.mark.parametrize("stream_format", ["jsonl", "ndjson", "json-seq", "sse", "json"])
def test_items_shaped_like_records_are_items_in_every_format(base_url: str, stream_format: str) -> None:
    with Client(base_url) as client:
        assert list(client.get_stream("/spans", item=Span, format=stream_format)) == SPANS
        with pytest.raises(StreamError) as caught:
            list(client.get_stream("/spans?fail=true", item=Span, format=stream_format))
    assert caught.value.problem["status"] == 409
    assert caught.value.items_received == 3


def test_the_test_client_reads_items_shaped_like_records_as_items() -> None:
    with TestClient(make_app()) as client:
        assert client.get("/spans").text.splitlines()[:2] == ['{"end":{"line":3}}', '{"error":{"line":4}}']
        with client.stream("GET", "/spans") as response:
            assert list(iter_json_lines(response, Span)) == SPANS


def test_the_end_record_is_in_every_format_and_declared_in_openapi(base_url: str) -> None:
    jsonl = httpx.get(base_url + "/complete?n=2", headers={"accept": "application/jsonl"})
    assert jsonl.headers["stream-records"] == "end"
    assert jsonl.text.splitlines()[-1] == ' {"end":{"count":2}}'  # a record's JSON begins with a space
    sse = httpx.get(base_url + "/complete?n=2", headers={"accept": "text/event-stream"}).text
    assert sse.endswith('event: end\nid: linestream-end\ndata: {"count":2}\n\n')
    assert httpx.get(base_url + "/complete?n=2", headers={"accept": "application/json"}).json() == [
        {"type": "usage", "tokens": 0},
        {"type": "usage", "tokens": 1},
    ]
    empty = httpx.get(base_url + "/complete?n=0", headers={"accept": "application/jsonl"}).text
    assert empty == ' {"end":{"count":0}}\n'
    document = httpx.get(base_url + "/openapi.json").json()
    validate(document)
    response = document["paths"]["/complete"]["get"]["responses"]["200"]
    assert response["headers"]["Stream-Records"]["schema"]["example"] == "end"
    jsonl_item = response["content"]["application/jsonl"]["x-oai-itemSchema"]
    assert {"$ref": "#/components/schemas/StreamEnd"} in jsonl_item["anyOf"]


def test_openapi_3_2_describes_each_kind_as_the_sse_registry_does() -> None:
    app = make_app()
    validate(app.openapi())
    document = build_openapi(app, version="3.2.0")
    content = document["paths"]["/chat"]["get"]["responses"]["200"]["content"]
    events = content["text/event-stream"]["itemSchema"]["oneOf"]
    assert [event["properties"]["event"] for event in events] == [
        {"const": "token"},
        {"const": "tool_call"},
        {"const": "usage"},
    ]
    for event, model in zip(events, ["Token", "ToolCall", "Usage"], strict=True):
        assert event["properties"]["data"] == {
            "type": "string",
            "contentMediaType": "application/json",
            "contentSchema": {"$ref": f"#/components/schemas/{model}"},
        }
        assert event["required"] == ["event", "data"]
    jsonl = content["application/jsonl"]["itemSchema"]
    assert jsonl["discriminator"]["propertyName"] == "type"
    assert jsonl["discriminator"]["mapping"]["tool_call"] == "#/components/schemas/ToolCall"


def test_an_event_source_that_saw_the_end_is_answered_204_and_stops() -> None:
    runs = Counter()
    app = make_app(runs)
    requests: list[tuple[str | None, int]] = []  # (Last-Event-ID, status) of each request to /complete

    async def counted(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/complete":
            last_event_id = dict(scope["headers"]).get(b"last-event-id")

            async def record(message: Message) -> None:
                if message["type"] == "http.response.start":
                    requests.append((last_event_id.decode() if last_event_id else None, message["status"]))
                await send(message)

            await app(scope, receive, record)
            return
        await app(scope, receive, send)

    @app.get("/page", include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse("<!doctype html><title>events</title>")

    with serve(counted) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            tab = browser.new_page()
            tab.goto(url + "/page")
            tab.evaluate(
                """() => {
                    window.got = []; window.ended = 0;
                    const source = new EventSource('/complete?n=3');
                    window.source = source;
                    source.addEventListener('message', (e) => window.got.push(JSON.parse(e.data).tokens));
                    source.addEventListener('end', () => { window.ended += 1; });
                }"""
            )
            # The end event, then EventSource reconnects on its own (with the end's id), is answered 204 and stops.
            tab.wait_for_function("() => window.ended === 1 && window.source.readyState === EventSource.CLOSED")
            assert tab.evaluate("window.got") == [0, 1, 2]
        finally:
            browser.close()
    # CLOSED is final for an EventSource (it never reconnects from it): these two requests are all there is.
    assert requests == [(None, 200), ("linestream-end", 204)]
    assert runs.calls == 1  # the reconnect never reached the endpoint
