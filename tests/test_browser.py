"""Headless Chromium consumes streams: EventSource (with its automatic reconnect and Last-Event-ID) and fetch()."""

from collections.abc import AsyncIterable
from typing import Annotated, Any

from playwright.sync_api import Browser
from starlette.responses import HTMLResponse

from linestream import Header, LineStream
from linestream.sse import EventSourceResponse, ServerSentEvent
from tests.conftest import serve
from tests.models import Item


def make_app(seen_ids: list[str | None]) -> LineStream:
    app = LineStream(sse_keepalive=None)

    @app.get("/page")
    async def page() -> HTMLResponse:
        return HTMLResponse("<!doctype html><title>streams</title>")

    @app.get("/ticks", response_class=EventSourceResponse)
    async def ticks(last_event_id: Annotated[str | None, Header()] = None) -> AsyncIterable[Item]:
        seen_ids.append(last_event_id)
        start = int(last_event_id) + 1 if last_event_id is not None else 0
        # Two events per connection, then the server ends the response: EventSource reconnects by itself.
        for index in range(start, min(start + 2, 5)):
            yield ServerSentEvent(data=Item(name=f"tick {index}"), id=str(index), retry=50)

    @app.get("/items")
    async def items() -> AsyncIterable[Item]:
        for index in range(100):
            yield Item(name=f"item {index} \u2028 line separator")

    return app


def test_event_source_reconnects_with_last_event_id(browser: Browser) -> None:
    seen_ids: list[str | None] = []
    with serve(make_app(seen_ids)) as url:
        page = browser.new_page()
        page.goto(url + "/page")
        received: list[dict[str, Any]] = page.evaluate(
            """() => new Promise((resolve, reject) => {
                const events = [];
                const source = new EventSource('/ticks');
                source.onmessage = (event) => {
                    events.push({id: event.lastEventId, data: JSON.parse(event.data)});
                    if (events.length === 5) { source.close(); resolve(events); }
                };
                setTimeout(() => reject(new Error('timeout: ' + JSON.stringify(events))), 10000);
            })"""
        )
        page.close()
    assert [event["id"] for event in received] == ["0", "1", "2", "3", "4"]
    assert [event["data"]["name"] for event in received] == [f"tick {index}" for index in range(5)]
    assert seen_ids[:3] == [None, "1", "3"]


def test_fetch_reads_json_lines_from_a_readable_stream(browser: Browser) -> None:
    with serve(make_app([])) as url:
        page = browser.new_page()
        page.goto(url + "/page")
        result: dict[str, Any] = page.evaluate(
            """async () => {
                const response = await fetch('/items');
                const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
                let buffer = '', items = [], reads = 0;
                for (;;) {
                    const {value, done} = await reader.read();
                    if (done) break;
                    reads += 1;
                    buffer += value;
                    const lines = buffer.split('\\n');
                    buffer = lines.pop();
                    for (const line of lines) if (line) items.push(JSON.parse(line));
                }
                return {type: response.headers.get('content-type'), items, rest: buffer};
            }"""
        )
        page.close()
    assert result["type"] == "application/jsonl"
    assert result["rest"] == ""
    assert [item["name"] for item in result["items"]] == [f"item {i} \u2028 line separator" for i in range(100)]
