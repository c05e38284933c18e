"""Raw byte and text streams (response_class=StreamingResponse) with the item streams' lifecycle."""

import hashlib
import os
import subprocess
import threading
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from openapi_spec_validator import validate

from examples import stream_data
from linestream import Depends, EndpointDefinitionError, HTTPException, LineStream
from linestream.responses import FileResponse, HTMLResponse, StreamingResponse
from linestream.testing import TestClient
from tests.conftest import read_into, serve, wait_for
from tests.models import Item
from tests.test_coalescing import call


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")  # pragma: no cover


def make_app(events: list[str], gate: threading.Event) -> LineStream:
    app = LineStream()

    async def resource() -> AsyncIterator[None]:
        yield
        events.append("dependency closed")

    @app.get("/gated", response_class=StreamingResponse)
    async def gated() -> AsyncIterable[str]:
        yield "first line\n"
        await anyio.to_thread.run_sync(gate.wait, 10)
        yield "second line\n"

    @app.get("/mixed", response_class=StreamingResponse)
    async def mixed() -> AsyncIterable[bytes | str]:
        yield b"\x00\x01\xff"
        yield "é€\n"
        yield bytearray(b"tail")  # type: ignore[misc]

    @app.get("/missing", response_class=StreamingResponse)
    def missing() -> Iterable[bytes]:
        raise HTTPException(status_code=404, detail="No such file")
        yield b""  # pragma: no cover

    @app.get("/fails-later", response_class=StreamingResponse)
    def fails_later() -> Iterable[bytes]:
        yield b"x" * 1000
        raise OSError("disk gone")

    @app.get("/wrong-type", response_class=StreamingResponse)
    async def wrong_type() -> AsyncIterable[Any]:
        yield {"not": "bytes"}

    @app.get("/forever", response_class=StreamingResponse)
    async def forever(_: None = Depends(resource)) -> AsyncIterable[bytes]:
        try:
            yield b"start\n"
            await anyio.sleep(3600)
            yield b"never"  # pragma: no cover
        finally:
            events.append("generator closed")

    @app.get("/forever-sync", response_class=StreamingResponse)
    def forever_sync(_: None = Depends(resource)) -> Iterable[bytes]:
        try:
            while True:
                yield b"tick\n"
                time.sleep(0.02)
        finally:
            events.append("generator closed")

    @app.get("/tiny", response_class=StreamingResponse)
    async def tiny() -> AsyncIterable[bytes]:
        for _ in range(10_000):
            yield b"ab"

    app.include_router(stream_data.router)
    return app


@pytest.fixture
def events() -> list[str]:
    return []


@pytest.fixture
def gate() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()


@pytest.fixture
def base_url(events: list[str], gate: threading.Event) -> Iterator[str]:
    with serve(make_app(events, gate)) as url:
        yield url


def test_text_chunks_arrive_as_produced(base_url: str, gate: threading.Event) -> None:
    with httpx.Client() as client, client.stream("GET", base_url + "/gated") as response:
        assert response.headers["content-type"] == "text/plain; charset=utf-8"
        lines = response.iter_lines()
        assert next(lines) == "first line"
        gate.set()
        assert next(lines) == "second line"


def test_curl_shows_text_chunks_as_produced(base_url: str, gate: threading.Event) -> None:
    with subprocess.Popen(["curl", "-sN", base_url + "/gated"], stdout=subprocess.PIPE) as curl:
        assert curl.stdout is not None
        assert curl.stdout.readline() == b"first line\n"
        assert curl.poll() is None
        gate.set()
        assert curl.stdout.readline() == b"second line\n"
        assert curl.wait(timeout=5) == 0


def test_chunks_are_sent_byte_exact(base_url: str) -> None:
    response = httpx.get(base_url + "/mixed")
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.content == b"\x00\x01\xff" + "é€\n".encode() + b"tail"


def test_png_subclass_sends_the_file_with_its_media_type(base_url: str) -> None:
    response = httpx.get(base_url + "/image")
    assert response.headers["content-type"] == "image/png"
    assert response.content == stream_data.IMAGE.read_bytes()


def test_generated_binary_is_byte_exact(base_url: str) -> None:
    size = 3 * 1024 * 1024 + 17
    response = httpx.get(base_url + f"/download?size={size}")
    expected = (bytes(range(256)) * (size // 256 + 1))[:size]
    assert hashlib.sha256(response.content).digest() == hashlib.sha256(expected).digest()


@pytest.mark.slow
def test_one_gibibyte_stream_keeps_memory_flat(base_url: str) -> None:
    size = 1024**3
    received = 0
    before = rss_bytes()
    peak = before
    with httpx.Client(timeout=60) as client, client.stream("GET", base_url + f"/download?size={size}") as response:
        for chunk in response.iter_raw(1024 * 1024):
            received += len(chunk)
            if received % (64 * 1024 * 1024) < len(chunk):
                peak = max(peak, rss_bytes())
    assert received == size
    # Server and client share this process: together they may not hold more than a few chunks.
    assert peak - before < 64 * 1024 * 1024, f"RSS grew by {(peak - before) / 2**20:.1f} MiB"


def test_error_before_the_first_chunk_is_a_real_status(base_url: str) -> None:
    response = httpx.get(base_url + "/missing")
    assert response.status_code == 404
    assert response.json()["detail"] == "No such file"


def test_error_after_the_first_chunk_truncates(base_url: str) -> None:
    received = bytearray()
    with (
        httpx.Client() as client,
        client.stream("GET", base_url + "/fails-later") as response,
        pytest.raises(httpx.RemoteProtocolError),
    ):
        read_into(received, response.iter_raw())
    assert bytes(received) == b"x" * 1000


def test_yielding_another_type_is_an_error_naming_the_endpoint(events: list[str], gate: threading.Event) -> None:
    with TestClient(make_app(events, gate)) as client, pytest.raises(TypeError, match=r"wrong_type yielded a dict"):
        client.get("/wrong-type")


@pytest.mark.parametrize("path", ["/forever", "/forever-sync"])
def test_disconnect_closes_the_generator_before_teardown(base_url: str, events: list[str], path: str) -> None:
    with httpx.Client() as client, client.stream("GET", base_url + path) as response:
        next(response.iter_raw())
    wait_for(lambda: "dependency closed" in events, timeout=3)
    assert events == ["generator closed", "dependency closed"]


@pytest.mark.anyio
async def test_small_ready_chunks_are_coalesced(events: list[str], gate: threading.Event) -> None:
    messages = await call(make_app(events, gate), "/tiny")
    bodies = [m["body"] for m in messages if m["type"] == "http.response.body" and m["body"]]
    assert b"".join(bodies) == b"ab" * 10_000
    assert len(bodies) == 2  # the prefetched first chunk, then all the others together


def test_openapi_documents_raw_media_types(events: list[str], gate: threading.Event) -> None:
    document = make_app(events, gate).openapi()
    validate(document)
    image = document["paths"]["/image"]["get"]["responses"]["200"]["content"]
    assert image == {"image/png": {"schema": {"type": "string", "format": "binary"}}}
    story = document["paths"]["/story"]["get"]["responses"]["200"]["content"]
    assert story == {"text/plain": {"schema": {"type": "string"}}}


def test_raw_stream_declared_with_json_items_is_refused() -> None:
    app = LineStream()

    async def items() -> AsyncIterable[Item]:
        yield Item(name="a")

    with pytest.raises(EndpointDefinitionError, match=r"yields str or bytes chunks"):
        app.get("/x", response_class=StreamingResponse)(items)


def test_non_streaming_response_class_on_a_generator_is_refused() -> None:
    app = LineStream()

    def page() -> Iterable[str]:
        yield "<p>"

    with pytest.raises(EndpointDefinitionError, match="cannot use response_class=HTMLResponse"):
        app.get("/x", response_class=HTMLResponse)(page)


def test_file_response_keeps_ranges_and_validators(tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(bytes(range(256)) * 4)
    os.utime(path, (1_700_000_000, 1_700_000_000))
    app = LineStream()

    @app.get("/file")
    async def file() -> FileResponse:
        return FileResponse(path, media_type="application/octet-stream")

    with TestClient(app) as client:
        full = client.get("/file")
        assert full.content == path.read_bytes()
        assert full.headers["accept-ranges"] == "bytes"
        assert full.headers["last-modified"] == "Tue, 14 Nov 2023 22:13:20 GMT"
        etag = full.headers["etag"]
        assert etag
        partial = client.get("/file", headers={"range": "bytes=10-19"})
        assert partial.status_code == 206
        assert partial.headers["content-range"] == "bytes 10-19/1024"
        assert partial.content == bytes(range(10, 20))
        assert client.get("/file", headers={"range": "bytes=5000-"}).status_code == 416
        assert client.get("/file", headers={"range": "bytes=0-1", "if-range": '"stale"'}).status_code == 200
        assert client.get("/file", headers={"range": "bytes=0-1", "if-range": etag}).status_code == 206
