"""The request flow of a durable path operation (``durable=`` a ``DurableLog``): its generator runs as a job of
the app (``_engine.job``) that appends each item to the job's log, and the response reads that log in the
negotiated format, from any worker. A client that reconnects with ``Last-Event-ID`` (an ``EventSource`` does
by itself) reads on from there: the route's dependencies run again (they authorize), the generator does not.

The response names the job: ``Stream-Id`` (its id) and ``Location`` (its log on the Durable Streams
protocol). Each item's SSE ``id:`` is its position in the log.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope

from linestream._bind.arguments import solve_arguments, solve_value
from linestream._bind.binding import RequestBinding
from linestream._compile.plan import StreamPlan
from linestream._durable_log import DurableLog, JobFailed
from linestream._engine.async_source import AsyncItemSource
from linestream._engine.job import run_job
from linestream._engine.receive import ReceiveChannel
from linestream._engine.stream import ItemStream
from linestream._engine.transcode import transcoded
from linestream._routing.handlers import StreamHandler, _StreamResponse
from linestream._serialization import SerializedItem
from linestream.exceptions import HTTPException

__all__ = ["DurableStreamHandler"]


class _JobResponse(_StreamResponse):
    """A durable path operation's response: it streams its job's log, not a generator of its own."""

    def __init__(
        self,
        handler: StreamHandler,
        plan: StreamPlan,
        binding: RequestBinding,
        reader: AsyncIterator[tuple[str, bytes]],
        job: str,
    ) -> None:
        super().__init__(handler, plan, binding, {})
        self.reader = reader
        self.job = job


class DurableStreamHandler(StreamHandler):
    """A streaming route with ``durable=``: start a job (or find the one a ``Last-Event-ID`` names), then stream
    its log."""

    __slots__ = ()

    async def respond(self, request: Request, binding: RequestBinding) -> Response:
        compiled = self.compiled
        log = compiled.settings.durable
        assert log is not None
        plan = self.plan_for(request)
        owner = None if compiled.job_owner is None else await solve_value(compiled.job_owner, compiled.spec, binding)
        last_event_id = request.headers.get("last-event-id")
        try:
            point = None if last_event_id is None else log.resume_point(last_event_id, owner)
        except LookupError as exc:
            raise HTTPException(404, str(exc)) from None
        # A resume solves the route's dependencies as the first request did (authorization above all), and
        # discards their values: its job already runs.
        try:
            arguments = await solve_arguments(compiled.spec, compiled.extra_dependencies, binding)
            job = await self._start(log, binding, owner, arguments) if point is None else point[0]
        except BaseException as exc:
            await binding.exit_function_scope(exc)
            raise
        position = None
        if point is not None and plan.transcoder is None:
            # (A protocol with a transcoder has no positions in its events: its clients resume by a replay.)
            position = point[1]
            if await log.ended_at(job, position):
                # The client has the whole answer: 204 stops an EventSource, which would come back after a clean end.
                return Response(status_code=204, headers={"stream-id": job})
        response = _JobResponse(self, plan, binding, log.read_job(job, position), job)
        response.raw_headers = [(b"stream-id", job.encode())]
        url = log.job_url(request, job)
        if url is not None:
            response.raw_headers.append((b"location", url.encode()))
        return response

    async def _start(self, log: DurableLog, binding: RequestBinding, owner: Any, arguments: dict[str, Any]) -> str:
        compiled = self.compiled
        runtime = self.runtime
        if not runtime.has_tasks:
            raise RuntimeError(
                f"{compiled.label}: a durable path operation runs its generator as a task of the app, which needs "
                "the app's lifespan: serve it with uvicorn (or use TestClient as a context manager)."
            )
        job = await log.open_job(owner)
        generator = compiled.declaration.endpoint(**arguments)
        teardown = binding.detach()
        encode = compiled.encoder.encode
        label = compiled.label
        telemetry = compiled.settings.telemetry
        on_end = None if telemetry is None else telemetry.job(f"{binding.request.method} {compiled.declaration.path}")

        async def job_task() -> None:
            await run_job(log, job, generator, encode, teardown, label, on_end)

        runtime.spawn(job_task, stop_at_shutdown=True)
        return job

    def open_stream(self, scope: Scope, channel: Receive, response: _StreamResponse) -> ItemStream:
        assert isinstance(response, _JobResponse)
        assert isinstance(channel, ReceiveChannel)
        plan = response.plan
        items: AsyncGenerator[Any, None] = _items(response.reader, self.compiled.spec.item_type)
        if plan.transcoder is not None:
            items = transcoded(_stored(items), plan.transcoder(response.job))
        return ItemStream(plan, AsyncItemSource(items, plan), channel)


async def _stored(items: AsyncGenerator[SerializedItem[Any], None]) -> AsyncGenerator[bytes, None]:
    """The stored JSON of each item, for a transcoder (which validates it as a part of its protocol)."""
    async with contextlib.aclosing(items):
        async for item in items:
            yield item.data


async def _items(reader: AsyncIterator[tuple[str, bytes]], item_type: Any) -> AsyncGenerator[SerializedItem[Any], None]:
    """The log's items as the stream's (sent as stored); its failure record as the error it stands for."""
    async with contextlib.aclosing(reader) as entries:  # type: ignore[type-var]
        try:
            async for position, data in entries:
                yield SerializedItem(position, data, item_type)
        except JobFailed as exc:
            raise HTTPException(exc.failure.status, exc.failure.detail) from None
        except LookupError as exc:
            raise HTTPException(404, str(exc)) from None
