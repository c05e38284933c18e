"""Build the OpenAPI document from the app's routes (see the package docstring for how streams appear)."""

from __future__ import annotations

import http
import re
from collections.abc import Sequence
from typing import Any, Protocol

from pydantic import TypeAdapter
from starlette.routing import BaseRoute

from linestream._dependant import Dependant
from linestream._endpoint import EndpointSpec
from linestream._problem import PROBLEM_MEDIA_TYPE
from linestream._route import APIRoute
from linestream.openapi._streams import STREAM_SCHEMAS, StreamDoc, stream_headers, stream_media
from linestream.params import ParamSource
from linestream.streams import FORMATS, SSE

__all__ = ["OPENAPI_VERSIONS", "DocumentedApp", "build_openapi"]

#: The OpenAPI versions a document can be generated in.
OPENAPI_VERSIONS = ("3.1.0", "3.2.0")


class DocumentedApp(Protocol):
    """What the document is made of: an app's metadata and routes (``LineStream`` is one)."""

    title: str
    version: str
    summary: str | None
    description: str | None
    openapi_version: str
    openapi_tags: list[dict[str, Any]] | None
    servers: list[dict[str, Any]] | None

    @property
    def routes(self) -> Sequence[BaseRoute]: ...


REF_TEMPLATE = "#/components/schemas/{model}"

_PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An RFC 9457 problem details object.",
    "type": "object",
    "properties": {
        "type": {"type": "string", "default": "about:blank"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {},
    },
    "required": ["title", "status"],
}
_VALIDATION_PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "ValidationProblem",
    "description": "Problem details listing each invalid part of the request.",
    "allOf": [
        {"$ref": "#/components/schemas/Problem"},
        {
            "type": "object",
            "properties": {
                "errors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
                            "msg": {"type": "string"},
                            "type": {"type": "string"},
                            "input": {},
                            "ctx": {"type": "object"},
                        },
                        "required": ["loc", "msg", "type"],
                    },
                }
            },
            "required": ["errors"],
        },
    ],
}


class _SchemaRegistry:
    """Collects every type that needs a JSON schema, then generates them together with shared definitions."""

    def __init__(self) -> None:
        self._inputs: list[tuple[Any, Any, TypeAdapter[Any]]] = []
        self.results: dict[Any, dict[str, Any]] = {}
        self.definitions: dict[str, Any] = {}

    def add(self, key: Any, adapter: TypeAdapter[Any], mode: str) -> None:
        self._inputs.append((key, mode, adapter))

    def generate(self, private: set[Any]) -> None:
        """Generate every schema; those of ``private`` keys (request-location models) are inlined, not published."""
        if not self._inputs:
            return
        schemas, definitions = TypeAdapter.json_schemas(self._inputs, ref_template=REF_TEMPLATE, by_alias=True)
        self.definitions = dict(definitions.get("$defs", {}))
        prefix = REF_TEMPLATE.split("{", 1)[0]
        inlined: set[str] = set()
        for (key, _mode), schema in schemas.items():
            if key in private and "$ref" in schema:
                # Identical location models of two routes (two `last_event_id` headers) share one definition.
                name = schema["$ref"][len(prefix) :]
                inlined.add(name)
                schema = self.definitions[name]
            self.results[key] = schema
        for name in inlined:
            del self.definitions[name]


def _walk(route: APIRoute) -> list[Dependant]:
    found: list[Dependant] = []
    for extra in route.extra_dependants:
        found.extend(extra.walk())
    found.extend(route.spec.dependant.walk())
    return found


def _operation_id(route: APIRoute, method: str) -> str:
    if route.operation_id:
        return route.operation_id
    raw = f"{route.name}{route.path}_{method.lower()}"
    return re.sub(r"\W", "_", raw)


def build_openapi(app: DocumentedApp, *, version: str | None = None) -> dict[str, Any]:
    """The app's OpenAPI document as a dict, in ``version`` (default: the app's ``openapi_version``)."""
    version = version or app.openapi_version
    if version not in OPENAPI_VERSIONS:
        raise ValueError(f"openapi_version must be one of {OPENAPI_VERSIONS}, not {version!r}")
    registry = _SchemaRegistry()
    private: set[Any] = set()
    routes = [route for route in app.routes if isinstance(route, APIRoute) and route.include_in_schema]
    for route in routes:
        spec = route.spec
        for dependant in _walk(route):
            for source, model in dependant.models.items():
                private.add((id(dependant), source))
                registry.add((id(dependant), source), TypeAdapter(model.model), "validation")
        adapter = spec.item_adapter if spec.is_stream else spec.response_adapter
        if adapter is not None:
            registry.add((id(route), "output"), adapter, "serialization")
        if route.kinds is not None:
            for name, member in route.kinds.by_name.items():
                registry.add((id(route), "kind", name), TypeAdapter(member), "serialization")
        if spec.body_stream is not None and spec.body_stream.adapter is not None:
            registry.add((id(route), "body-stream"), spec.body_stream.adapter, "validation")
    registry.generate(private)

    paths: dict[str, dict[str, Any]] = {}
    used_ids: set[str] = set()
    for route in routes:
        for method in sorted(route.methods or ()):
            if method == "HEAD":
                continue
            operation = _operation(route, method, registry, version)
            if operation["operationId"] in used_ids:
                operation["operationId"] = f"{operation['operationId']}_{len(used_ids)}"
            used_ids.add(operation["operationId"])
            paths.setdefault(route.path, {})[method.lower()] = operation

    schemas = dict(sorted(registry.definitions.items()))
    schemas["Problem"] = _PROBLEM_SCHEMA
    schemas["ValidationProblem"] = _VALIDATION_PROBLEM_SCHEMA
    schemas.update(STREAM_SCHEMAS)
    info: dict[str, Any] = {"title": app.title, "version": app.version}
    if app.summary:
        info["summary"] = app.summary
    if app.description:
        info["description"] = app.description
    document: dict[str, Any] = {"openapi": version, "info": info}
    if app.servers:
        document["servers"] = app.servers
    document["paths"] = paths
    document["components"] = {"schemas": schemas}
    if app.openapi_tags:
        document["tags"] = app.openapi_tags
    return document


def _operation(route: APIRoute, method: str, registry: _SchemaRegistry, version: str) -> dict[str, Any]:
    spec = route.spec
    operation: dict[str, Any] = {}
    if route.tags:
        operation["tags"] = list(dict.fromkeys(route.tags))
    operation["summary"] = route.summary or route.name.replace("_", " ").title()
    if route.description:
        operation["description"] = route.description
    operation["operationId"] = _operation_id(route, method)
    if route.deprecated:
        operation["deprecated"] = True
    parameters, body = _parameters(route, registry)
    if spec.body_stream is not None:
        item = StreamDoc(registry.results.get((id(route), "body-stream"), {}))
        body = {
            "description": "A stream of items, read and validated as they arrive; gzip and deflate "
            "Content-Encoding accepted.",
            "required": True,
            "content": {f.media_type: stream_media(f, item, version) for f in FORMATS if f is not SSE},
        }
    if parameters:
        operation["parameters"] = parameters
    if body is not None:
        operation["requestBody"] = body
    operation["responses"] = _responses(route, spec, registry, version, has_input=bool(parameters or body))
    if route.openapi_extra:
        operation.update(route.openapi_extra)
    return operation


def _parameters(route: APIRoute, registry: _SchemaRegistry) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    parameters: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    body: dict[str, Any] | None = None
    for dependant in _walk(route):
        for source, model in dependant.models.items():
            schema = registry.results[(id(dependant), source)]
            properties = schema.get("properties", {})
            required = set(schema.get("required", []))
            if source is ParamSource.BODY:
                body = _request_body(route.spec, schema, properties, required, body)
                continue
            for field in model.fields:
                key = (source.value, field.alias)
                if key in seen or not field.include_in_schema:
                    continue
                seen.add(key)
                field_schema = dict(properties.get(field.alias, {}))
                parameter: dict[str, Any] = {
                    "name": field.alias,
                    "in": source.value,
                    "required": field.alias in required or source is ParamSource.PATH,
                    "schema": field_schema,
                }
                if "description" in field_schema:
                    parameter["description"] = field_schema["description"]
                if field.field_info.deprecated:
                    parameter["deprecated"] = True
                parameters.append(parameter)
    return parameters, body


def _request_body(
    spec: EndpointSpec,
    schema: dict[str, Any],
    properties: dict[str, Any],
    required: set[str],
    previous: dict[str, Any] | None,
) -> dict[str, Any]:
    if spec.body_embedded:
        merged = dict(previous["content"]["application/json"]["schema"]) if previous else {}
        merged_properties = {**merged.get("properties", {}), **properties}
        merged_required = sorted({*merged.get("required", []), *required})
        body_schema: dict[str, Any] = {"title": "Body", "type": "object", "properties": merged_properties}
        if merged_required:
            body_schema["required"] = merged_required
        return {"content": {"application/json": {"schema": body_schema}}, "required": bool(merged_required)}
    field = spec.body_fields[0]
    return {
        "content": {"application/json": {"schema": properties.get(field.alias, {})}},
        "required": field.alias in required,
    }


def _responses(
    route: APIRoute,
    spec: EndpointSpec,
    registry: _SchemaRegistry,
    version: str,
    *,
    has_input: bool,
) -> dict[str, Any]:
    status = str(route.status_code or 200)
    output = registry.results.get((id(route), "output"), {})
    responses: dict[str, Any] = {}
    if route.raw_format is not None:
        media_type = route.raw_format.media_type
        text = spec.item_type is str or media_type.startswith("text/")
        schema: dict[str, Any] = {"type": "string"} if text else {"type": "string", "format": "binary"}
        responses[status] = {
            "description": route.response_description + " (streamed in chunks)",
            "content": {media_type.split(";", 1)[0]: {"schema": schema}},
        }
    elif spec.is_stream:
        formats = route.offered_formats
        record = route.error_policy == "record"
        kind_names = list(route.kinds.by_name) if route.kinds else []
        doc = StreamDoc(
            output,
            kinds=tuple((name, registry.results[(id(route), "kind", name)]) for name in kind_names),
            tag=route.kinds.tag if route.kinds else None,
            envelope=route.settings.event_envelope,
            records=frozenset(name for name, on in (("error", record), ("end", route.settings.stream_end)) if on),
        )
        on_error = (
            "If the stream fails after its first item, it ends with an error record (a StreamError item; in SSE "
            "an `error` event) and completes normally."
            if record
            else "If the stream fails after its first item, the response is truncated (it ends without its "
            "final chunk), so that no client takes it for complete."
        )
        responses[status] = {
            "description": route.response_description
            + " (a stream of items, in the format chosen by the Accept header: "
            + ", ".join(f.media_type for f in formats)
            + "). "
            + on_error
            + (" A complete stream ends with an end record (SSE: an `end` event)." if "end" in doc.records else ""),
            "content": {f.media_type: stream_media(f, doc, version) for f in formats},
        }
        headers = stream_headers(doc)
        if headers:
            responses[status]["headers"] = headers
    else:
        success: dict[str, Any] = {"description": route.response_description}
        if route.status_code not in (204, 304):
            media_type = "application/json"
            if route.response_class is not None and route.response_class.media_type:
                media_type = route.response_class.media_type
            success["content"] = {media_type: {"schema": output}}
        responses[status] = success
    if has_input:
        responses["422"] = {
            "description": "Validation Error",
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/ValidationProblem"}}},
        }
    for code, extra in route.responses.items():
        key = str(code)
        entry = dict(responses.get(key, {}))
        entry.update(extra)
        if "description" not in entry:
            try:
                entry["description"] = http.HTTPStatus(int(code)).phrase
            except ValueError:
                entry["description"] = "Response"
        responses[key] = entry
    return responses
