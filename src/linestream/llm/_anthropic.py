"""Anthropic's Messages streaming protocol, as the ``anthropic`` SDK reads it: ``message_start``; one content
block per text, thinking or tool use (``content_block_start``, ``content_block_delta`` with ``text_delta``,
``thinking_delta`` or ``input_json_delta``, ``content_block_stop``); ``message_delta`` with the stop reason and
usage; ``message_stop``; ``ping`` as the keep-alive; ``error`` events. Tool results are not part of the answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from linestream.llm._protocol import LLMProtocol, PartTranscoder, ToolCallState, event, message_of, status_of

__all__ = ["AnthropicMessages"]

_STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool-calls": "tool_use",
    "content-filter": "refusal",
    "error": "end_turn",
    "other": "end_turn",
}
_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                404: "not_found_error", 413: "request_too_large", 422: "invalid_request_error",
                429: "rate_limit_error", 503: "overloaded_error", 529: "overloaded_error"}  # fmt: skip


class _MessagesTranscoder(PartTranscoder):
    id_prefix = "msg_"

    def __init__(self, protocol: LLMProtocol, stream_id: str | None = None) -> None:
        super().__init__(protocol, stream_id)
        self.blocks = 0
        #: The text or thinking block being written: (its kind, its index).
        self.current: tuple[str, int] | None = None
        self.block_of_calls: dict[str, int] = {}

    def on_start(self) -> bytes:
        message: dict[str, Any] = {
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": self.usage.input_tokens, "output_tokens": 0},
        }
        return event("message_start", {"type": "message_start", "message": message})

    def _open(self, kind: str, block: dict[str, Any]) -> bytes:
        frames = self._close_current()
        index = self.blocks
        self.blocks += 1
        self.current = (kind, index)
        return frames + event(
            "content_block_start", {"type": "content_block_start", "index": index, "content_block": block}
        )

    def _close_current(self) -> bytes:
        if self.current is None:
            return b""
        index = self.current[1]
        self.current = None
        return _stop(index)

    def on_text(self, text: str) -> bytes:
        frames = (
            b""
            if self.current is not None and self.current[0] == "text"
            else self._open("text", {"type": "text", "text": ""})
        )
        return frames + self._delta({"type": "text_delta", "text": text})

    def on_reasoning(self, text: str) -> bytes:
        frames = b""
        if self.current is None or self.current[0] != "thinking":
            frames = self._open("thinking", {"type": "thinking", "thinking": "", "signature": ""})
        return frames + self._delta({"type": "thinking_delta", "thinking": text})

    def _delta(self, delta: dict[str, Any]) -> bytes:
        assert self.current is not None
        return event("content_block_delta", {"type": "content_block_delta", "index": self.current[1], "delta": delta})

    def on_tool_start(self, call: ToolCallState) -> bytes:
        frames = self._close_current()
        index = self.block_of_calls[call.id] = self.blocks
        self.blocks += 1
        block = {"type": "tool_use", "id": call.id, "name": call.name, "input": {}}
        return frames + event(
            "content_block_start", {"type": "content_block_start", "index": index, "content_block": block}
        )

    def on_tool_delta(self, call: ToolCallState, arguments: str) -> bytes:
        delta = {"type": "input_json_delta", "partial_json": arguments}
        index = self.block_of_calls[call.id]
        return event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})

    def on_tool_done(self, call: ToolCallState) -> bytes:
        return _stop(self.block_of_calls[call.id])

    def end(self) -> bytes:
        frames = self.ensure_started() + self._close_current() + self.open_tool_calls()
        usage = {"input_tokens": self.usage.input_tokens, "output_tokens": self.usage.output_tokens}
        delta = {"stop_reason": _STOP_REASONS[self.finish_reason], "stop_sequence": None}
        frames += event("message_delta", {"type": "message_delta", "delta": delta, "usage": usage})
        return frames + event("message_stop", {"type": "message_stop"})

    def error(self, problem: Mapping[str, Any]) -> bytes:
        kind = _ERROR_TYPES.get(status_of(problem), "api_error")
        return event("error", {"type": "error", "error": {"type": kind, "message": message_of(problem)}})


def _stop(index: int) -> bytes:
    return event("content_block_stop", {"type": "content_block_stop", "index": index})


def _event_doc(name: str) -> tuple[str, dict[str, Any]]:
    return name, {"type": "object", "properties": {"type": {"const": name}}, "required": ["type"]}


class AnthropicMessages(LLMProtocol):
    """Anthropic Messages streaming (see the module docstring). An error after the first part is an ``error``
    event, which the SDK raises as an ``APIStatusError``."""

    transcoder_class = _MessagesTranscoder
    keepalive_event = b'event: ping\ndata: {"type":"ping"}\n\n'
    events = tuple(
        _event_doc(name)
        for name in (
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop",
            "ping",
            "error",
        )
    )
