"""Durable answers in an LLM protocol: the job runs to its end when its client leaves, and a route replays it
from its start with ``DurableStreams.job_items`` (what the AI SDK's resume reads; tests/llm/test_node_clients.py
drives the AI SDK itself)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from linestream.durable import current_job
from tests.apps import llm_app
from tests.conftest import serve, wait_for


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with serve(llm_app.app) as base:
        yield base


def chat(prompt: str, chat_id: str) -> dict[str, Any]:
    return {"id": chat_id, "messages": [{"id": "u1", "role": "user", "parts": [{"type": "text", "text": prompt}]}]}


def chunks(body: str) -> list[Any]:
    return [
        line[6:] if line == "data: [DONE]" else json.loads(line[6:])
        for line in body.splitlines()
        if line.startswith("data: ")
    ]


def test_a_durable_answer_runs_to_its_end_after_its_client_left(url: str) -> None:
    with (
        httpx.Client() as client,
        client.stream("POST", url + "/durable/api/chat", json=chat("slow", "left")) as response,
    ):
        job = response.headers["stream-id"]
        next(response.iter_lines())
    wait_for(lambda: "left" not in llm_app.ANSWERING, timeout=10)  # the generator ended by itself
    replayed = chunks(httpx.get(f"{url}/durable/jobs/{job}").text)
    assert replayed[0] == {"type": "start", "messageId": job}
    text = "".join(chunk["delta"] for chunk in replayed if isinstance(chunk, dict) and chunk["type"] == "text-delta")
    assert text == llm_app.SLOW_ANSWER
    assert replayed[-1] == "[DONE]"


def test_a_failed_durable_answer_replays_its_parts_then_the_protocols_error(url: str) -> None:
    first = httpx.post(url + "/durable/api/chat", json=chat("fail", "failing"))
    assert chunks(first.text)[-1] == {"type": "error", "errorText": "Internal Server Error"}
    replayed = chunks(httpx.get(f"{url}/durable/jobs/{first.headers['stream-id']}").text)
    assert [chunk["type"] for chunk in replayed][-3:] == ["text-delta", "text-delta", "error"]
    assert replayed[-1] == {"type": "error", "errorText": "Internal Server Error"}


def test_an_unknown_job_is_a_404_and_no_answer_under_way_is_a_204(url: str) -> None:
    missing = httpx.get(f"{url}/durable/jobs/{'0' * 32}")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    none = httpx.get(f"{url}/durable/api/chat/nobody/stream")
    assert (none.status_code, none.content) == (204, b"")


def test_current_job_is_none_outside_a_job() -> None:
    assert current_job() is None
