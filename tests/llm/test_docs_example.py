"""docs/llm.md's examples, run: its OpenAI, Anthropic and AI SDK server read by the official clients, and its
proxy in front of a second server (tests/apps/llm_app.py), cancelling the upstream answer when its client
leaves."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anthropic
import anyio
import httpx
import openai
import pytest

from linestream import llm
from tests.apps import llm_app
from tests.conftest import serve, wait_for
from tests.llm.test_node_clients import run

DOC = Path(__file__).parents[2] / "docs" / "llm.md"


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with serve(llm_app.app) as url:
        yield url


@pytest.fixture(scope="module")
def page(upstream: str) -> dict[str, Any]:
    """The page's Python blocks, run in order in one namespace, the proxy pointed at the upstream server."""
    namespace: dict[str, Any] = {"__name__": "docs_llm"}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("UPSTREAM_BASE_URL", upstream + "/v1")
        for block in re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.DOTALL):
            exec(compile(block, str(DOC), "exec"), namespace)
    return namespace


@pytest.fixture(scope="module")
def url(page: dict[str, Any]) -> Iterator[str]:
    with serve(page["app"]) as base:
        yield base


def test_the_openai_compatible_server_answers_the_sdk(page: dict[str, Any], url: str) -> None:
    assert page["ask"](url) == "You said: hello"
    with (
        openai.OpenAI(base_url=url + "/v1", api_key="unused") as client,
        client.responses.stream(model="m", input="hi there") as stream,
    ):
        response = stream.get_final_response()
    assert response.output_text == "You said: hi there"
    assert response.usage is not None
    assert response.usage.input_tokens == 2


def test_a_request_that_does_not_stream_is_a_400(url: str) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    response = httpx.post(url + "/v1/chat/completions", json=body)
    assert response.status_code == 400
    assert response.json()["detail"] == "This endpoint streams: send stream=true."


def test_the_anthropic_compatible_server_answers_the_sdk(url: str) -> None:
    with (
        anthropic.Anthropic(base_url=url, api_key="unused") as client,
        client.messages.stream(model="m", max_tokens=5, messages=[{"role": "user", "content": "yo"}]) as stream,
    ):
        message = stream.get_final_message()
    assert [block.type for block in message.content] == ["thinking", "text"]
    assert message.content[1].type == "text"
    assert message.content[1].text == "You said: yo"


def test_the_ai_sdk_backend_answers_the_transport(url: str) -> None:
    result = run("ui", url, "hey")
    parts = result["message"]["parts"]
    assert [part["type"] for part in parts] == ["step-start", "text", "tool-get_time"]
    assert parts[1]["text"] == "You said: hey"
    assert parts[2]["output"] == {"time": "12:00"}


@pytest.fixture(scope="module")
def proxy(page: dict[str, Any]) -> Iterator[str]:
    with serve(page["proxy"]) as base:
        yield base


def test_the_proxy_restreams_openai_as_the_ai_sdk_stream(proxy: str) -> None:
    result = run("ui", proxy, "tool")
    assert result["errors"] == []
    parts = {part["type"]: part for part in result["message"]["parts"]}
    assert parts["text"]["text"] == "Let me check. "
    assert parts["reasoning"]["text"] == "The user wants the weather."  # reasoning_content, read back
    assert parts["tool-get_weather"]["input"] == {"city": "Paris"}
    assert result["message"]["metadata"] == {"usage": {"inputTokens": 11, "outputTokens": 7}}


def test_the_proxy_passes_an_upstream_error_after_the_first_part_on(proxy: str) -> None:
    result = run("ui", proxy, "fail")
    assert result["chunks"][-1] == "error"


def test_a_client_that_leaves_the_proxy_cancels_the_upstream_answer(proxy: str) -> None:
    result = run("ui-leave", proxy, "endless proxied")
    assert result["errors"] == ["AbortError: This operation was aborted"]
    wait_for(lambda: "endless proxied" in llm_app.CLOSED, timeout=5)


async def slow_model(prompt: str) -> AsyncIterator[Any]:
    for index, word in enumerate(llm_app.SLOW_ANSWER.split(" ")):
        await anyio.sleep(0.02)
        yield llm.TextDelta(text=word if index == 0 else " " + word)


def test_the_durable_chat_is_resumed_by_the_ai_sdk_after_a_reload(url: str, page: dict[str, Any]) -> None:
    # The page's stand-in answers at once; this one takes long enough to reload in the middle of its answer.
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(page, "model", slow_model)
        result = run("ui-resume", url, "hello", api="/api/durable-chat")
    assert result["left"]["parts"][-1]["state"] == "streaming"
    assert result["resumed"]["id"] == result["left"]["id"]
    assert result["resumed"]["parts"][-1]["text"] == llm_app.SLOW_ANSWER
    assert result["again"] is None
