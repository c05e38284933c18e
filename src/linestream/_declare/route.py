"""What a path operation declares: a frozen ``RouteDeclaration``, made from ``@app.get(path, **options)``.

A declaration is what ``include_router`` copies (``under()``: the including router's prefix, tags,
dependencies, defaults and stream options come on top) and what the document reads; it is compiled once, when
its route reaches an app (``_compile.route``). Nothing here analyses the endpoint.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute

from linestream._declare.options import DEFAULT, OptionLayer, StreamOptions, check_options
from linestream._serialization import SerializationOptions

__all__ = ["ROUTE_OPTION_NAMES", "RouteDeclaration", "RouteOptions", "describe"]


class RouteOptions(StreamOptions, total=False):
    """Every option of a path operation (``@app.get(path, **options)``), typed so that a misspelt or mistyped
    option fails type checking: the stream options (``StreamOptions``) and these. See ``APIRoute`` for each."""

    name: str | None
    include_in_schema: bool
    status_code: int | None
    response_model: Any
    response_class: type[Response] | None
    tags: Sequence[str | enum.Enum] | None
    summary: str | None
    description: str | None
    response_description: str
    responses: Mapping[int | str, dict[str, Any]] | None
    deprecated: bool | None
    operation_id: str | None
    dependencies: Sequence[Any] | None
    openapi_extra: dict[str, Any] | None
    response_model_include: Any
    response_model_exclude: Any
    response_model_by_alias: bool
    response_model_exclude_unset: bool
    response_model_exclude_defaults: bool
    response_model_exclude_none: bool
    callbacks: Sequence[BaseRoute] | None
    generate_unique_id_function: Callable[[Any], str] | None


#: The keyword arguments a path operation takes (beside its path, endpoint and methods).
ROUTE_OPTION_NAMES = frozenset(RouteOptions.__annotations__) | frozenset(StreamOptions.__annotations__)
_STREAM_NAMES = frozenset(StreamOptions.__annotations__)
_SERIALIZATION = {
    "response_model_include": "include",
    "response_model_exclude": "exclude",
    "response_model_by_alias": "by_alias",
    "response_model_exclude_unset": "exclude_unset",
    "response_model_exclude_defaults": "exclude_defaults",
    "response_model_exclude_none": "exclude_none",
}


@dataclasses.dataclass(frozen=True)
class RouteDeclaration:
    """One path operation as declared (see the module docstring). ``options`` are the stream options the route
    set itself; ``inherited`` those of the routers it was declared or included under (the nearest winning)."""

    path: str
    endpoint: Callable[..., Any]
    methods: tuple[str, ...] = ("GET",)
    name: str | None = None
    include_in_schema: bool = True
    status_code: int | None = None
    response_model: Any = DEFAULT
    response_class: type[Response] | None = None
    tags: tuple[str, ...] = ()
    summary: str | None = None
    description: str | None = None
    response_description: str = "Successful Response"
    responses: Mapping[int | str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    deprecated: bool | None = None
    operation_id: str | None = None
    dependencies: tuple[Any, ...] = ()
    openapi_extra: dict[str, Any] | None = None
    serialization: SerializationOptions = dataclasses.field(default_factory=SerializationOptions)
    callbacks: tuple[BaseRoute, ...] = ()
    generate_unique_id_function: Callable[[Any], str] | None = None
    options: OptionLayer = dataclasses.field(default_factory=dict)
    inherited: OptionLayer = dataclasses.field(default_factory=dict)

    @classmethod
    def of(
        cls, path: str, endpoint: Callable[..., Any], methods: Sequence[str] | None, options: RouteOptions
    ) -> RouteDeclaration:
        """The declaration of ``endpoint`` at ``path`` for ``methods`` with ``options`` (checked; named after the
        endpoint)."""
        given: dict[str, Any] = dict(options)
        owner = describe(endpoint)
        stream = check_options(owner, {key: given.pop(key) for key in list(given) if key in _STREAM_NAMES})
        serialization = SerializationOptions(
            **{field: given.pop(key) for key, field in _SERIALIZATION.items() if key in given}
        )
        tags = given.pop("tags", None) or ()
        docstring = inspect.getdoc(endpoint)
        description = given.pop("description", None)
        if description is None and docstring:
            # As in FastAPI, a form feed in the docstring ends what the API's documentation shows of it.
            description = docstring.split("\f")[0].strip()
        return cls(
            path,
            endpoint,
            methods=tuple(methods) if methods is not None else ("GET",),
            tags=tuple(tag.value if isinstance(tag, enum.Enum) else tag for tag in tags),
            description=description,
            responses=dict(given.pop("responses", None) or {}),
            dependencies=tuple(given.pop("dependencies", None) or ()),
            callbacks=tuple(given.pop("callbacks", None) or ()),
            serialization=serialization,
            options=stream,
            **given,
        )

    def under(
        self,
        *,
        prefix: str = "",
        tags: Sequence[str | enum.Enum] = (),
        dependencies: Sequence[Any] = (),
        responses: Mapping[int | str, dict[str, Any]] | None = None,
        include_in_schema: bool = True,
        deprecated: bool | None = None,
        response_class: type[Response] | None = None,
        callbacks: Sequence[BaseRoute] = (),
        generate_unique_id_function: Callable[[Any], str] | None = None,
        options: OptionLayer | None = None,
    ) -> RouteDeclaration:
        """This declaration under a router (or an ``include_router`` call): its prefix, tags, dependencies,
        responses and callbacks first, its defaults where the route set none, its stream options below the
        route's own and below those of the routers it was already under."""
        return dataclasses.replace(
            self,
            path=prefix + self.path,
            tags=(*(tag.value if isinstance(tag, enum.Enum) else tag for tag in tags), *self.tags),
            dependencies=(*dependencies, *self.dependencies),
            responses={**(responses or {}), **self.responses},
            include_in_schema=self.include_in_schema and include_in_schema,
            deprecated=self.deprecated if self.deprecated is not None else deprecated,
            response_class=self.response_class if self.response_class is not None else response_class,
            callbacks=(*callbacks, *self.callbacks),
            generate_unique_id_function=self.generate_unique_id_function or generate_unique_id_function,
            inherited={**(options or {}), **self.inherited},
        )

    @property
    def default_status(self) -> int:
        """The status of a success: the route's, else its response class's own default (307 for a redirect)."""
        return self.status_code or _class_status(self.response_class) or 200


def describe(call: Callable[..., Any]) -> str:
    """``module.qualname`` of a function, for error messages and logs."""
    module = getattr(call, "__module__", None)
    name = getattr(call, "__qualname__", None) or repr(call)
    return f"{module}.{name}" if module else name


def _class_status(response_class: type[Response] | None) -> int | None:
    """The status a response class answers with by default (``RedirectResponse``: 307), if it has its own."""
    if response_class is None:
        return None
    default = inspect.signature(response_class.__init__).parameters.get("status_code")
    value = default.default if default is not None else None
    return value if isinstance(value, int) and value != 200 else None
