"""The LLM protocols' transcoders, pure: parts in, each protocol's events out (no server)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import pydantic
import pytest

from linestream import llm
from linestream.llm import LLMProtocol
from linestream.streams import SseDecoder

TOOL_ANSWER: list[Any] = [
    llm.Start(model="m-1", id="answer-1"),
    llm.ReasoningDelta(text="Weather, then."),
    llm.TextDelta(text="Checking. "),
    llm.ToolCallStart(id="call_1", name="get_weather"),
    llm.ToolCallDelta(id="call_1", arguments='{"city":'),
    llm.ToolCallDelta(id="call_1", arguments='"Paris"}'),
    llm.ToolCall(id="call_1", name="get_weather", arguments='{"city":"Paris"}'),
    llm.ToolCall(id="call_2", name="get_time", arguments={"zone": "CET"}),
    llm.ToolResult(id="call_1", output={"celsius": 21}),
    llm.Usage(input_tokens=11, output_tokens=7),
]


def render(protocol: LLMProtocol, parts: Iterable[Any], *, problem: dict[str, Any] | None = None) -> bytes:
    transcoder = protocol.transcoder()
    body = b"".join(transcoder.encode(part) for part in parts)
    return body + (transcoder.end() if problem is None else transcoder.error(problem))


def events(body: bytes) -> list[tuple[str | None, Any]]:
    """The (event name, data) of each event; ``[DONE]`` as the string."""
    decoder = SseDecoder()
    found = [*decoder.feed(body), *decoder.close()]
    return [(e.event, e.raw_data if e.raw_data == "[DONE]" else json.loads(e.raw_data or "null")) for e in found]


# -- OpenAI Chat Completions ---------------------------------------------------------------------------------------
def test_chat_chunks_share_the_answers_id_and_model_and_open_with_the_assistant_role() -> None:
    chunks = [data for _, data in events(render(llm.OPENAI_CHAT, TOOL_ANSWER))][:-1]
    assert {chunk["id"] for chunk in chunks} == {"answer-1"}
    assert {chunk["model"] for chunk in chunks} == {"m-1"}
    assert {chunk["object"] for chunk in chunks} == {"chat.completion.chunk"}
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}


def test_chat_tool_calls_are_indexed_in_order_and_a_whole_call_is_one_start_and_one_fragment() -> None:
    chunks = [data for _, data in events(render(llm.OPENAI_CHAT, TOOL_ANSWER))][:-1]
    calls = [
        call for chunk in chunks if chunk["choices"] for call in chunk["choices"][0]["delta"].get("tool_calls", [])
    ]
    assert [(call["index"], call.get("id"), call["function"].get("name")) for call in calls] == [
        (0, "call_1", "get_weather"),
        (0, None, None),
        (0, None, None),
        (1, "call_2", "get_time"),
        (1, None, None),
    ]
    assert "".join(call["function"]["arguments"] for call in calls if call["index"] == 1) == '{"zone":"CET"}'


def test_chat_ends_with_the_finish_reason_then_the_usage_chunk_then_done() -> None:
    found = events(render(llm.OPENAI_CHAT, TOOL_ANSWER))
    finish, usage, done = (data for _, data in found[-3:])
    assert finish["choices"][0]["finish_reason"] == "tool_calls"  # tools were called, no Finish was yielded
    assert usage["choices"] == []
    assert usage["usage"] == {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
    assert done == "[DONE]"


def test_chat_has_no_usage_chunk_without_a_usage_part() -> None:
    found = events(render(llm.OPENAI_CHAT, [llm.TextDelta(text="hi"), llm.Finish(reason="length")]))
    assert [data["choices"][0]["finish_reason"] for _, data in found[:-1]] == [None, None, "length"]
    assert found[-1] == (None, "[DONE]")


def test_chat_error_is_openais_error_object_and_nothing_follows_it() -> None:
    body = render(llm.OPENAI_CHAT, [llm.TextDelta(text="hi")], problem={"status": 429, "detail": "Slow down."})
    assert events(body)[-1] == (
        None,
        {"error": {"message": "Slow down.", "type": "rate_limit_error", "param": None, "code": None}},
    )


def test_chat_reasoning_is_sent_as_reasoning_content() -> None:
    found = events(render(llm.OPENAI_CHAT, [llm.ReasoningDelta(text="hmm")]))
    assert found[1][1]["choices"][0]["delta"] == {"reasoning_content": "hmm"}


# -- OpenAI Responses ----------------------------------------------------------------------------------------------
def test_responses_events_are_numbered_in_sequence_and_named_by_their_type() -> None:
    found = events(render(llm.OPENAI_RESPONSES, TOOL_ANSWER))
    assert [data["sequence_number"] for _, data in found] == list(range(len(found)))
    assert all(name == data["type"] for name, data in found)
    assert [name for name, _ in found[:2]] == ["response.created", "response.in_progress"]
    assert found[-1][0] == "response.completed"


def test_responses_items_are_added_and_done_in_order_and_listed_in_the_completed_response() -> None:
    found = events(render(llm.OPENAI_RESPONSES, TOOL_ANSWER))
    added = [
        (data["output_index"], data["item"]["type"]) for name, data in found if name == "response.output_item.added"
    ]
    done = [(data["output_index"], data["item"]["type"]) for name, data in found if name == "response.output_item.done"]
    expected = [(0, "reasoning"), (1, "message"), (2, "function_call"), (3, "function_call")]
    assert added == expected
    assert done == expected
    response = found[-1][1]["response"]
    assert [item["type"] for item in response["output"]] == [kind for _, kind in expected]
    assert response["output"][2]["arguments"] == '{"city":"Paris"}'
    assert response["usage"]["total_tokens"] == 18


def test_responses_length_ends_incomplete_and_an_error_ends_failed() -> None:
    incomplete = events(render(llm.OPENAI_RESPONSES, [llm.TextDelta(text="a"), llm.Finish(reason="length")]))
    assert incomplete[-1][0] == "response.incomplete"
    assert incomplete[-1][1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    failed = events(render(llm.OPENAI_RESPONSES, [llm.TextDelta(text="a")], problem={"status": 500, "detail": "x"}))
    assert failed[-1][0] == "response.failed"
    assert failed[-1][1]["response"]["error"] == {"code": "server_error", "message": "x"}


# -- Anthropic Messages --------------------------------------------------------------------------------------------
def test_anthropic_blocks_are_indexed_started_and_stopped() -> None:
    found = events(render(llm.ANTHROPIC_MESSAGES, TOOL_ANSWER))
    names = [name for name, _ in found]
    assert names[0] == "message_start"
    assert names[-2:] == ["message_delta", "message_stop"]
    starts = [(d["index"], d["content_block"]["type"]) for n, d in found if n == "content_block_start"]
    stops = [d["index"] for n, d in found if n == "content_block_stop"]
    assert starts == [(0, "thinking"), (1, "text"), (2, "tool_use"), (3, "tool_use")]
    assert stops == [0, 1, 2, 3]
    json_deltas = [d["delta"]["partial_json"] for n, d in found if n == "content_block_delta" and d["index"] == 2]
    assert "".join(json_deltas) == '{"city":"Paris"}'


def test_anthropic_message_delta_carries_the_stop_reason_and_usage() -> None:
    found = events(render(llm.ANTHROPIC_MESSAGES, TOOL_ANSWER))
    assert found[-2][1]["delta"]["stop_reason"] == "tool_use"
    assert found[-2][1]["usage"] == {"input_tokens": 11, "output_tokens": 7}


def test_anthropic_error_event_names_the_error_type_of_the_status() -> None:
    found = events(render(llm.ANTHROPIC_MESSAGES, [llm.TextDelta(text="a")], problem={"status": 529, "detail": "busy"}))
    assert found[-1] == ("error", {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}})


def test_anthropic_keepalive_is_its_ping_event() -> None:
    assert events(llm.ANTHROPIC_MESSAGES.keepalive or b"") == [("ping", {"type": "ping"})]


# -- The AI SDK's UI message stream ----------------------------------------------------------------------------------
def test_ui_stream_parts_have_start_and_end_with_one_id_and_tool_input_is_parsed() -> None:
    found = [data for _, data in events(render(llm.AI_SDK, TOOL_ANSWER))]
    types = [chunk["type"] if isinstance(chunk, dict) else chunk for chunk in found]
    assert types == [
        "start", "start-step", "reasoning-start", "reasoning-delta", "reasoning-end", "text-start", "text-delta",
        "text-end", "tool-input-start", "tool-input-delta", "tool-input-delta", "tool-input-available",
        "tool-input-start", "tool-input-delta", "tool-input-available", "tool-output-available", "finish-step",
        "finish", "[DONE]",
    ]  # fmt: skip
    available = [chunk for chunk in found if isinstance(chunk, dict) and chunk["type"] == "tool-input-available"]
    assert [chunk["input"] for chunk in available] == [{"city": "Paris"}, {"zone": "CET"}]
    assert found[-2] == {
        "type": "finish",
        "finishReason": "tool-calls",
        "messageMetadata": {"usage": {"inputTokens": 11, "outputTokens": 7}},
    }


def test_ui_stream_tool_arguments_that_are_not_json_are_a_tool_input_error() -> None:
    parts = [llm.ToolCallStart(id="c", name="t"), llm.ToolCallDelta(id="c", arguments="{oops")]
    found = [data for _, data in events(render(llm.AI_SDK, parts))]
    error = next(chunk for chunk in found if isinstance(chunk, dict) and chunk["type"] == "tool-input-error")
    assert error["input"] == "{oops"


def test_ui_stream_error_is_an_error_part() -> None:
    found = events(render(llm.AI_SDK, [llm.TextDelta(text="a")], problem={"status": 500, "detail": "broke"}))
    assert found[-1] == (None, {"type": "error", "errorText": "broke"})


# -- every protocol ------------------------------------------------------------------------------------------------
PROTOCOLS = [llm.OPENAI_CHAT, llm.OPENAI_RESPONSES, llm.ANTHROPIC_MESSAGES, llm.AI_SDK]


def _kind(found: tuple[str | None, Any]) -> Any:
    name, data = found
    return name or (data["type"] if isinstance(data, dict) and "type" in data else data)


@pytest.mark.parametrize(
    ("protocol", "first", "last"),
    [
        (llm.OPENAI_CHAT, None, "[DONE]"),
        (llm.OPENAI_RESPONSES, "response.created", "response.completed"),
        (llm.ANTHROPIC_MESSAGES, "message_start", "message_stop"),
        (llm.AI_SDK, "start", "[DONE]"),
    ],
    ids=lambda p: getattr(p, "name", p),
)
def test_an_answer_without_content_still_opens_and_ends(protocol: LLMProtocol, first: str | None, last: str) -> None:
    found = events(render(protocol, []))
    if first is not None:
        assert _kind(found[0]) == first
    else:
        assert found[0][1]["choices"][0]["delta"]["role"] == "assistant"
    assert _kind(found[-1]) == last


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=lambda p: p.name)
def test_parts_given_as_dicts_are_validated(protocol: LLMProtocol) -> None:
    transcoder = protocol.transcoder()
    assert transcoder.encode({"type": "text-delta", "text": "hi"})
    with pytest.raises(pydantic.ValidationError):
        transcoder.encode({"type": "text-delta", "txt": "hi"})


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=lambda p: p.name)
@pytest.mark.parametrize(
    ("parts", "message"),
    [
        ([llm.ToolCallDelta(id="x", arguments="{}")], "not started"),
        ([llm.ToolCallStart(id="x", name="t"), llm.ToolCallStart(id="x", name="t")], "started already"),
        ([llm.ToolCall(id="x", name="t"), llm.ToolCall(id="x", name="t")], "complete already"),
        (
            [
                llm.ToolCallStart(id="x", name="t"),
                llm.ToolCallDelta(id="x", arguments="{"),
                llm.ToolCall(id="x", name="t"),
            ],
            "differ from its fragments",
        ),
        ([llm.TextDelta(text="a"), llm.Start(model="m")], "before the answer's first content"),
    ],
)
def test_parts_out_of_order_are_refused_with_what_was_wrong(
    protocol: LLMProtocol, parts: list[Any], message: str
) -> None:
    transcoder = protocol.transcoder()
    *before, last = parts
    for part in before:
        transcoder.encode(part)
    with pytest.raises(ValueError, match=message):
        transcoder.encode(last)


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=lambda p: p.name)
def test_start_sends_nothing_so_an_error_after_it_is_still_a_status(protocol: LLMProtocol) -> None:
    assert protocol.transcoder().encode(llm.Start(model="m")) == b""


def test_the_model_of_the_protocol_names_answers_without_a_start() -> None:
    protocol = llm.OpenAIChat("chat", model="house-model")
    assert events(render(protocol, [llm.TextDelta(text="a")]))[0][1]["model"] == "house-model"
