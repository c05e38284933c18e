"""``LineStream(compat="fastapi")``: the app answers, encodes and documents as FastAPI does (docs/fastapi.md,
"The compatibility mode"); FastAPI's own tutorial suite proves it at large (tests/test_fastapi_suite.py)."""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterable
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel

from linestream import Form, LineStream, Request
from linestream.exceptions import RequestValidationError
from linestream.responses import JSONResponse
from linestream.testing import TestClient


class Item(BaseModel):
    name: str
    price: float


def compat_app() -> LineStream:
    app = LineStream(compat="fastapi")

    @app.get("/items/{item_id}")
    async def read(item_id: int, q: str) -> dict[str, Any]:
        return {"item_id": item_id, "q": q}

    @app.post("/items")
    async def create(item: Item) -> Item:
        return item

    @app.post("/login")
    async def login(username: str = Form(), password: str = Form()) -> dict[str, str]:
        return {"username": username}

    @app.get("/when")
    async def when() -> Any:
        start = datetime.datetime(2026, 12, 7, 12, 0, tzinfo=datetime.timezone.utc)
        return {"at": start, "lasts": datetime.timedelta(minutes=5), "price": Decimal("1.50"), "count": Decimal(3)}

    @app.get("/stream")
    async def stream() -> AsyncIterable[Item]:
        yield Item(name="a", price=1)

    return app


def test_errors_are_fastapi_s_with_their_inputs() -> None:
    with TestClient(compat_app()) as client:
        missing = client.get("/items/1")
        text_body = client.post("/items", content=b'{"name": "a"}', headers={"content-type": "text/plain"})
        broken = client.post("/items", content=b"{broken", headers={"content-type": "application/json"})
        form_as_json = client.post("/login", json={"username": "ada"})
    assert missing.status_code == 422
    assert missing.json() == {
        "detail": [{"type": "missing", "loc": ["query", "q"], "msg": "Field required", "input": None}]
    }
    assert text_body.status_code == 422  # FastAPI: the text is validated as the model
    assert text_body.json()["detail"][0]["type"] == "model_attributes_type"
    assert text_body.json()["detail"][0]["input"] == '{"name": "a"}'
    assert broken.json() == {
        "detail": [
            {
                "type": "json_invalid",
                "loc": ["body", 1],
                "msg": "JSON decode error",
                "input": {},
                "ctx": {"error": "Expecting property name enclosed in double quotes"},
            }
        ]
    }
    assert [error["loc"] for error in form_as_json.json()["detail"]] == [["body", "username"], ["body", "password"]]


def test_untyped_values_are_encoded_as_by_jsonable_encoder() -> None:
    with TestClient(compat_app()) as client:
        assert client.get("/when").json() == {
            "at": "2026-12-07T12:00:00+00:00",
            "lasts": 300.0,
            "price": 1.5,
            "count": 3,
        }


def test_streams_ignore_accept_as_in_fastapi() -> None:
    app = compat_app()
    with TestClient(app) as client:
        for accept in ("text/plain", "application/json", "text/event-stream", "*/*"):
            response = client.get("/stream", headers={"accept": accept})
            assert response.status_code == 200, accept
            assert response.headers["content-type"].startswith("application/jsonl")
            assert response.text == '{"name":"a","price":1.0}\n'


def test_the_document_has_fastapi_s_error_schemas() -> None:
    document = compat_app().openapi()
    responses = document["paths"]["/items"]["post"]["responses"]
    assert responses["422"]["content"] == {
        "application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}
    }
    schemas = document["components"]["schemas"]
    assert {"HTTPValidationError", "ValidationError"} <= set(schemas)
    assert not {"Problem", "ValidationProblem", "StreamEnd", "StreamError"} & set(schemas)
    assert document["paths"]["/stream"]["get"]["responses"]["200"]["content"] == {
        "application/jsonl": {"itemSchema": {"$ref": "#/components/schemas/Item"}}
    }


def test_handlers_written_for_fastapi_call_errors_and_the_default_handlers_answer_as_fastapi() -> None:
    from linestream.exception_handlers import request_validation_exception_handler

    for compat in ("fastapi", None):
        app = LineStream(compat=compat)
        seen: list[Any] = []

        @app.exception_handler(RequestValidationError)
        async def handler(request: Request, exc: RequestValidationError, seen: list[Any] = seen) -> Any:
            seen.append((exc.errors()[0]["loc"], exc.body))
            return await request_validation_exception_handler(request, exc)

        @app.post("/items")
        async def create(item: Item) -> Item:
            return item

        with TestClient(app) as client:
            response = client.post("/items", json={"name": "a"})
        assert response.status_code == 422
        if compat:
            assert seen == [(("body", "price"), {"name": "a"})]  # FastAPI's errors: locations are tuples
            assert response.json()["detail"][0]["loc"] == ["body", "price"]
        else:
            assert seen == [(["body", "price"], {"name": "a"})]
            assert response.headers["content-type"] == "application/problem+json"
            assert isinstance(response.json()["errors"], list)


def test_a_compat_mode_that_does_not_exist_is_refused() -> None:
    with pytest.raises(ValueError, match="compat must be one of"):
        LineStream(compat="flask")  # type: ignore[arg-type]


def test_root_path_is_every_request_s_and_the_document_s_server() -> None:
    app = LineStream(root_path="/api/v1")

    @app.get("/app")
    async def read(request: Request) -> dict[str, str]:
        return {"root_path": request.scope["root_path"]}

    with TestClient(app) as client:
        assert client.get("/app").json() == {"root_path": "/api/v1"}
        assert client.get("/openapi.json").json()["servers"] == [{"url": "/api/v1"}]


def test_the_test_client_calls_itself_testclient() -> None:
    app = LineStream()

    @app.get("/agent")
    async def agent(request: Request) -> JSONResponse:
        return JSONResponse({"agent": request.headers["user-agent"]})

    with TestClient(app) as client:
        assert client.get("/agent").json() == {"agent": "testclient"}
        assert client.get("/agent", headers={"user-agent": "mine"}).json() == {"agent": "mine"}


def test_renamed_names_still_work_for_a_release_with_a_warning() -> None:
    import linestream.topics
    from linestream import BodyLimits

    with pytest.warns(DeprecationWarning, match="now SerializedItem"):
        assert linestream.topics.Message is linestream.topics.SerializedItem
    limits = BodyLimits(max_line_size=1024)
    with pytest.warns(DeprecationWarning, match="now LineStream\\(body_limits=\\)"):
        app = LineStream(request_stream_limits=limits)
    assert app.settings.body_limits is limits
    with pytest.warns(DeprecationWarning, match="now app.runtime"):
        assert app.context is app.runtime
