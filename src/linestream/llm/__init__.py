"""LLM streams in the wire protocols their clients already speak.

A path operation yields the typed parts of an answer (``TextDelta``, ``ToolCallStart``, ``Usage``...); the route
chooses the protocol its clients read, by its format: ``OPENAI_CHAT`` (OpenAI Chat Completions),
``OPENAI_RESPONSES`` (OpenAI Responses), ``ANTHROPIC_MESSAGES`` (Anthropic Messages) or ``AI_SDK`` (the Vercel
AI SDK's UI message stream):

```python
from collections.abc import AsyncIterable
from linestream import LineStream
from linestream import llm

app = LineStream()

@app.post("/v1/chat/completions", stream_formats=[llm.OPENAI_CHAT])
async def chat(request: llm.ChatCompletionRequest) -> AsyncIterable[llm.Part]:
    yield llm.Start(model=request.model)
    for word in ("Hello", " world"):
        yield llm.TextDelta(text=word)
```

The official SDKs read these streams (``openai``, ``anthropic``, the ``ai`` package); see docs/llm.md.
"""

from linestream.llm._ai_sdk import AISdkUIStream
from linestream.llm._anthropic import AnthropicMessages
from linestream.llm._openai import OpenAIChat, OpenAIResponses
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
    ToolResult,
    Usage,
    validate_part,
)
from linestream.llm._protocol import LLMProtocol, PartTranscoder
from linestream.llm._requests import (
    ChatCompletionRequest,
    ChatMessage,
    ChatStreamOptions,
    MessageParam,
    MessagesRequest,
    ResponsesRequest,
    UIChatRequest,
    UIMessage,
)
from linestream.llm._upstream import openai_chat_parts

#: OpenAI Chat Completions streaming (``chat.completion.chunk``, ``data: [DONE]``).
OPENAI_CHAT = OpenAIChat("openai-chat")
#: OpenAI Responses streaming (``response.*`` events).
OPENAI_RESPONSES = OpenAIResponses("openai-responses")
#: Anthropic Messages streaming (``message_start`` ... ``message_stop``).
ANTHROPIC_MESSAGES = AnthropicMessages("anthropic-messages")
#: The Vercel AI SDK's UI message stream (``x-vercel-ai-ui-message-stream: v1``).
AI_SDK = AISdkUIStream("ai-sdk")

__all__ = [
    "AI_SDK",
    "ANTHROPIC_MESSAGES",
    "AISdkUIStream",
    "AnthropicMessages",
    "ChatCompletionRequest",
    "ChatMessage",
    "ChatStreamOptions",
    "Finish",
    "FinishReason",
    "LLMProtocol",
    "MessageParam",
    "MessagesRequest",
    "OPENAI_CHAT",
    "OPENAI_RESPONSES",
    "OpenAIChat",
    "OpenAIResponses",
    "Part",
    "PartTranscoder",
    "ReasoningDelta",
    "ResponsesRequest",
    "Start",
    "TextDelta",
    "ToolCall",
    "ToolCallDelta",
    "ToolCallStart",
    "ToolResult",
    "UIChatRequest",
    "UIMessage",
    "Usage",
    "openai_chat_parts",
    "validate_part",
]
