"""A path operation served straight from the app's ASGI call answers every request as it would through
Starlette's middleware: the same statuses, bodies and re-raised server errors, with or without a user middleware
(which sends requests through the stack)."""

from __future__ import annotations

from collections.abc import AsyncIterable
from typing import Any

import pytest
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from linestream import HTTPException, LineStream
from linestream.testing import TestClient
from tests.models import Item


class PassThrough:
    """A user middleware that changes nothing: the app then serves every request through Starlette's stack."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


class Refused(Exception):
    pass


def make_app(middleware: list[Middleware], **options: Any) -> LineStream:
    async def refused(request: Request, exc: Refused) -> JSONResponse:
        return JSONResponse({"refused": str(exc)}, status_code=409)

    def teapot(request: Request, exc: HTTPException) -> PlainTextResponse:  # a def handler runs in a thread
        return PlainTextResponse("short and stout", status_code=418)

    app = LineStream(middleware=middleware, exception_handlers={Refused: refused, 418: teapot}, **options)

    @app.get("/items")
    async def items(fail: str = "") -> AsyncIterable[Item]:
        if fail == "http":
            raise HTTPException(404, "no such items")
        if fail == "handled":
            raise Refused("by a handler")
        if fail == "teapot":
            raise HTTPException(418)
        if fail == "crash":
            raise RuntimeError("a bug")
        yield Item(name="a")

    @app.get("/value")
    async def value(fail: str = "") -> dict[str, str]:
        if fail == "crash":
            raise RuntimeError("a bug")
        return {"ok": "yes"}

    return app


ROUTES = ["/items", "/items?fail=http", "/items?fail=handled", "/items?fail=teapot", "/value", "/nowhere"]


def answers(app: LineStream, path: str) -> tuple[int, str, bytes]:
    with TestClient(app) as client:
        response = client.get(path)
        return response.status_code, response.headers.get("content-type", ""), response.content


@pytest.mark.parametrize("path", ROUTES)
def test_served_directly_or_through_the_middleware_a_request_gets_the_same_answer(path: str) -> None:
    direct = answers(make_app([]), path)
    stacked = answers(make_app([Middleware(PassThrough)]), path)
    assert direct == stacked
    assert direct[0] in (200, 404, 409, 418)


@pytest.mark.parametrize("middleware", [[], [Middleware(PassThrough)]], ids=["direct", "through the stack"])
@pytest.mark.parametrize("path", ["/items?fail=crash", "/value?fail=crash"])
def test_a_server_error_is_a_500_problem_and_is_raised_to_the_server(path: str, middleware: list[Middleware]) -> None:
    app = make_app(middleware)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get(path)
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "The server failed to process the request."
    with TestClient(app) as client, pytest.raises(RuntimeError, match="a bug"):
        client.get(path)


def test_a_500_handler_of_the_app_answers_server_errors_served_directly() -> None:
    async def oops(request: Request, exc: Exception) -> PlainTextResponse:
        return PlainTextResponse(f"oops: {exc}", status_code=500)

    app = LineStream(exception_handlers={500: oops})

    @app.get("/items")
    async def items() -> AsyncIterable[Item]:
        raise RuntimeError("a bug")
        yield Item(name="a")  # pragma: no cover - a generator that fails before its first item

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/items")
    assert (response.status_code, response.text) == (500, "oops: a bug")


def test_a_method_the_route_does_not_take_is_405_from_the_router() -> None:
    with TestClient(make_app([])) as client:
        response = client.post("/items")
    assert response.status_code == 405
    assert "GET" in response.headers["allow"]


def test_without_a_500_handler_a_server_error_is_starlette_s_plain_500() -> None:
    app = make_app([])
    del app.exception_handlers[Exception]
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/items?fail=crash")
    assert (response.status_code, response.text) == (500, "Internal Server Error")


def test_a_debug_app_takes_starlette_s_stack_and_shows_its_traceback_page() -> None:
    app = make_app([], debug=True)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/value?fail=crash", headers={"accept": "text/html"})
    assert response.status_code == 500
    assert "RuntimeError" in response.text
    assert "a bug" in response.text
