"""What the clients of the LLM protocols send: the request bodies of OpenAI Chat Completions and Responses,
Anthropic Messages and the AI SDK's chat transport, as Pydantic models a path operation takes as its body.

Each model types the fields an answer usually needs and keeps the others (``extra="allow"``), so a request a
newer SDK sends is not refused for a field this version does not know; ``model_extra`` holds them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ChatCompletionRequest",
    "ChatMessage",
    "ChatStreamOptions",
    "MessagesRequest",
    "MessageParam",
    "ResponsesRequest",
    "UIChatRequest",
    "UIMessage",
]


class _Request(BaseModel):
    model_config = ConfigDict(extra="allow")


def _text(content: Any, text_types: tuple[str, ...]) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(block.get("text", ""))
            for block in content
            if isinstance(block, dict) and block.get("type") in text_types
        )
    return ""


class ChatMessage(_Request):
    """One message of a Chat Completions request."""

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None

    @property
    def text(self) -> str:
        """The message's text: its ``content``, or the text of its content parts."""
        return _text(self.content, ("text",))


class ChatStreamOptions(_Request):
    include_usage: bool = False


class ChatCompletionRequest(_Request):
    """The body of ``POST /v1/chat/completions``."""

    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: ChatStreamOptions | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    stop: str | list[str] | None = None
    user: str | None = None

    @property
    def include_usage(self) -> bool:
        """Whether the client asked for the usage chunk (``stream_options.include_usage``)."""
        return self.stream_options is not None and self.stream_options.include_usage


class ResponsesRequest(_Request):
    """The body of ``POST /v1/responses``."""

    model: str
    input: str | list[dict[str, Any]]
    instructions: str | None = None
    stream: bool = False
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    temperature: float | None = None
    max_output_tokens: int | None = None
    previous_response_id: str | None = None

    @property
    def text(self) -> str:
        """The input's text: the string, or the text of its last user message."""
        if isinstance(self.input, str):
            return self.input
        for item in reversed(self.input):
            if item.get("role") == "user":
                return _text(item.get("content"), ("input_text", "text"))
        return ""


class MessageParam(_Request):
    """One message of an Anthropic Messages request."""

    role: Literal["user", "assistant"]
    content: str | list[dict[str, Any]]

    @property
    def text(self) -> str:
        return _text(self.content, ("text",))


class MessagesRequest(_Request):
    """The body of Anthropic's ``POST /v1/messages``."""

    model: str
    messages: list[MessageParam] = Field(min_length=1)
    max_tokens: int = Field(ge=1)
    system: str | list[dict[str, Any]] | None = None
    stream: bool = False
    tools: list[dict[str, Any]] | None = None
    tool_choice: dict[str, Any] | None = None
    temperature: float | None = None
    stop_sequences: list[str] | None = None
    thinking: dict[str, Any] | None = None


class UIMessage(_Request):
    """One message of the AI SDK's chat (a ``UIMessage``): its ``parts`` (text, reasoning, tool calls...)."""

    id: str
    role: Literal["system", "user", "assistant"]
    parts: list[dict[str, Any]] = Field(default_factory=list)
    metadata: Any = None

    @property
    def text(self) -> str:
        """The text of the message's text parts."""
        return _text(self.parts, ("text",))


class UIChatRequest(_Request):
    """The body the AI SDK's ``DefaultChatTransport`` posts (``useChat``): the chat's ``id``, its ``messages``
    and what triggered the request."""

    id: str
    messages: list[UIMessage] = Field(min_length=1)
    trigger: Literal["submit-message", "regenerate-message"] | None = None
    messageId: str | None = None  # noqa: N815 (the AI SDK's name)
