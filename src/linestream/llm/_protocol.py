"""What every LLM protocol shares: Server-Sent Events written by a transcoder, chosen by the route.

An ``LLMProtocol`` is a stream format (``stream_formats=[llm.OPENAI_CHAT]``) whose events depend on the answer
so far, so each stream gets its own ``PartTranscoder``: parts in, the protocol's events out. The route chooses
the protocol; the protocol's SDKs do not ask for it in ``Accept`` (they send ``application/json``), so it is
served whatever ``Accept`` says unless the request asks for another format the route offers (JSON Lines of the
same parts, for linestream's clients).
"""

from __future__ import annotations

import secrets
import time
import types
import typing
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

import pydantic_core

from linestream.llm._parts import (
    PART_TYPES,
    Finish,
    FinishReason,
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
from linestream.streams import Framing, SseDecoder, StreamDocs, Transcoder
from linestream.streams.sse import KEEPALIVE, MEDIA_TYPE, SseFormat, event_schema

__all__ = ["LLMProtocol", "PartTranscoder", "ToolCallState", "event", "message_of", "new_id", "status_of"]


def event(name: str | None, data: Any) -> bytes:
    """One Server-Sent Event: ``event: name`` (if any) and ``data`` as compact JSON on one line."""
    payload = pydantic_core.to_json(data)
    if name is None:
        return b"data: " + payload + b"\n\n"
    return b"event: " + name.encode() + b"\ndata: " + payload + b"\n\n"


def new_id(prefix: str) -> str:
    """A fresh identifier in a protocol's style (``chatcmpl-…``, ``msg_…``)."""
    return prefix + secrets.token_hex(12)


class ToolCallState:
    """A tool call while its arguments arrive: its place among the answer's calls and its JSON so far."""

    __slots__ = ("done", "fragments", "id", "index", "name")

    def __init__(self, id: str, name: str, index: int) -> None:
        self.id, self.name, self.index = id, name, index
        self.fragments: list[str] = []
        self.done = False

    @property
    def arguments(self) -> str:
        """The JSON text of its arguments so far."""
        return "".join(self.fragments)


class PartTranscoder(Transcoder):
    """The bookkeeping every protocol needs (see ``LLMProtocol``): the answer's id and model, its tool calls,
    its usage and finish reason, and a dispatch of each part to the method of its kind. A protocol overrides
    the ``on_*`` methods and ``end``/``error``; a part a protocol does not carry returns ``b""``."""

    #: The prefix of the answer's id (``chatcmpl-``, ``resp_``, ``msg_``).
    id_prefix: ClassVar[str] = "msg_"

    def __init__(self, protocol: LLMProtocol, stream_id: str | None = None) -> None:
        self.protocol = protocol
        #: The answer's id: ``llm.Start(id=...)``'s, else made up (from ``stream_id``, the same at every reading).
        self.id: str | None = None
        self.stream_id = stream_id
        self.model = protocol.model
        self.created = int(time.time())
        self.started = False
        self.tool_calls: dict[str, ToolCallState] = {}
        self.usage = Usage()
        self.reason: FinishReason | None = None

    @property
    def finish_reason(self) -> FinishReason:
        """The reason yielded, else ``"tool-calls"`` if the model called tools, else ``"stop"``."""
        if self.reason is not None:
            return self.reason
        return "tool-calls" if self.tool_calls else "stop"

    def encode(self, item: Any) -> bytes:
        part = validate_part(item)
        if isinstance(part, Start):
            if self.started:
                raise ValueError("llm.Start must come before the answer's first content part")
            self.model = part.model or self.model
            self.id = part.id
            return b""
        if isinstance(part, Usage):
            self.usage = part
            return self.on_usage(part)
        if isinstance(part, Finish):
            self.reason = part.reason
            return b""
        return self.ensure_started() + self._content(part)

    def _content(self, part: Any) -> bytes:
        if isinstance(part, TextDelta):
            return self.on_text(part.text)
        if isinstance(part, ReasoningDelta):
            return self.on_reasoning(part.text)
        if isinstance(part, ToolCallStart):
            return self._tool_start(part.id, part.name)
        if isinstance(part, ToolCallDelta):
            call = self.tool_calls.get(part.id)
            if call is None or call.done:
                raise ValueError(f"llm.ToolCallDelta for tool call {part.id!r}, which is not started (or complete)")
            call.fragments.append(part.arguments)
            return self.on_tool_delta(call, part.arguments)
        if isinstance(part, ToolCall):
            call = self.tool_calls.get(part.id)
            frames = b""
            if call is None:
                frames = self._tool_start(part.id, part.name)
                call = self.tool_calls[part.id]
            if call.done:
                raise ValueError(f"llm.ToolCall {part.id!r} is complete already")
            if not call.arguments:
                call.fragments = [part.arguments]
                frames += self.on_tool_delta(call, part.arguments)
            elif call.arguments != part.arguments:
                raise ValueError(f"llm.ToolCall {part.id!r}: its arguments differ from its fragments")
            call.done = True
            return frames + self.on_tool_done(call)
        assert isinstance(part, ToolResult)
        return self.on_tool_result(part)

    def _tool_start(self, id: str, name: str) -> bytes:
        if id in self.tool_calls:
            raise ValueError(f"llm.ToolCallStart: tool call {id!r} is started already")
        call = self.tool_calls[id] = ToolCallState(id, name, len(self.tool_calls))
        return self.on_tool_start(call)

    def open_tool_calls(self) -> bytes:
        """Complete every tool call still open (a stream that ended without its ``ToolCall``)."""
        frames = b""
        for call in self.tool_calls.values():
            if not call.done:
                call.done = True
                frames += self.on_tool_done(call)
        return frames

    def ensure_started(self) -> bytes:
        """The protocol's opening events, once: before the answer's first content (or its end, if it has none)."""
        if self.started:
            return b""
        self.started = True
        if self.id is None:
            self.id = new_id(self.id_prefix) if self.stream_id is None else self.id_prefix + self.stream_id[:24]
        return self.on_start()

    def item_id(self, prefix: str, index: int) -> str:
        """The id of the answer's ``index``-th item of a kind (``msg_``, ``fc_``): derived from the answer's."""
        answer = (self.id or "").split("_", 1)[-1].split("-", 1)[-1]
        return f"{prefix}{answer}_{index}"

    # -- what a protocol writes ------------------------------------------------------------------------------
    def on_start(self) -> bytes:
        return b""

    def on_text(self, text: str) -> bytes:
        return b""

    def on_reasoning(self, text: str) -> bytes:
        return b""

    def on_tool_start(self, call: ToolCallState) -> bytes:
        return b""

    def on_tool_delta(self, call: ToolCallState, arguments: str) -> bytes:
        return b""

    def on_tool_done(self, call: ToolCallState) -> bytes:
        return b""

    def on_tool_result(self, result: ToolResult) -> bytes:
        return b""

    def on_usage(self, usage: Usage) -> bytes:
        return b""


class LLMProtocol(SseFormat):
    """An LLM wire protocol as a stream format (see the module docstring). ``model`` names the model in the
    protocol's events when the answer yields no ``llm.Start(model=...)``."""

    answers_any_accept = True
    #: The ``PartTranscoder`` subclass that writes this protocol.
    transcoder_class: ClassVar[type[PartTranscoder]] = PartTranscoder
    #: The schema of each event the protocol sends, ``(event name or None, data schema)``, for OpenAPI.
    events: ClassVar[tuple[tuple[str | None, dict[str, Any]], ...]] = ()

    #: What is sent after ``sse_keepalive`` seconds of silence (an SSE comment; Anthropic's ``ping`` event).
    keepalive_event: ClassVar[bytes] = KEEPALIVE

    def __init__(self, name: str, *, model: str = "linestream") -> None:
        super().__init__(
            name, Framing(media_type=MEDIA_TYPE), SseDecoder, self.keepalive_event, keepalive_option="sse_keepalive"
        )
        self.model = model

    def transcoder(self, stream_id: str | None = None) -> PartTranscoder:
        return self.transcoder_class(self, stream_id)

    def check_item_type(self, item_type: Any, endpoint: str) -> None:
        if item_type is Any or all(t in PART_TYPES for t in _union_members(item_type)):
            return
        raise ValueError(
            f"{endpoint}: the {self.name} protocol sends the parts of linestream.llm; declare the items as "
            "AsyncIterable[llm.Part] (or a union of part classes, e.g. AsyncIterable[llm.TextDelta | llm.Usage]), "
            f"not {item_type!r}."
        )

    def shutdown_frame(self, retry: int | None) -> bytes | None:
        # The protocols have no "come back": a shutdown cuts the answer, which their SDKs raise as an error.
        return None

    def document(self, docs: StreamDocs, version: str) -> dict[str, Any]:
        schemas = [event_schema(name, schema) for name, schema in self.events]
        item = schemas[0] if len(schemas) == 1 else {"oneOf": schemas}
        if version.startswith("3.2"):
            return {"itemSchema": item}
        return {"schema": {"type": "string"}, "x-oai-itemSchema": item}


def _union_members(item_type: Any) -> tuple[Any, ...]:
    if typing.get_origin(item_type) is Annotated:
        item_type = typing.get_args(item_type)[0]
    if typing.get_origin(item_type) in (typing.Union, types.UnionType):
        return tuple(member for arg in typing.get_args(item_type) for member in _union_members(arg))
    return (item_type,)


def status_of(problem: Mapping[str, Any]) -> int:
    """The HTTP status a problem carries (500 when it has none)."""
    status = problem.get("status")
    return status if isinstance(status, int) else 500


def message_of(problem: Mapping[str, Any]) -> str:
    """A problem's message: its detail if it is text, else its title."""
    detail = problem.get("detail")
    return detail if isinstance(detail, str) else str(problem.get("title", "Error"))
