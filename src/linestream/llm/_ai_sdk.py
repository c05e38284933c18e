"""The Vercel AI SDK's UI message stream (``x-vercel-ai-ui-message-stream: v1``), as ``useChat`` and its
``DefaultChatTransport`` read it: ``start`` and ``start-step``; ``text-start``/``-delta``/``-end`` and
``reasoning-start``/``-delta``/``-end`` with the part's id; ``tool-input-start``/``-delta``/``-available`` and
``tool-output-available``; ``finish-step``, ``finish`` with the reason (and the usage as the message's
metadata); then ``data: [DONE]``; an error is an ``error`` part.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pydantic_core

from linestream.llm._parts import ToolResult
from linestream.llm._protocol import LLMProtocol, PartTranscoder, ToolCallState, event, message_of

__all__ = ["AISdkUIStream"]


class _UIStreamTranscoder(PartTranscoder):
    id_prefix = "msg_"

    def __init__(self, protocol: LLMProtocol, stream_id: str | None = None) -> None:
        super().__init__(protocol, stream_id)
        self.parts = 0
        #: The text or reasoning part being written: (its kind, its id).
        self.current: tuple[str, str] | None = None

    def on_start(self) -> bytes:
        return event(None, {"type": "start", "messageId": self.id}) + event(None, {"type": "start-step"})

    def _in(self, kind: str) -> bytes:
        if self.current is not None and self.current[0] == kind:
            return b""
        frames = self._close_current()
        self.current = (kind, f"{kind[0]}{self.parts}")
        self.parts += 1
        return frames + event(None, {"type": f"{kind}-start", "id": self.current[1]})

    def _close_current(self) -> bytes:
        if self.current is None:
            return b""
        kind, id = self.current
        self.current = None
        return event(None, {"type": f"{kind}-end", "id": id})

    def on_text(self, text: str) -> bytes:
        frames = self._in("text")
        assert self.current is not None
        return frames + b'data: {"type":"text-delta","id":"%s","delta":%s}\n\n' % (
            self.current[1].encode(),
            pydantic_core.to_json(text),
        )

    def on_reasoning(self, text: str) -> bytes:
        frames = self._in("reasoning")
        assert self.current is not None
        return frames + event(None, {"type": "reasoning-delta", "id": self.current[1], "delta": text})

    def on_tool_start(self, call: ToolCallState) -> bytes:
        return self._close_current() + event(
            None, {"type": "tool-input-start", "toolCallId": call.id, "toolName": call.name}
        )

    def on_tool_delta(self, call: ToolCallState, arguments: str) -> bytes:
        return event(None, {"type": "tool-input-delta", "toolCallId": call.id, "inputTextDelta": arguments})

    def on_tool_done(self, call: ToolCallState) -> bytes:
        try:
            arguments = json.loads(call.arguments) if call.arguments else {}
        except ValueError:
            return event(
                None,
                {
                    "type": "tool-input-error",
                    "toolCallId": call.id,
                    "toolName": call.name,
                    "input": call.arguments,
                    "errorText": "The tool call's arguments are not JSON.",
                },
            )
        return event(
            None, {"type": "tool-input-available", "toolCallId": call.id, "toolName": call.name, "input": arguments}
        )

    def on_tool_result(self, result: ToolResult) -> bytes:
        return self._close_current() + event(
            None, {"type": "tool-output-available", "toolCallId": result.id, "output": result.output}
        )

    def end(self) -> bytes:
        frames = self.ensure_started() + self._close_current() + self.open_tool_calls()
        usage = self.usage
        finish = {
            "type": "finish",
            "finishReason": self.finish_reason,
            "messageMetadata": {
                "usage": {"inputTokens": usage.input_tokens, "outputTokens": usage.output_tokens},
            },
        }
        return frames + event(None, {"type": "finish-step"}) + event(None, finish) + b"data: [DONE]\n\n"

    def error(self, problem: Mapping[str, Any]) -> bytes:
        return event(None, {"type": "error", "errorText": message_of(problem)})


class AISdkUIStream(LLMProtocol):
    """The AI SDK's UI message stream (see the module docstring), with its ``x-vercel-ai-ui-message-stream``
    header."""

    transcoder_class = _UIStreamTranscoder
    headers = ((b"x-vercel-ai-ui-message-stream", b"v1"),)
    events = (
        (
            None,
            {
                "title": "UIMessageChunk",
                "type": "object",
                "properties": {
                    "type": {
                        "enum": [
                            "start",
                            "start-step",
                            "text-start",
                            "text-delta",
                            "text-end",
                            "reasoning-start",
                            "reasoning-delta",
                            "reasoning-end",
                            "tool-input-start",
                            "tool-input-delta",
                            "tool-input-available",
                            "tool-input-error",
                            "tool-output-available",
                            "finish-step",
                            "finish",
                            "error",
                        ]
                    }
                },
                "required": ["type"],
            },
        ),
    )
