"""The official Python SDKs of the LLM protocols (``openai``, ``anthropic``) read linestream.llm's streams
from a real uvicorn server: text, reasoning, tool calls, usage, errors before and after the first part, and a
client that leaves (the generator is closed, which cancels the upstream model call)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest

from linestream import LineStream, llm
from linestream.client import Client
from linestream.exceptions import EndpointDefinitionError
from tests.apps import llm_app
from tests.conftest import serve, wait_for


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with serve(llm_app.app) as base:
        yield base


def user(text: str) -> list[Any]:
    return [{"role": "user", "content": text}]


@pytest.fixture
def chat(url: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=url + "/v1", api_key="test", max_retries=0) as client:
        yield client


@pytest.fixture
async def async_chat(url: str) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=url + "/v1", api_key="test", max_retries=0) as client:
        yield client


@pytest.fixture
def claude(url: str) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=url, api_key="test", max_retries=0) as client:
        yield client


# -- OpenAI Chat Completions ---------------------------------------------------------------------------------------
def test_openai_chat_stream_is_read_chunk_by_chunk(chat: openai.OpenAI) -> None:
    chunks = list(chat.chat.completions.create(model="stand-in-1", messages=user("hi"), stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello, world"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert {c.model for c in chunks} == {"stand-in-1"}
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in chunks)  # not asked for


def test_openai_chat_usage_chunk_when_the_request_asks(chat: openai.OpenAI) -> None:
    chunks = list(
        chat.chat.completions.create(
            model="m", messages=user("hi"), stream=True, stream_options={"include_usage": True}
        )
    )
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (5, 2)


@pytest.mark.parametrize("path", ["/v1", "/sync/v1"], ids=["async-def", "def"])
def test_openai_chat_helper_assembles_the_tool_call(url: str, path: str) -> None:
    with (
        openai.OpenAI(base_url=url + path, api_key="test", max_retries=0) as client,
        client.chat.completions.stream(model="m", messages=user("tool")) as stream,
    ):
        completion = stream.get_final_completion()
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "Let me check. "
    [call] = choice.message.tool_calls or []
    assert (call.id, call.function.name) == ("call_1", "get_weather")
    assert json.loads(call.function.arguments) == {"city": "Paris"}


async def _async_text(client: openai.AsyncOpenAI) -> str:
    stream = await client.chat.completions.create(model="m", messages=user("hi"), stream=True)
    return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])


@pytest.mark.anyio
async def test_openai_async_client_reads_the_same_stream(async_chat: openai.AsyncOpenAI) -> None:
    assert await _async_text(async_chat) == "Hello, world"
    async with async_chat.chat.completions.stream(model="m", messages=user("tool")) as stream:
        completion = await stream.get_final_completion()
    assert (completion.choices[0].message.tool_calls or [])[0].function.name == "get_weather"


@pytest.mark.parametrize("path", ["/v1", "/sync/v1"], ids=["async-def", "def"])
def test_openai_chat_error_after_the_first_part_raises_api_error(url: str, path: str) -> None:
    text: list[str] = []

    def read() -> None:
        for chunk in client.chat.completions.create(model="m", messages=user("fail"), stream=True):
            text.append(chunk.choices[0].delta.content or "")

    with (
        openai.OpenAI(base_url=url + path, api_key="test", max_retries=0) as client,
        pytest.raises(openai.APIError, match=r"failed after") as raised,
    ):
        read()
    assert "".join(text) == "Partial answer"  # what came before the error, then the error: never a clean end
    assert raised.value.body == {
        "message": raised.value.message,
        "type": "server_error",
        "param": None,
        "code": "server_error",
    }
    assert "crashed" not in raised.value.message  # the exception is logged, not revealed


def test_openai_chat_error_before_the_first_part_is_the_status(chat: openai.OpenAI) -> None:
    with pytest.raises(openai.PermissionDeniedError) as raised:
        chat.chat.completions.create(model="m", messages=user("forbidden"), stream=True)
    assert raised.value.status_code == 403


def test_openai_chat_invalid_request_is_a_422_naming_the_field(chat: openai.OpenAI) -> None:
    with pytest.raises(openai.UnprocessableEntityError) as raised:
        chat.chat.completions.create(model="m", messages=[], stream=True)
    assert "messages" in str(raised.value.body)


def test_a_client_that_leaves_closes_the_generator(chat: openai.OpenAI) -> None:
    llm_app.closed_event.clear()
    stream = chat.chat.completions.create(model="m", messages=user("endless chat"), stream=True)
    for index, _ in enumerate(stream):
        if index == 3:
            break
    stream.close()
    wait_for(lambda: "endless chat" in llm_app.CLOSED, timeout=5)


# -- OpenAI Responses ----------------------------------------------------------------------------------------------
def test_openai_responses_helper_builds_the_final_response(chat: openai.OpenAI) -> None:
    with chat.responses.stream(model="m", input="tool") as stream:
        response = stream.get_final_response()
    assert response.status == "completed"
    assert [item.type for item in response.output] == ["reasoning", "message", "function_call"]
    call = response.output[2]
    assert call.type == "function_call"
    assert (call.call_id, call.name, json.loads(call.arguments)) == ("call_1", "get_weather", {"city": "Paris"})
    assert response.output_text == "Let me check. "
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens) == (11, 7)


@pytest.mark.anyio
async def test_openai_responses_async_text_deltas(async_chat: openai.AsyncOpenAI) -> None:
    stream = await async_chat.responses.create(model="m", input="hi", stream=True)
    found = [event async for event in stream]
    assert "".join(e.delta for e in found if e.type == "response.output_text.delta") == "Hello, world"
    assert [e.sequence_number for e in found] == list(range(len(found)))


def test_openai_responses_error_after_the_first_part_is_response_failed(chat: openai.OpenAI) -> None:
    found = list(chat.responses.create(model="m", input="fail", stream=True))
    assert found[-1].type == "response.failed"
    assert found[-1].response.error is not None
    with (
        pytest.raises(RuntimeError, match=r"response\.completed"),
        chat.responses.stream(model="m", input="fail") as stream,
    ):
        stream.get_final_response()


# -- Anthropic Messages --------------------------------------------------------------------------------------------
def test_anthropic_helper_builds_the_final_message(claude: anthropic.Anthropic) -> None:
    with claude.messages.stream(model="stand-in-2", max_tokens=100, messages=user("tool")) as stream:
        message = stream.get_final_message()
    assert message.model == "stand-in-2"
    assert message.stop_reason == "tool_use"
    assert [block.type for block in message.content] == ["thinking", "text", "tool_use"]
    tool = message.content[2]
    assert tool.type == "tool_use"
    assert (tool.id, tool.name, tool.input) == ("call_1", "get_weather", {"city": "Paris"})
    assert (message.usage.input_tokens, message.usage.output_tokens) == (11, 7)


@pytest.mark.anyio
async def test_anthropic_async_text_stream(url: str) -> None:
    async with (
        anthropic.AsyncAnthropic(base_url=url, api_key="test", max_retries=0) as client,
        client.messages.stream(model="m", max_tokens=10, messages=user("hi")) as stream,
    ):
        text = "".join([chunk async for chunk in stream.text_stream])
    assert text == "Hello, world"


def test_anthropic_error_after_the_first_part_raises(claude: anthropic.Anthropic) -> None:
    with (
        pytest.raises(anthropic.APIStatusError, match="api_error"),
        claude.messages.stream(model="m", max_tokens=10, messages=user("fail")) as stream,
    ):
        stream.get_final_message()


def test_anthropic_error_before_the_first_part_is_the_status(claude: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.PermissionDeniedError):
        claude.messages.create(model="m", max_tokens=10, messages=user("forbidden"), stream=True)


# -- the routes ----------------------------------------------------------------------------------------------------
def test_the_same_parts_as_json_lines_for_linestreams_client(url: str) -> None:
    body = {"model": "m", "messages": user("tool")}
    with (
        Client(url) as client,
        client.stream("POST", "/v1/chat/completions", item=llm.Part, json=body, format="jsonl") as parts,
    ):
        found = list(parts)
    assert isinstance(found[2], llm.TextDelta)
    assert [part.type for part in found][:3] == ["start", "reasoning-delta", "text-delta"]


def test_the_protocol_answers_whatever_accept_says(url: str) -> None:
    body = {"model": "m", "messages": user("hi")}
    for accept in ("application/json", "*/*", "text/event-stream", "text/html"):
        response = httpx.post(url + "/v1/chat/completions", json=body, headers={"accept": accept})
        assert response.headers["content-type"].startswith("text/event-stream"), accept
        assert response.text.endswith("data: [DONE]\n\n")


def test_the_ai_sdk_stream_has_its_header(url: str) -> None:
    body = {"id": "chat-1", "messages": [{"id": "u1", "role": "user", "parts": [{"type": "text", "text": "hi"}]}]}
    response = httpx.post(url + "/api/chat", json=body)
    assert response.headers["x-vercel-ai-ui-message-stream"] == "v1"


def test_openapi_documents_each_protocols_events(url: str) -> None:
    document = httpx.get(url + "/openapi.json").json()
    content = document["paths"]["/v1/responses"]["post"]["responses"]["200"]["content"]["text/event-stream"]
    names = {one["properties"]["event"]["const"] for one in content["x-oai-itemSchema"]["oneOf"]}
    assert {"response.created", "response.output_text.delta", "response.completed"} <= names


def test_a_route_whose_items_are_not_parts_fails_when_built() -> None:
    app = LineStream()
    with pytest.raises(EndpointDefinitionError, match=r"declare the items as AsyncIterable\[llm\.Part\]"):

        @app.post("/wrong", stream_formats=[llm.OPENAI_CHAT])
        async def wrong() -> AsyncIterator[int]:  # pragma: no cover - never served
            yield 1


def test_a_durable_route_of_parts_in_a_protocol_and_in_sse_fails_when_built() -> None:
    from linestream.durable import DurableStreams

    app = LineStream()
    with pytest.raises(EndpointDefinitionError, match=r"several kinds of item cannot be durable yet"):

        @app.post("/chat", stream_formats=[llm.AI_SDK, "sse"], durable=DurableStreams())
        async def chat() -> AsyncIterator[llm.Part]:  # pragma: no cover - never served
            yield llm.TextDelta(text="hi")
