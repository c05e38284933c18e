"""WebSockets: FastAPI's endpoints (parameters, dependencies, overrides, routers, the test client's sessions),
and typed WebSocket streams (each message validated in, each item serialized out, a definite close)."""

from __future__ import annotations

import base64
import logging
import os
import socket
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from typing import Annotated, Any, Literal

import anyio
import anyio.lowlevel
import pytest
from pydantic import BaseModel

from linestream import (
    APIRouter,
    BodyLimits,
    Cookie,
    Depends,
    EndpointDefinitionError,
    Header,
    HTTPException,
    LineStream,
    Query,
    WebSocket,
    WebSocketDisconnect,
    WebSocketException,
    status,
)
from linestream.client import AsyncClient, Client, HTTPStatusError, StreamDecodeError, WebSocketClosed
from linestream.security import credentials_expire_at
from linestream.testing import AsyncTestClient, TestClient, WebSocketDenialResponse
from tests.conftest import serve, wait_for

events: list[str] = []


async def session_resource() -> AsyncIterator[str]:
    events.append("dependency entered")
    yield "db"
    events.append("dependency exited")


async def get_cookie_or_token(
    session: Annotated[str | None, Cookie()] = None, token: Annotated[str | None, Query()] = None
) -> str:
    if session is None and token is None:
        raise WebSocketException(code=status.WS_1008_POLICY_VIOLATION)
    return session or token or ""


def chat_app() -> LineStream:
    app = LineStream()

    @app.websocket("/items/{item_id}/ws")
    async def items_ws(
        websocket: WebSocket,
        item_id: str,
        cookie_or_token: Annotated[str, Depends(get_cookie_or_token)],
        q: int | None = None,
        user_agent: Annotated[str | None, Header()] = None,
    ) -> None:
        await websocket.accept()
        while True:
            data = await websocket.receive_text()
            await websocket.send_text(f"Session cookie or query token value is: {cookie_or_token}")
            if q is not None:
                await websocket.send_text(f"Query parameter q is: {q}")
            await websocket.send_text(f"Message text was: {data}, for item ID: {item_id}, agent: {user_agent}")

    @app.websocket("/resource")
    async def resource(websocket: WebSocket, db: Annotated[str, Depends(session_resource)]) -> None:
        await websocket.accept()
        await websocket.send_json({"db": db})
        try:
            await websocket.receive_text()
        except WebSocketDisconnect:
            events.append("endpoint saw the disconnect")

    return app


def test_a_websocket_endpoint_takes_path_query_header_cookie_and_dependencies() -> None:
    """(The endpoint lets receive_text()'s WebSocketDisconnect out when the test closes the socket: the test client
    raises it, as FastAPI's tests expect; a server ends the socket quietly.)"""
    with TestClient(chat_app()) as client:
        ws = client.websocket_connect("/items/foo/ws?q=3&token=some-token", headers={"user-agent": "tests"})
        ws.__enter__()
        ws.send_text("Hello")
        assert ws.receive_text() == "Session cookie or query token value is: some-token"
        assert ws.receive_text() == "Query parameter q is: 3"
        assert ws.receive_text() == "Message text was: Hello, for item ID: foo, agent: tests"
        with pytest.raises(WebSocketDisconnect) as left:
            ws.__exit__(None, None, None)
        assert left.value.code == 1000
        client.cookies.set("session", "fakesession")
        ws = client.websocket_connect("/items/bar/ws")
        ws.__enter__()
        ws.send_text("again")
        assert ws.receive_text() == "Session cookie or query token value is: fakesession"
        with pytest.raises(WebSocketDisconnect):
            ws.close()


def test_a_refused_handshake_is_a_websocket_disconnect_as_in_fastapi() -> None:
    with TestClient(chat_app()) as client:
        with pytest.raises(WebSocketDisconnect) as closed:  # the dependency raised WebSocketException(1008)
            client.websocket_connect("/items/foo/ws").__enter__()
        assert closed.value.code == status.WS_1008_POLICY_VIOLATION
        with pytest.raises(WebSocketDenialResponse) as denied:  # q is not an int: a real 422, with the problem
            client.websocket_connect("/items/foo/ws?token=t&q=many").__enter__()
    assert isinstance(denied.value, WebSocketDisconnect)
    assert denied.value.status_code == 422
    assert denied.value.headers["content-type"] == "application/problem+json"
    assert [error["loc"] for error in denied.value.json()["errors"]] == [["query", "q"]]


def test_dependencies_exit_after_the_socket_closes_and_overrides_apply() -> None:
    events.clear()
    app = chat_app()
    with TestClient(app) as client:
        with client.websocket_connect("/resource") as ws:
            assert ws.receive_json() == {"db": "db"}
        assert events == ["dependency entered", "endpoint saw the disconnect", "dependency exited"]

        async def fake_resource() -> str:
            return "fake"

        app.dependency_overrides[session_resource] = fake_resource
        with client.websocket_connect("/resource") as ws:
            assert ws.receive_json() == {"db": "fake"}


def test_websockets_in_routers_take_the_prefixes_and_dependencies() -> None:
    calls: list[str] = []

    def router_dependency(websocket: WebSocket) -> None:
        calls.append(websocket.url.path)

    router = APIRouter(prefix="/chat", dependencies=[Depends(router_dependency)])

    @router.websocket("/{room}")
    async def room(websocket: WebSocket, room: str) -> None:
        await websocket.accept()
        await websocket.send_text(room)
        await websocket.close()

    app = LineStream()
    app.include_router(router, prefix="/v1")
    with TestClient(app) as client, client.websocket_connect("/v1/chat/lobby") as ws:
        assert ws.receive_text() == "lobby"
    assert calls == ["/v1/chat/lobby"]


# -- typed WebSocket streams ---------------------------------------------------------------------------------


class Question(BaseModel):
    text: str


class Token(BaseModel):
    type: Literal["token"] = "token"
    text: str


class Done(BaseModel):
    type: Literal["done"] = "done"
    tokens: int


class Untagged(BaseModel):
    name: str


closed: list[str] = []


def typed_app() -> LineStream:
    app = LineStream()

    @app.websocket("/chat")
    async def chat(
        questions: AsyncIterable[Question], db: Annotated[str, Depends(session_resource)]
    ) -> AsyncIterable[Token | Done]:
        try:
            async for question in questions:
                words = question.text.split()
                for word in words:
                    yield Token(text=word)
                yield Done(tokens=len(words))
        finally:
            events.append("generator closed")

    @app.websocket("/countdown")
    async def countdown(start: int = 3) -> AsyncIterable[int]:
        for number in range(start, 0, -1):
            yield number

    @app.websocket("/ticker")
    async def ticker() -> AsyncIterable[dict[str, int]]:
        try:
            for number in range(1_000_000):
                yield {"tick": number}
                await anyio.sleep(0.01)
        finally:
            closed.append("ticker")

    @app.websocket("/fails")
    async def fails() -> AsyncIterable[int]:
        yield 1
        raise HTTPException(409, "the room was closed")

    @app.websocket("/crashes")
    async def crashes() -> AsyncIterable[int]:
        yield 1
        raise RuntimeError("bug")

    return app


def test_a_typed_stream_validates_messages_in_and_serializes_items_out() -> None:
    events.clear()
    with TestClient(typed_app()) as client, client.websocket_connect("/chat") as ws:
        ws.send_json({"text": "hello typed world"})
        received = [ws.receive_json() for _ in range(4)]
        ws.send_json({"text": "bye"})
        received += [ws.receive_json() for _ in range(2)]
    assert received == [
        {"type": "token", "text": "hello"},
        {"type": "token", "text": "typed"},
        {"type": "token", "text": "world"},
        {"type": "done", "tokens": 3},
        {"type": "token", "text": "bye"},
        {"type": "done", "tokens": 1},
    ]
    # The client left: the generator is closed, then the dependencies exit (the order of an HTTP stream).
    assert events == ["dependency entered", "generator closed", "dependency exited"]


def test_an_invalid_message_closes_with_1007_naming_the_message() -> None:
    with TestClient(typed_app()) as client, client.websocket_connect("/chat") as ws:
        ws.send_json({"text": "one"})
        assert ws.receive_json() == {"type": "token", "text": "one"}
        assert ws.receive_json() == {"type": "done", "tokens": 1}
        ws.send_json({"txt": "two"})
        with pytest.raises(WebSocketDisconnect) as closed_with:
            ws.receive_json()
    assert closed_with.value.code == 1007
    assert closed_with.value.reason.startswith("message 2: text: Field required")


def test_a_message_larger_than_max_line_size_closes_with_1009() -> None:
    app = LineStream(body_limits=BodyLimits(max_line_size=100))

    @app.websocket("/echo")
    async def echo(messages: AsyncIterable[str]) -> AsyncIterable[str]:
        async for message in messages:
            yield message

    with TestClient(app) as client, client.websocket_connect("/echo") as ws:
        ws.send_json("short")
        assert ws.receive_json() == "short"
        ws.send_json("x" * 200)
        with pytest.raises(WebSocketDisconnect) as closed_with:
            ws.receive_json()
    assert closed_with.value.code == 1009
    assert "max_line_size=100" in closed_with.value.reason


def test_a_stream_that_ends_closes_with_1000_and_one_that_fails_says_how() -> None:
    with TestClient(typed_app(), raise_server_exceptions=False) as client:
        with client.websocket_connect("/countdown?start=2") as ws:
            assert [ws.receive_json(), ws.receive_json()] == [2, 1]
            with pytest.raises(WebSocketDisconnect) as ended:
                ws.receive_json()
        with client.websocket_connect("/fails") as ws:
            assert ws.receive_json() == 1
            with pytest.raises(WebSocketDisconnect) as failed:
                ws.receive_json()
        with client.websocket_connect("/crashes") as ws:
            assert ws.receive_json() == 1
            with pytest.raises(WebSocketDisconnect) as crashed:
                ws.receive_json()
        with client.websocket_connect("/ticker") as ws:
            ws.send_text("nobody reads this")
            with pytest.raises(WebSocketDisconnect) as refused:
                [ws.receive_json() for _ in range(1_000_000)]
    assert ended.value.code == 1000
    assert (failed.value.code, failed.value.reason) == (1008, "the room was closed")
    assert crashed.value.code == 1011
    assert refused.value.code == 1003


def test_a_client_that_leaves_closes_the_generator_at_once() -> None:
    closed.clear()

    async def run() -> None:
        async with AsyncTestClient(typed_app()) as client:
            async with client.websocket_connect("/ticker") as ws:
                assert await ws.receive_json() == {"tick": 0}
            assert closed == ["ticker"]

    anyio.run(run)


def test_mis_declared_websocket_endpoints_fail_at_build_time() -> None:
    app = LineStream()

    with pytest.raises(EndpointDefinitionError, match="a WebSocket has no request body"):

        @app.websocket("/body")
        async def body(websocket: WebSocket, item: dict[str, int]) -> None: ...

    with pytest.raises(EndpointDefinitionError, match="is an `async def`"):

        @app.websocket("/sync")
        def sync(websocket: WebSocket) -> None: ...

    with pytest.raises(EndpointDefinitionError, match="reads and writes its socket itself"):

        @app.websocket("/both")
        async def both(websocket: WebSocket, messages: AsyncIterable[int]) -> AsyncIterable[int]:
            yield 1

    with pytest.raises(EndpointDefinitionError, match="tag field"):

        @app.websocket("/untagged")
        async def untagged() -> AsyncIterable[Question | Untagged]:
            yield Question(text="?")


# -- over uvicorn, with the websockets library ---------------------------------------------------------------


@pytest.fixture(scope="module")
def live_url() -> Iterator[str]:
    with serve(typed_app()) as url:
        yield url.replace("http://", "ws://")


def test_a_typed_stream_over_uvicorn(live_url: str) -> None:
    from websockets.sync.client import connect

    events.clear()
    with connect(live_url + "/chat") as websocket:
        websocket.send('{"text": "over the wire"}')
        received = [websocket.recv() for _ in range(4)]
    assert received[-1] == '{"type":"done","tokens":3}'
    wait_for(lambda: "dependency exited" in events, timeout=10)  # the server tears down once it saw the close
    assert events == ["dependency entered", "generator closed", "dependency exited"]


def test_a_refused_handshake_over_uvicorn_is_a_real_http_status(live_url: str) -> None:
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    with pytest.raises(InvalidStatus) as refused:
        connect(live_url + "/countdown?start=many")
    assert refused.value.response.status_code == 422
    assert b'"loc":["query","start"]' in refused.value.response.body


def test_an_invalid_message_over_uvicorn_closes_with_1007(live_url: str) -> None:
    from websockets.exceptions import ConnectionClosedError
    from websockets.sync.client import connect

    with connect(live_url + "/chat") as websocket:
        websocket.send("not json")
        with pytest.raises(ConnectionClosedError) as closed_with:
            websocket.recv()
    assert closed_with.value.rcvd is not None
    assert closed_with.value.rcvd.code == 1007
    assert closed_with.value.rcvd.reason.startswith("message 1: Invalid JSON")


# -- the typed client's connect() ----------------------------------------------------------------------------


def test_the_typed_client_sends_values_and_reads_validated_items(live_url: str) -> None:
    with Client(live_url.replace("ws://", "http://")) as client:
        with client.connect("/chat", item=Token | Done) as chat:
            chat.send(Question(text="one two"))
            answers = [chat.receive() for _ in range(3)]
        with client.connect("/countdown", params={"start": 3}, item=int) as countdown:
            numbers = list(countdown)  # ends at the server's close 1000
    assert answers == [Token(text="one"), Token(text="two"), Done(tokens=2)]
    assert numbers == [3, 2, 1]


def test_the_typed_client_raises_on_a_refusal_a_failure_and_a_bad_item(live_url: str) -> None:
    with Client(live_url.replace("ws://", "http://")) as client:
        with pytest.raises(HTTPStatusError) as refused:
            client.connect("/countdown", params={"start": "many"}).__enter__()
        with client.connect("/crashes", item=int) as crashes, pytest.raises(WebSocketClosed) as failed:
            list(crashes)
        with client.connect("/chat") as chat:
            chat.send({"txt": "no"})
            with pytest.raises(WebSocketClosed) as invalid:
                chat.receive()
        with client.connect("/countdown", item=str) as wrong, pytest.raises(StreamDecodeError) as bad_item:
            wrong.receive()
    assert refused.value.response.status_code == 422
    assert refused.value.problem is not None
    assert refused.value.problem["errors"][0]["loc"] == ["query", "start"]
    assert (failed.value.code, failed.value.items_received) == (1011, 1)
    assert invalid.value.code == 1007
    assert "message 1" in invalid.value.reason
    assert bad_item.value.frame_index == 0


def test_the_async_client_twin(live_url: str) -> None:
    async def run() -> tuple[list[Token | Done], list[int]]:
        async with AsyncClient(live_url.replace("ws://", "http://")) as client:
            async with client.connect("/chat", item=Token | Done) as chat:
                await chat.send(Question(text="async"))
                answers = [await chat.receive(), await chat.receive()]
            async with client.connect("/countdown", params={"start": 2}, item=int) as countdown:
                numbers = [number async for number in countdown]
            return answers, numbers

    assert anyio.run(run) == ([Token(text="async"), Done(tokens=1)], [2, 1])


# -- the rules of every stream ----------------------------------------------------------------------------------


class Tick(BaseModel):
    n: int
    pad: str = "x" * 1000


RULES_LOG: list[str] = []


async def resource() -> AsyncIterator[None]:
    try:
        yield
    finally:
        RULES_LOG.append("dependency exited")


def expiring(websocket: WebSocket) -> None:
    credentials_expire_at(websocket, time.time() + 0.5)


def rules_app(**options: Any) -> LineStream:
    """Typed streams that log their generator's close and dependency's exit to ``RULES_LOG``."""
    app = LineStream(**options)
    RULES_LOG.clear()
    log = RULES_LOG

    @app.websocket("/ticks")
    async def ticks(_: Annotated[None, Depends(resource)]) -> AsyncIterable[Tick]:
        try:
            for n in range(1_000_000):
                yield Tick(n=n)
                await anyio.lowlevel.checkpoint()
        finally:
            log.append("generator closed")

    @app.websocket("/slow")
    async def slow(_: Annotated[None, Depends(resource)]) -> AsyncIterable[Tick]:
        for n in range(1_000_000):
            yield Tick(n=n)
            await anyio.sleep(0.05)

    @app.websocket("/expiring", dependencies=[Depends(expiring)])
    async def expiring_ticks() -> AsyncIterable[Tick]:
        for n in range(1_000_000):
            yield Tick(n=n)
            await anyio.sleep(0.05)

    return app


def never_reading_websocket(url: str, path: str) -> socket.socket:
    """A WebSocket handshake over a raw socket that reads the 101 answer, then never reads again."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def test_a_websocket_stream_whose_client_stops_reading_ends_at_its_send_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = RULES_LOG
    with serve(rules_app(send_timeout=1.0)) as url:
        sock = never_reading_websocket(url, "/ticks")
        wait_for(lambda: log == ["generator closed", "dependency exited"], timeout=15)
        sock.close()
    assert any("stopped reading the WebSocket stream (send_timeout)" in r.getMessage() for r in caplog.records)


def test_websocket_streams_take_stream_slots_refused_at_the_handshake() -> None:
    with serve(rules_app(max_streams_per_client=3)) as url, Client(url) as client:
        streams = [client.connect("/slow", item=Tick).__enter__() for _ in range(3)]
        for stream in streams:
            assert stream.receive().n == 0
        with pytest.raises(HTTPStatusError) as refused:
            client.connect("/slow", item=Tick).__enter__()
        assert refused.value.response.status_code == 429
        streams.pop().close()
        wait_for(lambda: _opens(client), timeout=10)  # its slot came back
        for stream in streams:
            stream.close()


def _opens(client: Client) -> bool:
    try:
        with client.connect("/slow", item=Tick) as stream:
            return stream.receive().n == 0
    except HTTPStatusError:
        return False


def test_a_client_that_leaves_a_websocket_stream_is_logged_quietly(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="linestream")
    log = RULES_LOG
    with serve(rules_app()) as url, Client(url) as client:
        with client.connect("/ticks", item=Tick) as stream:
            assert stream.receive().n == 0
        wait_for(lambda: "dependency exited" in log, timeout=10)
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert any("the client left the WebSocket stream" in r.getMessage() for r in caplog.records)


def test_a_websocket_stream_ends_when_its_credentials_expire() -> None:
    with (
        serve(rules_app()) as url,
        Client(url) as client,
        client.connect("/expiring", item=Tick) as stream,
        pytest.raises(WebSocketClosed) as closed,
    ):
        for _ in stream:
            pass
    assert closed.value.code == 1008
    assert "credentials of this stream expired" in closed.value.reason
    assert closed.value.items_received > 0
