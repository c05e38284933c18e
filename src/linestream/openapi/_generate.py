"""Build the OpenAPI document from an app's routes and metadata (see the package docstring for streams)."""

from __future__ import annotations

import dataclasses
import json
import types
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from starlette.routing import BaseRoute

from linestream._routing.route import APIRoute
from linestream.openapi._operations import Operations, register_route
from linestream.openapi._schemas import FASTAPI_ERROR_SCHEMAS, PROBLEM_SCHEMAS, SchemaRegistry
from linestream.openapi._streams import STREAM_SCHEMAS

__all__ = ["OPENAPI_VERSIONS", "DocumentedApp", "build_openapi", "get_openapi"]

#: The OpenAPI versions a document can be generated in.
OPENAPI_VERSIONS = ("3.1.0", "3.2.0")


class DocumentedApp(Protocol):
    """What the document is made of: an app's metadata and routes (``LineStream`` is one)."""

    title: str
    version: str
    summary: str | None
    description: str | None
    terms_of_service: str | None
    contact: dict[str, Any] | None
    license_info: dict[str, Any] | None
    openapi_version: str
    openapi_tags: list[dict[str, Any]] | None
    servers: list[dict[str, Any]] | None
    generate_unique_id_function: Callable[[APIRoute], str] | None
    separate_input_output_schemas: bool

    @property
    def compat(self) -> str | None:
        """``"fastapi"``: error responses documented as FastAPI's (``LineStream(compat=...)``)."""

    @property
    def routes(self) -> Sequence[BaseRoute]: ...

    @property
    def webhooks(self) -> Any: ...


def build_openapi(app: DocumentedApp, *, version: str | None = None) -> dict[str, Any]:
    """The app's OpenAPI document as a dict, in ``version`` (default: the app's ``openapi_version``)."""
    version = version or app.openapi_version
    if version not in OPENAPI_VERSIONS:
        raise ValueError(f"openapi_version must be one of {OPENAPI_VERSIONS}, not {version!r}")
    routes = _documented(app.routes)
    webhooks = _documented(app.webhooks.routes) if app.webhooks is not None else []
    registry = SchemaRegistry(separate_input_output=app.separate_input_output_schemas)
    private: set[Any] = set()
    for route in [*routes, *webhooks, *(c for r in routes for c in _documented(r.callbacks))]:
        register_route(route, registry, private)
    registry.generate(private)

    fastapi = app.compat == "fastapi"
    operations = Operations(registry, version, app.generate_unique_id_function, fastapi=fastapi)
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path_format, {}).update(operations.path_item(route))
    document: dict[str, Any] = {"openapi": version, "info": _info(app)}
    if app.servers:
        document["servers"] = app.servers
    document["paths"] = paths
    if webhooks:
        document["webhooks"] = {route.path_format.lstrip("/"): operations.path_item(route) for route in webhooks}
    schemas = dict(sorted({**registry.definitions, **registry.extra}.items()))
    # The schemas of errors and records, where an operation refers to them (an app without streams has no
    # StreamEnd; one without parameters no ValidationProblem).
    pool = {**(FASTAPI_ERROR_SCHEMAS if fastapi else PROBLEM_SCHEMAS), **STREAM_SCHEMAS}
    if fastapi:
        # FastAPI's components are what the operations refer to (a parameter model's fields are parameters).
        pool.update(schemas)
        schemas = {}
    referring: list[Any] = [paths, document.get("webhooks"), schemas]
    while referring:
        text = json.dumps(referring)
        referring = []
        for name in [name for name in pool if f'"#/components/schemas/{name}"' in text]:
            schemas[name] = pool.pop(name)
            referring.append(schemas[name])
    components: dict[str, Any] = {}
    if schemas:
        components["schemas"] = dict(sorted(schemas.items())) if fastapi else schemas
    if operations.security_schemes:
        components["securitySchemes"] = dict(sorted(operations.security_schemes.items()))
    if components:
        document["components"] = components
    if app.openapi_tags:
        document["tags"] = app.openapi_tags
    if fastapi:
        document = _as_fastapi(document)
    return document


_LOCATIONS = {"path": 0, "query": 1, "header": 2, "cookie": 3}


def _as_fastapi(document: dict[str, Any]) -> dict[str, Any]:
    """The document as FastAPI writes it (``compat="fastapi"``): parameters by location (path, query, header,
    cookie), a body's and a response's inline schema titled, ``required`` only when true, files as
    ``contentMediaType``, and (its OpenAPI models dumped with ``exclude_none``) no key with a null value."""
    for path_item in [*document["paths"].values(), *document.get("webhooks", {}).values()]:
        for operation in path_item.values():
            if "parameters" in operation:
                operation["parameters"].sort(key=lambda parameter: _LOCATIONS.get(parameter["in"], 4))
                for parameter in operation["parameters"]:
                    if "$ref" in parameter["schema"]:
                        parameter["schema"].pop("title", None)
            body = operation.get("requestBody")
            if body is not None and body.get("required") is False:
                del body["required"]
            for status, response in operation.get("responses", {}).items():
                schema = response.get("content", {}).get("application/json", {}).get("schema")
                if str(status).startswith("2") and schema and "$ref" not in schema and "title" not in schema:
                    schema["title"] = f"Response_{operation['operationId']}".title().replace("_", " ")
    cleaned: dict[str, Any] = _files_as_content(_without_nulls(document))
    return cleaned


def _files_as_content(value: Any) -> Any:
    if isinstance(value, dict):
        if value.get("type") == "string" and value.get("format") == "binary":
            value = {key: item for key, item in value.items() if key != "format"}
            value["contentMediaType"] = "application/octet-stream"
        return {key: _files_as_content(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_files_as_content(item) for item in value]
    return value


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: item if key in ("example", "examples") else _without_nulls(item)
            for key, item in value.items()
            if item is not None
        }
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]
    return value


def _documented(routes: Sequence[BaseRoute]) -> list[APIRoute]:
    return [route for route in routes if isinstance(route, APIRoute) and route.include_in_schema]


def _info(app: DocumentedApp) -> dict[str, Any]:
    info: dict[str, Any] = {"title": app.title}
    for key, value in (
        ("summary", app.summary),
        ("description", app.description),
        ("termsOfService", app.terms_of_service),
        ("contact", app.contact),
        ("license", app.license_info),
    ):
        if value:
            info[key] = value
    info["version"] = app.version
    return info


@dataclasses.dataclass
class _Described:
    """A ``DocumentedApp`` made of the arguments of ``get_openapi``."""

    title: str
    version: str
    routes: Sequence[BaseRoute]
    summary: str | None = None
    description: str | None = None
    terms_of_service: str | None = None
    contact: dict[str, Any] | None = None
    license_info: dict[str, Any] | None = None
    openapi_version: str = "3.1.0"
    openapi_tags: list[dict[str, Any]] | None = None
    servers: list[dict[str, Any]] | None = None
    generate_unique_id_function: Callable[[APIRoute], str] | None = None
    webhooks: Any = None
    separate_input_output_schemas: bool = True
    compat: str | None = None


def get_openapi(
    *,
    title: str,
    version: str,
    routes: Sequence[BaseRoute],
    openapi_version: str = "3.1.0",
    summary: str | None = None,
    description: str | None = None,
    webhooks: Sequence[BaseRoute] | None = None,
    tags: list[dict[str, Any]] | None = None,
    servers: list[dict[str, Any]] | None = None,
    terms_of_service: str | None = None,
    contact: dict[str, Any] | None = None,
    license_info: dict[str, Any] | None = None,
    separate_input_output_schemas: bool = True,
) -> dict[str, Any]:
    """An OpenAPI document of ``routes`` (FastAPI's ``fastapi.openapi.utils.get_openapi``), e.g. to extend an app's
    document, then cache it on ``app.openapi_schema``:

    ```python
    def custom_openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(title="Orders", version="2.0.0", routes=app.routes)
            document["info"]["x-logo"] = {"url": "/static/logo.png"}
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = custom_openapi
    ```
    """
    hooks = types.SimpleNamespace(routes=list(webhooks)) if webhooks else None
    described = _Described(
        title, version, routes, summary, description, terms_of_service, contact, license_info, openapi_version,
        tags, servers, webhooks=hooks, separate_input_output_schemas=separate_input_output_schemas,
    )  # fmt: skip
    return build_openapi(described)
