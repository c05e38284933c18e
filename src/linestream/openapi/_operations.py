"""One operation of the document: a route's parameters, request body and responses (streams by ``_streams``)."""

from __future__ import annotations

import http
import json
import re
from collections.abc import Callable
from typing import Any

from pydantic import TypeAdapter

from linestream._compile.dependant import Dependant, ParamField, SubDependency
from linestream._problem import PROBLEM_MEDIA_TYPE
from linestream._routing.route import APIRoute
from linestream.openapi._schemas import SchemaRegistry, ref
from linestream.openapi._streams import stream_docs, stream_headers
from linestream.params import ParamSource
from linestream.security import SecurityBase
from linestream.streams import FORMATS, StreamFormat

__all__ = ["Operations", "register_route"]


def dependants(route: APIRoute) -> list[Dependant]:
    """Every function whose parameters the route binds: its ``dependencies=``, then the endpoint's tree."""
    found: list[Dependant] = []
    for extra in route.compiled.extra_dependencies:
        found.extend(extra.dependant.walk())
    found.extend(route.compiled.spec.dependant.walk())
    return found


def security_requirements(route: APIRoute) -> list[tuple[SecurityBase, list[str]]]:
    """The security schemes the route depends on (anywhere in its dependencies), each with the scopes its
    ``Security(...)`` markers require, in the order they are met."""
    found: dict[str, tuple[SecurityBase, list[str]]] = {}

    def visit(sub: SubDependency, scopes: tuple[str, ...]) -> None:
        required = scopes + sub.scopes
        call = sub.dependant.call
        if isinstance(call, SecurityBase):
            _, known = found.setdefault(call.scheme_name, (call, []))
            known.extend(scope for scope in required if scope not in known)
        for inner in sub.dependant.dependencies:
            visit(inner, required)

    for extra in route.compiled.extra_dependencies:
        visit(extra, ())
    for sub in route.compiled.spec.dependant.dependencies:
        visit(sub, ())
    return list(found.values())


def register_route(route: APIRoute, registry: SchemaRegistry, private: set[Any]) -> None:
    """Register every type the route's operation documents, so that they are generated together."""
    spec = route.compiled.spec
    for dependant in dependants(route):
        for source, model in dependant.models.items():
            private.add((id(dependant), source))
            registry.add((id(dependant), source), TypeAdapter(model.model), "validation")
    adapter = spec.item_adapter if spec.is_stream else spec.response_adapter
    if adapter is not None:
        registry.add((id(route), "output"), adapter, "serialization")
    if route.compiled.kinds is not None:
        for name, member in route.compiled.kinds.by_name.items():
            registry.add((id(route), "kind", name), TypeAdapter(member), "serialization")
    if spec.body_stream is not None and spec.body_stream.adapter is not None:
        registry.add((id(route), "body-stream"), spec.body_stream.adapter, "validation")
    for code, extra in route.responses.items():
        if isinstance(extra, dict) and extra.get("model") is not None:
            registry.add((id(route), "response", str(code)), TypeAdapter(extra["model"]), "serialization")


def _default_operation_id(route: APIRoute, method: str) -> str:
    return re.sub(r"\W", "_", f"{route.name}{route.path_format}_{method.lower()}")


class Operations:
    """Builds the operations of one document (ids unique across it)."""

    def __init__(
        self,
        registry: SchemaRegistry,
        version: str,
        generate_unique_id: Callable[[APIRoute], str] | None = None,
        *,
        fastapi: bool = False,
    ) -> None:
        self.registry = registry
        self.version = version
        #: Error responses as FastAPI documents them (``compat="fastapi"``).
        self.fastapi = fastapi
        self.generate_unique_id = generate_unique_id
        self._ids: set[str] = set()
        #: The security schemes of the operations built so far, by name (``components.securitySchemes``).
        self.security_schemes: dict[str, dict[str, Any]] = {}

    def path_item(self, route: APIRoute) -> dict[str, Any]:
        """The operations of ``route``, one per method (``HEAD`` is implied by ``GET``)."""
        return {
            method.lower(): self.operation(route, method) for method in sorted(route.methods or ()) if method != "HEAD"
        }

    def operation(self, route: APIRoute, method: str) -> dict[str, Any]:
        spec = route.compiled.spec
        operation: dict[str, Any] = {}
        if route.tags:
            operation["tags"] = list(dict.fromkeys(route.tags))
        operation["summary"] = route.summary or route.name.replace("_", " ").title()
        if route.description:
            operation["description"] = route.description
        operation["operationId"] = self._operation_id(route, method)
        if route.deprecated:
            operation["deprecated"] = True
        parameters, body = self._parameters(route, operation["operationId"])
        if spec.body_stream is not None:
            item = stream_docs(self.registry.results.get((id(route), "body-stream"), {}))
            body = {
                "description": "A stream of items, read and validated as they arrive; gzip and deflate "
                "Content-Encoding accepted.",
                "required": True,
                "content": {f.media_type: f.document(item, self.version) for f in FORMATS if f.uploads},
            }
        if parameters:
            operation["parameters"] = parameters
        if body is not None:
            operation["requestBody"] = body
        # (A parameter left out of the document can fail validation too.)
        has_input = bool(parameters or body) or any(dependant.models for dependant in dependants(route))
        operation["responses"] = self._responses(route, has_input=has_input)
        requirements = security_requirements(route)
        if requirements:
            operation["security"] = [{scheme.scheme_name: scopes} for scheme, scopes in requirements]
            for scheme, _ in requirements:
                self.security_schemes[scheme.scheme_name] = scheme.model
        if route.callbacks:
            operation["callbacks"] = self._callbacks(route)
        if route.openapi_extra:
            operation.update(route.openapi_extra)
        return operation

    def _operation_id(self, route: APIRoute, method: str) -> str:
        if route.operation_id:
            operation_id = route.operation_id
        else:
            generate = route.generate_unique_id_function or self.generate_unique_id
            operation_id = generate(route) if generate is not None else _default_operation_id(route, method)
        if operation_id in self._ids:
            operation_id = f"{operation_id}_{len(self._ids)}"
        self._ids.add(operation_id)
        return operation_id

    def _callbacks(self, route: APIRoute) -> dict[str, Any]:
        callbacks: dict[str, Any] = {}
        for callback in route.callbacks:
            if isinstance(callback, APIRoute):
                callbacks.setdefault(callback.name, {})[callback.path_format] = self.path_item(callback)
        return callbacks

    # -- parameters and bodies --------------------------------------------------------------------------------
    def _parameters(self, route: APIRoute, operation_id: str) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        parameters: list[dict[str, Any]] = []
        seen: set[tuple[str, str]] = set()
        body: dict[str, Any] | None = None
        for dependant in dependants(route):
            for source, model in dependant.models.items():
                schema = self.registry.results[(id(dependant), source)]
                properties = schema.get("properties", {})
                required = set(schema.get("required", []))
                if source is ParamSource.BODY:
                    body = self._request_body(route, operation_id, properties, required, body)
                    continue
                if source is ParamSource.FORM:
                    body = self._form_body(operation_id, model.fields, properties, required, body)
                    continue
                for field in model.fields:
                    if field.model is not None and field.include_in_schema:
                        parameters.extend(self._model_parameters(source, field, properties[field.alias], seen))
                        continue
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
                    if field.openapi_examples:
                        parameter["examples"] = field.openapi_examples
                    parameters.append(parameter)
        return parameters, body

    def _model_parameters(
        self, source: ParamSource, field: ParamField, schema: dict[str, Any], seen: set[tuple[str, str]]
    ) -> list[dict[str, Any]]:
        """The parameters of a parameter model: one per field of the model, under its name on the wire."""
        assert field.model is not None
        definition = self.registry.resolve(schema)
        properties = definition.get("properties", {})
        required = set(definition.get("required", []))
        parameters = []
        for on_wire, key in field.model.wire.items():
            if (source.value, on_wire) in seen:
                continue
            seen.add((source.value, on_wire))
            parameter = {"name": on_wire, "in": source.value, "required": key in required, "schema": properties[key]}
            if "description" in properties[key]:
                parameter["description"] = properties[key]["description"]
            parameters.append(parameter)
        return parameters

    def _form_body(
        self,
        operation_id: str,
        fields: list[ParamField],
        properties: dict[str, Any],
        required: set[str],
        previous: dict[str, Any] | None,
    ) -> dict[str, Any]:
        """A form body: its fields (a form model's, one by one), as ``multipart/form-data`` when it has files."""
        name = f"Body_{operation_id}"
        if self.fastapi and previous is None and len(fields) == 1 and fields[0].model is not None:
            # One form model: FastAPI's body is that model's schema.
            schema = {key: value for key, value in properties.get(fields[0].alias, {}).items() if key != "title"}
            files = '"binary"' in json.dumps(self.registry.resolve(schema))
            media_type = "multipart/form-data" if files else "application/x-www-form-urlencoded"
            return {"content": {media_type: {"schema": schema}}, "required": True}
        merged = self.registry.extra.get(name, {"title": name, "type": "object", "properties": {}})
        files = previous is not None and "multipart/form-data" in previous["content"]
        for field in fields:
            if not field.include_in_schema:
                continue
            schema = properties.get(field.alias, {})
            if field.model is not None:
                definition = self.registry.resolve(schema)
                merged["properties"].update(definition.get("properties", {}))
                merged.setdefault("required", []).extend(definition.get("required", []))
                continue
            merged["properties"][field.alias] = schema
            if field.alias in required:
                merged.setdefault("required", []).append(field.alias)
            files = files or '"binary"' in json.dumps(schema)
        self.registry.extra[name] = merged
        media_type = "multipart/form-data" if files else "application/x-www-form-urlencoded"
        return {"content": {media_type: {"schema": ref(name)}}, "required": bool(merged.get("required"))}

    def _request_body(
        self,
        route: APIRoute,
        operation_id: str,
        properties: dict[str, Any],
        required: set[str],
        previous: dict[str, Any] | None,
    ) -> dict[str, Any]:
        spec = route.compiled.spec
        if spec.body_embedded:
            # Several body parameters (or one embedded): one object, a component named as FastAPI names it.
            name = f"Body_{operation_id}"
            merged = self.registry.extra.get(name, {})
            merged_properties = {**merged.get("properties", {}), **properties}
            merged_required = [*merged.get("required", [])]
            merged_required += [name for name in properties if name in required and name not in merged_required]
            body_schema: dict[str, Any] = {"title": name, "type": "object", "properties": merged_properties}
            if merged_required:
                body_schema["required"] = merged_required
            self.registry.extra[name] = body_schema
            return {"content": {"application/json": {"schema": ref(name)}}, "required": bool(merged_required)}
        field = spec.body_fields[0]
        media: dict[str, Any] = {"schema": properties.get(field.alias, {})}
        if self.fastapi and "$ref" not in media["schema"]:
            media["schema"] = {**media["schema"], "title": field.alias.title().replace("_", " ")}  # as FastAPI's
        if field.openapi_examples:
            media["examples"] = field.openapi_examples
        return {
            "content": {"application/json": media},
            "required": field.alias in required,
        }

    # -- responses ------------------------------------------------------------------------------------------------
    def _responses(self, route: APIRoute, *, has_input: bool) -> dict[str, Any]:
        spec = route.compiled.spec
        registry = self.registry
        status = str(route.default_status)
        output = registry.results.get((id(route), "output"), {})
        responses: dict[str, Any] = {}
        if route.compiled.raw_format is not None and self.fastapi:
            # As FastAPI documents a StreamingResponse: its media type (if it has one) holds a string.
            media = route.response_class.media_type if route.response_class is not None else None
            responses[status] = {"description": route.response_description}
            if media is not None:
                responses[status]["content"] = {media: {"schema": {"type": "string"}}}
        elif route.compiled.raw_format is not None:
            media_type = route.compiled.raw_format.media_type
            text = spec.item_type is str or media_type.startswith("text/")
            schema: dict[str, Any] = {"type": "string"} if text else {"type": "string", "format": "binary"}
            responses[status] = {
                "description": route.response_description + " (streamed in chunks)",
                "content": {media_type.split(";", 1)[0]: {"schema": schema}},
            }
        elif spec.is_stream:
            responses[status] = self._stream_response(route, output)
        else:
            success: dict[str, Any] = {"description": route.response_description}
            answers: str | None = "application/json"
            if route.response_class is not None:
                answers = route.response_class.media_type
            if route.default_status not in (204, 304) and answers is not None:
                media = answers.split(";", 1)[0].strip()
                json_like = media == "application/json" or media.endswith("+json")
                # A response class that is not JSON (HTML, plain text) sends text, whatever the value it was given.
                success["content"] = {answers: {"schema": output if json_like else {"type": "string"}}}
            responses[status] = success
        if has_input:
            responses["422"] = {
                "description": "Validation Error",
                "content": (
                    {"application/json": {"schema": ref("HTTPValidationError")}}
                    if self.fastapi
                    else {PROBLEM_MEDIA_TYPE: {"schema": ref("ValidationProblem")}}
                ),
            }
        if spec.is_stream:
            settings = route.compiled.settings
            limits = (
                (
                    "429",
                    settings.max_streams_per_client,
                    "Too many streams open for this client (max_streams_per_client)",
                ),
                ("503", settings.max_streams, "The server serves as many streams as it may (max_streams)"),
            )
            for status_code, limit, description in limits:
                if limit is not None:
                    responses[status_code] = {
                        "description": f"{description}: retry after Retry-After seconds.",
                        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
                        "content": {PROBLEM_MEDIA_TYPE: {"schema": ref("Problem")}},
                    }
        for extra_code, extra in route.responses.items():
            code = str(extra_code)
            responses[code] = self._additional(route, code, extra, responses.get(code))
        return responses

    def _stream_response(self, route: APIRoute, output: dict[str, Any]) -> dict[str, Any]:
        formats = route.compiled.offered_formats
        if self.fastapi:
            return {"description": route.response_description, "content": _fastapi_stream(formats[0], output)}
        record = route.compiled.error_policy == "record"
        kind_names = list(route.compiled.kinds.by_name) if route.compiled.kinds else []
        doc = stream_docs(
            output,
            kinds=tuple((name, self.registry.results[(id(route), "kind", name)]) for name in kind_names),
            tag=route.compiled.kinds.tag if route.compiled.kinds else None,
            envelope=route.compiled.settings.event_envelope,
            records=frozenset(
                name for name, on in (("error", record), ("end", route.compiled.settings.stream_end)) if on
            ),
        )
        on_error = (
            "If the stream fails after its first item, it ends with an error record (a StreamError item; in SSE "
            "an `error` event) and completes normally."
            if record
            else "If the stream fails after its first item, the response is truncated (it ends without its "
            "final chunk), so that no client takes it for complete."
        )
        response: dict[str, Any] = {
            "description": route.response_description
            + " (a stream of items, in the format chosen by the Accept header: "
            + ", ".join(f.media_type for f in formats)
            + "). "
            + on_error
            + (" A complete stream ends with an end record (SSE: an `end` event)." if "end" in doc.records else ""),
            "content": {f.media_type: f.document(doc, self.version) for f in formats},
        }
        headers = stream_headers(doc)
        if headers:
            response["headers"] = headers
        return response

    def _additional(
        self, route: APIRoute, code: str, extra: dict[str, Any], own: dict[str, Any] | None
    ) -> dict[str, Any]:
        """A response of ``responses={code: {...}}``, merged into the route's own for that status (FastAPI's
        "Additional Responses": ``model``, ``description``, ``content``, ``headers``, ``links``)."""
        entry = {key: value for key, value in (own or {}).items() if key != "content"}
        content = {media: dict(value) for media, value in (own or {}).get("content", {}).items()}
        model = (id(route), "response", code)
        if model in self.registry.results:
            media = route.response_class.media_type if route.response_class is not None else None
            content.setdefault(media or "application/json", {})["schema"] = self.registry.results[model]
        for media, value in (extra.get("content") or {}).items():
            content[media] = {**content.get(media, {}), **value}
        if content:
            entry["content"] = content
        for key in ("description", "headers", "links"):
            if key in extra:
                entry[key] = extra[key]
        if "description" not in entry:
            try:
                entry["description"] = http.HTTPStatus(int(code)).phrase
            except ValueError:
                entry["description"] = "Additional Response"
        return entry


def _fastapi_stream(stream_format: StreamFormat, item: dict[str, Any]) -> dict[str, Any]:
    """A stream's content as FastAPI documents it (``compat="fastapi"``, where a stream is served in its route's
    first format only): JSON Lines with its ``itemSchema``; SSE events whose data holds the item."""
    if stream_format.media_type != "text/event-stream":
        return {stream_format.media_type: {"itemSchema": item}}
    event: dict[str, Any] = {
        "type": "object",
        "properties": {
            "data": {"type": "string"},
            "event": {"type": "string"},
            "id": {"type": "string"},
            "retry": {"type": "integer", "minimum": 0},
        },
    }
    if item:
        event["properties"]["data"] = {"type": "string", "contentMediaType": "application/json", "contentSchema": item}
        event["required"] = ["data"]
    return {stream_format.media_type: {"itemSchema": event}}
