"""The schemas of a document: every type's JSON schema generated together (shared definitions), and the problem
schemas every document declares."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter
from pydantic.json_schema import GenerateJsonSchema

__all__ = ["PROBLEM_SCHEMAS", "REF_TEMPLATE", "SchemaRegistry", "ref"]

REF_TEMPLATE = "#/components/schemas/{model}"

PROBLEM_SCHEMA: dict[str, Any] = {
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
VALIDATION_PROBLEM_SCHEMA: dict[str, Any] = {
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


class _Schemas(GenerateJsonSchema):
    """Pydantic's JSON schemas, where a field that always holds one constant (a kind's tag,
    ``type: Literal["token"] = "token"``) is required in what the server sends: it is always serialized, so a
    typed client (the generated TypeScript) can tell the kinds apart by it."""

    def field_is_required(self, field: Any, total: bool) -> bool:
        if self.mode == "serialization" and not field.get("serialization_exclude"):
            schema = field["schema"]
            inner = schema["schema"] if schema["type"] == "default" else schema
            if inner["type"] == "literal" and len(inner["expected"]) == 1:
                return True
        return super().field_is_required(field, total)


class SchemaRegistry:
    """Collects every type that needs a JSON schema, then generates them together with shared definitions."""

    def __init__(self, *, separate_input_output: bool = True) -> None:
        #: ``False``: every schema in validation mode, so a model has one schema whether read or written.
        self.separate_input_output = separate_input_output
        self._inputs: list[tuple[Any, Any, TypeAdapter[Any]]] = []
        self.results: dict[Any, dict[str, Any]] = {}
        self.definitions: dict[str, Any] = {}
        #: Component schemas made by hand (the body of several parameters: ``Body_<operationId>``).
        self.extra: dict[str, dict[str, Any]] = {}

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        """``schema``, or the definition it refers to."""
        reference = schema.get("$ref")
        if reference is None and len(schema.get("allOf", ())) == 1:
            reference = schema["allOf"][0].get("$ref")
        if reference is None:
            return schema
        return dict(self.definitions[reference.rsplit("/", 1)[1]])

    def add(self, key: Any, adapter: TypeAdapter[Any], mode: str) -> None:
        self._inputs.append((key, mode if self.separate_input_output else "validation", adapter))

    def generate(self, private: set[Any]) -> None:
        """Generate every schema; those of ``private`` keys (request-location models) are inlined, not published."""
        if not self._inputs:
            return
        schemas, definitions = TypeAdapter.json_schemas(
            self._inputs, ref_template=REF_TEMPLATE, by_alias=True, schema_generator=_Schemas
        )
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


#: The component schemas of the problems linestream answers with.
PROBLEM_SCHEMAS = {"Problem": PROBLEM_SCHEMA, "ValidationProblem": VALIDATION_PROBLEM_SCHEMA}

_STRING = {"type": "string"}
#: FastAPI's schemas of its 422 body (``compat="fastapi"``).
FASTAPI_ERROR_SCHEMAS: dict[str, Any] = {
    "ValidationError": {
        "title": "ValidationError",
        "required": ["loc", "msg", "type"],
        "type": "object",
        "properties": {
            "loc": {
                "title": "Location",
                "type": "array",
                "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
            },
            "msg": {"title": "Message", "type": "string"},
            "type": {"title": "Error Type", "type": "string"},
            "input": {"title": "Input"},
            "ctx": {"title": "Context", "type": "object"},
        },
    },
    "HTTPValidationError": {
        "title": "HTTPValidationError",
        "type": "object",
        "properties": {
            "detail": {"title": "Detail", "type": "array", "items": {"$ref": "#/components/schemas/ValidationError"}}
        },
    },
}


def ref(name: str) -> dict[str, str]:
    """A reference to the component schema ``name``."""
    return {"$ref": REF_TEMPLATE.format(model=name)}
