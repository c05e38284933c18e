"""Parameter models (``Annotated[FilterParams, Query()]``, ``Header()``, ``Cookie()``), as FastAPI documents them."""

from __future__ import annotations

from collections.abc import AsyncIterable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from linestream import Cookie, Header, LineStream, Query
from linestream.testing import TestClient, iter_json_lines


class FilterParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    limit: int = Field(100, gt=0, le=100)
    offset: int = Field(0, ge=0)
    order_by: Literal["created_at", "updated_at"] = "created_at"
    tags: list[str] = []


class CommonHeaders(BaseModel):
    host: str
    save_data: bool
    if_modified_since: str | None = None
    x_tag: list[str] = []


class Cookies(BaseModel):
    session_id: str
    tracker: str | None = None


def make_app() -> LineStream:
    app = LineStream()

    @app.get("/items")
    async def items(filters: Annotated[FilterParams, Query()]) -> FilterParams:
        return filters

    @app.get("/items/stream")
    async def stream(filters: Annotated[FilterParams, Query()]) -> AsyncIterable[dict[str, int]]:
        for index in range(filters.offset, filters.offset + min(filters.limit, 3)):
            yield {"index": index}

    @app.get("/headers")
    async def headers(headers: Annotated[CommonHeaders, Header()]) -> CommonHeaders:
        return headers

    @app.get("/cookies")
    async def cookies(cookies: Annotated[Cookies, Cookie()]) -> Cookies:
        return cookies

    return app


def test_a_query_model_takes_each_field_from_the_query_string() -> None:
    with TestClient(make_app()) as client:
        response = client.get("/items", params={"limit": 5, "offset": 2, "tags": ["a", "b"]})
        default = client.get("/items")
        streamed = client.get("/items/stream?offset=7")
    assert response.json() == {"limit": 5, "offset": 2, "order_by": "created_at", "tags": ["a", "b"]}
    assert default.json() == {"limit": 100, "offset": 0, "order_by": "created_at", "tags": []}
    assert list(iter_json_lines(streamed)) == [{"index": 7}, {"index": 8}, {"index": 9}]


def test_a_query_model_s_errors_name_the_query_parameter_and_extras_are_refused() -> None:
    with TestClient(make_app()) as client:
        invalid = client.get("/items?limit=0&order_by=name")
        extra = client.get("/items?tool=plumbus")
        streamed = client.get("/items/stream?limit=-1")
    assert invalid.status_code == 422
    assert sorted(tuple(error["loc"]) for error in invalid.json()["errors"]) == [
        ("query", "limit"),
        ("query", "order_by"),
    ]
    assert [(error["loc"], error["type"]) for error in extra.json()["errors"]] == [
        (["query", "tool"], "extra_forbidden")
    ]
    assert streamed.status_code == 422  # before the first item: a real status


def test_a_header_model_converts_underscores_and_collects_repeated_headers() -> None:
    with TestClient(make_app()) as client:
        response = client.get(
            "/headers", headers=[("save-data", "true"), ("x-tag", "one"), ("x-tag", "two"), ("host", "example")]
        )
        missing = client.get("/headers", headers={"host": "example"})
    assert response.json() == {"host": "example", "save_data": True, "if_modified_since": None, "x_tag": ["one", "two"]}
    assert [error["loc"] for error in missing.json()["errors"]] == [["header", "save_data"]]


def test_a_cookie_model() -> None:
    with TestClient(make_app()) as client:
        client.cookies.set("session_id", "abc")
        response = client.get("/cookies")
        client.cookies.clear()
        missing = client.get("/cookies")
    assert response.json() == {"session_id": "abc", "tracker": None}
    assert [error["loc"] for error in missing.json()["errors"]] == [["cookie", "session_id"]]


def test_openapi_lists_each_field_of_a_parameter_model_as_a_parameter() -> None:
    with TestClient(make_app()) as client:
        document = client.get("/openapi.json").json()

    def parameters(path: str) -> dict[str, Any]:
        return {p["name"]: p for p in document["paths"][path]["get"]["parameters"]}

    query = parameters("/items")
    assert set(query) == {"limit", "offset", "order_by", "tags"}
    assert {p["in"] for p in query.values()} == {"query"}
    assert query["limit"]["schema"]["maximum"] == 100
    assert query["limit"]["required"] is False
    assert query["tags"]["schema"]["type"] == "array"
    headers = parameters("/headers")
    assert set(headers) == {"host", "save-data", "if-modified-since", "x-tag"}
    assert headers["save-data"]["required"] is True
    assert parameters("/cookies")["session_id"]["in"] == "cookie"
