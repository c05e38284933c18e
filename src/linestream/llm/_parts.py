"""The parts an LLM path operation yields, whatever protocol its clients speak.

A part is one step of a model's answer: a fragment of its text or reasoning, a tool call (started, its
arguments' JSON in fragments, complete), a tool's result, the token usage, the reason it finished. The
protocols (``OpenAIChat``, ``OpenAIResponses``, ``AnthropicMessages``, ``AISdkUIStream``) render the same parts
as their events. Every part has a ``type`` tag, so a route may also serve them as JSON Lines to linestream's own
clients.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

__all__ = [
    "PART_TYPES",
    "FinishReason",
    "Finish",
    "Part",
    "ReasoningDelta",
    "Start",
    "TextDelta",
    "ToolCall",
    "ToolCallDelta",
    "ToolCallStart",
    "ToolResult",
    "Usage",
    "validate_part",
]

#: Why a model stopped, in the protocols' common terms.
FinishReason = Literal["stop", "length", "tool-calls", "content-filter", "error", "other"]


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Start(_Part):
    """The answer's metadata, before its first content: the ``model`` that answers and the answer's ``id``
    (made up when not given). Optional; sent with the first content part, so that an error before it is still a
    real HTTP status."""

    type: Literal["start"] = "start"
    model: str | None = None
    id: str | None = None


class TextDelta(_Part):
    """A fragment of the answer's text."""

    type: Literal["text-delta"] = "text-delta"
    text: str


class ReasoningDelta(_Part):
    """A fragment of the model's reasoning (thinking) text."""

    type: Literal["reasoning-delta"] = "reasoning-delta"
    text: str


class ToolCallStart(_Part):
    """A tool call begins: its ``id`` (unique in the answer) and the tool's ``name``; ``ToolCallDelta`` parts
    with the same ``id`` then bring its arguments' JSON text in fragments."""

    type: Literal["tool-call-start"] = "tool-call-start"
    id: str
    name: str


class ToolCallDelta(_Part):
    """A fragment of the JSON text of a started tool call's arguments."""

    type: Literal["tool-call-delta"] = "tool-call-delta"
    id: str
    arguments: str


class ToolCall(_Part):
    """A complete tool call: ``arguments`` is the JSON text of its arguments (a ``dict`` is serialized). It
    completes a started call of the same ``id`` (its fragments must add up to ``arguments``), or is a call sent
    whole."""

    type: Literal["tool-call"] = "tool-call"
    id: str
    name: str
    arguments: str = "{}"

    @field_validator("arguments", mode="before")
    @classmethod
    def _json_text(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        return value


class ToolResult(_Part):
    """The ``output`` (any JSON value) of the tool call ``id``, for the protocols that carry tool results in
    the answer (the AI SDK's UI message stream); the others leave it out."""

    type: Literal["tool-result"] = "tool-result"
    id: str
    output: Any = None


class Usage(_Part):
    """The tokens the answer used so far; the last ``Usage`` part counts."""

    type: Literal["usage"] = "usage"
    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)


class Finish(_Part):
    """Why the model stopped (``"stop"`` when no ``Finish`` is yielded, ``"tool-calls"`` if it called tools)."""

    type: Literal["finish"] = "finish"
    reason: FinishReason = "stop"


#: Any part, told apart by its ``type``.
Part = Annotated[
    Union[Start, TextDelta, ReasoningDelta, ToolCallStart, ToolCallDelta, ToolCall, ToolResult, Usage, Finish],  # noqa: UP007
    Field(discriminator="type"),
]
#: The classes of the parts.
PART_TYPES: tuple[type[BaseModel], ...] = (
    Start,
    TextDelta,
    ReasoningDelta,
    ToolCallStart,
    ToolCallDelta,
    ToolCall,
    ToolResult,
    Usage,
    Finish,
)
_ADAPTER: TypeAdapter[Any] = TypeAdapter(Part)


def validate_part(value: Any) -> Any:
    """``value`` as a part: a part as it is, a ``dict`` (or JSON text) validated as one (``ValidationError``)."""
    if isinstance(value, PART_TYPES):
        return value
    if isinstance(value, (str, bytes)):
        return _ADAPTER.validate_json(value)
    return _ADAPTER.validate_python(value)
