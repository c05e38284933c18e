"""A durable path operation's job: its generator run by the app, not by the request, into a ``DurableLog``.

The generator's items are serialized once (the route's encoder) and handed to an appender task through a
bounded buffer: the appender takes whatever has accumulated (while its last append was in flight, or while the
generator produced ready items without waiting), so a slow store, or a fast generator, gets fewer, larger
appends; a generator faster than the store waits (backpressure) instead of growing memory. A watcher holds the
job's lease (so that readers on other workers can tell a job whose worker died from a slow one) and ends the
job when someone cancels it. Whatever ends it, the generator is closed, the log ends (complete, or with a
failure record every reader sees), then the request's ``yield`` dependencies are torn down: they live as long
as the job, not the response.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from typing import Any

import anyio
import anyio.to_thread
from anyio.streams.memory import MemoryObjectSendStream
from pydantic import ValidationError
from pydantic_core import PydanticSerializationError

from linestream._durable_log import CURRENT_JOB, DurableLog, JobFailure
from linestream.exceptions import HTTPException

__all__ = ["JOB_BUFFER", "run_job"]

logger = logging.getLogger("linestream")

#: How many serialized items a job holds while its appends are slower than its generator.
JOB_BUFFER = 256
_MAX_BATCH = 1000
_DONE = object()


async def run_job(
    log: DurableLog,
    job: str,
    generator: AsyncGenerator[Any, None] | Generator[Any, None, None],
    encode: Callable[[Any], bytes],
    teardown: Callable[[BaseException | None], Awaitable[None]],
    label: str,
    on_end: Callable[[str, int], None] | None = None,
) -> None:
    """Run one job to its end (see the module docstring); never raises (but a cancellation at shutdown).
    ``on_end`` is told how it ended (``"complete"``, ``"failed"``, ``"cancelled"``, ``"shutdown"``) after how
    many items."""
    send, receive = anyio.create_memory_object_stream[bytes](max_buffer_size=JOB_BUFFER)
    drained = anyio.Event()
    error: BaseException | None = None
    failure: JobFailure | None = None
    cancelled = False

    async def append(scope: anyio.CancelScope) -> None:
        nonlocal cancelled, error, failure
        try:
            with receive:
                async for data in receive:
                    batch = [data]
                    while len(batch) < _MAX_BATCH:
                        try:
                            batch.append(receive.receive_nowait())
                        except (anyio.WouldBlock, anyio.EndOfStream):
                            break
                    if not await log.append_items(job, batch):
                        cancelled = True
                        scope.cancel()
                        return
        except Exception as exc:
            logger.exception("%s: durable job %s could not store its items; it stops.", label, job)
            error, failure = exc, JobFailure("error", "The job's items could not be stored.")
            scope.cancel()
            return
        drained.set()

    async def watch(scope: anyio.CancelScope) -> None:
        nonlocal cancelled
        await log.hold(job)
        cancelled = True
        scope.cancel()

    count = 0
    CURRENT_JOB.set(job)  # (this task is the job's own: the generator's body runs in it)
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(append, group.cancel_scope)
            group.start_soon(watch, group.cancel_scope)
            try:
                with send:
                    if isinstance(generator, AsyncGenerator):
                        async for item in generator:
                            await _put(send, encode(item))
                            count += 1
                    else:
                        while (item := await anyio.to_thread.run_sync(next, generator, _DONE)) is not _DONE:
                            await _put(send, encode(item))
                            count += 1
            except HTTPException as exc:
                error, failure = exc, JobFailure("error", str(exc.detail), exc.status_code)
            except (ValidationError, PydanticSerializationError) as exc:
                logger.error("%s: item %d of durable job %s does not match its type: %s", label, count, job, exc)
                error, failure = exc, JobFailure("error", f"Item {count} does not match the stream's item type.")
            except Exception as exc:
                logger.exception("%s: durable job %s failed after %d items.", label, job, count)
                error, failure = exc, JobFailure("error", "Internal Server Error")
            await drained.wait()  # what the generator yielded before its end is stored before the end
            group.cancel_scope.cancel()
    except anyio.get_cancelled_exc_class() as exc:
        # The app shuts down: the job cannot finish here; its readers see that, and why.
        with anyio.CancelScope(shield=True):
            await _end(log, job, generator, JobFailure("error", "The server shut down before the job ended.", 503),
                       teardown, exc, label)  # fmt: skip
        if on_end is not None:
            on_end("shutdown", count)
        raise
    with anyio.CancelScope(shield=True):
        await _end(log, job, generator, None if cancelled else failure, teardown, error, label, finish=not cancelled)
    if on_end is not None:
        on_end("cancelled" if cancelled else "failed" if failure is not None else "complete", count)


async def _put(send: MemoryObjectSendStream[bytes], data: bytes) -> None:
    """Hand an item to the appender without a pass through the event loop while the buffer has room: a generator
    whose items are ready fills a batch before the appender runs (one append for many items), and waits only
    when the buffer is full or it waits for something itself."""
    try:
        send.send_nowait(data)
    except anyio.WouldBlock:
        await send.send(data)


async def _end(
    log: DurableLog,
    job: str,
    generator: AsyncGenerator[Any, None] | Generator[Any, None, None],
    failure: JobFailure | None,
    teardown: Callable[[BaseException | None], Awaitable[None]],
    error: BaseException | None,
    label: str,
    *,
    finish: bool = True,
) -> None:
    try:
        if isinstance(generator, AsyncGenerator):
            await generator.aclose()
        else:
            await anyio.to_thread.run_sync(generator.close)
    except Exception:
        logger.exception("%s: durable job %s's generator failed while it closed.", label, job)
    try:
        if finish:
            await log.finish_job(job, failure)
    except Exception:
        logger.exception("%s: durable job %s could not store its end.", label, job)
    try:
        await teardown(error)
    except Exception:
        logger.exception("%s: a dependency of durable job %s failed while it was torn down.", label, job)
