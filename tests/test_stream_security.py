"""What long-lived streams need of security: stream tickets for EventSource, credentials that expire mid-stream,
and limits on the streams of one client and of one server."""

import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterable, Generator, Iterable, Iterator
from typing import Annotated, Any

import anyio
import httpx
import jwt
import pytest
from playwright.sync_api import Browser
from pydantic import BaseModel
from starlette.responses import HTMLResponse

from linestream import Depends, Header, HTTPException, LineStream, Request
from linestream.client import Client, StreamError, StreamTruncated
from linestream.openapi import build_openapi
from linestream.security import OAuth2PasswordBearer, StreamTickets, credentials_expire_at
from linestream.security._tickets import MAX_TICKET
from linestream.sse import EventSourceResponse, ServerSentEvent
from linestream.streams import format_named
from linestream.testing import TestClient, iter_json_lines
from linestream.topics import SerializedItem, Topic
from tests.conftest import read_into, serve, wait_for

KEY = "k" * 32
SECRET = "s" * 32


# -- stream tickets ---------------------------------------------------------------------------------------------


class Tick(BaseModel):
    n: int


def ticket_app(tickets: StreamTickets, seen: list[str | None]) -> LineStream:
    app = LineStream(sse_keepalive=None)
    bearer = OAuth2PasswordBearer(tokenUrl="/token")

    @app.get("/page")
    async def page() -> HTMLResponse:
        return HTMLResponse("<!doctype html><title>tickets</title>")

    @app.post("/ticks/ticket")
    async def ticket(token: Annotated[str, Depends(bearer)]) -> dict[str, str]:
        if token != "good":
            raise HTTPException(401, "Bad token", {"WWW-Authenticate": "Bearer"})
        return {"ticket": tickets.issue("ada", "/ticks")}

    @app.get("/ticks", response_class=EventSourceResponse)
    async def ticks(
        user: Annotated[str, Depends(tickets)], last_event_id: Annotated[str | None, Header()] = None
    ) -> AsyncIterable[Tick]:
        seen.append(last_event_id)
        start = int(last_event_id) + 1 if last_event_id is not None else 0
        # Two events per connection, then the response ends: EventSource reconnects by itself, with its URL.
        for n in range(start, start + 2):
            yield ServerSentEvent(data=Tick(n=n), id=str(n), retry=100)

    return app


@pytest.mark.parametrize("ticket", ["caf\u00e9.x", "\U0001f39f\ufe0f", "a.\u00e9" * 10, "\x00.\x00"])
def test_a_ticket_that_is_not_ascii_is_refused_as_invalid(ticket: str, caplog: pytest.LogCaptureFixture) -> None:
    with TestClient(ticket_app(StreamTickets(KEY), []), raise_server_exceptions=False) as client:
        refused = client.get("/ticks", params={"ticket": ticket})
    assert refused.status_code == 401
    assert refused.json()["detail"] == "Invalid stream ticket."
    assert [record for record in caplog.records if record.levelno >= logging.ERROR] == []


def test_every_issued_ticket_opens_its_stream_however_long_its_path() -> None:
    tickets = StreamTickets(KEY)
    app = LineStream(sse_keepalive=None)
    app.include_router(tickets.issuer(lambda: "ada"))

    @app.get("/files/{name:path}")
    async def file(name: str, user: Annotated[str, Depends(tickets)]) -> AsyncIterable[Tick]:
        yield Tick(n=len(name))

    path = "/files/" + "d%C3%A9j%C3%A0/" * 120  # 1,807 characters, percent-encoded as a client sends it
    with TestClient(app) as client:
        issued = client.post("/stream-tickets", json={"path": path})
        assert issued.status_code == 200
        opened = client.get(path, params={"ticket": issued.json()["ticket"]})
        assert opened.status_code == 200
        assert opened.json() == {"n": len("déjà/") * 120}
    # A ticket too long to verify is never issued.
    with pytest.raises(ValueError, match=f"more than the {MAX_TICKET} a ticket may have"):
        tickets.issue("x" * 3000, "/" + "a" * 2000)


def test_the_issuer_refuses_a_ticket_too_long_to_verify_with_a_422() -> None:
    tickets = StreamTickets(KEY)
    app = LineStream()
    app.include_router(tickets.issuer(lambda: "u" * 2500))
    with TestClient(app) as client:
        refused = client.post("/stream-tickets", json={"path": "/" + "a" * 2000})
    assert refused.status_code == 422
    (error,) = refused.json()["errors"]
    assert error["loc"] == ["body", "path"]
    assert f"more than the {MAX_TICKET}" in error["msg"]


def test_a_ticket_is_bound_to_its_route_unforgeable_and_short_lived() -> None:
    tickets = StreamTickets(KEY, max_age=30)
    with TestClient(ticket_app(tickets, [])) as client:
        refused_issue = client.post("/ticks/ticket")
        ticket = client.post("/ticks/ticket", headers={"Authorization": "Bearer good"}).json()["ticket"]
        ok = client.get("/ticks", params={"ticket": ticket})
        missing = client.get("/ticks")
        payload, _, signature = ticket.partition(".")
        forged = client.get("/ticks", params={"ticket": payload + "." + signature[::-1]})
        other_route = client.get("/ticks", params={"ticket": tickets.issue("ada", "/elsewhere")})
        other_method = client.get("/ticks", params={"ticket": tickets.issue("ada", "/ticks", method="POST")})
        expired = client.get("/ticks", params={"ticket": tickets.issue("ada", "/ticks", max_age=-1)})
        other_key = client.get("/ticks", params={"ticket": StreamTickets("x" * 32).issue("ada", "/ticks")})
        huge = client.get("/ticks", params={"ticket": "a" * 3000})
    assert refused_issue.status_code == 401
    assert ok.status_code == 200
    assert ok.text.count("data:") == 2
    details = {
        "missing": missing,
        "forged": forged,
        "other route": other_route,
        "other method": other_method,
        "expired": expired,
        "other key": other_key,
        "huge": huge,
    }
    assert {name: r.status_code for name, r in details.items()} == dict.fromkeys(details, 401)
    assert expired.json()["detail"] == "The stream ticket expired; ask for a new one."
    assert other_route.json()["detail"] == "The stream ticket is for another route."
    assert forged.json()["detail"] == "Invalid stream ticket."
    assert missing.headers["www-authenticate"] == "Ticket"
    document = build_openapi(ticket_app(tickets, []))
    assert document["components"]["securitySchemes"]["StreamTicket"]["in"] == "query"
    assert document["paths"]["/ticks"]["get"]["security"] == [{"StreamTicket": []}]
    with pytest.raises(ValueError, match="at least 32 bytes"):
        StreamTickets("short")


def test_an_event_source_with_a_ticket_streams_reconnects_and_stops_once_it_expired(browser: Browser) -> None:
    seen: list[str | None] = []
    tickets = StreamTickets(KEY, max_age=3)
    with serve(ticket_app(tickets, seen)) as url:
        page = browser.new_page()
        page.goto(url + "/page")
        outcome: dict[str, Any] = page.evaluate(
            """async () => {
                const answer = await fetch('/ticks/ticket', {method: 'POST', headers: {Authorization: 'Bearer good'}});
                const {ticket} = await answer.json();
                return await new Promise((resolve) => {
                    const ids = [];
                    const source = new EventSource('/ticks?ticket=' + encodeURIComponent(ticket));
                    source.onmessage = (event) => ids.push(Number(event.lastEventId));
                    source.onerror = () => {
                        // A failed reconnect (the 401 after expiry) closes an EventSource for good.
                        if (source.readyState === EventSource.CLOSED) resolve({ids, state: source.readyState});
                    };
                    setTimeout(() => resolve({ids, state: source.readyState, timeout: true}), 30000);
                });
            }"""
        )
        page.close()
    ids = outcome["ids"]
    assert "timeout" not in outcome
    assert outcome["state"] == 2  # CLOSED: refused after the ticket expired
    assert len(ids) >= 4  # at least one reconnect inside the ticket's lifetime
    assert ids == list(range(len(ids)))  # every event once, in order, across the reconnects
    assert seen[:2] == [None, "1"]  # the reconnect sent Last-Event-ID


# -- credentials that expire mid-stream -----------------------------------------------------------------------


class Order(BaseModel):
    number: int


def token_for(user: str, seconds: float) -> str:
    return jwt.encode({"sub": user, "exp": time.time() + seconds}, SECRET, algorithm="HS256")


bearer = OAuth2PasswordBearer(tokenUrl="/token")


def current_user(request: Request, token: Annotated[str, Depends(bearer)]) -> str:
    try:
        claims = jwt.decode(token, SECRET, algorithms=["HS256"], options={"verify_exp": False})
    except jwt.InvalidTokenError:
        raise HTTPException(401, "Invalid token", {"WWW-Authenticate": "Bearer"}) from None
    if claims["exp"] <= time.time():
        raise HTTPException(401, "Token expired", {"WWW-Authenticate": "Bearer"})
    credentials_expire_at(request, claims["exp"])  # the stream ends when the token does
    return str(claims["sub"])


def expiry_app(orders: Topic[Order], opened: list[str]) -> LineStream:
    app = LineStream(sse_keepalive=None, sse_shutdown_retry=50)

    @app.get("/orders/live")
    async def live(
        user: Annotated[str, Depends(current_user)], last_event_id: Annotated[str | None, Header()] = None
    ) -> AsyncIterable[SerializedItem[Order]]:
        opened.append(user)
        if last_event_id is None:
            yield SerializedItem("0-0", b'{"number":-1}', Order)  # a first item: the client knows it subscribed
        async for message in orders.subscribe(last_event_id):
            yield message

    @app.post("/orders")
    async def place(order: Order) -> dict[str, str]:
        return {"id": await orders.publish(order)}

    @app.get("/orders/count", stream_errors="record")
    async def count(user: Annotated[str, Depends(current_user)]) -> AsyncIterable[Order]:
        for number in range(1_000_000):
            yield Order(number=number)
            await anyio.sleep(0.01)

    @app.get("/orders/cut")
    async def cut(user: Annotated[str, Depends(current_user)]) -> AsyncIterable[Order]:
        for number in range(1_000_000):
            yield Order(number=number)
            await anyio.sleep(0.01)

    return app


class RefreshingAuth(httpx.Auth):
    """Mints a fresh short-lived token for every request, as a refreshing auth flow would."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.issued = 0

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        self.issued += 1
        request.headers["Authorization"] = f"Bearer {token_for(f'user-{self.issued}', self.seconds)}"
        yield request


def test_an_sse_stream_ends_when_its_token_expires_and_resumes_with_a_fresh_one_without_loss() -> None:
    orders: Topic[Order] = Topic("expiring-orders", Order)
    opened: list[str] = []
    total = 40
    auth = RefreshingAuth(seconds=0.6)
    received: list[int] = []
    with serve(expiry_app(orders, opened)) as url, Client(url, auth=auth, timeout=30) as client:
        events = client.events("/orders/live", item=Order)

        def publish() -> None:
            with httpx.Client(base_url=url, timeout=30) as publisher:
                for number in range(total):
                    publisher.post("/orders", json={"number": number}).raise_for_status()
                    time.sleep(0.05)

        publisher = threading.Thread(target=publish, daemon=True)
        received.append(next(events).data.number)  # subscribed: publish from now on
        publisher.start()
        for event in events:
            received.append(event.data.number)
            if len(received) == total + 1:
                break
        publisher.join(60)
    assert received == [-1, *range(total)]  # no loss, no duplicate, across the reconnects
    assert len(opened) >= 2  # the stream was ended at expiry and opened again with a fresh token
    assert auth.issued == len(opened)


def test_other_formats_end_visibly_when_the_token_expires() -> None:
    with serve(expiry_app(Topic("unused", Order), [])) as url, Client(url, timeout=30) as client:

        def headers() -> dict[str, str]:
            return {"Authorization": f"Bearer {token_for('ada', 0.5)}"}

        with pytest.raises(StreamError) as recorded:
            list(client.get_stream("/orders/count", item=Order, headers=headers()))
        with pytest.raises(StreamTruncated) as truncated:
            list(client.get_stream("/orders/cut", item=Order, headers=headers(), format="jsonl"))
        expired_before = httpx.get(url + "/orders/cut", headers={"Authorization": f"Bearer {token_for('ada', -1)}"})
    assert recorded.value.problem["status"] == 401
    assert recorded.value.items_received > 0
    assert truncated.value.items_received > 0
    assert expired_before.status_code == 401


@pytest.mark.parametrize("stream_format", ["sse", "jsonl"])
def test_a_def_generator_blocked_between_items_does_not_outlive_its_credentials(stream_format: str) -> None:
    # The generator blocks after its first item until the test opens the gate: the stream must end at the
    # expiry, while the generator still waits; the generator closes at its next yield, then the dependency.
    gate = threading.Event()
    log: list[str] = []

    def session() -> Iterator[None]:
        try:
            yield
        finally:  # the dependency sees the stream's error (its truncation), as FastAPI's do
            log.append("dependency closed")

    app = LineStream(sse_keepalive=None, sse_shutdown_retry=50)

    @app.get("/slow")
    def slow(user: Annotated[str, Depends(current_user)], _: Annotated[None, Depends(session)]) -> Iterable[Order]:
        try:
            yield Order(number=1)
            gate.wait(30)
            yield Order(number=2)
        finally:
            log.append("generator closed")

    with serve(app) as url, httpx.Client(timeout=30) as client:
        headers = {"Authorization": f"Bearer {token_for('ada', 1.0)}", "Accept": format_named(stream_format).media_type}
        with client.stream("GET", url + "/slow", headers=headers) as response:
            body = bytearray()
            with contextlib.suppress(httpx.RemoteProtocolError):  # JSON Lines ends truncated
                read_into(body, response.iter_raw())
        # The client saw the end while the generator was still blocked.
        assert not gate.is_set()
        assert log == []
        gate.set()
        wait_for(lambda: log == ["generator closed", "dependency closed"], timeout=10)
    if stream_format == "sse":
        assert bytes(body).endswith(b"retry: 50\n\n")
    assert bytes(body).count(b"number") == 1


# -- limits on open streams -----------------------------------------------------------------------------------


def user_of(x_user: Annotated[str, Header()]) -> str:
    return x_user


def limits_app(**options: Any) -> LineStream:
    app = LineStream(sse_keepalive=None, **options)

    @app.get("/feed")
    async def feed() -> AsyncIterable[Order]:
        for number in range(1_000_000):
            yield Order(number=number)
            await anyio.sleep(0.05)

    return app


OPEN: list[Any] = []  # the item iterators of open streams: one dropped would close its response


def open_stream(client: httpx.Client, user: str) -> tuple[Any, httpx.Response]:
    manager = client.stream("GET", "/feed", headers={"X-User": user})
    response = manager.__enter__()
    if response.status_code == 200:
        items = iter(iter_json_lines(response))
        next(items)
        OPEN.append(items)
    return manager, response


def test_per_client_and_global_stream_limits_over_uvicorn() -> None:
    app = limits_app(max_streams=3, max_streams_per_client=2, stream_client_key=user_of)
    with serve(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        ada_1, first = open_stream(client, "ada")
        ada_2, second = open_stream(client, "ada")
        ada_3, third = open_stream(client, "ada")
        bob_1, bob = open_stream(client, "bob")
        eve_1, eve = open_stream(client, "eve")
        statuses = [r.status_code for r in (first, second, third, bob, eve)]
        details = [third.read() and third.json()["detail"], eve.read() and eve.json()["detail"]]
        ada_3.__exit__(None, None, None)
        eve_1.__exit__(None, None, None)
        ada_1.__exit__(None, None, None)
        started = time.monotonic()
        # ada_1's slot is given back once the server saw it close, an instant after the client closed it: until
        # then the app is full (503, ada_1, ada_2 and bob hold its 3 slots) or ada is (429).
        again, reopened = open_stream(client, "ada")
        while reopened.status_code in (429, 503) and time.monotonic() - started < 20:
            again.__exit__(None, None, None)
            again, reopened = open_stream(client, "ada")
        for manager in (ada_2, bob_1, again):
            manager.__exit__(None, None, None)
    OPEN.clear()
    assert reopened.status_code == 200
    assert statuses == [200, 200, 429, 200, 503]
    assert third.headers["retry-after"] == "5"
    assert eve.headers["retry-after"] == "1"
    assert third.headers["content-type"] == "application/problem+json"
    assert "(the limit is LineStream(max_streams_per_client=...))" in details[0]
    assert "(the limit is LineStream(max_streams=...))" in details[1]


def test_limits_are_documented_and_the_default_key_is_the_client_address() -> None:
    app = limits_app(max_streams_per_client=1)
    document = build_openapi(app)
    responses = document["paths"]["/feed"]["get"]["responses"]
    assert "429" in responses
    assert "503" not in responses
    with TestClient(app) as client:
        with client.stream("GET", "/feed") as first:
            assert next(iter(iter_json_lines(first))) == {"number": 0}
            second = client.get("/feed")
        assert second.status_code == 429
        with client.stream("GET", "/feed") as third:  # the first one's slot was given back
            assert third.status_code == 200
