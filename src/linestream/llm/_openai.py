"""OpenAI's streaming protocols: Chat Completions (``chat.completion.chunk`` objects, then ``data: [DONE]``) and
Responses (typed events with a ``sequence_number``), as the ``openai`` SDKs read them.

Chat Completions has no reasoning in OpenAI's own API: reasoning is sent as ``delta.reasoning_content``, as the
OpenAI-compatible servers that stream it do (vLLM, DeepSeek). Tool results are not part of either answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pydantic_core

from linestream.llm._parts import Usage
from linestream.llm._protocol import LLMProtocol, PartTranscoder, ToolCallState, event, message_of, status_of

__all__ = ["OpenAIChat", "OpenAIResponses"]

_CHAT_FINISH = {
    "stop": "stop",
    "length": "length",
    "tool-calls": "tool_calls",
    "content-filter": "content_filter",
    "error": "stop",
    "other": "stop",
}
_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                404: "not_found_error", 409: "conflict_error", 422: "invalid_request_error",
                429: "rate_limit_error"}  # fmt: skip


def _error_object(problem: Mapping[str, Any]) -> dict[str, Any]:
    status = status_of(problem)
    kind = _ERROR_TYPES.get(status, "server_error")
    return {"message": message_of(problem), "type": kind, "param": None, "code": kind if status >= 500 else None}


class _ChatTranscoder(PartTranscoder):
    id_prefix = "chatcmpl-"

    def __init__(self, protocol: LLMProtocol, stream_id: str | None = None) -> None:
        super().__init__(protocol, stream_id)
        #: Whether the answer yielded ``Usage``: only then is there a usage chunk.
        self.usage_seen = False
        self._around: tuple[bytes, bytes] | None = None

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        if finish_reason is None:
            # Every chunk but the last has the same bytes around its delta: made once per stream.
            if self._around is None:
                head = pydantic_core.to_json({**self._head(), "choices": None})
                self._around = (b"data: " + head[: -len(b"null}")] + b'[{"index":0,"delta":', _OPEN_CHOICE)
            before, after = self._around
            return before + pydantic_core.to_json(delta) + after
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return event(None, {**self._head(), "choices": [choice]})

    def _head(self) -> dict[str, Any]:
        return {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model}

    def on_start(self) -> bytes:
        return self._chunk({"role": "assistant", "content": ""})

    def on_text(self, text: str) -> bytes:
        return self._chunk({"content": text})

    def on_reasoning(self, text: str) -> bytes:
        return self._chunk({"reasoning_content": text})

    def on_tool_start(self, call: ToolCallState) -> bytes:
        function = {"name": call.name, "arguments": ""}
        return self._chunk(
            {"tool_calls": [{"index": call.index, "id": call.id, "type": "function", "function": function}]}
        )

    def on_tool_delta(self, call: ToolCallState, arguments: str) -> bytes:
        return self._chunk({"tool_calls": [{"index": call.index, "function": {"arguments": arguments}}]})

    def end(self) -> bytes:
        frames = self.ensure_started() + self.open_tool_calls()
        frames += self._chunk({}, _CHAT_FINISH[self.finish_reason])
        if self.usage_seen:
            usage = self.usage
            counts = {
                "prompt_tokens": usage.input_tokens,
                "completion_tokens": usage.output_tokens,
                "total_tokens": usage.input_tokens + usage.output_tokens,
            }
            frames += event(None, {**self._head(), "choices": [], "usage": counts})
        return frames + b"data: [DONE]\n\n"

    def on_usage(self, usage: Usage) -> bytes:
        self.usage_seen = True
        return b""

    def error(self, problem: Mapping[str, Any]) -> bytes:
        return event(None, {"error": _error_object(problem)})


class OpenAIChat(LLMProtocol):
    """OpenAI Chat Completions streaming: ``chat.completion.chunk`` objects (the first with the assistant's
    role; text as ``delta.content``; tool calls as ``delta.tool_calls`` with their index, id, name and argument
    fragments; the ``finish_reason``), a usage chunk (``choices: []``) when the answer yielded ``llm.Usage``
    (yield it when the request's ``stream_options.include_usage`` asks), then ``data: [DONE]``. An error after
    the first part is OpenAI's error object, which the SDKs raise as ``APIError``."""

    transcoder_class = _ChatTranscoder
    events = (
        (
            None,
            {
                "title": "ChatCompletionChunk",
                "type": "object",
                "properties": {
                    "id": {"type": "string"},
                    "object": {"const": "chat.completion.chunk"},
                    "created": {"type": "integer"},
                    "model": {"type": "string"},
                    "choices": {"type": "array", "items": {"type": "object"}},
                    "usage": {"type": "object"},
                },
                "required": ["id", "object", "created", "model", "choices"],
            },
        ),
    )


_OPEN_CHOICE = b',"logprobs":null,"finish_reason":null}]}\n\n'
_INCOMPLETE = {"length": "max_output_tokens", "content-filter": "content_filter"}


class _ResponsesTranscoder(PartTranscoder):
    id_prefix = "resp_"

    def __init__(self, protocol: LLMProtocol, stream_id: str | None = None) -> None:
        super().__init__(protocol, stream_id)
        self.sequence = 0
        self.output: list[dict[str, Any]] = []
        #: The message or reasoning item being written: its type, the item, its output index, its text so far.
        self.current: dict[str, Any] | None = None
        self.items_of_calls: dict[str, dict[str, Any]] = {}
        self._delta_event: tuple[bytes, bytes, bytes] | None = None

    def _event(self, kind: str, data: dict[str, Any]) -> bytes:
        frame = event(kind, {"type": kind, "sequence_number": self.sequence, **data})
        self.sequence += 1
        return frame

    def _response(self, status: str, **fields: Any) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.created,
            "status": status,
            "model": self.model,
            "output": [item for item in self.output if item.get("status") == "completed"]
            if status != "in_progress"
            else [],
            "error": None,
            "incomplete_details": None,
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "usage": None,
            **fields,
        }

    def on_start(self) -> bytes:
        return self._event("response.created", {"response": self._response("in_progress")}) + self._event(
            "response.in_progress", {"response": self._response("in_progress")}
        )

    def _open(self, kind: str) -> bytes:
        """The message or reasoning item the next text goes to, closing another one that was open."""
        current = self.current
        if current is not None and current["type"] == kind:
            return b""
        frames = self._close_current()
        index = len(self.output)
        if kind == "message":
            item = {
                "id": self.item_id("msg_", index),
                "type": "message",
                "status": "in_progress",
                "role": "assistant",
                "content": [],
            }
        else:
            item = {
                "id": self.item_id("rs_", index),
                "type": "reasoning",
                "status": "in_progress",
                "summary": [],
                "content": [],
            }
        self.output.append(item)
        self.current = {"type": kind, "item": item, "index": index, "text": []}
        self._delta_event = None
        frames += self._event("response.output_item.added", {"output_index": index, "item": dict(item)})
        if kind == "message":
            part = {"type": "output_text", "text": "", "annotations": []}
            frames += self._event(
                "response.content_part.added",
                {"item_id": item["id"], "output_index": index, "content_index": 0, "part": part},
            )
        return frames

    def _close_current(self) -> bytes:
        current = self.current
        if current is None:
            return b""
        self.current = None
        item, index, text = current["item"], current["index"], "".join(current["text"])
        where = {"item_id": item["id"], "output_index": index, "content_index": 0}
        if current["type"] == "message":
            part = {"type": "output_text", "text": text, "annotations": []}
            frames = self._event("response.output_text.done", {**where, "text": text, "logprobs": []})
            frames += self._event("response.content_part.done", {**where, "part": part})
        else:
            part = {"type": "reasoning_text", "text": text}
            frames = self._event("response.reasoning_text.done", {**where, "text": text})
        item.update(status="completed", content=[part])
        return frames + self._event("response.output_item.done", {"output_index": index, "item": item})

    def on_text(self, text: str) -> bytes:
        frames = self._open("message")
        assert self.current is not None
        current = self.current
        current["text"].append(text)
        if self._delta_event is None:
            # The bytes around a text delta's sequence number and text, made once per message.
            where = f'"item_id":"{current["item"]["id"]}","output_index":{current["index"]},"content_index":0'
            self._delta_event = (
                b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","sequence_number":',
                ("," + where + ',"delta":').encode(),
                b',"logprobs":[]}\n\n',
            )
        before, middle, after = self._delta_event
        frame = before + str(self.sequence).encode() + middle + pydantic_core.to_json(text) + after
        self.sequence += 1
        return frames + frame

    def on_reasoning(self, text: str) -> bytes:
        frames = self._open("reasoning")
        assert self.current is not None
        self.current["text"].append(text)
        where = {"item_id": self.current["item"]["id"], "output_index": self.current["index"], "content_index": 0}
        return frames + self._event("response.reasoning_text.delta", {**where, "delta": text})

    def on_tool_start(self, call: ToolCallState) -> bytes:
        frames = self._close_current()
        item = {
            "id": self.item_id("fc_", len(self.output)),
            "type": "function_call",
            "status": "in_progress",
            "call_id": call.id,
            "name": call.name,
            "arguments": "",
        }
        index = len(self.output)
        self.output.append(item)
        self.items_of_calls[call.id] = {"item": item, "index": index}
        return frames + self._event("response.output_item.added", {"output_index": index, "item": dict(item)})

    def on_tool_delta(self, call: ToolCallState, arguments: str) -> bytes:
        placed = self.items_of_calls[call.id]
        where = {"item_id": placed["item"]["id"], "output_index": placed["index"]}
        return self._event("response.function_call_arguments.delta", {**where, "delta": arguments})

    def on_tool_done(self, call: ToolCallState) -> bytes:
        placed = self.items_of_calls[call.id]
        item, index = placed["item"], placed["index"]
        where = {"item_id": item["id"], "output_index": index}
        item.update(status="completed", arguments=call.arguments)
        frames = self._event(
            "response.function_call_arguments.done", {**where, "name": call.name, "arguments": call.arguments}
        )
        return frames + self._event("response.output_item.done", {"output_index": index, "item": item})

    def _usage(self) -> dict[str, Any]:
        usage = self.usage
        return {
            "input_tokens": usage.input_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": usage.output_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": usage.input_tokens + usage.output_tokens,
        }

    def end(self) -> bytes:
        frames = self.ensure_started() + self._close_current() + self.open_tool_calls()
        incomplete = _INCOMPLETE.get(self.finish_reason)
        if incomplete is not None:
            response = self._response("incomplete", incomplete_details={"reason": incomplete}, usage=self._usage())
            return frames + self._event("response.incomplete", {"response": response})
        return frames + self._event(
            "response.completed", {"response": self._response("completed", usage=self._usage())}
        )

    def error(self, problem: Mapping[str, Any]) -> bytes:
        failure = _error_object(problem)
        error = {"code": failure["code"] or failure["type"], "message": failure["message"]}
        response = self._response("failed", error=error, usage=self._usage())
        return self._event("response.failed", {"response": response})


class OpenAIResponses(LLMProtocol):
    """OpenAI Responses streaming: ``response.created`` and ``response.in_progress``; per output item
    ``response.output_item.added``/``.done`` (a message with ``response.content_part.added``/``.done`` and
    ``response.output_text.delta``/``.done``; reasoning with ``response.reasoning_text.delta``/``.done``; a
    function call with ``response.function_call_arguments.delta``/``.done``), then ``response.completed`` (or
    ``response.incomplete`` for ``length`` and ``content-filter``), every event with its ``sequence_number``.
    An error after the first part is ``response.failed`` with the error."""

    transcoder_class = _ResponsesTranscoder
    events = tuple(
        (
            name,
            {
                "type": "object",
                "properties": {"type": {"const": name}, "sequence_number": {"type": "integer"}},
                "required": ["type", "sequence_number"],
            },
        )
        for name in (
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.reasoning_text.delta",
            "response.reasoning_text.done",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
            "response.incomplete",
            "response.failed",
        )
    )
