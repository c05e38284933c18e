"""Durable path operations' logs on a backend: each job is the JSON-mode stream ``jobs/<id>``, so that its
items are also readable on the protocol (``Location``), by any worker that shares the backend.

A running job holds a lease: the stream ``leases/<id>``, whose sliding TTL (``job_lease`` seconds) the job
renews by reading it every third of that. If its worker dies (SIGKILL, a lost host), the lease expires; the
first reader that finds the log idle and the lease gone ends the log with a ``"lost"`` failure record, so every
reader sees the answer cut short, and why, within about a lease: never a clean end, never a wait forever.

With an ``owner`` dependency, a job's id is bound to its owner: 16 random hex digits, then 16 of an HMAC (with
the router's ``secret``) of those and the owner's value. Only a request whose owner gives the same HMAC may
read, resume or cancel the job; to anyone else it does not exist (404). No state is kept for it, so every
worker with the same secret decides alike.

A position in a job's log is ``<job id>:<offset of a chunk>:<items of that chunk read>``: the job appends
its items in batches (one chunk each), and a reader resumes right after any item, inside a batch too.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import re
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

from pydantic import TypeAdapter
from starlette.requests import Request
from starlette.routing import NoMatchFound

from linestream import HTTPException
from linestream._durable_log import DurableLog, JobFailed, JobFailure, failure_from_record
from linestream.durable._base import DurableBackend, NewStream
from linestream.durable._protocol import ZERO_OFFSET, ProtocolError

__all__ = ["JOBS", "JobLogs"]

#: Where jobs' streams live under a ``DurableStreams`` router.
JOBS = "jobs/"
LEASES = "leases/"
_POSITION = re.compile(r"([0-9a-f]{32}):(\d{16}_\d{16}):(\d{1,9})")
_GONE = (404, 410)


class JobLogs(DurableLog):
    """``DurableLog`` on a ``DurableBackend`` (what ``DurableStreams`` is to ``durable=``)."""

    backend: DurableBackend
    job_ttl: int
    job_lease: int
    secret: bytes | None
    max_read_bytes: int
    sse_timeout: float
    read_route_name: str

    def _sign(self, nonce: str, owner: Any) -> str:
        assert self.secret is not None
        return hmac.new(self.secret, f"{nonce}:{owner}".encode(), hashlib.sha256).hexdigest()[:16]

    def may_read(self, job: str, owner: Any) -> bool:
        """Whether ``owner`` may read (and cancel) ``job``: its own, or anyone's when jobs have no owner."""
        if self.owner is None:
            return True
        return len(job) == 32 and hmac.compare_digest(self._sign(job[:16], owner), job[16:])

    async def open_job(self, owner: Any = None) -> str:
        if self.owner is None:
            job = uuid.uuid4().hex
        else:
            nonce = secrets.token_hex(8)
            job = nonce + self._sign(nonce, owner)
        try:
            await self.backend.create(LEASES + job, NewStream("application/octet-stream", ttl=self.job_lease), b"")
            try:
                await self.backend.create(JOBS + job, NewStream("application/json", ttl=self.job_ttl), b"")
            except BaseException:
                with contextlib.suppress(ProtocolError):
                    await self.backend.delete(LEASES + job)
                raise
        except ProtocolError as exc:  # the backend's limits (a 503 when it holds its maximum of streams)
            raise HTTPException(exc.status, exc.detail, exc.headers or None) from None
        return job

    async def append_items(self, job: str, items: Sequence[bytes]) -> bool:
        try:
            await self.backend.append(JOBS + job, b"[" + b",".join(items) + b"]", content_type="application/json")
        except ProtocolError as exc:
            if exc.status in _GONE or exc.status == 409:
                return False  # deleted, or closed by a cancel
            raise
        return True

    async def finish_job(self, job: str, failure: JobFailure | None = None) -> None:
        await self._close_log(job, b"" if failure is None else failure.record())
        with contextlib.suppress(ProtocolError):
            await self.backend.delete(LEASES + job)

    async def cancel_job(self, job: str, reason: str) -> bool:
        """End a running job with a failure record that says it was cancelled (its generator stops within a
        moment, on whichever worker runs it); ``False`` if it had already ended (or there is no such job)."""
        return await self._close_log(job, JobFailure("cancelled", reason, 410).record())

    async def _close_log(self, job: str, last: bytes) -> bool:
        """Close the job's log after ``last`` (a failure record, or nothing); ``False`` if it was closed or
        deleted already."""
        try:
            await self.backend.append(JOBS + job, last, content_type="application/json", close=True)
        except ProtocolError as exc:
            if exc.status in (*_GONE, 409):
                return False
            raise
        return True

    async def hold(self, job: str) -> None:
        key = JOBS + job
        renewed = time.monotonic()
        while True:
            try:
                info = await self.backend.head(key)
            except ProtocolError:
                return
            if info.closed:
                return
            if time.monotonic() - renewed >= self.job_lease / 3:
                renewed = time.monotonic()
                try:
                    await self.backend.read(LEASES + job, None, 0)  # a read renews the lease's TTL
                except ProtocolError:
                    return  # the lease ran out (this worker stalled): a reader may already have ended the job
            await self.backend.wait(key, info.tail, 0.5)

    async def _lost(self, job: str) -> bool:
        """Whether the job's worker is gone: its lease expired (then its log is ended as lost)."""
        try:
            await self.backend.head(LEASES + job)
        except ProtocolError as exc:
            if exc.status not in _GONE:
                raise
            failure = JobFailure(
                "lost", f"The worker that ran this job stopped before it ended (its {self.job_lease} s lease ran out).",
                503,
            )  # fmt: skip
            await self.finish_job(job, failure)
            return True
        return False

    async def read_job(self, job: str, position: str | None) -> AsyncIterator[tuple[str, bytes]]:
        key = JOBS + job
        offset, skip = (None, 0) if position is None else _split(position)
        while True:
            try:
                result = await self.backend.read(key, offset, self.max_read_bytes)
            except ProtocolError as exc:
                if exc.status in _GONE:
                    raise LookupError(
                        f"There is no job {job} (it ended longer ago than its retention, or was deleted)."
                    ) from None
                raise
            start = offset or ZERO_OFFSET
            pieces = iter(result.pieces)
            for end, count in result.chunks:
                for index in range(count):
                    piece = next(pieces)
                    if skip:
                        skip -= 1
                        continue
                    failure = failure_from_record(piece)
                    if failure is not None:
                        raise JobFailed(failure)
                    yield f"{job}:{start}:{index + 1}", piece
                start, skip = end, 0
            progress = result.next_offset != offset
            offset = result.next_offset
            if result.closed_at_end:
                return
            if not progress and await self._lost(job):
                continue  # its log now ends with the failure record: read it
            if result.up_to_date:
                await self.backend.wait(key, offset, min(self.sse_timeout, self.job_lease / 2))

    async def job_items(self, job: str, item_type: Any = Any) -> AsyncIterator[Any]:
        """The items of the durable job ``job`` from its first, validated as ``item_type``, then live until the
        job ends: what a route that replays an answer yields (the AI SDK's resume of a chat, docs/llm.md). A job
        that failed, was cancelled or was lost raises ``HTTPException`` with its status and detail where its
        log says so; a job that does not exist (or is no longer retained) ``HTTPException(404)``. It reads the
        job as stored: who may read it is the caller's to decide (it has the id from its own records)."""
        adapter = _adapter(item_type)
        async with contextlib.aclosing(self.read_job(job, None)) as entries:  # type: ignore[type-var]
            try:
                async for _, data in entries:
                    yield adapter.validate_json(data)
            except JobFailed as exc:
                raise HTTPException(exc.failure.status, exc.failure.detail) from None
            except LookupError as exc:
                raise HTTPException(404, str(exc)) from None

    async def ended_at(self, job: str, position: str) -> bool:
        offset, read = _split(position)
        try:
            result = await self.backend.read(JOBS + job, offset, self.max_read_bytes)
        except ProtocolError:
            return False  # the reader says what is wrong
        return result.closed_at_end and len(result.pieces) <= read and not any(map(failure_from_record, result.pieces))

    def resume_point(self, last_event_id: str, owner: Any = None) -> tuple[str, str] | None:
        match = _POSITION.fullmatch(last_event_id)
        if match is None:
            return None
        if not self.may_read(match[1], owner):
            raise LookupError(f"There is no job {match[1]}.")
        return match[1], f"{match[2]}:{match[3]}"

    def job_url(self, request: Request, job: str) -> str | None:
        try:
            return str(request.url_for(self.read_route_name, path=JOBS + job))
        except NoMatchFound:
            return None


@functools.lru_cache(maxsize=64)
def _adapter(item_type: Any) -> TypeAdapter[Any]:
    return TypeAdapter(item_type)


def _split(position: str) -> tuple[str, int]:
    offset, read = position.split(":")
    return offset, int(read)
