"""The tutorial app (examples/items.py) gives the exact expected bytes and headers over a real server."""

from __future__ import annotations

import json
import subprocess

import httpx
import pytest

from examples.items import app
from tests.conftest import serve

EXPECTED = (
    b'{"name":"Plumbus","description":"A multi-purpose household device."}\n'
    b'{"name":"Portal Gun","description":"A portal opening device."}\n'
    b'{"name":"Meeseeks Box","description":"A box that summons a Meeseeks."}\n'
)
PATHS = [
    "/items/stream",
    "/items/stream-no-async",
    "/items/stream-no-annotation",
    "/items/stream-no-async-no-annotation",
]


@pytest.fixture(scope="module")
def base_url() -> object:
    with serve(app) as url:
        yield url


@pytest.mark.parametrize("path", PATHS)
def test_tutorial_endpoint_sends_exact_json_lines_over_uvicorn(base_url: str, path: str) -> None:
    response = httpx.get(base_url + path)
    assert response.status_code == 200
    assert response.content == EXPECTED
    assert response.headers["content-type"] == "application/jsonl"
    assert response.headers["transfer-encoding"] == "chunked"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-accel-buffering"] == "no"
    assert "content-length" not in response.headers


@pytest.mark.parametrize("path", PATHS)
def test_curl_receives_the_same_bytes(base_url: str, path: str) -> None:
    result = subprocess.run(["curl", "-sN", base_url + path], capture_output=True, timeout=10, check=True)
    assert result.stdout == EXPECTED


def test_demo_app_serves_the_tutorial_and_data_streams() -> None:
    from examples.demo import app as demo
    from examples.stream_data import STORY
    from linestream.testing import TestClient

    with TestClient(demo) as client:
        for path in PATHS:
            assert client.get(path).content == EXPECTED
        assert client.get("/story?delay=0").text == STORY
        assert client.get("/docs").status_code == 200
        paths = {*PATHS, "/story", "/image", "/download", "/orders", "/orders/live"}
        assert set(client.get("/openapi.json").json()["paths"]) == paths
        placed = client.post("/orders", json={"item": "tea"})
        assert placed.status_code == 201
        # The topic lives in the process (other tests may have published to it): find this order by its id.
        headers = {"last-event-id": "0-0", "accept": "text/event-stream"}
        with client.stream("GET", "/orders/live", headers=headers) as live:
            lines = live.iter_lines()
            while next(lines) != f"id: {placed.json()['id']}":
                pass
            assert json.loads(next(lines).removeprefix("data: ")) == {"item": "tea", "quantity": 1}
