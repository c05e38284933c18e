"""Reading an upstream model's stream as parts: what a proxy needs to re-stream an OpenAI-compatible server
(vLLM, Ollama, LiteLLM, OpenAI itself) in another protocol, each chunk validated on the way."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Mapping
from typing import Any

from linestream.llm._parts import (
    Finish,
    FinishReason,
    Part,
    ReasoningDelta,
    Start,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)

__all__ = ["openai_chat_parts"]

_REASONS: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool-calls",
    "function_call": "tool-calls",
    "content_filter": "content-filter",
}


def _plain(chunk: Any) -> Mapping[str, Any]:
    dump = getattr(chunk, "model_dump", None)
    value = dump() if dump is not None else chunk
    if not isinstance(value, Mapping):
        raise TypeError(f"an OpenAI chat chunk is a ChatCompletionChunk or a dict, not {type(chunk).__name__}")
    return value


async def openai_chat_parts(chunks: AsyncIterable[Any]) -> AsyncIterator[Part]:
    """The parts of an OpenAI Chat Completions stream: its ``ChatCompletionChunk``s (from the ``openai`` SDK)
    or their dicts, in order. The first chunk's model is the answer's ``Start``; tool calls become
    ``ToolCallStart``, ``ToolCallDelta`` and, once the stream ends, ``ToolCall``; ``reasoning_content`` becomes
    ``ReasoningDelta``; the usage chunk ``Usage``; the finish reason ``Finish``."""
    started = False
    calls: dict[int, tuple[str, str, list[str]]] = {}
    reason: FinishReason | None = None
    async for chunk in chunks:
        data = _plain(chunk)
        if not started:
            started = True
            yield Start(model=data.get("model"))
        for choice in data.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue  # n > 1: the first choice is the answer
            delta = choice.get("delta") or {}
            if delta.get("reasoning_content"):
                yield ReasoningDelta(text=delta["reasoning_content"])
            if delta.get("content"):
                yield TextDelta(text=delta["content"])
            for call in delta.get("tool_calls") or ():
                index = call.get("index", 0)
                function = call.get("function") or {}
                if index not in calls:
                    calls[index] = (call.get("id") or f"call_{index}", function.get("name") or "", [])
                    yield ToolCallStart(id=calls[index][0], name=calls[index][1])
                if function.get("arguments"):
                    calls[index][2].append(function["arguments"])
                    yield ToolCallDelta(id=calls[index][0], arguments=function["arguments"])
            if choice.get("finish_reason"):
                reason = _REASONS.get(choice["finish_reason"], "other")
        usage = data.get("usage")
        if usage:
            yield Usage(input_tokens=usage.get("prompt_tokens") or 0, output_tokens=usage.get("completion_tokens") or 0)
    for id, name, arguments in calls.values():
        yield ToolCall(id=id, name=name, arguments="".join(arguments))
    if reason is not None:
        yield Finish(reason=reason)
