"""A Durable Streams server for the protocol's conformance suite and its clients, and a durable path operation
(tests/durable).

``DURABLE_BACKEND`` picks the backend: ``memory`` (the default) or ``redis`` (at ``REDIS_URL``, keys under
``REDIS_PREFIX``). Reads wait one second at most, so that the suite's long-poll and SSE tests end quickly;
``DURABLE_JOB_LEASE`` sets the jobs' lease (seconds), ``DURABLE_MAX_STREAMS`` the in-memory backend's limit.

``POST /chat?tokens=N&delay=S`` is a durable answer of N tokens, the first at once, then one every S
seconds; ``GET /page`` is a page whose ``EventSource`` reads the durable ``GET /answer``; ``GET /events`` lists
what this process saw of its jobs (each generator's end, each dependency's teardown), so that a test can tell
which worker ran a job and when it stopped.
"""

import os
from collections.abc import AsyncIterator, Iterator

import anyio
from pydantic import BaseModel
from starlette.middleware.cors import CORSMiddleware

from linestream import Depends, HTTPException, LineStream
from linestream.durable import DurableBackend, DurableStreams, MemoryBackend, RedisBackend
from linestream.responses import HTMLResponse
from linestream.sse import EventSourceResponse


def _backend() -> DurableBackend:
    if os.environ.get("DURABLE_BACKEND") == "redis":
        return RedisBackend(os.environ["REDIS_URL"], key_prefix=os.environ.get("REDIS_PREFIX", "linestream:durable:"))
    return MemoryBackend(max_streams=int(os.environ.get("DURABLE_MAX_STREAMS", "10000")))


class Token(BaseModel):
    index: int
    text: str


streams = DurableStreams(
    _backend(), long_poll_timeout=1.0, sse_timeout=1.0, job_lease=int(os.environ.get("DURABLE_JOB_LEASE", "10"))
)
app = LineStream()
app.include_router(streams, prefix="/v1/stream")
app.add_middleware(
    CORSMiddleware,
    allow_origins=["*"],
    allow_methods=["*"],
    allow_headers=["*"],
    expose_headers=[*DurableStreams.exposed_headers, "Stream-Id"],
)
events: list[str] = []


async def model_session() -> AsyncIterator[str]:
    """Stands for a connection to a model: it must outlive the response, up to the end of the job."""
    events.append("session opened")
    try:
        yield "session"
    finally:
        events.append("session closed")


@app.post("/chat", durable=streams)
async def chat(
    tokens: int = 5, delay: float = 0.05, fail_at: int | None = None, session: str = Depends(model_session)
) -> AsyncIterator[Token]:
    try:
        for index in range(tokens):
            if index == fail_at:
                raise HTTPException(422, f"the model refused at token {index}")
            if index:
                await anyio.sleep(delay)
            yield Token(index=index, text=f"token {index}")
        events.append(f"generator finished after {tokens}")
    finally:
        events.append("generator closed")


@app.post("/count", durable=streams)
def count(tokens: int = 3) -> Iterator[Token]:
    for index in range(tokens):
        yield Token(index=index, text=str(index))


@app.get("/answer", durable=streams, response_class=EventSourceResponse)
async def answer(tokens: int = 10, delay: float = 0.1) -> AsyncIterator[Token]:
    """A durable answer an ``EventSource`` reads (a ``GET``: it resumes by itself, with ``Last-Event-ID``)."""
    for index in range(tokens):
        if index:
            await anyio.sleep(delay)
        yield Token(index=index, text=f"token {index}")


PAGE = """<!doctype html><script>
window.received = [];
window.opened = 0;
const source = new EventSource("/answer?tokens=" + new URLSearchParams(location.search).get("tokens"));
source.onopen = () => { window.opened += 1; };
source.onmessage = (event) => { window.received.push(JSON.parse(event.data).index); };
</script>"""


@app.get("/page", response_class=HTMLResponse)
async def page() -> str:
    return PAGE


@app.get("/events")
async def seen() -> list[str]:
    return events
