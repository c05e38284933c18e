"""The layering of docs/architecture.md, checked on the source: who may import whom, no cycles, small rooms."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parent.parent / "src"
MAX_LINES = 450

#: The packages and rooms that serve requests: nothing outside the server may import them.
SERVER_PACKAGES = (
    "linestream._declare",
    "linestream._compile",
    "linestream._bind",
    "linestream._engine",
    "linestream._routing",
)
SERVER_ROOMS = {"linestream._app", "linestream._http_errors", "linestream._negotiation", "linestream._problem"}


def _module(path: Path) -> str:
    parts = list(path.relative_to(SOURCE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module(path): path for path in sorted((SOURCE / "linestream").rglob("*.py"))}


def _imports(module: str) -> set[str]:
    """The linestream modules ``module`` imports (``TYPE_CHECKING`` imports included)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join([*parts[: len(parts) - node.level + 1], *([base] if base else [])])
            names = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        for name in names:
            while name and name not in MODULES:
                name = name.rpartition(".")[0]
            if name.startswith("linestream") and name != module:
                found.add(name)
    return found


GRAPH = {module: _imports(module) for module in MODULES}
SERVER = {
    module for module in MODULES if module in SERVER_ROOMS or any(module.startswith(p + ".") for p in SERVER_PACKAGES)
}


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_codecs_import_nothing_of_linestream_but_exceptions() -> None:
    for module, imported in GRAPH.items():
        if _within(module, "linestream.streams"):
            outside = {name for name in imported if not _within(name, "linestream.streams")}
            assert outside <= {"linestream.exceptions"}, f"{module} imports {outside}"


def test_serialization_and_the_stream_start_hook_know_no_http_server() -> None:
    for module in ("linestream._serialization", "linestream._early_start", "linestream._kinds"):
        assert not GRAPH[module] & SERVER, f"{module} imports {GRAPH[module] & SERVER}"


@pytest.mark.parametrize(
    "package", ["linestream.client", "linestream.topics", "linestream.streams", "linestream.cli", "linestream.llm"]
)
def test_libraries_around_the_server_never_import_it(package: str) -> None:
    for module, imported in GRAPH.items():
        if _within(module, package):
            assert not imported & SERVER, f"{module} imports server modules {imported & SERVER}"


def test_the_cli_imports_only_public_names_of_other_packages() -> None:
    for module, imported in GRAPH.items():
        if _within(module, "linestream.cli"):
            private = {
                name
                for name in imported
                if not _within(name, "linestream.cli") and any(part.startswith("_") for part in name.split("."))
            }
            assert not private, f"{module} imports private modules {private}"


def test_no_import_cycles() -> None:
    # Strongly connected components (Tarjan); a component of package __init__ modules alone is a package
    # re-exporting its own modules, not a cycle between rooms.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def connect(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for dependency in GRAPH[module]:
            if dependency not in index:
                connect(dependency)
                low[module] = min(low[module], low[dependency])
            elif dependency in stack:
                low[module] = min(low[module], index[dependency])
        if low[module] == index[module]:
            component = stack[stack.index(module) :]
            del stack[stack.index(module) :]
            if len(component) > 1 and any(MODULES[name].name != "__init__.py" for name in component):
                cycles.append(sorted(component))

    for module in sorted(GRAPH):
        if module not in index:
            connect(module)
    assert cycles == []


def test_every_room_is_small() -> None:
    sizes = {module: len(path.read_text().splitlines()) for module, path in MODULES.items()}
    assert {module: size for module, size in sizes.items() if size > MAX_LINES} == {}


def test_the_map_names_every_room() -> None:
    architecture = (SOURCE.parent / "docs" / "architecture.md").read_text()
    package = SOURCE / "linestream"
    rooms = [
        path.relative_to(package).as_posix()
        for path in MODULES.values()
        if path.relative_to(package).parts[0].startswith("_") and path.stem not in ("__init__", "__main__")
    ]
    missing = [room for room in rooms if room not in architecture]
    assert missing == [], "docs/architecture.md does not say what these rooms are"


@pytest.mark.parametrize("package", ["linestream.client", "linestream.streams"])
def test_importing_the_client_or_the_codecs_loads_no_server(package: str) -> None:
    # In a fresh interpreter: what an application that only reads streams pays for.
    code = f"import sys, {package}; print(' '.join(sorted(sys.modules)))"
    loaded = set(
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    )
    assert {name for name in loaded if name in SERVER} == set()
    for heavy in (
        "starlette",
        "linestream.openapi",
        "linestream.security",
        "linestream.topics",
        "anyio._backends",
        "websockets",
        "pydantic.main",
    ):
        assert not {name for name in loaded if name == heavy or name.startswith(heavy + ".")}, heavy


def test_the_package_loads_its_public_names_on_first_use() -> None:
    code = (
        "import sys, linestream; before = 'linestream._app' in sys.modules; "
        "linestream.LineStream; print(before, 'linestream._app' in sys.modules, sorted(linestream.__all__) == "
        "sorted(dir(linestream)))"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.split() == ["False", "True", "True"]


def test_the_http_errors_are_starlettes_and_documented_in_the_exceptions_module() -> None:
    from starlette.exceptions import HTTPException as StarletteHTTPException

    import linestream
    from linestream import exceptions

    assert issubclass(exceptions.HTTPException, StarletteHTTPException)
    assert exceptions.HTTPException is linestream.HTTPException
    assert exceptions.RequestValidationError.__module__ == "linestream.exceptions"
    with pytest.raises(AttributeError, match="no attribute 'HTTPExcepton'"):
        _ = exceptions.HTTPExcepton  # type: ignore[attr-defined]
