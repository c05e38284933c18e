"""Streamed request bodies: `items: AsyncIterable[Item]` parameters, over a real server."""

import gzip
import json
import socket
import subprocess
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from openapi_spec_validator import validate
from pydantic import BaseModel, Field

from linestream import Body, BodyLimits, Depends, EndpointDefinitionError, InvalidRequestItem, LineStream
from linestream.client import AsyncClient, Client, HTTPStatusError
from linestream.streams import format_named
from tests.conftest import serve

JSONL = {"content-type": "application/jsonl"}


class In(BaseModel):
    name: str
    price: float = Field(ge=0)


class Out(BaseModel):
    name: str
    price_with_tax: float


def make_app(**options: Any) -> LineStream:
    app = LineStream(sse_keepalive=None, **options)

    @app.post("/ingest")
    async def ingest(items: AsyncIterable[In]) -> dict[str, Any]:
        count, total = 0, 0.0
        async for item in items:
            count += 1
            total += item.price
        return {"count": count, "total": total}

    @app.post("/ingest-sync")
    def ingest_sync(items: Iterable[In]) -> dict[str, Any]:
        names = [item.name for item in items]
        return {"count": len(names), "last": names[-1] if names else None}

    @app.post("/ingest-untyped")
    async def ingest_untyped(items: AsyncIterable[Any]) -> list[Any]:
        return [item async for item in items]

    @app.post("/tolerant")
    async def tolerant(items: AsyncIterable[In]) -> dict[str, Any]:
        good, bad = 0, []
        iterator = aiter(items)
        while True:
            try:
                await anext(iterator)
                good += 1
            except InvalidRequestItem as exc:
                bad.append(exc.line)
                break
            except StopAsyncIteration:
                break
        return {"good": good, "bad": bad}

    @app.post("/enrich")
    async def enrich(items: AsyncIterable[In]) -> AsyncIterable[Out]:
        async for item in items:
            yield Out(name=item.name, price_with_tax=round(item.price * 1.2, 2))

    return app


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with serve(make_app(body_limits=BodyLimits(max_line_size=4096, max_items=1000, idle_timeout=0.5))) as url:
        yield url


ITEMS = [In(name=f"item {index}", price=index) for index in range(50)]


def encode(media_type: str, values: list[Any]) -> bytes:
    framing = format_named(media_type).framing
    frames = [framing.encode(json.dumps(value).encode(), first=index == 0) for index, value in enumerate(values)]
    return framing.head + b"".join(frames) + framing.tail


@pytest.mark.parametrize(
    "media_type", ["application/jsonl", "application/x-ndjson", "application/json-seq", "application/json"]
)
def test_every_content_type_is_decoded_item_by_item(base_url: str, media_type: str) -> None:
    body = encode(media_type, [item.model_dump() for item in ITEMS])
    response = httpx.post(base_url + "/ingest", content=body, headers={"content-type": media_type})
    assert response.json() == {"count": 50, "total": sum(range(50))}


def test_gzip_bodies_are_decoded_on_the_fly(base_url: str) -> None:
    body = gzip.compress(encode("application/jsonl", [item.model_dump() for item in ITEMS]))
    response = httpx.post(
        base_url + "/ingest", content=body, headers={"content-type": "application/jsonl", "content-encoding": "gzip"}
    )
    assert response.json() == {"count": 50, "total": sum(range(50))}


def test_def_endpoints_iterate_a_sync_iterable(base_url: str) -> None:
    body = encode("application/jsonl", [item.model_dump() for item in ITEMS])
    response = httpx.post(base_url + "/ingest-sync", content=body, headers={"content-type": "application/jsonl"})
    assert response.json() == {"count": 50, "last": "item 49"}


def test_untyped_items_are_plain_json(base_url: str) -> None:
    response = httpx.post(base_url + "/ingest-untyped", content=b'1\n"a"\n{"b":[2]}\n', headers=JSONL)
    assert response.json() == [1, "a", {"b": [2]}]


@pytest.mark.parametrize("position", [0, 25, 49])
def test_an_invalid_line_is_a_422_naming_the_line_and_field(base_url: str, position: int) -> None:
    values: list[Any] = [item.model_dump() for item in ITEMS]
    values[position] = {"name": "bad", "price": -1}
    response = httpx.post(base_url + "/ingest", content=encode("application/jsonl", values), headers=JSONL)
    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert error["loc"] == ["body", position + 1, "price"]
    assert error["type"] == "greater_than_equal"


def test_a_line_that_is_not_json_is_a_422(base_url: str) -> None:
    response = httpx.post(base_url + "/ingest", content=b'{"name":"a","price":1}\n{not json\n', headers=JSONL)
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", 2]


def test_the_endpoint_can_catch_the_typed_error(base_url: str) -> None:
    body = b'{"name":"a","price":1}\n{"name":"b","price":-5}\n'
    response = httpx.post(base_url + "/tolerant", content=body, headers=JSONL)
    assert response.json() == {"good": 1, "bad": [2]}


def test_unsupported_content_type_or_encoding_is_a_415(base_url: str) -> None:
    assert httpx.post(base_url + "/ingest", content=b"a,b", headers={"content-type": "text/csv"}).status_code == 415
    response = httpx.post(base_url + "/ingest", content=b"x", headers={"content-encoding": "br"})
    assert response.status_code == 415


def test_a_line_over_the_size_limit_is_a_413(base_url: str) -> None:
    body = json.dumps({"name": "x" * 10_000, "price": 1}).encode() + b"\n"
    response = httpx.post(base_url + "/ingest", content=body, headers=JSONL)
    assert response.status_code == 413
    assert response.json()["detail"] == (
        "Item 1 of the request body is longer than 4096 bytes; the limit is BodyLimits.max_line_size: "
        "LineStream(body_limits=BodyLimits(max_line_size=...)) changes it."
    )


def test_too_many_items_is_a_413(base_url: str) -> None:
    body = b'{"name":"a","price":1}\n' * 1001
    response = httpx.post(base_url + "/ingest", content=body, headers=JSONL)
    assert response.status_code == 413
    assert "more than 1000 items; the limit is BodyLimits.max_items" in response.json()["detail"]


def test_a_body_that_stops_arriving_is_a_408(base_url: str) -> None:
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(
            b"POST /ingest HTTP/1.1\r\nHost: t\r\nContent-Type: application/jsonl\r\nTransfer-Encoding: chunked\r\n\r\n"
            b'17\r\n{"name":"a","price":1}\n\r\n'
        )
        response = sock.recv(65536)
    assert response.startswith(b"HTTP/1.1 408")


def test_output_streams_while_input_still_arrives(base_url: str) -> None:
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(
            b"POST /enrich HTTP/1.1\r\nHost: t\r\nContent-Type: application/jsonl\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        received = b""
        for index in range(3):
            line = json.dumps({"name": f"n{index}", "price": 10}).encode() + b"\n"
            sock.sendall(b"%x\r\n%s\r\n" % (len(line), line))
            while received.count(b"price_with_tax") < index + 1:
                received += sock.recv(65536)  # the result for this line arrives before the next line is sent
        sock.sendall(b"0\r\n\r\n")
        while not received.endswith(b"0\r\n\r\n"):
            received += sock.recv(65536)
    assert received.startswith(b"HTTP/1.1 200")
    assert received.count(b'"price_with_tax":12.0') == 3


@pytest.mark.parametrize("twin", ["sync", "async"])
def test_client_post_stream_uploads_items_as_produced_and_reads_the_stream(base_url: str, twin: str) -> None:
    produced: list[int] = []

    def items() -> Iterator[In]:
        for index in range(20):
            produced.append(index)
            yield In(name=f"n{index}", price=index)

    if twin == "sync":
        with Client(base_url) as client, client.post_stream("/enrich", items=items(), item=Out) as results:
            received = list(results)
    else:

        async def run() -> list[Out]:
            async def async_items() -> AsyncIterator[In]:
                for item in items():
                    yield item

            async with (
                AsyncClient(base_url) as client,
                client.post_stream("/enrich", items=async_items(), item=Out) as results,
            ):
                return [value async for value in results]

        received = anyio.run(run)
    assert [item.price_with_tax for item in received] == [round(i * 1.2, 2) for i in range(20)]
    assert produced == list(range(20))


def test_openapi_documents_the_streamed_request_body() -> None:
    app = make_app()
    document = app.openapi()
    validate(document)
    body = document["paths"]["/ingest"]["post"]["requestBody"]
    item = {"$ref": "#/components/schemas/In"}
    assert set(body["content"]) == {
        "application/jsonl",
        "application/x-ndjson",
        "application/json-seq",
        "application/json",
    }
    assert body["content"]["application/jsonl"]["x-oai-itemSchema"] == item
    app32 = LineStream(openapi_version="3.2.0")
    app32.router = app.router
    document32 = app32.openapi()
    validate(document32)
    assert document32["paths"]["/ingest"]["post"]["requestBody"]["content"]["application/x-ndjson"] == {
        "itemSchema": item
    }


def test_mis_declared_streamed_bodies_fail_at_build_time() -> None:
    app = LineStream()

    async def sync_annotation_in_async(items: Iterable[In]) -> None:
        return None

    async def two_streams(a: AsyncIterable[In], b: AsyncIterable[In]) -> None:
        return None

    async def with_body(items: AsyncIterable[In], extra: In = Body()) -> None:
        return None

    async def streaming_dependency(items: AsyncIterable[In]) -> None:
        return None

    async def uses_dependency(value: None = Depends(streaming_dependency)) -> None:
        return None

    for endpoint, message in [
        (sync_annotation_in_async, "declare it AsyncIterable"),
        (two_streams, "both stream the request body"),
        (with_body, "cannot also hold the body parameter"),
        (uses_dependency, "only the path operation itself"),
    ]:
        with pytest.raises(EndpointDefinitionError, match=message):
            app.post("/x")(endpoint)


@pytest.mark.slow
def test_one_gibibyte_upload_keeps_server_memory_flat(tmp_path: Path) -> None:
    from tests.test_raw_streams import rss_bytes

    line = json.dumps({"name": "x" * 1000, "price": 1.5}).encode() + b"\n"
    count = (1024**3) // len(line) + 1
    chunk = line * 64

    def body() -> Iterator[bytes]:
        for _ in range(count // 64):
            yield chunk

    with serve(make_app()) as url:
        before = rss_bytes()
        started = time.monotonic()
        response = httpx.post(url + "/ingest", content=body(), timeout=300, headers=JSONL)
        elapsed = time.monotonic() - started
        after = rss_bytes()
    assert response.json()["count"] == count // 64 * 64
    assert after - before < 64 * 1024 * 1024, f"RSS grew by {(after - before) >> 20} MiB"
    assert elapsed < 240


def test_curl_uploads_a_file_as_the_docs_say(base_url: str, tmp_path: Path) -> None:
    items = tmp_path / "items.jsonl"
    items.write_bytes(b"".join(b'{"name":"n%d","price":2}\n' % index for index in range(1000)))
    command = ["curl", "-sS", "-X", "POST", "-T", str(items), "-H", "Content-Type: application/jsonl"]
    output = subprocess.run([*command, base_url + "/ingest"], capture_output=True, check=True, timeout=30).stdout
    assert json.loads(output) == {"count": 1000, "total": 2000.0}
    refused = subprocess.run(
        ["curl", "-sS", "--data-binary", f"@{items}", base_url + "/ingest"], capture_output=True, timeout=30
    ).stdout
    problem = json.loads(refused)
    assert problem["status"] == 415
    assert "application/jsonl" in problem["detail"]


class Summary(BaseModel):
    count: int


def test_every_streaming_call_of_the_client_has_one_shape_and_an_upload_may_get_one_value(base_url: str) -> None:
    upload = [In(name=f"n{index}", price=index) for index in range(3)]
    with Client(base_url) as client:
        iterated = list(client.post_stream("/enrich", items=upload, item=Out))  # like get_stream
        with client.post_stream("/enrich", items=upload, item=Out) as in_a_block:
            blocked = list(in_a_block)
        summary = client.post_items("/ingest", items=upload, result=Summary)
        plain = client.post_items("/ingest", items=upload)["count"]
        with pytest.raises(HTTPStatusError) as refused:
            client.post_items("/ingest", items=[{"wrong": 1}])

    async def twin() -> tuple[list[Out], Summary]:
        async with AsyncClient(base_url) as client:
            items = [value async for value in client.post_stream("/enrich", items=upload, item=Out)]
            return items, await client.post_items("/ingest", items=upload, result=Summary)

    assert [item.price_with_tax for item in iterated] == [0.0, 1.2, 2.4]
    assert blocked == iterated
    assert summary == Summary(count=3)
    assert plain == 3
    assert refused.value.response.status_code == 422
    assert anyio.run(twin) == (iterated, summary)
