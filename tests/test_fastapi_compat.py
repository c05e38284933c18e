"""What a FastAPI app expects of its framework, on linestream: each bug found by running FastAPI's tutorial
programs, and the small pieces of FastAPI's surface they use, through the public API."""

from __future__ import annotations

import enum
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterable
from pathlib import Path
from typing import Annotated, Any

import pytest
from openapi_spec_validator import validate
from pydantic import BaseModel

from linestream import APIRouter, Body, Depends, Header, HTTPException, LineStream, Query, Request, Response
from linestream.exception_handlers import http_exception_handler
from linestream.openapi import build_openapi, get_openapi
from linestream.responses import ORJSONResponse, PlainTextResponse, RedirectResponse
from linestream.testing import TestClient
from tests.models import Item

ROOT = Path(__file__).resolve().parent.parent


class Message(BaseModel):
    message: str


class Tags(enum.Enum):
    items = "items"
    users = "users"


# -- bugs ----------------------------------------------------------------------------------------------------------
def test_additional_responses_document_their_model_and_add_media_types() -> None:
    app = LineStream()

    @app.get(
        "/items/{item_id}",
        responses={
            404: {"model": Message, "description": "The item was not found"},
            200: {"content": {"image/png": {}}, "description": "The item, as JSON or as an image"},
            "5XX": {"headers": {"X-Retry": {"schema": {"type": "integer"}}}},
        },
    )
    async def read(item_id: str) -> Item:
        return Item(name=item_id)

    with TestClient(app) as client:
        response = client.get("/openapi.json")
        assert response.status_code == 200
        document = response.json()
        assert client.get("/docs").status_code == 200
    validate(document)
    responses = document["paths"]["/items/{item_id}"]["get"]["responses"]
    assert responses["404"] == {
        "description": "The item was not found",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Message"}}},
    }
    assert responses["200"]["description"] == "The item, as JSON or as an image"
    assert responses["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Item"}
    assert responses["200"]["content"]["image/png"] == {}
    assert responses["5XX"]["headers"]["X-Retry"] == {"schema": {"type": "integer"}}


def test_enum_members_are_tags() -> None:
    app = LineStream()
    router = APIRouter(tags=[Tags.users])

    @router.get("/users", tags=[Tags.items])
    async def users() -> list[str]:
        return []

    app.include_router(router)
    document = app.openapi()
    validate(document)
    assert document["paths"]["/users"]["get"]["tags"] == ["users", "items"]


def test_a_response_class_answers_with_its_own_status_unless_the_route_sets_one() -> None:
    app = LineStream()

    @app.get("/go", response_class=RedirectResponse)
    async def go() -> str:
        return "https://example.test/there"

    @app.get("/go-permanently", response_class=RedirectResponse, status_code=308)
    async def go_permanently() -> str:
        return "https://example.test/there"

    @app.get("/text", response_class=PlainTextResponse)
    async def text() -> str:
        return "plain"

    with TestClient(app, follow_redirects=False) as client:
        response = client.get("/go")
        assert response.status_code == 307
        assert response.headers["location"] == "https://example.test/there"
        assert client.get("/go-permanently").status_code == 308
        assert client.get("/text").headers["content-type"] == "text/plain; charset=utf-8"
    paths = app.openapi()["paths"]
    assert paths["/go"]["get"]["responses"] == {"307": {"description": "Successful Response"}}
    assert list(paths["/go-permanently"]["get"]["responses"]) == ["308"]
    assert "text/plain" in paths["/text"]["get"]["responses"]["200"]["content"]


@pytest.mark.parametrize("url", ["", None])
def test_an_empty_or_absent_openapi_url_turns_every_documentation_page_off(url: str | None) -> None:
    app = LineStream(openapi_url=url)
    with TestClient(app) as client:
        for path in ("/openapi.json", "/docs", "/redoc", "/explorer"):
            assert client.get(path).status_code == 404, path


def test_path_converters_stay_out_of_the_document() -> None:
    app = LineStream()

    @app.get("/files/{file_path:path}")
    async def read_file(file_path: str) -> dict[str, str]:
        return {"file_path": file_path}

    with TestClient(app) as client:
        assert client.get("/files/home/johndoe/myfile.txt").json() == {"file_path": "home/johndoe/myfile.txt"}
    document = app.openapi()
    validate(document)
    assert list(document["paths"]) == ["/files/{file_path}"]
    assert document["paths"]["/files/{file_path}"]["get"]["operationId"] == "read_file_files__file_path__get"


def test_malformed_json_is_one_error() -> None:
    app = LineStream()

    @app.post("/items")
    async def create(item: Item) -> Item:
        return item

    with TestClient(app) as client:
        response = client.post("/items", content=b'{"name": ', headers={"content-type": "application/json"})
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert [error["type"] for error in errors] == ["json_invalid"]


def user() -> str:
    return "real"


def test_dependency_overrides_can_be_reset_to_none() -> None:
    app = LineStream()

    @app.get("/me")
    async def me(name: Annotated[str, Depends(user)]) -> dict[str, str]:
        return {"name": name}

    with TestClient(app) as client:
        app.dependency_overrides[user] = lambda: "fake"
        assert client.get("/me").json() == {"name": "fake"}
        app.dependency_overrides = None  # type: ignore[assignment] - as some test suites reset it
        assert client.get("/me").json() == {"name": "real"}
        app.dependency_overrides = {}
        assert client.get("/me").json() == {"name": "real"}


def test_server_sent_events_say_their_charset() -> None:
    app = LineStream()

    @app.get("/events")
    async def events() -> AsyncIterable[Item]:
        yield Item(name="a")

    with TestClient(app) as client:
        response = client.get("/events", headers={"accept": "text/event-stream"})
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"


@pytest.mark.parametrize("strict", [True, False])
def test_a_body_without_a_content_type_is_refused_unless_the_app_allows_it(strict: bool) -> None:
    app = LineStream(strict_content_type=strict)

    @app.post("/items")
    async def create(item: Item) -> Item:
        return item

    @app.post("/bulk")
    async def bulk(items: AsyncIterable[Item]) -> dict[str, int]:
        return {"count": len([item async for item in items])}

    with TestClient(app) as client:
        single = client.post("/items", content=b'{"name":"a"}')
        streamed = client.post("/bulk", content=b'{"name":"a"}\n{"name":"b"}\n')
        typed = client.post("/items", json={"name": "a"})
    if strict:
        assert (single.status_code, streamed.status_code) == (415, 415)
        assert "strict_content_type=False" in single.json()["detail"]
        assert "application/jsonl" in streamed.json()["detail"]
    else:
        assert single.json() == {"name": "a"}
        assert streamed.json() == {"count": 2}
    assert typed.json() == {"name": "a"}


# -- TestClient ------------------------------------------------------------------------------------------------------
def test_the_test_client_follows_redirects_and_calls_its_host_testclient() -> None:
    app = LineStream()

    @app.get("/items/")
    async def items(request: Request) -> dict[str, Any]:
        assert request.client is not None
        return {"host": request.client.host}

    with TestClient(app) as client:
        response = client.get("/items")  # Starlette redirects to the slash
    assert response.json() == {"host": "testclient"}
    assert response.history[0].status_code == 307


def test_a_test_client_never_closed_does_not_hold_the_interpreter_at_exit(tmp_path: Path) -> None:
    module = tmp_path / "unclosed_app.py"
    module.write_text(
        textwrap.dedent(
            """
            from linestream import LineStream

            app = LineStream()

            @app.get("/")
            async def root() -> dict[str, str]:
                return {"hello": "world"}
            """
        )
    )
    script = "from linestream.testing import TestClient\nfrom unclosed_app import app\n"
    script += "client = TestClient(app)\nassert client.get('/').json() == {'hello': 'world'}\nprint('done')\n"
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "done"


# -- the rest of the surface ------------------------------------------------------------------------------------------
def test_exception_handler_and_middleware_decorators() -> None:
    app = LineStream()
    seen: list[str] = []

    class Teapot(Exception):
        pass

    @app.exception_handler(Teapot)
    async def teapot(request: Request, exc: Exception) -> Response:
        return PlainTextResponse("short and stout", status_code=418)

    @app.exception_handler(HTTPException)
    async def logged(request: Request, exc: Exception) -> Response:
        seen.append(request.url.path)
        return await http_exception_handler(request, exc)

    @app.middleware("http")
    async def timing(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers["x-process"] = "timed"
        return response

    @app.get("/teapot")
    async def brew() -> None:
        raise Teapot

    @app.get("/missing")
    async def missing() -> None:
        raise HTTPException(404, "gone")

    with TestClient(app) as client:
        response = client.get("/teapot")
        assert (response.status_code, response.text, response.headers["x-process"]) == (418, "short and stout", "timed")
        missing_response = client.get("/missing")
        assert missing_response.status_code == 404
        assert missing_response.json()["detail"] == "gone"
    assert seen == ["/missing"]
    with pytest.raises(ValueError, match='Only "http"'):
        app.middleware("websocket")


def everything_app() -> LineStream:
    """An app using every option of this file's pieces, for the document checks."""
    hooks = APIRouter()

    @hooks.post("new-subscription")
    async def new_subscription(body: Item) -> None:
        """When someone subscribes, we call you."""

    invoices = APIRouter()

    @invoices.post("{$callback_url}/invoices/{$request.body.id}")
    async def invoice_notification(body: Message) -> Message:
        return body

    app = LineStream(
        title="Everything",
        version="2.5.0",
        summary="Every option",
        description="An app using *every* documented option.",
        terms_of_service="https://example.test/terms",
        contact={"name": "Team", "email": "team@example.test"},
        license_info={"name": "MIT", "identifier": "MIT"},
        openapi_tags=[{"name": "items", "description": "Items"}],
        servers=[{"url": "https://api.example.test"}],
        webhooks=hooks,
        default_response_class=ORJSONResponse,
    )

    @app.get("/items/", tags=["items"], callbacks=invoices.routes)
    async def read_items(
        q: Annotated[
            str | None,
            Query(openapi_examples={"short": {"summary": "A short query", "value": "pl"}}),
        ] = None,
        x_token: Annotated[str | None, Header()] = None,
    ) -> list[Item]:
        """Read the items.

        \f
        Internal notes that the API's documentation does not show.
        """
        return [Item(name="plumbus")]

    @app.put("/items/{item_id}", generate_unique_id_function=lambda route: f"custom-{route.name}")
    async def update(item_id: int, item: Item, note: Annotated[str, Body()]) -> Item:
        return item

    return app


def test_the_document_has_every_piece_and_validates_in_3_1_and_3_2() -> None:
    app = everything_app()
    document = app.openapi()
    validate(document)
    info = document["info"]
    assert info["termsOfService"] == "https://example.test/terms"
    assert info["contact"]["email"] == "team@example.test"
    assert info["license"]["identifier"] == "MIT"
    read = document["paths"]["/items/"]["get"]
    assert read["description"] == "Read the items."
    parameters = {parameter["name"]: parameter for parameter in read["parameters"]}
    assert parameters["q"]["examples"] == {"short": {"summary": "A short query", "value": "pl"}}
    assert parameters["x-token"]["schema"]["title"] == "X-Token"
    callback = read["callbacks"]["invoice_notification"]["{$callback_url}/invoices/{$request.body.id}"]
    assert callback["post"]["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Message"
    }
    assert document["webhooks"]["new-subscription"]["post"]["description"] == "When someone subscribes, we call you."
    update = document["paths"]["/items/{item_id}"]["put"]
    assert update["operationId"] == "custom-update"
    assert update["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Body_custom-update"
    }
    validate(build_openapi(app, version="3.2.0"))


def test_default_response_class_and_orjson_response() -> None:
    app = everything_app()
    with TestClient(app) as client:
        response = client.get("/items/")
    assert response.json() == [{"name": "plumbus"}]
    assert ORJSONResponse({"a": [1, 2]}).body == b'{"a":[1,2]}'


def test_root_path_is_a_server_of_the_document() -> None:
    app = LineStream()
    with TestClient(app, root_path="/api/v1") as client:
        document = client.get("/openapi.json").json()
    assert document["servers"] == [{"url": "/api/v1"}]
    with TestClient(LineStream(root_path_in_servers=False), root_path="/api/v1") as client:
        assert "servers" not in client.get("/openapi.json").json()


def test_an_app_may_extend_its_document() -> None:
    app = LineStream(title="Orders")

    @app.get("/orders")
    async def orders() -> list[Item]:
        return []

    def custom_openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(title="Orders", version="2.0.0", summary="Custom", routes=app.routes)
            document["info"]["x-logo"] = {"url": "https://example.test/logo.png"}
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = custom_openapi  # type: ignore[method-assign]
    with TestClient(app) as client:
        document = client.get("/openapi.json").json()
    assert document["info"] == {
        "title": "Orders",
        "summary": "Custom",
        "version": "2.0.0",
        "x-logo": {"url": "https://example.test/logo.png"},
    }
    assert list(document["paths"]) == ["/orders"]


def test_status_and_redoc_are_where_fastapi_users_look() -> None:
    from linestream import status

    assert status.HTTP_418_IM_A_TEAPOT == 418
    with TestClient(LineStream(title="Docs")) as client:
        page = client.get("/redoc")
        assert page.status_code == 200
        assert "/redoc/static/redoc.standalone.js" in page.text
        assert "worker-src 'self' blob:" in page.headers["content-security-policy"]
        assert client.get("/redoc/static/redoc.standalone.js").status_code == 200
