"""``DurableStreams``: the Durable Streams protocol's HTTP side, as a router an app includes at a prefix.

Each method of the protocol is one path operation on ``/{path:path}``: the handler parses the request (every
header through ``_protocol``), asks the backend, and answers with the protocol's status and headers. Errors are
problem+json bodies beside the headers the protocol asks for; clients read the headers, people the detail.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from pydantic import TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from linestream import APIRouter, Depends
from linestream.durable._answers import problem, reply
from linestream.durable._base import DurableBackend, NewStream, ReadResult
from linestream.durable._jobs import JOBS, LEASES, JobLogs
from linestream.durable._memory import MemoryBackend
from linestream.durable._protocol import (
    START,
    ProtocolError,
    cursor_after,
    entity_tag,
    is_json,
    is_text,
    is_true,
    json_messages,
    media_type,
    parse_expires_at,
    parse_offset,
    parse_producer,
    parse_sub_offset,
    parse_ttl,
)
from linestream.durable._sse import LiveEvents, LiveSettings, payload

__all__ = ["DurableStreams"]

_IMMUTABLE = "private, max-age=60, stale-while-revalidate=300"
_MAX_KEY = 1024


class DurableStreams(APIRouter, JobLogs):
    """A Durable Streams server (https://github.com/durable-streams/durable-streams): URL-addressable,
    append-only streams that readers resume from any offset, live by long-poll or SSE, on any worker that shares
    the backend. Include it at a prefix:

    ```python
    from linestream import LineStream
    from linestream.durable import DurableStreams

    app = LineStream()
    app.include_router(DurableStreams(), prefix="/v1/stream")
    ```

    - ``backend``: where streams live (``MemoryBackend()``, the default: this process only).
    - ``long_poll_timeout``: seconds a long-poll read waits for data before its ``204``.
    - ``sse_timeout``: seconds between an idle SSE read's control events (its keep-alive);
      ``sse_max_duration``: an SSE read ends after this many seconds (clients reconnect at their offset; the
      protocol asks for about 60 so that caches can collapse readers).
    - ``max_append_bytes``: the largest body a ``PUT`` or ``POST`` may carry (larger: ``413``);
      ``max_read_bytes``: about how much one read returns (the rest on the next read).
    - ``item_type``: the type of every item of this router's streams (e.g. a Pydantic model): its streams are
      JSON streams whose appends are validated (an item that fails its type: ``422`` naming it and the field,
      and nothing of the append is stored), and reads are documented in OpenAPI with the item's schema.
    - ``owner``: a dependency whose value names the principal (e.g. the user id from your security scheme): a
      durable path operation's job is then its owner's alone (to others, 404); ``secret``: the key that binds a
      job's id to its owner (required with ``owner``, the same on every worker).
    - ``job_ttl``: seconds a durable path operation's log is kept after its last read or write;
      ``job_lease``: seconds after which a job whose worker stopped renewing its lease (it died) is ended as
      lost, for its readers.
    - ``dependencies``, ``tags``, ``include_in_schema``: as on ``APIRouter`` (a dependency can authorize).

    It is also what ``durable=`` takes: a path operation declared ``durable=streams`` runs its generator as a
    job of the app and streams the job's log ``jobs/<id>`` (see docs/durable-streams.md); a ``DELETE`` of a
    job's stream while it runs cancels it.

    Browsers reading from another origin need CORS: add Starlette's ``CORSMiddleware`` with
    ``expose_headers=DurableStreams.exposed_headers``.
    """

    #: The response headers a browser client reads (CORS ``expose_headers``).
    exposed_headers: Sequence[str] = (
        "Stream-Next-Offset",
        "Stream-Cursor",
        "Stream-Up-To-Date",
        "Stream-Closed",
        "Stream-TTL",
        "Stream-Expires-At",
        "Stream-SSE-Data-Encoding",
        "Producer-Epoch",
        "Producer-Seq",
        "Producer-Expected-Seq",
        "Producer-Received-Seq",
        "ETag",
        "Location",
    )

    def __init__(
        self,
        backend: DurableBackend | None = None,
        *,
        long_poll_timeout: float = 15.0,
        sse_timeout: float = 15.0,
        sse_max_duration: float = 60.0,
        max_append_bytes: int = 4 * 1024 * 1024,
        max_read_bytes: int = 1024 * 1024,
        item_type: Any = None,
        job_ttl: int = 3600,
        job_lease: int = 10,
        owner: Callable[..., Any] | None = None,
        secret: str | bytes | None = None,
        dependencies: Sequence[Any] | None = None,
        tags: Sequence[str] | None = None,
        include_in_schema: bool = True,
    ) -> None:
        super().__init__(
            dependencies=dependencies, tags=list(tags or ["durable streams"]), include_in_schema=include_in_schema
        )
        self.backend = backend if backend is not None else MemoryBackend()
        self.long_poll_timeout = long_poll_timeout
        self.sse_timeout = sse_timeout
        self.sse_max_duration = sse_max_duration
        self.max_append_bytes = max_append_bytes
        self.max_read_bytes = max_read_bytes
        self.job_ttl = job_ttl
        self.item_type = item_type
        self._items: TypeAdapter[Any] | None = None if item_type is None else TypeAdapter(item_type)
        self.job_lease = job_lease
        if owner is not None and not secret:
            raise ValueError(
                "DurableStreams(owner=...) needs secret=: the key that binds a job's id to its owner, the same on "
                "every worker (e.g. secret=os.environ['DURABLE_SECRET'])."
            )
        self.owner = owner
        self.secret = secret.encode() if isinstance(secret, str) else secret
        principal = Depends(owner if owner is not None else _anyone)
        _INSTANCES[0] += 1
        names = f"durable-streams-{_INSTANCES[0]}"
        #: The name of the route that reads a stream (``request.url_for(name, path=key)``).
        self.read_route_name = f"{names}-read"
        for method, endpoint in (
            ("PUT", self._create),
            ("POST", self._append),
            ("GET", self._read),
            ("DELETE", self._delete),
        ):
            name = self.read_route_name if method == "GET" else f"{names}-{method.lower()}"
            responses: dict[int | str, dict[str, Any]] = {}
            if method == "GET" and item_type is not None:
                responses[200] = {"model": list[item_type], "description": "The stream's items after the offset."}
            self.add_api_route(
                "/{path:path}", _with_principal(endpoint, principal), methods=[method], summary=endpoint.__doc__,
                name=name, responses=responses,
            )  # fmt: skip

    # -- the operations -------------------------------------------------------------------------------------

    async def _create(self, request: Request, path: str, principal: Any) -> Response:
        """Create a stream (or a fork), or confirm it exists with this configuration."""
        try:
            key = self._guard(_key(request, path), principal, write=True)
            headers = request.headers
            forked_from = headers.get("stream-forked-from")
            content_type = headers.get("content-type") if media_type(headers.get("content-type")) else None
            if content_type is None and forked_from is None:
                content_type = "application/octet-stream"
            ttl, expires_at = headers.get("stream-ttl"), headers.get("stream-expires-at")
            if ttl is not None and expires_at is not None:
                raise ProtocolError(400, "Stream-TTL and Stream-Expires-At exclude each other: send one.")
            fork_offset, sub_offset = headers.get("stream-fork-offset"), headers.get("stream-fork-sub-offset")
            if forked_from is None and (fork_offset is not None or sub_offset is not None):
                raise ProtocolError(400, "Stream-Fork-Offset and Stream-Fork-Sub-Offset need Stream-Forked-From.")
            new = NewStream(
                content_type,
                ttl=None if ttl is None else parse_ttl(ttl),
                expires_at=expires_at,
                expires_at_moment=None if expires_at is None else parse_expires_at(expires_at),
                closed=is_true(headers.get("stream-closed")),
                forked_from=(
                    None if forked_from is None else self._guard(_source_key(request, path, forked_from), principal)
                ),
                fork_offset=None if fork_offset is None else parse_offset(fork_offset, "Stream-Fork-Offset"),
                fork_sub_offset=0 if sub_offset is None else parse_sub_offset(sub_offset),
            )
            body = await self._body(request)
            if self._items is not None and forked_from is None:
                if media_type(content_type) != "application/json":
                    raise ProtocolError(
                        400, f"This router's streams hold {_name(self.item_type)} items: create them with "
                        "Content-Type: application/json.",
                    )  # fmt: skip
                self._check_items(body, creating=True)
            info, created = await self.backend.create(key, new, body)
        except ProtocolError as exc:
            return problem(exc)
        answer = {"Content-Type": info.content_type, "Stream-Next-Offset": info.tail}
        if created:
            answer["Location"] = str(request.url.replace(query=""))
        if info.closed:
            answer["Stream-Closed"] = "true"
        return reply(201 if created else 200, answer)

    async def _append(self, request: Request, path: str, principal: Any) -> Response:
        """Append to a stream, close it (``Stream-Closed: true``), or both at once."""
        try:
            key = self._guard(_key(request, path), principal, write=True)
            headers = request.headers
            producer = parse_producer(headers)
            close = is_true(headers.get("stream-closed"))
            body = await self._body(request)
            if not body and not close:
                raise ProtocolError(400, "The body is empty: an append carries data (or Stream-Closed: true).")
            content_type = headers.get("content-type")
            if body and content_type is None:
                raise ProtocolError(400, "Content-Type is missing: an append names its media type.")
            if self._items is not None and body and media_type(content_type) == "application/json":
                self._check_items(body, creating=False)
            done = await self.backend.append(
                key, body, content_type=content_type, close=close, seq=headers.get("stream-seq"), producer=producer
            )
        except ProtocolError as exc:
            return problem(exc)
        answer = {"Stream-Next-Offset": done.tail}
        if done.closed:
            answer["Stream-Closed"] = "true"
        if producer is not None:
            answer["Producer-Epoch"] = str(producer.epoch)
            answer["Producer-Seq"] = str(producer.seq if done.producer_seq is None else done.producer_seq)
        return reply(200 if producer is not None and not done.duplicate and body else 204, answer)

    async def _delete(self, request: Request, path: str, principal: Any) -> Response:
        """Delete a stream (a durable path operation's job that still runs: cancel it)."""
        try:
            key = self._guard(_key(request, path), principal)
            if not (key.startswith(JOBS) and await self.cancel_job(key[len(JOBS) :], "Cancelled by a DELETE.")):
                await self.backend.delete(key)
        except ProtocolError as exc:
            return problem(exc)
        return reply(204, {})

    async def _read(self, request: Request, path: str, principal: Any) -> Response:
        """Read a stream from an offset: catch-up, long-poll (``live=long-poll``) or SSE (``live=sse``); ``HEAD``
        gives its metadata."""
        try:
            key = self._guard(_key(request, path), principal)
            if request.method == "HEAD":
                return await self._head(key)
            query = request.query_params
            offsets = query.getlist("offset")
            if len(offsets) > 1:
                raise ProtocolError(400, "offset is given more than once: send one.")
            offset = offsets[0] if offsets else None
            if offset is not None and offset not in (START, "now"):
                parse_offset(offset)
            live = query.get("live")
            if live not in (None, "long-poll", "sse"):
                raise ProtocolError(400, f"live={live[:40]!r} is not a read mode: use long-poll or sse.")
            if live is not None and offset is None:
                raise ProtocolError(400, f"live={live} needs an offset: -1 for the start, now for the tail.")
            cursor = query.get("cursor")
            start: str | None
            info = None
            if offset == "now":
                info = await self.backend.head(key)
                start = info.tail
                if live is None:
                    result = await self.backend.read(key, start, self.max_read_bytes)
                    return self._caught_up(result)
            else:
                start = None if offset in (None, START) else offset
            if live == "sse":
                info = info or await self.backend.head(key)
                live_settings = LiveSettings(self.backend, self.max_read_bytes, self.sse_timeout, self.sse_max_duration)
                return LiveEvents(live_settings, key, start, cursor, base64_data=not is_text(info.content_type))
            result = await self.backend.read(key, start, self.max_read_bytes)
            if live == "long-poll" and not result.pieces:
                if not result.info.closed:
                    await self.backend.wait(key, result.next_offset, self.long_poll_timeout)
                    result = await self.backend.read(key, result.next_offset, self.max_read_bytes)
                if not result.pieces:
                    return self._nothing_new(result, cursor)
        except ProtocolError as exc:
            return problem(exc)
        return self._data(request, key, offset or START, result, None if live is None else cursor_after(cursor))

    async def _head(self, key: str) -> Response:
        info = await self.backend.head(key)
        answer = {
            "Content-Type": info.content_type,
            "Stream-Next-Offset": info.tail,
            "Cache-Control": "no-store",
            "ETag": entity_tag(key, START, info.tail, closed=info.closed),
        }
        if info.closed:
            answer["Stream-Closed"] = "true"
        if info.ttl is not None:
            answer["Stream-TTL"] = str(info.ttl)
        if info.expires_at is not None:
            answer["Stream-Expires-At"] = info.expires_at
        return reply(200, answer)

    def _caught_up(self, result: ReadResult) -> Response:
        """A catch-up read at ``offset=now``: no data, the tail, never cached."""
        answer = {
            "Content-Type": result.info.content_type,
            "Stream-Next-Offset": result.info.tail,
            "Stream-Up-To-Date": "true",
            "Cache-Control": "no-store",
        }
        if result.info.closed:
            answer["Stream-Closed"] = "true"
        return reply(200, answer, b"[]" if is_json(result.info.content_type) else b"")

    def _nothing_new(self, result: ReadResult, cursor: str | None) -> Response:
        """A long-poll that found nothing to send: ``204`` at the tail (and the end, if the stream is closed)."""
        answer = {"Stream-Next-Offset": result.next_offset, "Stream-Up-To-Date": "true"}
        if result.closed_at_end:
            answer["Stream-Closed"] = "true"
        else:
            answer["Stream-Cursor"] = cursor_after(cursor)
        return reply(204, answer)

    def _data(self, request: Request, key: str, start: str, result: ReadResult, cursor: str | None) -> Response:
        info = result.info
        closed = result.closed_at_end
        etag = entity_tag(key, start, result.next_offset, closed=closed)
        answer = {"Content-Type": info.content_type, "Stream-Next-Offset": result.next_offset, "ETag": etag}
        answer["Cache-Control"] = _IMMUTABLE if closed or not result.up_to_date else "no-store"
        if result.up_to_date:
            answer["Stream-Up-To-Date"] = "true"
        if closed:
            answer["Stream-Closed"] = "true"
        if cursor is not None:
            answer["Stream-Cursor"] = cursor
        if request.headers.get("if-none-match") == etag:
            return reply(304, {"ETag": etag})
        return reply(200, answer, payload(result.pieces, json_mode=is_json(info.content_type)))

    def _guard(self, key: str, principal: Any, *, write: bool = False) -> str:
        """``key``, unless it is a job's stream that this request may not use: a job's log is written by its job
        only, read and cancelled by its owner only (to anyone else it does not exist); leases are internal."""
        if key.startswith(LEASES) or (key.startswith(JOBS) and not self.may_read(key[len(JOBS) :], principal)):
            raise ProtocolError(404, f"There is no stream at {key}.")
        if write and key.startswith(JOBS):
            raise ProtocolError(403, f"The stream at {key} is a durable job's log: only its job writes it.")
        return key

    def _check_items(self, body: bytes, *, creating: bool) -> None:
        """Refuse (422) a JSON body of which an item is not of ``item_type``."""
        assert self._items is not None
        for index, message in enumerate(json_messages(body, creating=creating) if body else []):
            try:
                self._items.validate_json(message)
            except ValidationError as exc:
                errors = exc.errors(include_url=False, include_input=False, include_context=False)[:10]
                for error in errors:
                    error["loc"] = ("body", index, *error["loc"])
                where = ".".join(str(part) for part in errors[0]["loc"][2:]) or "the item"
                raise ProtocolError(
                    422,
                    f"Item {index} is not a valid {_name(self.item_type)} ({where}: {errors[0]['msg']}); "
                    "nothing was appended.",
                    errors=errors,
                ) from None

    async def _body(self, request: Request) -> bytes:
        """The request's body, refused with 413 as soon as it passes ``max_append_bytes``."""
        limit = self.max_append_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise _too_large(limit)
        parts: list[bytes] = []
        size = 0
        async for part in request.stream():
            size += len(part)
            if size > limit:
                raise _too_large(limit)
            parts.append(part)
        return b"".join(parts)


def _key(request: Request, path: str) -> str:
    """A stream's key: its URL's path after the router's prefix."""
    if not path:
        raise ProtocolError(404, "A stream's URL names it: add its name after the prefix.")
    if len(path) > _MAX_KEY:
        raise ProtocolError(400, f"The stream's path is longer than {_MAX_KEY} characters.")
    return path


def _source_key(request: Request, path: str, forked_from: str) -> str:
    """The key of the stream ``Stream-Forked-From`` names (by its URL's path), checked to be one of this
    router's."""
    prefix = request.url.path[: len(request.url.path) - len(path)]
    if not forked_from.startswith(prefix) or len(forked_from) == len(prefix):
        raise ProtocolError(404, f"Stream-Forked-From {forked_from[:200]!r} is not a stream under {prefix}.")
    return _key(request, forked_from[len(prefix) :])


def _too_large(limit: int) -> ProtocolError:
    return ProtocolError(413, f"The body is larger than {limit} bytes (DurableStreams(max_append_bytes=...)).")


def _anyone() -> None:
    """The principal of a request to a router whose jobs have no owner."""


def _with_principal(
    operation: Callable[[Request, str, Any], Awaitable[Response]], principal: Any
) -> Callable[..., Awaitable[Response]]:
    """``operation`` as a path operation whose third argument is the ``owner`` dependency's value."""

    async def endpoint(request: Request, path: str, principal: Any = principal) -> Response:
        return await operation(request, path, principal)

    endpoint.__doc__ = operation.__doc__
    return endpoint


def _name(item_type: Any) -> str:
    return getattr(item_type, "__name__", repr(item_type))


_INSTANCES = [0]
