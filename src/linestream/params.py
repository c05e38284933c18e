"""Where a path operation's parameters come from: ``Query``, ``Path``, ``Header``, ``Cookie``, ``Body``, ``Depends``.

Use them as defaults or inside ``Annotated``:

```python
async def search(q: Annotated[str, Query(min_length=2)], limit: int = Query(10, le=100)): ...
```

Every keyword Pydantic's ``Field`` takes for validation and documentation (``gt``, ``max_length``, ``pattern``,
``description``, ``examples``...) is accepted and applied by Pydantic.

A parameter without one of these markers is a path parameter when its name appears in the route's path, a
body parameter when its type is a Pydantic model, dataclass, dict or other structured type, and a query
parameter otherwise.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from typing import Any

from pydantic_core import PydanticUndefined

__all__ = ["Body", "Cookie", "Depends", "File", "Form", "Header", "Path", "Query", "Security", "SecurityScopes"]


class ParamSource(str, enum.Enum):
    """Where in the request a parameter's value is read."""

    QUERY = "query"
    PATH = "path"
    HEADER = "header"
    COOKIE = "cookie"
    BODY = "body"
    FORM = "form"


class ParamInfo:
    """What a ``Query(...)``-style marker declared: the source, the default and Pydantic ``Field`` options."""

    __slots__ = (
        "alias",
        "convert_underscores",
        "default",
        "embed",
        "field_options",
        "include_in_schema",
        "openapi_examples",
        "source",
    )

    def __init__(
        self,
        source: ParamSource,
        default: Any,
        *,
        alias: str | None,
        include_in_schema: bool,
        field_options: dict[str, Any],
        convert_underscores: bool = True,
        embed: bool = False,
    ) -> None:
        self.source = source
        self.default = default
        self.alias = alias
        self.include_in_schema = include_in_schema
        #: Named examples for the OpenAPI document, not for Pydantic (``openapi_examples={"name": {...}}``).
        self.openapi_examples = field_options.pop("openapi_examples", None)
        self.field_options = field_options
        self.convert_underscores = convert_underscores
        self.embed = embed

    def __repr__(self) -> str:
        return f"{self.source.value.capitalize()}(default={self.default!r}, alias={self.alias!r})"


class DependsInfo:
    """What ``Depends(...)`` declared: the dependency callable, whether its value is cached per request, and
    when a ``yield`` dependency's exit code runs (``scope``)."""

    __slots__ = ("dependency", "scope", "scopes", "use_cache")

    def __init__(
        self,
        dependency: Callable[..., Any] | None,
        use_cache: bool,
        scope: str | None = None,
        scopes: Sequence[str] = (),
    ) -> None:
        if scope not in (None, "function", "request"):
            raise ValueError(f"Depends(scope=...) is 'function' or 'request', not {scope!r}.")
        self.dependency = dependency
        self.use_cache = use_cache
        self.scope = scope
        #: The OAuth2 scopes ``Security(..., scopes=[...])`` requires (added to those of the dependants above).
        self.scopes = tuple(scopes)

    def __repr__(self) -> str:
        name = getattr(self.dependency, "__qualname__", repr(self.dependency))
        return f"Depends({name})"


def _marker(
    source: ParamSource,
    default: Any,
    alias: str | None,
    include_in_schema: bool,
    field_options: dict[str, Any],
    **extra: Any,
) -> Any:
    if default is ...:
        default = PydanticUndefined
    return ParamInfo(
        source,
        default,
        alias=alias,
        include_in_schema=include_in_schema,
        field_options=field_options,
        **extra,
    )


def Query(  # noqa: N802 - named like the FastAPI marker it mirrors
    default: Any = PydanticUndefined,
    *,
    alias: str | None = None,
    include_in_schema: bool = True,
    **field_options: Any,
) -> Any:
    """A query-string parameter (``?name=value``); a ``list[...]`` type collects repeated keys."""
    return _marker(ParamSource.QUERY, default, alias, include_in_schema, field_options)


def Path(  # noqa: N802
    default: Any = PydanticUndefined,
    *,
    alias: str | None = None,
    include_in_schema: bool = True,
    **field_options: Any,
) -> Any:
    """A parameter taken from the route's path (``/items/{item_id}``); always required."""
    return _marker(ParamSource.PATH, default, alias, include_in_schema, field_options)


def Header(  # noqa: N802
    default: Any = PydanticUndefined,
    *,
    alias: str | None = None,
    convert_underscores: bool = True,
    include_in_schema: bool = True,
    **field_options: Any,
) -> Any:
    """A request header; ``last_event_id`` reads ``last-event-id`` unless ``convert_underscores=False``."""
    return _marker(
        ParamSource.HEADER,
        default,
        alias,
        include_in_schema,
        field_options,
        convert_underscores=convert_underscores,
    )


def Cookie(  # noqa: N802
    default: Any = PydanticUndefined,
    *,
    alias: str | None = None,
    include_in_schema: bool = True,
    **field_options: Any,
) -> Any:
    """A cookie sent by the client."""
    return _marker(ParamSource.COOKIE, default, alias, include_in_schema, field_options)


def Body(  # noqa: N802
    default: Any = PydanticUndefined,
    *,
    embed: bool = False,
    alias: str | None = None,
    include_in_schema: bool = True,
    **field_options: Any,
) -> Any:
    """The JSON request body, or (with ``embed=True`` or several body parameters) one key of it."""
    return _marker(ParamSource.BODY, default, alias, include_in_schema, field_options, embed=embed)


def Depends(  # noqa: N802
    dependency: Callable[..., Any] | None = None,
    *,
    use_cache: bool = True,
    scope: str | None = None,
) -> Any:
    """A value computed by ``dependency`` (a function, async function, or generator with one ``yield``).

    The dependency's own parameters are resolved like a path operation's. A generator dependency's code after
    ``yield`` runs once the response is complete (``scope="request"``, the default): for a stream, after the
    stream ended or was closed, and after the background tasks. With ``scope="function"`` it runs as soon as
    the path operation has returned (for a stream: once its generator is done), before the response is sent.
    With ``use_cache=True`` (the default) one request computes each dependency once.
    """
    return DependsInfo(dependency, use_cache, scope)


def Security(  # noqa: N802
    dependency: Callable[..., Any] | None = None,
    *,
    scopes: Sequence[str] | None = None,
    use_cache: bool = True,
) -> Any:
    """``Depends`` for security: the dependency (e.g. an ``OAuth2PasswordBearer``, or a function using one)
    requires ``scopes``, which a ``SecurityScopes`` parameter of it (and of its own dependencies) receives, and
    which the OpenAPI document lists in the operation's ``security``."""
    return DependsInfo(dependency, use_cache, None, scopes or ())


class SecurityScopes:
    """The OAuth2 scopes required of the function that takes this parameter: those of every ``Security(...)``
    on the way from the path operation to it. ``scope_str``: the scopes separated by spaces (for a
    ``WWW-Authenticate`` header)."""

    def __init__(self, scopes: Sequence[str] | None = None) -> None:
        self.scopes: list[str] = list(scopes or [])
        self.scope_str = " ".join(self.scopes)

    def __repr__(self) -> str:
        return f"SecurityScopes({self.scopes!r})"


def Form(  # noqa: N802
    default: Any = PydanticUndefined,
    *,
    alias: str | None = None,
    include_in_schema: bool = True,
    **field_options: Any,
) -> Any:
    """A field of a form body (``application/x-www-form-urlencoded`` or ``multipart/form-data``); with a Pydantic
    model (``Annotated[Login, Form()]``), each of the model's fields is a form field."""
    return _marker(ParamSource.FORM, default, alias, include_in_schema, field_options)


def File(  # noqa: N802
    default: Any = PydanticUndefined,
    *,
    alias: str | None = None,
    include_in_schema: bool = True,
    **field_options: Any,
) -> Any:
    """A file of a ``multipart/form-data`` body: ``Annotated[UploadFile, File()]`` (spooled to disk past 1 MiB),
    ``Annotated[bytes, File()]`` (its whole content), or a list of either for several files of one name."""
    return _marker(ParamSource.FORM, default, alias, include_in_schema, field_options)
