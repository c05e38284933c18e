"""A pytest plugin that runs FastAPI's own tutorial suite against linestream: every ``fastapi`` import resolves
to linestream's module of the same role, as a user's imports would be changed (docs/fastapi.md, "Migrating"),
and ``FastAPI(...)`` is ``LineStream(compat="fastapi", ...)`` (with FastAPI's default title, which the tests'
documents name). Modules FastAPI re-exports from Starlette resolve to Starlette's, as they are in FastAPI.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
from typing import Any

import linestream
import linestream.exceptions


class FastAPI(linestream.LineStream):
    """The app of a FastAPI program, moved: ``LineStream(compat="fastapi")``."""

    def __init__(self, **options: Any) -> None:
        options.setdefault("compat", "fastapi")
        options.setdefault("title", "FastAPI")
        super().__init__(**options)


#: A FastAPI module -> the module that takes its place.
MODULES = {
    "fastapi": "linestream",
    "fastapi.testclient": "linestream.testing",
    "fastapi.responses": "linestream.responses",
    "fastapi.security": "linestream.security",
    "fastapi.exceptions": "linestream.exceptions",
    "fastapi.exception_handlers": "linestream.exception_handlers",
    "fastapi.encoders": "linestream.encoders",
    "fastapi.routing": "linestream",
    "fastapi.sse": "linestream.sse",
    "fastapi.openapi": "linestream.openapi",
    "fastapi.openapi.docs": "linestream.openapi",
    "fastapi.openapi.utils": "linestream.openapi",
    "fastapi.params": "linestream.params",
    "fastapi.status": "linestream.status",
    "fastapi.websockets": "starlette.websockets",
    "fastapi.staticfiles": "starlette.staticfiles",
    "fastapi.templating": "starlette.templating",
    "fastapi.middleware": "starlette.middleware",
    "fastapi.middleware.cors": "starlette.middleware.cors",
    "fastapi.middleware.gzip": "starlette.middleware.gzip",
    "fastapi.middleware.httpsredirect": "starlette.middleware.httpsredirect",
    "fastapi.middleware.trustedhost": "starlette.middleware.trustedhost",
    "fastapi.requests": "starlette.requests",
    "fastapi.background": "starlette.background",
    "fastapi.concurrency": "starlette.concurrency",
}

#: Names that are spelled differently in linestream.
RENAMED: dict[str, dict[str, Any]] = {
    "fastapi": {"FastAPI": FastAPI},
    "fastapi.exceptions": {
        "FastAPIError": linestream.exceptions.EndpointDefinitionError,
        "FastAPIDeprecationWarning": DeprecationWarning,
    },
}


class _Aliases(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if name in MODULES:
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        target = importlib.import_module(MODULES[spec.name])
        module = types.ModuleType(spec.name)
        module.__dict__.update({key: value for key, value in vars(target).items() if not key.startswith("__")})
        module.__dict__.update(RENAMED.get(spec.name, {}))
        module.__getattr__ = lambda attribute: getattr(target, attribute)  # type: ignore[method-assign]
        module.__path__ = []
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        pass


sys.meta_path.insert(0, _Aliases())
