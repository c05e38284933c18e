"""How streams are served: every option, its default and its check, written once; and how options are layered.

``Settings`` holds every setting of an app, each field with its default and, in its annotation, the check its
values pass. ``StreamOptions`` are the settings that ``LineStream``, ``APIRouter``, ``include_router`` and each
path operation may set (the keyword arguments ``sse_keepalive=``, ``stream_errors=``...): a route's value wins
over its router's, a router's over the including router's, and those over the app's. The other settings
(threads, stream limits, request heads) are the app's alone.

Adding an option: a field of ``Settings`` (its default and check), its keyword in ``StreamOptions`` if routers
and routes may set it, and the line that reads it (usually in ``_compile.plan``). ``tests/declare`` checks that
the two declarations agree.
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Annotated, Any, Literal

from typing_extensions import TypedDict

from linestream._durable_log import DurableLog
from linestream._shared_limits import SharedStreamLimits
from linestream.exceptions import EndpointDefinitionError
from linestream.streams import FORMATS, StreamFormat, format_named
from linestream.telemetry import StreamTelemetry

__all__ = [
    "DEFAULT",
    "STREAM_ERROR_POLICIES",
    "BodyLimits",
    "OptionLayer",
    "Settings",
    "StreamOptions",
    "app_setting",
    "body_limit",
    "check_keywords",
    "check_options",
    "resolve",
    "resolve_formats",
]


class _Default:
    """Sentinel: an option that was not given, so the level above decides (the app's setting, the annotation)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "DEFAULT"


DEFAULT: Any = _Default()

STREAM_ERROR_POLICIES = ("truncate", "record")


# -- checks: a field's annotation names the check its values pass ------------------------------------------------
class _Check:
    """How a setting's values are checked; ``owner`` names who set it (the app, a router, a route) in errors."""

    def __call__(self, owner: str, name: str, value: Any) -> Any:
        """The value as it is kept (checked, perhaps normalized); ``ValueError`` naming the setting otherwise."""
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class Positive(_Check):
    """A positive number of ``unit``; ``None`` too when ``optional``."""

    unit: str
    optional: bool = True

    def __call__(self, owner: str, name: str, value: Any) -> Any:
        _check_positive(owner, name, value, self.unit, optional=self.optional)
        return value


@dataclasses.dataclass(frozen=True)
class OneOf(_Check):
    choices: tuple[Any, ...]

    def __call__(self, owner: str, name: str, value: Any) -> Any:
        if value not in self.choices:
            if self.choices == (True, False):
                raise ValueError(f"{owner}: {name} must be True or False, not {value!r}")
            names = " or ".join(repr(choice) for choice in self.choices)
            raise ValueError(f"{owner}: {name} must be {names}, not {value!r}")
        return value


@dataclasses.dataclass(frozen=True)
class Fraction(_Check):
    """A number from 0 (included) to 1 (excluded)."""

    def __call__(self, owner: str, name: str, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
            raise ValueError(f"{owner}: {name} must be a fraction from 0 to 1 (excluded), not {value!r}")
        return value


@dataclasses.dataclass(frozen=True)
class Milliseconds(_Check):
    def __call__(self, owner: str, name: str, value: Any) -> Any:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise ValueError(f"{owner}: {name} must be a whole number of milliseconds or None")
        return value


@dataclasses.dataclass(frozen=True)
class Formats(_Check):
    """Format names (``"jsonl"``, ``"sse"``...), media types or ``StreamFormat`` objects -> the formats."""

    def __call__(self, owner: str, name: str, value: Any) -> Any:
        return resolve_formats(value, owner)


@dataclasses.dataclass(frozen=True)
class InstanceOf(_Check):
    kind: type
    optional: bool = False

    def __call__(self, owner: str, name: str, value: Any) -> Any:
        if not isinstance(value, self.kind) and not (self.optional and value is None):
            also = " or None" if self.optional else ""
            raise ValueError(f"{owner}: {name} must be a {self.kind.__name__}{also}, not {value!r}")
        return value


@dataclasses.dataclass(frozen=True)
class Dependency(_Check):
    def __call__(self, owner: str, name: str, value: Any) -> Any:
        if value is not None and not callable(value):
            raise ValueError(f"{owner}: {name} must be a dependency (a function), not a value")
        return value


def _check_positive(owner: str, name: str, value: Any, unit: str, *, optional: bool = True) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        also = " or None" if optional else ""
        raise ValueError(f"{owner}: {name} must be a positive number of {unit}{also}, not {value!r}")


_FLAG = OneOf((True, False))


def body_limit(field: str) -> str:
    """How a limit error names the ``BodyLimits`` field that sets it, and how to change it."""
    return f"the limit is BodyLimits.{field}: LineStream(body_limits=BodyLimits({field}=...)) changes it"


def app_setting(name: str) -> str:
    """How a limit error names the app setting that sets it."""
    return f"the limit is LineStream({name}=...)"


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
    bytes in all (``None``: no bound), ``max_form_fields`` fields, ``max_form_files`` files,
    ``max_form_part_size`` bytes per field value and ``max_form_memory`` bytes held in memory by the whole form
    (its field values, and its files until they are spooled to disk, which happens sooner to stay within it)
    (413), and ``idle_timeout`` only; the files taken as ``bytes`` (held in memory) ``max_body_size`` in all.
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
    max_form_memory: int = 8 * 1024 * 1024

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
        _check_positive("BodyLimits", "max_form_memory", self.max_form_memory, "bytes", optional=False)


@dataclasses.dataclass(frozen=True, slots=True)
class Settings:
    """Every setting of an app, resolved; a route serves with the app's, its routers' and its own options in
    force. See ``LineStream`` for what each means."""

    # -- stream options: the app, a router and a route may set these (``StreamOptions``) ------------------------
    stream_formats: Annotated[tuple[StreamFormat, ...], Formats()] = FORMATS
    sse_keepalive: Annotated[float | None, Positive("seconds")] = 15.0
    jsonl_keepalive: Annotated[float | None, Positive("seconds")] = None
    stream_errors: Annotated[str, OneOf(STREAM_ERROR_POLICIES)] = "truncate"
    stream_end: Annotated[bool, _FLAG] = False
    event_envelope: Annotated[bool, _FLAG] = False
    send_timeout: Annotated[float | None, Positive("seconds")] = 30.0
    max_item_size: Annotated[int | None, Positive("bytes")] = None
    chunk_size: Annotated[int, Positive("bytes", optional=False)] = 64 * 1024
    sse_shutdown_retry: Annotated[int | None, Milliseconds()] = 1000
    body_limits: Annotated[BodyLimits, InstanceOf(BodyLimits)] = BodyLimits()
    strict_content_type: Annotated[bool, _FLAG] = True
    durable: Annotated[DurableLog | None, InstanceOf(DurableLog, optional=True)] = None
    max_stream_duration: Annotated[float | None, Positive("seconds")] = None
    stream_duration_jitter: Annotated[float, Fraction()] = 0.1
    # -- the app's alone ---------------------------------------------------------------------------------------
    max_sync_streams: Annotated[int, Positive("streams", optional=False)] = 64
    sync_stream_wait: Annotated[float, Positive("seconds", optional=False)] = 5.0
    max_request_head_size: Annotated[int | None, Positive("bytes")] = 64 * 1024
    max_streams: Annotated[int | None, Positive("streams")] = None
    max_streams_per_client: Annotated[int | None, Positive("streams")] = None
    stream_client_key: Annotated[Callable[..., Any] | None, Dependency()] = None
    shared_stream_limits: Annotated[SharedStreamLimits | None, InstanceOf(SharedStreamLimits, optional=True)] = None
    telemetry: Annotated[StreamTelemetry | None, InstanceOf(StreamTelemetry, optional=True)] = None
    #: ``LineStream(compat="fastapi")``: answer as FastAPI does (see ``linestream._fastapi``).
    fastapi_compat: Annotated[bool, _FLAG] = False

    def __post_init__(self) -> None:
        for name, check in _CHECKS.items():
            value = getattr(self, name)
            kept = check("LineStream", name, value)
            if kept is not value:
                object.__setattr__(self, name, kept)


class StreamOptions(TypedDict, total=False):
    """The options of how a path operation streams, taken by ``LineStream``, ``APIRouter``, ``include_router`` and
    each path operation (``@app.get(path, sse_keepalive=5)``); the nearest wins (see the module docstring)."""

    stream_formats: Sequence[str | StreamFormat] | None
    sse_keepalive: float | None
    jsonl_keepalive: float | None
    stream_errors: Literal["truncate", "record"]
    stream_end: bool
    event_envelope: bool
    send_timeout: float | None
    max_item_size: int | None
    chunk_size: int
    sse_shutdown_retry: int | None
    body_limits: BodyLimits
    strict_content_type: bool
    durable: DurableLog | None
    max_stream_duration: float | None
    stream_duration_jitter: float


def _checks() -> dict[str, _Check]:
    hints = typing.get_type_hints(Settings, include_extras=True)
    return {
        name: next(meta for meta in typing.get_args(hint)[1:] if isinstance(meta, _Check))
        for name, hint in hints.items()
    }


_CHECKS = _checks()
#: The keyword arguments of ``StreamOptions``.
STREAM_OPTION_NAMES = frozenset(StreamOptions.__annotations__)

#: Options as given by one layer (the app, a router, a route): checked, only those that were set.
OptionLayer = Mapping[str, Any]


def check_options(owner: str, options: Mapping[str, Any]) -> OptionLayer:
    """The stream options one layer set, checked (naming ``owner``: the app, a router, a route); options given
    as ``None`` where ``None`` means "not set" (``stream_formats=None``) are left out."""
    check_keywords(owner, options, STREAM_OPTION_NAMES)
    layer: dict[str, Any] = {}
    for name, value in options.items():
        if (name == "stream_formats" and value is None) or value is DEFAULT:
            continue
        layer[name] = _CHECKS[name](owner, name, value)
    return layer


def resolve(settings: Settings, *layers: OptionLayer) -> Settings:
    """``settings`` with each layer's options in force, the last layer winning."""
    changes: dict[str, Any] = {}
    for layer in layers:
        changes.update(layer)
    return dataclasses.replace(settings, **changes) if changes else settings


def check_keywords(owner: str, given: Iterable[str], allowed: Iterable[str]) -> None:
    """Refuse keyword arguments that ``owner`` does not take (``TypeError``, as Python does), with the option
    it most likely meant: ``include_router(prefx=...)`` fails at once, not silently."""
    known = frozenset(allowed)
    for name in given:
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise TypeError(f"{owner} got an unexpected keyword argument {name!r}{hint}")


def resolve_formats(formats: Sequence[str | StreamFormat] | None, owner: str) -> tuple[StreamFormat, ...]:
    """The formats named by a ``stream_formats=`` option: a protocol that answers any ``Accept`` first (an LLM
    protocol), then the built-in ones in the server's order of preference, then formats of the app's own in the
    order given."""
    if isinstance(formats, (str, StreamFormat)):
        raise EndpointDefinitionError(f"{owner}: stream_formats takes a list of format names, e.g. [{formats!r}].")
    if formats is None:
        return FORMATS
    try:
        chosen = [format_named(name) for name in formats]
    except (ValueError, TypeError) as exc:
        raise EndpointDefinitionError(f"{owner}: {exc}") from exc
    if not chosen:
        raise EndpointDefinitionError(f"{owner}: stream_formats=[] leaves no format to serve; omit it for all.")
    # A protocol the route chose (answers_any_accept: an LLM protocol) comes first: it answers */* and no Accept.
    chosen = list(dict.fromkeys(chosen))
    protocols = tuple(f for f in chosen if f.answers_any_accept)
    builtin = tuple(f for f in FORMATS if f in chosen)
    return protocols + builtin + tuple(f for f in chosen if f not in FORMATS and f not in protocols)
