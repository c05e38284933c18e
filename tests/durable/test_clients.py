"""The Durable Streams protocol's own clients read linestream's durable streams: the Python ``durable-streams``
package (sync and async) and the TypeScript ``@durable-streams/client`` under Node, live (long-poll and SSE),
against uvicorn.

``durable-streams`` 0.1.0 (PyPI's newest) predates the protocol's stream closure: its live reads never end, even
at the end of a closed stream, so these tests stop reading once they have every item; the TypeScript client
ends its read at the closure, as the protocol says."""

from __future__ import annotations

import itertools
import json
import subprocess
from collections.abc import Iterator
from typing import Any

import durable_streams
import httpx
import pytest

from tests.conftest import ServerProcess, serve_process
from tests.durable.test_conformance import NODE, node_modules


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    with serve_process("tests.apps.durable_app:app") as process:
        yield process


def start_answer(server: ServerProcess, tokens: int) -> str:
    """Start a durable answer that takes a moment, leave at once, and return its log's URL."""
    with httpx.stream("POST", f"{server.url}/chat", params={"tokens": tokens, "delay": 0.05}) as response:
        return response.headers["location"]


def expected(tokens: int) -> list[dict[str, Any]]:
    return [{"index": index, "text": f"token {index}"} for index in range(tokens)]


@pytest.mark.parametrize("live", ["long-poll", "sse"])
def test_the_python_client_reads_a_durable_answer_live_to_its_end(server: ServerProcess, live: str) -> None:
    location = start_answer(server, 10)
    # durable-streams 0.1.0 sends a live read without an offset unless given one; the protocol requires it.
    with httpx.Client() as client, durable_streams.stream(location, live=live, offset="-1", client=client) as response:
        items = list(itertools.islice(response.iter_json(), 10))
    assert items == expected(10)


@pytest.mark.anyio
async def test_the_async_python_client_reads_a_durable_answer(server: ServerProcess) -> None:
    location = start_answer(server, 6)
    items = []
    async with (
        httpx.AsyncClient() as client,  # ours, closed here: the client's own is left open when a read stops early
        durable_streams.astream(location, live="sse", offset="-1", client=client) as response,
    ):
        async for item in response.iter_json():
            items.append(item)
            if len(items) == 6:
                break
    assert items == expected(6)


def test_the_python_client_writes_a_stream_linestream_serves(server: ServerProcess) -> None:
    url = f"{server.url}/v1/stream/written-by-the-python-client"
    handle = durable_streams.DurableStream.create(url, content_type="application/json")
    try:
        handle.append({"n": 1})
        handle.append({"n": 2})
    finally:
        handle.close()
    assert httpx.get(url).json() == [{"n": 1}, {"n": 2}]


@pytest.mark.parametrize("live", ["long-poll", "sse"])
def test_the_typescript_client_reads_a_durable_answer_live_to_its_end(server: ServerProcess, live: str) -> None:
    node_modules()
    location = start_answer(server, 8)
    output = subprocess.run(
        ["node", "read.mjs", location, live], cwd=NODE, capture_output=True, text=True, timeout=60, check=True
    )
    assert json.loads(output.stdout) == expected(8)
