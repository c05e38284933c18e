"""The live stream explorer in headless Chromium: every format, pause/resume, errors, reconnects, load.

Screenshots of the main states are written to build/screenshots/ (docs/images/explorer.png is one of them).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from starlette.types import Receive, Scope, Send

from examples.items import items as tutorial_items
from linestream import LineStream
from linestream.streams import format_for_media_type
from linestream.testing import TestClient
from tests.apps import explorer_app
from tests.conftest import observe, serve, settled

SCREENSHOTS = Path(__file__).parent.parent / "build" / "screenshots"
NAMES = [item.name for item in tutorial_items]
CSP = "Content Security Policy"  # what Chromium's console says of anything a page's policy blocked


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with serve(explorer_app.app) as url:
        yield url


@pytest.fixture
def page(browser: Browser, base_url: str) -> Iterator[Page]:
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    errors: list[str] = []
    outside: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console", lambda message: errors.append(message.text) if "Content Security Policy" in message.text else None
    )
    page.on("request", lambda request: None if request.url.startswith(base_url) else outside.append(request.url))
    response = page.goto(base_url + "/explorer")
    assert response is not None
    assert "default-src 'none'" in response.headers["content-security-policy"]
    expect(page.locator("#explorer")).to_have_attribute("data-ready", "true")
    yield page
    page.close()
    assert errors == [], "the page failed, or broke its Content-Security-Policy"
    assert outside == [], "the explorer must not load anything from elsewhere (no CDN)"


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"explorer-{name}.png"))


def open_route(page: Page, method: str, path: str) -> None:
    page.get_by_role("button", name=f"{method} {path}").first.click()
    expect(page.locator("#route-title")).to_have_text(f"{method} {path}")


def start(page: Page, format_label: str | None = None) -> None:
    if format_label is not None:
        page.get_by_label("Format").select_option(label=format_label)
    page.get_by_role("button", name="Start").click()


def rows(page: Page) -> list[str]:
    texts: list[str] = page.locator("#rows tr td.raw-cell").all_inner_texts()
    return texts


def test_lists_the_streaming_routes_grouped_by_tag(page: Page) -> None:
    groups = page.locator("nav#routes section.tag")
    headings = groups.locator("h2").all_inner_texts()
    assert [heading.lower() for heading in headings] == ["default", "orders", "explorer tests"]
    paths = page.locator("nav#routes .path").all_inner_texts()
    assert paths[:4] == [
        "/items/stream",
        "/items/stream-no-async",
        "/items/stream-no-annotation",
        "/items/stream-no-async-no-annotation",
    ]
    # Raw byte streams (text, PNG) and plain JSON routes are not item streams.
    assert "/story" not in paths
    assert "/orders" not in paths
    open_route(page, "GET", "/items/stream")
    page.get_by_text("Item schema").click()
    schema = json.loads(page.locator("#item-schema").inner_text())
    assert set(schema["properties"]) == {"name", "description"}
    screenshot(page, "routes")


FORMATS = [
    "JSON Lines (application/jsonl)",
    "NDJSON (application/x-ndjson)",
    "JSON text sequences (application/json-seq)",
    "Server-Sent Events, fetch (text/event-stream)",
    "JSON array (application/json)",
]


@pytest.mark.parametrize("path", ["/items/stream", "/items/stream-no-async-no-annotation"])
@pytest.mark.parametrize("format_label", FORMATS)
def test_each_format_shows_what_the_server_sent(page: Page, base_url: str, path: str, format_label: str) -> None:
    sent = httpx.get(base_url + path, headers={"accept": "application/jsonl"}).text.splitlines()
    open_route(page, "GET", path)
    start(page, format_label)
    expect(page.locator("#explorer")).to_have_attribute("data-state", "ended")
    expect(page.locator("#rows tr")).to_have_count(len(sent))
    assert [json.loads(row) for row in rows(page)] == [json.loads(line) for line in sent]
    assert page.locator("#stat-count").inner_text() == str(len(sent))
    assert page.locator("#rows td.cell").first.inner_text() == NAMES[0]
    expect(page.locator("#banner")).to_contain_text(f"Stream complete: {len(sent)} item(s).")
    expect(page.locator("#log")).to_contain_text("stream ended")


def test_event_source_format_reads_a_live_topic(page: Page, base_url: str) -> None:
    open_route(page, "GET", "/orders/live")
    start(page, "Server-Sent Events, EventSource: reconnects (text/event-stream)")
    expect(page.locator("#explorer")).to_have_attribute("data-state", "streaming")
    for item in ("tea", "cake"):
        placed = httpx.post(base_url + "/orders", json={"item": item, "quantity": 2})
        assert placed.status_code == 201
    expect(page.locator("#rows tr")).to_have_count(2)
    assert [json.loads(row) for row in rows(page)] == [
        {"item": "tea", "quantity": 2},
        {"item": "cake", "quantity": 2},
    ]
    ids = page.locator("#rows td.index").evaluate_all("cells => cells.map(cell => cell.title)")
    assert all(title.startswith("id ") for title in ids)
    screenshot(page, "live-topic")
    page.get_by_role("button", name="Stop").click()
    expect(page.locator("#explorer")).to_have_attribute("data-state", "ended")


def test_parameters_are_validated_before_the_request_and_http_errors_are_shown(page: Page) -> None:
    open_route(page, "GET", "/test/things/{thing_id}")
    start(page)
    # thing_id is required and limit is at most 10: the browser's constraint validation says so, next to each field.
    assert page.locator("#param-path-thing_id-error").inner_text() != ""
    expect(page.locator("#explorer")).to_have_attribute("data-state", "idle")
    page.get_by_label("thing_id * (path)").fill("7")
    page.get_by_label("limit (query)").fill("11")
    start(page)
    assert page.locator("#param-path-thing_id-error").inner_text() == ""
    assert "10" in page.locator("#param-query-limit-error").inner_text()
    expect(page.locator("#explorer")).to_have_attribute("data-state", "idle")
    page.get_by_label("limit (query)").fill("2")
    start(page)
    expect(page.locator("#explorer")).to_have_attribute("data-state", "failed")
    expect(page.locator("#banner")).to_contain_text("HTTP 404 Not Found")
    expect(page.locator("#banner")).to_contain_text("There is no thing 7.")
    screenshot(page, "http-error")
    page.get_by_label("thing_id * (path)").fill("2")
    start(page)
    expect(page.locator("#rows tr")).to_have_count(2)
    assert [json.loads(row)["n"] for row in rows(page)] == [201, 202]


def test_server_side_validation_errors_are_listed(page: Page, base_url: str) -> None:
    open_route(page, "GET", "/test/ticks")
    # The browser cannot check everything the server does (here: a number it cannot parse is sent as typed).
    page.evaluate("document.getElementById('param-query-rate').type = 'text'")
    page.get_by_label("rate (query)").fill("lots")
    start(page)
    expect(page.locator("#banner")).to_contain_text("HTTP 422")
    expect(page.locator("#banner")).to_contain_text("query.rate")


def test_pause_stops_reading_and_resume_continues(page: Page) -> None:
    open_route(page, "GET", "/test/slow")
    start(page)
    expect(page.locator("#rows tr")).not_to_have_count(0)
    page.get_by_role("button", name="Pause").click()
    expect(page.locator("#explorer")).to_have_attribute("data-state", "paused")

    def count() -> int:
        return int(page.locator("#stat-count").inner_text().replace(",", ""))

    # What was already read is rendered, then nothing more arrives while paused (the server goes on producing).
    paused_at = settled(count)
    observe(lambda: count() == paused_at, polls=25, interval=0.02)
    assert page.get_by_role("button", name="Resume").get_attribute("aria-pressed") == "true"
    page.get_by_role("button", name="Resume").click()
    expect(page.locator("#explorer")).to_have_attribute("data-state", "streaming")
    page.wait_for_function(f"Number(document.getElementById('stat-count').textContent) > {paused_at + 5}")
    numbers = [json.loads(row)["n"] for row in rows(page)]
    assert numbers == list(range(1, len(numbers) + 1))  # nothing lost or repeated across the pause
    page.get_by_role("button", name="Stop").click()
    expect(page.locator("#banner")).to_contain_text("Stopped after")


@pytest.mark.parametrize("format_label", ["JSON Lines (application/jsonl)", "JSON array (application/json)"])
def test_a_truncated_stream_shows_an_error_banner(page: Page, format_label: str) -> None:
    open_route(page, "GET", "/test/truncated")
    start(page, format_label)
    expect(page.locator("#explorer")).to_have_attribute("data-state", "failed")
    expect(page.locator("#banner .banner.error")).to_contain_text("Stream truncated after 5 item(s)")
    expect(page.locator("#rows tr")).to_have_count(5)
    screenshot(page, "truncated")


@pytest.mark.parametrize(
    "format_label",
    ["JSON Lines (application/jsonl)", "Server-Sent Events, EventSource: reconnects (text/event-stream)"],
)
def test_an_in_band_error_record_is_shown(page: Page, format_label: str) -> None:
    open_route(page, "GET", "/test/error-record")
    start(page, format_label)
    expect(page.locator("#explorer")).to_have_attribute("data-state", "failed")
    expect(page.locator("#banner")).to_contain_text("The server ended the stream with an error after 3 item(s)")
    expect(page.locator("#banner")).to_contain_text("The job was cancelled by its owner.")
    expect(page.locator("#rows tr")).to_have_count(3)


def test_an_event_source_reconnect_is_shown_with_its_last_event_id(page: Page) -> None:
    explorer_app.drops_seen.clear()
    open_route(page, "GET", "/test/drops")
    start(page, "Server-Sent Events, EventSource: reconnects (text/event-stream)")
    expect(page.locator("#rows tr")).to_have_count(9, timeout=15_000)
    log = page.locator("#log").inner_text()
    assert "reconnecting with Last-Event-ID: 3" in log
    assert "reconnecting with Last-Event-ID: 6" in log
    assert "reconnected (sent Last-Event-ID: 3)" in log
    assert explorer_app.drops_seen[:3] == [None, "3", "6"]
    assert [json.loads(row)["n"] for row in rows(page)] == list(range(1, 10))
    screenshot(page, "reconnect")
    page.get_by_role("button", name="Stop").click()


def test_a_streamed_request_body_is_sent_and_its_streamed_answer_shown(page: Page) -> None:
    open_route(page, "POST", "/test/price")
    body = page.get_by_label("request body (application/jsonl)")
    body.fill('{"item": "tea", "quantity": 2}\n{"item": "cake", "quantity": 4}\n')
    start(page)
    expect(page.locator("#rows tr")).to_have_count(2)
    assert [json.loads(row) for row in rows(page)] == [{"item": "tea", "total": 5.0}, {"item": "cake", "total": 10.0}]
    # A bad first line is the server's 422, naming the line and the field...
    body.fill('{"item": "cake"}\n')
    start(page)
    expect(page.locator("#banner")).to_contain_text("HTTP 422")
    expect(page.locator("#banner")).to_contain_text("body.1.quantity")
    # ...and a bad line after the answer started truncates it. (The server sent one item before the cut, but a
    # server that closes a connection with request bytes still unread makes TCP reset it, and a reset may discard
    # what the browser had received but not yet read: 0 or 1 item arrive.)
    body.fill('{"item": "tea", "quantity": 2}\n{"item": "cake"}\n')
    start(page)
    expect(page.locator("#banner")).to_contain_text(re.compile(r"Stream truncated after [01] item\(s\)"))


def test_filter_and_raw_json_view(page: Page) -> None:
    open_route(page, "GET", "/test/things/{thing_id}")
    page.get_by_label("thing_id * (path)").fill("1")
    page.get_by_label("limit (query)").fill("10")
    start(page)
    expect(page.locator("#rows tr")).to_have_count(10)
    page.get_by_label("Filter").fill('"t2"')
    expect(page.locator("#rows tr:visible")).to_have_count(4)  # n = 101, 104, 107, 110
    expect(page.locator("#filter-count")).to_have_text("4 of 10 rows shown")
    page.get_by_label("Filter").fill("")
    expect(page.locator("#rows tr:visible")).to_have_count(10)
    # Nested values are collapsible; the raw view shows each item's JSON.
    point = page.locator("#rows tr").first.locator("details").first
    assert point.locator("summary").inner_text() == "{2}"
    point.locator("summary").click()
    assert json.loads(point.locator("pre").inner_text()) == {"x": 101.0, "y": -101.0}
    assert not page.locator("#rows td.raw-cell").first.is_visible()
    page.get_by_label("Raw JSON").check()
    expect(page.locator("#rows td.raw-cell").first).to_be_visible()
    assert json.loads(page.locator("#rows td.raw-cell").first.inner_text())["label"] == "tick 101"


def test_stays_responsive_at_10000_items_per_second(page: Page) -> None:
    open_route(page, "GET", "/test/ticks")
    page.get_by_label("rate (query)").fill("10000")
    page.get_by_label("seconds (query)").fill("5")
    # When the page handled each click: the stream's state and the count of items shown then. A page whose
    # main thread the stream froze would handle the clicks only once the stream ended.
    page.evaluate(
        """() => {
            window.clicksHandled = [];
            window.longTasks = [];
            document.getElementById('raw').addEventListener('click', () => window.clicksHandled.push([
                document.getElementById('explorer').dataset.state,
                Number(document.getElementById('stat-count').textContent.replaceAll(',', '')),
            ]), true);
            new PerformanceObserver((list) => {
                for (const entry of list.getEntries()) window.longTasks.push(entry.duration);
            }).observe({ entryTypes: ['longtask'] });
        }"""
    )
    start(page)
    started = time.monotonic()
    expect(page.locator("#explorer")).to_have_attribute("data-state", "streaming")
    box = page.get_by_label("Raw JSON").bounding_box()
    assert box is not None
    clicks = 0
    while time.monotonic() - started < 4.5:
        time.sleep(0.25)
        # A real mouse click at the checkbox, without Playwright's own waiting for the page.
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        clicks += 1
        if clicks == 8:
            screenshot(page, "load")
    expect(page.locator("#explorer")).to_have_attribute("data-state", "ended", timeout=20_000)
    handled: list[tuple[str, int]] = page.evaluate("window.clicksHandled")
    long_tasks: list[float] = page.evaluate("window.longTasks")
    assert len(handled) == clicks
    # Every click was handled while items kept arriving: the page never froze (the figures measured on an idle
    # machine are in docs/explorer.md).
    assert {state for state, _ in handled} == {"streaming"}, handled
    counts = [shown for _, shown in handled]
    assert counts == sorted(counts), counts
    assert len(set(counts)) > clicks // 2, counts
    print(f"clicks handled at items {counts}; long tasks ms: {[round(t) for t in long_tasks]}")
    assert page.locator("#stat-count").inner_text() == "50,000"
    rows_in_dom = page.locator("#rows tr").count()
    assert 0 < rows_in_dom <= 500
    dropped = page.locator("#dropped").inner_text()
    assert dropped.startswith(f"{50_000 - rows_in_dom:,} older row(s) removed from view")
    assert json.loads(rows(page)[-1])["n"] == 50_000
    rate = page.locator("#stat-rate").inner_text().replace(",", "")
    assert 0 < int(rate) <= 10_500  # the average over the run: 50,000 items over at least 5 s of the server's pace


def test_keyboard_and_narrow_window(browser: Browser, base_url: str) -> None:
    page = browser.new_page(viewport={"width": 420, "height": 900})
    page.goto(base_url + "/explorer")
    expect(page.locator("#explorer")).to_have_attribute("data-ready", "true")
    # Every form control has a label.
    unlabeled = page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea')]
            .filter((control) => !control.labels || control.labels.length === 0).map((control) => control.id)"""
    )
    assert unlabeled == []
    # Keyboard only: tab to the first route, Enter opens it, Enter in the form starts it.
    page.keyboard.press("Tab")  # the skip link
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.dataset.route") == "get-_items_stream"
    page.keyboard.press("Enter")
    expect(page.locator("#route-title")).to_have_text("GET /items/stream")
    assert page.evaluate("document.activeElement.id") == "start"
    page.keyboard.press("Enter")
    expect(page.locator("#rows tr")).to_have_count(3)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 420, "no horizontal scrolling of the page on a narrow window"
    screenshot(page, "narrow")
    page.close()


def test_served_assets_and_switches() -> None:
    with TestClient(explorer_app.app) as client:
        page = client.get("/explorer")
        assert page.status_code == 200
        assert 'data-openapi="/openapi.json"' in page.text
        for asset in ("explorer.js", "decoders.js", "decoders-global.js", "explorer.css"):
            served = client.get(f"/explorer/static/{asset}")
            assert served.status_code == 200
            if asset.endswith(".js"):  # module scripts need a JavaScript type
                assert served.headers["content-type"].startswith("text/javascript")
        assert "http" not in page.text.replace('lang="en"', "")  # nothing from another origin
    for app in (LineStream(explorer_url=None), LineStream(openapi_url=None)):
        with TestClient(app) as client:
            assert client.get("/explorer").status_code == 404
    moved = LineStream(explorer_url="/_streams")

    async def behind_a_proxy(scope: Scope, receive: Receive, send: Send) -> None:
        await moved({**scope, "root_path": "/api"}, receive, send)

    with TestClient(behind_a_proxy) as client:
        text = client.get("/_streams").text
        assert 'data-openapi="/api/openapi.json"' in text
        assert 'src="/api/_streams/static/explorer.js"' in text


# -- the explorer's decoders mirror linestream.streams ---------------------------------------------------------
def _stream(media_type: str, values: list[Any], line_end: bytes = b"\n") -> bytes:
    """The bytes linestream's own framing writes for ``values`` (with another line end for the line formats)."""
    stream_format = format_for_media_type(media_type)
    assert stream_format is not None
    framing = stream_format.framing
    encoded = [json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode() for value in values]
    frames = [framing.encode(data, first=index == 0) for index, data in enumerate(encoded)]
    body = framing.head + b"".join(frames) + framing.tail
    return body.replace(b"\n", line_end) if media_type in ("application/jsonl", "text/event-stream") else body


VALUES: list[Any] = [
    {"name": "line\u2028separator\u2029", "nested": {"a": [1, "]", '\\\\"'], "b": None}},
    {"emoji": "\U0001f680", "text": 'quote " and brace }'},
    [1, 2.5, True],
    "a string with , and ]",
    42,
    None,
]


@pytest.mark.parametrize(
    ("media_type", "line_end"),
    [
        ("application/jsonl", b"\n"),
        ("application/jsonl", b"\r\n"),
        ("application/x-ndjson", b"\n"),
        ("application/json-seq", b"\n"),
        ("text/event-stream", b"\n"),
        ("text/event-stream", b"\r"),
        ("text/event-stream", b"\r\n"),
        ("application/json", b"\n"),
    ],
)
def test_javascript_decoders_match_the_python_codecs_at_every_split(
    page: Page, media_type: str, line_end: bytes
) -> None:
    body = _stream(media_type, VALUES, line_end)
    decoder = format_for_media_type(media_type).decoder()  # type: ignore[union-attr]
    expected = decoder.feed(body) + decoder.close()
    if media_type == "text/event-stream":
        expected_values = [json.loads(event.raw_data) for event in expected]
    else:
        expected_values = [json.loads(frame) for frame in expected]
    assert expected_values == VALUES
    results = page.evaluate(
        """([mediaType, bytes]) => {
            const data = new Uint8Array(bytes);
            const results = [];
            for (let split = 0; split <= data.length; split += 1) {
                const decoder = new linestreamDecoders.DECODERS[mediaType]();
                const got = [
                    ...decoder.feed(data.subarray(0, split)), ...decoder.feed(data.subarray(split)), ...decoder.end(),
                ];
                results.push(got.map((value) => (mediaType === 'text/event-stream' ? JSON.parse(value.data) : value)));
            }
            return results;
        }""",
        [media_type, list(body)],
    )
    assert all(result == VALUES for result in results)
    # Cut short anywhere inside the last frame, every decoder says the stream was truncated.
    truncated = page.evaluate(
        """([mediaType, bytes]) => {
            const decoder = new linestreamDecoders.DECODERS[mediaType]();
            try { decoder.feed(new Uint8Array(bytes)); decoder.end(); return 'complete'; }
            catch (error) { return error.name; }
        }""",
        [media_type, list(body[:-3])],
    )
    assert truncated == "TruncatedError"


def test_reads_openapi_3_2_item_schemas(browser: Browser) -> None:
    app = LineStream(openapi_version="3.2.0")
    app.include_router(explorer_app.router)
    with serve(app) as url:
        page = browser.new_page()
        page.goto(url + "/explorer?route=GET%20/test/things/%7Bthing_id%7D")
        expect(page.locator("#route-title")).to_have_text("GET /test/things/{thing_id}")
        page.get_by_label("thing_id * (path)").fill("1")
        start(page)
        expect(page.locator("#rows tr")).to_have_count(3)
        headers = page.locator("#head th.cell").all_inner_texts()
        assert headers == ["n", "label", "point", "tags"]
        document = httpx.get(url + "/openapi.json").json()
        content = document["paths"]["/test/things/{thing_id}"]["get"]["responses"]["200"]["content"]
        assert "itemSchema" in content["application/jsonl"]
        schema = json.loads(page.locator("#item-schema").text_content() or "")  # what the page found
        assert list(schema["properties"]) == headers
        page.close()


def test_the_docs_page_works_under_its_content_security_policy(browser: Browser, base_url: str) -> None:
    page = browser.new_page()
    violations: list[str] = []
    page.on(
        "console",
        lambda message: violations.append(message.text) if "Content Security Policy" in message.text else None,
    )
    page.on("pageerror", lambda error: violations.append(str(error)))
    response = page.goto(base_url + "/docs")
    assert response is not None
    headers = response.headers
    assert "script-src 'self' 'sha256-" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    expect(page.locator(".opblock").first).to_be_visible(timeout=20_000)  # Swagger UI ran and read the document
    page.close()
    assert violations == []


@pytest.mark.parametrize(
    "format_label",
    ["JSON Lines (application/jsonl)", "JSON text sequences (application/json-seq)", "JSON array (application/json)"],
)
def test_items_shaped_like_records_are_rows_and_only_the_records_end_the_stream(page: Page, format_label: str) -> None:
    open_route(page, "GET", "/test/lookalikes")
    start(page, format_label)
    expect(page.locator("#explorer")).to_have_attribute("data-complete", "true")
    assert [json.loads(row) for row in rows(page)] == [{"end": {"line": 3}}, {"error": {"line": 4}}]


@pytest.mark.parametrize(
    "format_label",
    [
        "JSON Lines (application/jsonl)",
        "Server-Sent Events, fetch (text/event-stream)",
        "Server-Sent Events, EventSource: reconnects (text/event-stream)",
    ],
)
def test_several_kinds_are_shown_and_filtered_and_the_end_record_completes(page: Page, format_label: str) -> None:
    open_route(page, "GET", "/test/chat")
    start(page, format_label)
    expect(page.locator("#explorer")).to_have_attribute("data-complete", "true")
    expect(page.locator("#banner")).to_contain_text("Stream complete (end record): 4 item(s).")
    assert page.locator("#rows td.event").all_inner_texts() == ["token", "token", "token", "usage"]
    page.get_by_label("Kind").select_option("usage")
    expect(page.locator("#rows tr:not([hidden])")).to_have_count(1)
    expect(page.locator("#filter-count")).to_have_text("1 of 4 rows shown")
    screenshot(page, "kinds")


def test_the_redoc_page_works_offline_under_its_content_security_policy(browser: Browser, base_url: str) -> None:
    page = browser.new_page()
    problems: list[str] = []
    blocked: list[str] = []
    outside: list[str] = []

    def console(message: Any) -> None:
        (blocked if CSP in message.text else problems if message.type == "error" else []).append(message.text)

    page.on("console", console)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("request", lambda r: None if r.url.startswith((base_url, "blob:", "data:")) else outside.append(r.url))
    response = page.goto(base_url + "/redoc")
    assert response is not None
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    expect(page.locator("h1").first).to_contain_text("explorer test app", timeout=20_000)  # ReDoc read the document
    expect(page.get_by_text("/test/ticks").first).to_be_attached()
    page.close()
    assert problems == []
    # ReDoc 2 always shows Redocly's logo from its CDN; the page's policy blocks it (the logo hides itself), and
    # that is the only thing it tries to load from elsewhere.
    assert outside == ["https://cdn.redoc.ly/redoc/logo-mini.svg"]
    assert len(blocked) == 1
    assert "logo-mini.svg" in blocked[0]
