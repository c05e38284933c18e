"""How an app serves streams: one immutable ``Settings``, made by ``LineStream`` and handed down to its routes.

Every default is written here, once. A route's own options (``StreamOptions``) override some of them; resolved
against the settings of the app that mounts the route, they give that route's ``Settings``. A route used without
an app gets ``Settings()``: the same defaults.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from linestream.exceptions import EndpointDefinitionError
from linestream.streams import FORMATS, StreamFormat, format_named

__all__ = ["DEFAULT", "STREAM_ERROR_POLICIES", "BodyLimits", "Settings", "StreamOptions", "resolve_formats"]


class _Default:
    """Sentinel: an option that was not given, so the level above decides (the app's setting, the annotation)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "DEFAULT"


DEFAULT: Any = _Default()

STREAM_ERROR_POLICIES = ("truncate", "record")


@dataclasses.dataclass(frozen=True, slots=True)
class BodyLimits:
    """Bounds on request bodies, so that bad input costs the server no more than it costs the sender
    (``LineStream(body_limits=BodyLimits(...))``; see docs/reliability.md, "Hostile input").

    Every body:

    - ``idle_timeout``: seconds without progress before the request is answered 408: no byte of a plain body,
      no complete item of a streamed body (so a body that trickles in without ever completing an item ends);
    - ``max_inflation_ratio``: a compressed body (``Content-Encoding: gzip``/``deflate``) may decode to at most
      this many times its size, once it decoded to more than 1 MiB (413): decompression bombs stop there;
    - ``max_inflated_size``: bytes a compressed body may decode to in all (413; ``None``: no bound but the ratio);
    - ``max_errors``: validation errors listed in a 422 problem; the others are counted (``errors_omitted``).

    A plain (JSON) body: ``max_body_size`` bytes after decoding (413) and ``body_timeout`` seconds to arrive in
    full (408). A streamed body (``items: AsyncIterable[Item]``): ``max_line_size`` bytes per item (line,
    record or element; 413) and ``max_items`` items (413); it has no total size or duration. A form: a
    URL-encoded one is a plain body; a multipart one (files, spooled to disk past 1 MiB) ``max_upload_size``
    bytes in all (``None``: no bound), ``max_form_fields`` fields, ``max_form_files`` files and
    ``max_form_part_size`` bytes per field value (413), and ``idle_timeout`` only; a file taken as ``bytes``
    (held in memory) ``max_body_size``.
    """

    max_body_size: int = 4 * 1024 * 1024
    body_timeout: float | None = 300.0
    max_line_size: int = 1024 * 1024
    max_items: int | None = None
    idle_timeout: float | None = 60.0
    max_inflation_ratio: float | None = 100.0
    max_inflated_size: int | None = None
    max_errors: int = 100
    max_upload_size: int | None = None
    max_form_fields: int = 1000
    max_form_files: int = 1000
    max_form_part_size: int = 1024 * 1024

    def __post_init__(self) -> None:
        _check_positive("BodyLimits", "max_body_size", self.max_body_size, "bytes", optional=False)
        _check_positive("BodyLimits", "body_timeout", self.body_timeout, "seconds")
        _check_positive("BodyLimits", "max_line_size", self.max_line_size, "bytes", optional=False)
        _check_positive("BodyLimits", "max_items", self.max_items, "items")
        _check_positive("BodyLimits", "idle_timeout", self.idle_timeout, "seconds")
        _check_positive("BodyLimits", "max_inflation_ratio", self.max_inflation_ratio, "times")
        _check_positive("BodyLimits", "max_inflated_size", self.max_inflated_size, "bytes")
        _check_positive("BodyLimits", "max_errors", self.max_errors, "errors", optional=False)
        _check_positive("BodyLimits", "max_upload_size", self.max_upload_size, "bytes")
        _check_positive("BodyLimits", "max_form_fields", self.max_form_fields, "fields", optional=False)
        _check_positive("BodyLimits", "max_form_files", self.max_form_files, "files", optional=False)
        _check_positive("BodyLimits", "max_form_part_size", self.max_form_part_size, "bytes", optional=False)


def _check_positive(owner: str, name: str, value: Any, unit: str, *, optional: bool = True) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        also = " or None" if optional else ""
        raise ValueError(f"{owner}: {name} must be a positive number of {unit}{also}, not {value!r}")


def _check_stream_errors(owner: str, value: Any) -> None:
    if value not in STREAM_ERROR_POLICIES:
        raise ValueError(f"{owner}: stream_errors must be 'truncate' or 'record', not {value!r}")


@dataclasses.dataclass(frozen=True, slots=True)
class Settings:
    """How streams are served; set on the app (``LineStream(chunk_size=...)``), see ``LineStream`` for each."""

    chunk_size: int = 64 * 1024
    max_sync_streams: int = 64
    sync_stream_wait: float = 5.0
    stream_formats: tuple[StreamFormat, ...] = FORMATS
    sse_keepalive: float | None = 15.0
    jsonl_keepalive: float | None = None
    stream_errors: str = "truncate"
    stream_end: bool = False
    event_envelope: bool = False
    send_timeout: float | None = 30.0
    max_item_size: int | None = None
    sse_shutdown_retry: int | None = 1000
    body_limits: BodyLimits = BodyLimits()
    strict_content_type: bool = True
    max_request_head_size: int | None = 64 * 1024
    max_streams: int | None = None
    max_streams_per_client: int | None = None
    stream_client_key: Callable[..., Any] | None = None

    def __post_init__(self) -> None:
        owner = "LineStream"
        _check_positive(owner, "chunk_size", self.chunk_size, "bytes", optional=False)
        _check_positive(owner, "max_sync_streams", self.max_sync_streams, "streams", optional=False)
        _check_positive(owner, "sync_stream_wait", self.sync_stream_wait, "seconds", optional=False)
        if not self.stream_formats:
            raise EndpointDefinitionError(f"{owner}: stream_formats=[] leaves no format to serve; omit it for all.")
        _check_positive(owner, "sse_keepalive", self.sse_keepalive, "seconds")
        _check_positive(owner, "jsonl_keepalive", self.jsonl_keepalive, "seconds")
        _check_stream_errors(owner, self.stream_errors)
        _check_positive(owner, "send_timeout", self.send_timeout, "seconds")
        _check_positive(owner, "max_item_size", self.max_item_size, "bytes")
        _check_positive(owner, "max_request_head_size", self.max_request_head_size, "bytes")
        _check_positive(owner, "max_streams", self.max_streams, "streams")
        _check_positive(owner, "max_streams_per_client", self.max_streams_per_client, "streams")
        if self.stream_client_key is not None and not callable(self.stream_client_key):
            raise ValueError(f"{owner}: stream_client_key must be a dependency (a function), not a value")
        retry = self.sse_shutdown_retry
        if retry is not None and (isinstance(retry, bool) or not isinstance(retry, int) or retry < 0):
            raise ValueError(f"{owner}: sse_shutdown_retry must be a whole number of milliseconds or None")


@dataclasses.dataclass(frozen=True, slots=True)
class StreamOptions:
    """A route's own stream options; each left ``DEFAULT`` takes the setting of the app that mounts the route."""

    stream_formats: tuple[StreamFormat, ...] | None = None
    sse_keepalive: Any = DEFAULT
    jsonl_keepalive: Any = DEFAULT
    stream_errors: Any = DEFAULT
    stream_end: Any = DEFAULT
    event_envelope: Any = DEFAULT
    send_timeout: Any = DEFAULT
    max_item_size: Any = DEFAULT

    def check(self, owner: str) -> None:
        """Refuse invalid options when the route is declared (naming the route)."""
        for name, unit in (
            ("sse_keepalive", "seconds"),
            ("jsonl_keepalive", "seconds"),
            ("send_timeout", "seconds"),
            ("max_item_size", "bytes"),
        ):
            value = getattr(self, name)
            if value is not DEFAULT:
                _check_positive(owner, name, value, unit)
        if self.stream_errors is not DEFAULT:
            _check_stream_errors(owner, self.stream_errors)
        for name in ("stream_end", "event_envelope"):
            if getattr(self, name) not in (DEFAULT, True, False):
                raise ValueError(f"{owner}: {name} must be True or False, not {getattr(self, name)!r}")

    def resolve(self, settings: Settings) -> Settings:
        """``settings`` with this route's options in force."""
        changes: dict[str, Any] = {
            field.name: getattr(self, field.name)
            for field in dataclasses.fields(self)
            if field.name != "stream_formats" and getattr(self, field.name) is not DEFAULT
        }
        if self.stream_formats is not None:
            changes["stream_formats"] = self.stream_formats
        return dataclasses.replace(settings, **changes) if changes else settings


def resolve_formats(formats: Sequence[str] | None, owner: str) -> tuple[StreamFormat, ...] | None:
    """The formats named by a ``stream_formats=`` option, in the server's order of preference."""
    if formats is None:
        return None
    if isinstance(formats, str):
        raise EndpointDefinitionError(f"{owner}: stream_formats takes a list of format names, e.g. [{formats!r}].")
    try:
        chosen = {format_named(name) for name in formats}
    except ValueError as exc:
        raise EndpointDefinitionError(f"{owner}: {exc}") from exc
    if not chosen:
        raise EndpointDefinitionError(f"{owner}: stream_formats=[] leaves no format to serve; omit it for all.")
    return tuple(f for f in FORMATS if f in chosen)
