"""An LLM service for the tests of linestream.llm: every protocol, in front of a model stand-in that streams
tokens, reasoning, tool calls and usage (no network). The prompt chooses the script:

- ``"tool"``: reasoning, text, a tool call whose arguments arrive in fragments, usage, finish ``tool-calls``;
- ``"fail"``: two text parts, then the model fails (an error after the first part);
- ``"forbidden"``: a 403 before the first part;
- ``"endless"``: text until the client leaves (``CLOSED`` counts the answers whose generator was closed);
- ``"slow"``: ``SLOW_ANSWER``, a word every 20 ms (long enough to leave and come back);
- anything else: ``Hello, world`` and its usage.

``/durable/api/chat`` answers as a durable job (it runs to its end when its client leaves), and
``/durable/api/chat/{chat_id}/stream`` is the AI SDK's resume of the chat's answer under way (204: none).
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator

import anyio

from linestream import HTTPException, LineStream, llm
from linestream.durable import DurableStreams, current_job

app = LineStream()
streams = DurableStreams()
app.include_router(streams, prefix="/v1/stream")

#: The stand-in's slow answer, word by word.
SLOW_ANSWER = " ".join(f"word{index}" for index in range(40))
#: The durable job of each chat's answer under way.
ANSWERING: dict[str, str] = {}

#: The answers whose generator was closed before their end (a client that left), and a wake-up for each.
CLOSED: list[str] = []
closed_event = threading.Event()


def script(prompt: str) -> Iterator[llm.Part | Exception]:
    """The parts of the stand-in's answer to ``prompt`` (an exception: raised there)."""
    if "forbidden" in prompt:
        yield HTTPException(403, "This key may not use the model.")
    elif "tool" in prompt:
        yield llm.ReasoningDelta(text="The user wants the weather.")
        yield llm.TextDelta(text="Let me check. ")
        yield llm.ToolCallStart(id="call_1", name="get_weather")
        yield llm.ToolCallDelta(id="call_1", arguments='{"city":')
        yield llm.ToolCallDelta(id="call_1", arguments=' "Paris"}')
        yield llm.ToolCall(id="call_1", name="get_weather", arguments='{"city": "Paris"}')
        yield llm.ToolResult(id="call_1", output={"celsius": 21})
        yield llm.Usage(input_tokens=11, output_tokens=7)
        yield llm.Finish(reason="tool-calls")
    elif "slow" in prompt:
        for index, word in enumerate(SLOW_ANSWER.split(" ")):
            yield llm.TextDelta(text=word if index == 0 else " " + word)
    elif "fail" in prompt:
        yield llm.TextDelta(text="Partial ")
        yield llm.TextDelta(text="answer")
        yield RuntimeError("the model crashed")
    else:
        yield llm.TextDelta(text="Hello")
        yield llm.TextDelta(text=", world")
        yield llm.Usage(input_tokens=5, output_tokens=2)
        yield llm.Finish(reason="stop")


async def model(name: str, prompt: str) -> AsyncIterator[llm.Part]:
    """The stand-in model: the script's parts, or text until closed for ``"endless"``."""
    yield llm.Start(model=name)
    if "endless" in prompt:
        try:
            for index in range(100_000):
                yield llm.TextDelta(text=f"tick {index} ")
                await anyio.sleep(0.005)
        finally:
            CLOSED.append(prompt)
            closed_event.set()
        return
    for part in script(prompt):
        if isinstance(part, Exception):
            raise part
        if "slow" in prompt:
            await anyio.sleep(0.02)
        yield part


@app.post("/v1/chat/completions", stream_formats=[llm.OPENAI_CHAT, "jsonl"])
async def chat_completions(request: llm.ChatCompletionRequest) -> AsyncIterator[llm.Part]:
    async for part in model(request.model, request.messages[-1].text):
        if isinstance(part, llm.Usage) and not request.include_usage:
            continue
        yield part


@app.post("/sync/v1/chat/completions", stream_formats=[llm.OPENAI_CHAT])
def chat_completions_sync(request: llm.ChatCompletionRequest) -> Iterator[llm.Part]:
    """A ``def`` generator (a blocking model client): the same protocol, from a worker thread."""
    yield llm.Start(model=request.model)
    for part in script(request.messages[-1].text):
        if isinstance(part, Exception):
            raise part
        yield part


@app.post("/v1/responses", stream_formats=[llm.OPENAI_RESPONSES])
async def responses(request: llm.ResponsesRequest) -> AsyncIterator[llm.Part]:
    async for part in model(request.model, request.text):
        yield part


@app.post("/v1/messages", stream_formats=[llm.ANTHROPIC_MESSAGES])
async def messages(request: llm.MessagesRequest) -> AsyncIterator[llm.Part]:
    async for part in model(request.model, request.messages[-1].text):
        yield part


@app.post("/api/chat", stream_formats=[llm.AI_SDK])
async def ui_chat(request: llm.UIChatRequest) -> AsyncIterator[llm.Part]:
    async for part in model("stand-in", request.messages[-1].text):
        yield part


@app.post("/durable/api/chat", stream_formats=[llm.AI_SDK], durable=streams)
async def durable_chat(request: llm.UIChatRequest) -> AsyncIterator[llm.Part]:
    """A durable answer: its job is the chat's answer under way until it ends."""
    job = current_job()
    assert job is not None
    ANSWERING[request.id] = job
    try:
        yield llm.Start(id=job)  # the answer's id, the same when it is replayed
        async for part in model("stand-in", request.messages[-1].text):
            if not isinstance(part, llm.Start):
                yield part
    finally:
        ANSWERING.pop(request.id, None)


@app.get("/durable/api/chat/{chat_id}/stream", stream_formats=[llm.AI_SDK])
async def resume_chat(chat_id: str) -> AsyncIterator[llm.Part]:
    """The AI SDK's resume (``reconnectToStream``): the answer under way, replayed from its start, then live."""
    job = ANSWERING.get(chat_id)
    if job is None:
        raise HTTPException(204)  # no answer under way: the transport returns null
    async for part in streams.job_items(job, llm.Part):
        yield part


@app.get("/durable/jobs/{job}", stream_formats=[llm.AI_SDK])
async def replay_job(job: str) -> AsyncIterator[llm.Part]:
    """Any durable answer by its job id, replayed (tests read failed and unknown jobs through it)."""
    async for part in streams.job_items(job, llm.Part):
        yield part
