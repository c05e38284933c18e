"""Declaration -> ``CompiledRoute``, once, when a route reaches an app: what every request of it needs.

The endpoint's analysis (``endpoint``: parameters, dependency tree, item or response type), its route
dependencies, the kinds of its items, its encoder, its settings (the app's with its routers' and its own stream
options in force) and one ``StreamPlan`` per format it offers. A mis-declared route raises
``EndpointDefinitionError`` here, naming the function and the fix; a request only picks a plan and runs it.
"""

from __future__ import annotations

import dataclasses

from starlette.responses import JSONResponse

from linestream._compile.dependant import SubDependency, build_dependant, route_dependencies
from linestream._compile.encoders import serialized_payload
from linestream._compile.endpoint import EndpointSpec, analyse_endpoint
from linestream._compile.plan import StreamPlan, build_plans, raw_stream_format
from linestream._declare.options import Settings, resolve
from linestream._declare.route import RouteDeclaration
from linestream._fastapi import fastapi_json
from linestream._kinds import EventKinds, event_kinds
from linestream._serialization import ItemEncoder
from linestream.exceptions import EndpointDefinitionError
from linestream.sse import EventSourceResponse
from linestream.streams import SSE, StreamFormat

__all__ = ["CompiledRoute", "compile_route"]


@dataclasses.dataclass(frozen=True, eq=False)
class CompiledRoute:
    """Everything a request of one route needs, decided once (see the module docstring)."""

    declaration: RouteDeclaration
    #: The app's settings with the stream options of the route's routers and its own in force.
    settings: Settings
    spec: EndpointSpec
    #: The route's ``dependencies=`` (its routers' first), solved before the endpoint's own.
    extra_dependencies: list[SubDependency]
    #: The kinds of item of a stream of several (``AsyncIterable[Token | Usage]``), else ``None``.
    kinds: EventKinds | None
    #: Serializes the items of a stream, or the value of an ordinary path operation.
    encoder: ItemEncoder
    #: One plan per format the stream is served in, in the server's order of preference (none if no stream).
    plans: tuple[StreamPlan, ...]
    #: For a raw byte/text stream (``response_class=StreamingResponse``): its one format.
    raw_format: StreamFormat | None
    #: The dependency whose value keys ``max_streams_per_client`` (``None``: the client's address).
    client_key: SubDependency | None
    #: A durable route's ``durable.owner`` dependency: whose its jobs are (``None``: whoever holds a job's id).
    job_owner: SubDependency | None
    #: Whether the endpoint can read the request body while it streams (else the body is dropped then).
    reads_body_while_streaming: bool
    path_params: frozenset[str]
    #: Names the route in logs: ``"GET /items/stream"``.
    label: str

    @property
    def is_stream(self) -> bool:
        return self.spec.is_stream

    @property
    def offered_formats(self) -> tuple[StreamFormat, ...]:
        return tuple(plan.format for plan in self.plans)

    @property
    def error_policy(self) -> str:
        """``"truncate"`` or ``"record"``: what a client sees when the generator fails after the first item."""
        return "record" if self.plans and self.plans[0].error_record is not None else "truncate"


def compile_route(
    declaration: RouteDeclaration, path_params: frozenset[str], base: Settings, label: str
) -> CompiledRoute:
    """Compile ``declaration`` (whose path has ``path_params``) for an app whose settings are ``base``."""
    response_class = declaration.response_class
    is_event_source = response_class is not None and issubclass(response_class, EventSourceResponse)
    raw = response_class is not None and not issubclass(response_class, JSONResponse) and not is_event_source
    spec = analyse_endpoint(
        declaration.endpoint,
        path_param_names=path_params,
        response_model=declaration.response_model,
        response_is_raw=raw,
    )
    name = spec.name
    own = dict(declaration.options)
    raw_format: StreamFormat | None = None
    if spec.is_stream and raw:
        assert response_class is not None
        raw_format = raw_stream_format(name, spec.item_type, response_class)
        if "stream_formats" in own:
            raise EndpointDefinitionError(
                f"{name}: a {response_class.__name__} stream has one media type; drop stream_formats=."
            )
        own["stream_formats"] = (raw_format,)
    if is_event_source:
        if "stream_formats" in own:
            raise EndpointDefinitionError(
                f"{name}: response_class=EventSourceResponse already restricts the route to SSE; drop stream_formats=."
            )
        own["stream_formats"] = (SSE,)
    settings = resolve(base, declaration.inherited, own)
    kinds = None
    if spec.is_stream and not raw:
        try:
            kinds = event_kinds(spec.item_type)
        except ValueError as exc:
            raise EndpointDefinitionError(f"{name}: {exc}") from exc
    # (A protocol with a transcoder reads the stored items back by their tag: several kinds are fine there.)
    transcoded = all(f.transcoder() is not None for f in settings.stream_formats)
    if settings.durable is not None and spec.is_stream and (raw or (kinds is not None and not transcoded)):
        raise EndpointDefinitionError(
            f"{name}: a durable stream stores items of one type; "
            + ("a raw byte stream" if raw else "a stream of several kinds of item")
            + " cannot be durable yet. Set durable=None on this path operation."
        )
    extra = route_dependencies(name, list(declaration.dependencies), path_params)
    options = declaration.serialization
    encoder = ItemEncoder(spec.item_adapter if spec.is_stream else spec.response_adapter, options)
    if settings.fastapi_compat and not spec.is_stream and encoder.adapter is None:
        encoder.encode = fastapi_json  # an untyped value, encoded as FastAPI's jsonable_encoder does
    dependants = [d for sub in extra for d in sub.dependant.walk()] + list(spec.dependant.walk())
    key = settings.stream_client_key
    plans: tuple[StreamPlan, ...] = ()
    if spec.is_stream:
        named = None
        if kinds is not None:
            named = encoder.named(kinds.name_of)
            untold = [f.name for f in settings.stream_formats if not f.names_kinds]
            if kinds.tag is None and untold and not settings.event_envelope:
                shared = (
                    f" ({', '.join(kinds.shared)}: the same value in several kinds, so it tells nothing apart)"
                    if kinds.shared
                    else ""
                )
                raise EndpointDefinitionError(
                    f"{name}: its items are of several kinds ({', '.join(kinds.by_name)}), which the "
                    f"JSON formats ({', '.join(untold)}) cannot tell apart: give each kind a tag field of "
                    f'the same name, with a value of its own (`type: Literal["token"] = "token"`){shared}, '
                    'or set event_envelope=True to send {"event": kind, "data": item}, or stream_formats=["sse"].'
                )
        payload = serialized_payload(encoder.encode, spec.item_type, encoder.adapter is not None, options)
        plans = build_plans(
            settings,
            label=label,
            endpoint=name,
            encode=encoder.encode,
            payload=payload,
            raw=raw_format is not None,
            named=named,
            item_type=spec.item_type,
        )

    return CompiledRoute(
        declaration=declaration,
        settings=settings,
        spec=spec,
        extra_dependencies=extra,
        kinds=kinds,
        encoder=encoder,
        plans=plans,
        raw_format=raw_format,
        client_key=(
            SubDependency("", build_dependant(key, path_param_names=path_params), True)
            if key is not None and spec.is_stream
            else None
        ),
        job_owner=(
            SubDependency("", build_dependant(settings.durable.owner, path_param_names=path_params), True)
            if settings.durable is not None and settings.durable.owner is not None and spec.is_stream
            else None
        ),
        reads_body_while_streaming=spec.body_stream is not None
        or any(d.request_param or d.connection_param for d in dependants),
        path_params=path_params,
        label=label,
    )
