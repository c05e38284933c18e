"""The TypeScript client (clients/typescript, npm package @linestream/client) and its code generator.

The package is built with the TypeScript compiler installed from the npm registry (``npm ci``, pinned by its
package-lock); its unit tests run under Node's test runner; its integration tests run against
tests/apps/typescript_app.py under uvicorn, in Node and in headless Chromium; the generated client for the demo
app is compared with a golden file and compiled with ``tsc --strict``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser

from linestream.client import Client
from linestream.exceptions import StreamTruncated
from tests.conftest import ROOT, free_port, serve_process
from tests.durable.proxy import CuttingProxy

PACKAGE = ROOT / "clients" / "typescript"
GOLDEN = ROOT / "tests" / "golden" / "demo-client.ts"
APP = "tests.apps.typescript_app:app"


def run(command: list[str], cwd: Path = PACKAGE, env: dict[str, str] | None = None, timeout: float = 300) -> str:
    """Run ``command``; fail the test with its output if it fails."""
    result = subprocess.run(
        command, cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=timeout
    )
    if result.returncode != 0:
        pytest.fail(f"{' '.join(command)} exited with {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result.stdout


@pytest.fixture(scope="module")
def package() -> Path:
    """The package, its dependencies installed from its lock file and its dist/ compiled (tsc --strict)."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is required (scripts/test installs Debian's nodejs and npm)")
    if not (PACKAGE / "node_modules" / ".bin" / "tsc").exists():
        run(["npm", "ci", "--no-audit", "--no-fund"])
    run(["npx", "tsc", "-p", "tsconfig.json"])
    return PACKAGE


def codegen(source: str, out: Path) -> subprocess.CompletedProcess[str]:
    """``linestream codegen typescript SOURCE --out OUT``, as a user runs it."""
    command = [sys.executable, "-m", "linestream", "codegen", "typescript", source, "--out", str(out)]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)


def generate(target: str, out: Path) -> str:
    result = codegen(target, out)
    assert result.returncode == 0, result.stderr
    return (out / "client.ts").read_text()


def test_unit_tests_pass_under_node(package: Path) -> None:
    output = run(["node", "--test", "test/"])
    counts = dict(line[2:].split() for line in output.splitlines() if line.startswith(("# tests ", "# pass ")))
    assert counts["tests"] == counts["pass"], output[-2000:]
    assert int(counts["pass"]) >= 19


def test_the_explorer_loads_the_packages_compiled_decoders(package: Path) -> None:
    """One JavaScript codec: the explorer's decoders.js is the package's compiled decoders (npm run build)."""
    run(["node", "scripts/explorer.mjs", "--check"])
    explorer = (ROOT / "src/linestream/openapi/explorer/decoders.js").read_text()
    assert explorer.endswith((package / "dist" / "decoders.js").read_text())


def test_generated_client_for_the_demo_is_the_golden_file_and_stable(tmp_path: Path) -> None:
    first = generate("examples/demo.py", tmp_path / "one")
    again = generate("examples.demo:app", tmp_path / "two")
    assert first == again
    assert first == GOLDEN.read_text(), (
        "The generated client changed: if that is intended, run "
        "python -m linestream codegen typescript examples/demo.py --out tests/golden && "
        "mv tests/golden/client.ts tests/golden/demo-client.ts"
    )


def compile_generated(package: Path, target: str, folder: Path, *extra: Path) -> Path:
    """Generate the client of ``target`` in ``folder``, compile it (and ``extra`` files) with tsc --strict against
    the package; return the compiled client module."""
    generate(target, folder)
    modules = folder / "node_modules" / "@linestream"
    modules.mkdir(parents=True)
    (modules / "client").symlink_to(package, target_is_directory=True)
    for file in extra:
        shutil.copy(file, folder)
    options = {
        "target": "ES2022",
        "module": "ES2022",
        "moduleResolution": "bundler",
        "lib": ["ES2022", "DOM", "DOM.Iterable"],
        "types": [],
        "strict": True,
        "exactOptionalPropertyTypes": True,
        "noUncheckedIndexedAccess": True,
        "outDir": "out",
    }
    (folder / "tsconfig.json").write_text(json.dumps({"compilerOptions": options, "include": ["*.ts"]}))
    (folder / "package.json").write_text('{"type": "module"}')
    run([str(package / "node_modules" / ".bin" / "tsc"), "-p", "."], cwd=folder)
    return folder / "out" / "client.js"


@pytest.mark.parametrize("compiler", ["typescript-5", "typescript-7"])
def test_the_tarball_installs_and_compiles_in_a_project_as_the_docs_say(
    package: Path, tmp_path: Path, compiler: str
) -> None:
    """docs/typescript.md's install: ``npm pack``, ``npm install <tarball>`` into a project, compiled with the
    page's tsconfig.json by each TypeScript version it names; the page's examples that use the package are the
    project's sources."""
    docs = (ROOT / "docs" / "typescript.md").read_text()
    install = docs[docs.index("## Install") : docs.index("## Generate a typed client")]
    tsconfig = re.search(r"```json\n(.*?)```", install, re.DOTALL)
    assert tsconfig is not None
    run(["npm", "run", "build", "--silent"])
    run(["npm", "pack", "--silent", "--pack-destination", str(tmp_path)])
    (tarball,) = tmp_path.glob("linestream-client-*.tgz")
    project = tmp_path / "project"
    shutil.copytree(PACKAGE / "consumer", project)
    run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=project)
    run(["npm", "install", "--no-save", "--no-audit", "--no-fund", "--silent", str(tarball)], cwd=project)
    (project / "tsconfig.json").write_text(tsconfig.group(1))
    examples = [e for e in re.findall(r"```ts\n(.*?)```", docs, re.DOTALL) if 'from "@linestream/client"' in e]
    assert len(examples) >= 4
    (project / "src").mkdir()
    for index, example in enumerate(examples):
        (project / "src" / f"example{index}.ts").write_text(example)
    run(["node", str(project / "node_modules" / compiler / "bin" / "tsc"), "-p", "."], cwd=project)
    assert sorted(path.name for path in (project / "dist").glob("*.js")) == sorted(
        f"example{index}.js" for index in range(len(examples))
    )


def test_generated_demo_client_and_the_docs_examples_compile_under_strict(package: Path, tmp_path: Path) -> None:
    """The generated client of the demo, and every TypeScript example of docs/typescript.md beside it."""
    examples = re.findall(r"```ts\n(.*?)```", (ROOT / "docs" / "typescript.md").read_text(), re.DOTALL)
    assert len(examples) >= 5
    for index, example in enumerate(examples):
        (tmp_path / f"example{index}.ts").write_text(example)
    compiled = compile_generated(package, "examples/demo.py", tmp_path)
    assert "streamItems(options = {})" in compiled.read_text()
    assert sorted(path.name for path in (tmp_path / "out").glob("example*.js")) == sorted(
        f"example{index}.js" for index in range(len(examples))
    )


def expected_items(url: str) -> dict[str, list[Any]]:
    """What the Python client receives from each route the Node tests read."""
    expected: dict[str, list[Any]] = {}
    with Client(url) as client:
        for path in (
            "/items/stream",
            "/items/stream-no-async-no-annotation",
            "/test/ended",
            "/test/lookalikes",
            "/test/cut",
        ):
            items: list[Any] = []
            try:
                items.extend(client.get_stream(path))
            except StreamTruncated:
                assert path == "/test/cut"
            expected[path] = items
    assert len(expected["/test/cut"]) == 3
    assert expected["/test/lookalikes"] == [{"end": {"line": 3}}, {"error": {"line": 4}}, {"end": {"count": 2}}]
    assert len(expected["/items/stream"]) >= 3
    return expected


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with serve_process(APP) as process:
        yield process.url


def test_runtime_and_generated_client_against_a_server(package: Path, server: str, tmp_path: Path) -> None:
    compiled = compile_generated(package, APP, tmp_path, PACKAGE / "test-server" / "usage.ts")
    env = {
        "LINESTREAM_URL": server,
        "LINESTREAM_EXPECTED": json.dumps(expected_items(server)),
        "LINESTREAM_GENERATED": compiled.as_uri(),
    }
    output = run(["node", "--test", "test-server/"], env=env)
    counts = dict(line[2:].split() for line in output.splitlines() if line.startswith(("# tests ", "# pass ")))
    assert counts["tests"] == counts["pass"], output[-2000:]
    assert int(counts["pass"]) >= 25


def test_events_resume_across_a_server_restart(package: Path) -> None:
    """SIGTERM: the server ends the stream asking to come back; the client reconnects (refused while the server
    is down, then with Last-Event-ID to the new process) and gets every id once, in order."""
    port = free_port()
    until = 60
    env = {**os.environ, "LINESTREAM_URL": f"http://127.0.0.1:{port}", "LINESTREAM_UNTIL": str(until)}
    with serve_process(APP, port=port) as first:
        reader = subprocess.Popen(
            ["node", "test-server/restart.mjs"], cwd=PACKAGE, env=env, stdout=subprocess.PIPE, text=True
        )
        assert reader.stdout is not None
        ids = []
        for line in reader.stdout:
            ids.append(line.strip())
            if len(ids) == 10:
                break
        first.terminate()
    time.sleep(0.5)  # the client is refused meanwhile, and backs off
    with serve_process(APP, port=port):
        rest, _ = reader.communicate(timeout=60)
    ids += rest.split()
    assert reader.returncode == 0, ids[-3:]
    assert ids == [str(n) for n in range(1, until + 1)]


def test_the_runtime_streams_in_chromium_from_the_app(package: Path, server: str, browser: Browser) -> None:
    page = browser.new_page()
    page.goto(server + "/openapi.json")
    result = page.evaluate(
        """async (base) => {
            const client = await import(base + "/ts/index.js");
            const out = {};
            for (const format of ["jsonl", "ndjson", "json-seq", "sse", "json"]) {
                out[format] = await client.stream(base + "/items/stream", { format }).toArray();
            }
            try { await client.stream(base + "/test/cut").toArray(); out.cut = "complete"; }
            catch (error) { out.cut = [error.name, error.itemsReceived]; }
            try { await client.stream(base + "/test/missing/5").toArray(); }
            catch (error) { out.missing = [error.name, error.status, error.problem.detail]; }
            const ticks = [];
            for await (const event of client.events(base + "/test/ticks?until=4", { lastEventId: "1" })) {
                ticks.push(event.id);
            }
            out.ticks = ticks;
            return out;
        }""",
        server,
    )
    expected = expected_items(server)["/items/stream"]
    for stream_format in ("jsonl", "ndjson", "json-seq", "sse", "json"):
        assert result[stream_format] == expected, stream_format
    assert result["cut"] == ["StreamTruncated", 3]
    assert result["missing"] == ["HTTPError", 404, "no point 5"]
    assert result["ticks"] == ["2", "3", "4"]


def test_npm_pack_ships_the_compiled_package_only(package: Path) -> None:
    packed = json.loads(run(["npm", "pack", "--dry-run", "--json"]))
    files = sorted(entry["path"] for entry in packed[0]["files"])
    modules = ("client", "decoders", "errors", "index", "reader")
    assert files == sorted(
        ["README.md", "package.json", *(f"dist/{m}.js" for m in modules), *(f"dist/{m}.d.ts" for m in modules)]
    )
    assert packed[0]["name"] == "@linestream/client"


# -- the generator on its own: every schema shape and operation kind, compiled ------------------------------
SHAPES: dict[str, Any] = {
    "openapi": "3.2.0",
    "info": {"title": "Shapes */", "version": "1"},
    "paths": {
        "/things/{thing-id}": {
            "parameters": [{"name": "thing-id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "delete": {"operationId": "delete", "responses": {"204": {"description": "gone"}}},
            "put": {
                "operationId": "put thing",
                "requestBody": {"content": {"multipart/form-data": {"schema": {"type": "object"}}}},
                "responses": {
                    "200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Shape"}}}}
                },
            },
        },
        "/1st": {
            "get": {
                "operationId": "1st",
                "parameters": [
                    {"name": "tags", "in": "query", "schema": {"type": "array", "items": {"type": "string"}}},
                    {"name": "mode", "in": "query", "required": True, "schema": {"enum": ["a", "b"]}},
                ],
                "responses": {
                    "200": {
                        "content": {
                            "text/event-stream": {
                                "itemSchema": {
                                    "type": "object",
                                    "properties": {"data": {"type": "string", "contentSchema": {"type": "object"}}},
                                }
                            }
                        }
                    }
                },
            },
            "post": {
                "operationId": "1st",
                "requestBody": {"required": True, "content": {"application/octet-stream": {}}},
                "responses": {"default": {"description": "anything"}},
            },
        },
    },
    "components": {
        "schemas": {
            "Shape": {
                "title": "A shape",
                "type": "object",
                "properties": {
                    "point": {"type": "array", "prefixItems": [{"type": "number"}, {"type": "number"}]},
                    "kind": {"const": "shape"},
                    "either": {
                        "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": ["integer", "null"]}}]
                    },
                    "both": {
                        "allOf": [{"$ref": "#/components/schemas/Base"}, {"type": "object", "properties": {"x": {}}}]
                    },
                    "map": {"type": "object", "additionalProperties": {"type": "boolean"}},
                    "open": {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": True},
                    "not-an-identifier": {"type": "string", "description": "multi\nline"},
                },
                "required": ["point", "kind"],
            },
            "Base": {"type": "object", "properties": {"id": {"type": "integer"}}},
            "item-Output": {
                "oneOf": [{"$ref": "#/components/schemas/Shape"}, {"$ref": "#/components/schemas/Missing"}]
            },
        }
    },
}


def test_generator_covers_every_shape_and_the_output_compiles(package: Path, tmp_path: Path) -> None:
    from linestream.openapi import typescript_client

    source = typescript_client(SHAPES, runtime="@linestream/client")
    assert typescript_client(SHAPES) == source
    assert "point: [number, number];" in source
    assert "either?: string | (number | null)[];" in source
    assert "both?: Base & {" in source
    assert "map?: Record<string, boolean>;" in source
    assert "[key: string]: unknown;" in source
    assert '"not-an-identifier"?: string;' in source
    assert "export type ItemOutput = Shape | unknown;" not in source
    assert "export type ItemOutput = unknown;" in source
    assert 'callDelete(params: { path: { "thing-id": string } }' in source
    assert 'putThing(params: { path: { "thing-id": string }; body?: FormData | URLSearchParams }' in source
    assert 'call1st(params: { query: { tags?: string[]; mode: "a" | "b" } }' in source
    assert "call1st2(params: { body: BodyInit }" in source
    assert "Promise<void>" in source
    assert "Stream<Record<string, unknown>>" in source
    assert "Shapes *\\/" in source  # a title cannot end the comment it is written in
    (tmp_path / "shapes.json").write_text(json.dumps(SHAPES))
    folder = tmp_path / "out-shapes"
    compile_generated(package, str(tmp_path / "shapes.json"), folder)
    assert (folder / "client.ts").read_text() == source


# A document written to attack whoever generates a client from it: each string tries to leave its place.
_INJECT = "globalThis.injected = (globalThis.injected ?? []).concat"
HOSTILE: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": f"T\u2028{_INJECT}(['title']); //",
        "version": f"1\n{_INJECT}(['version']);",
        "description": f"*/ {_INJECT}(['description']); /*",
    },
    "paths": {
        f'/x", {{}}, {{}}); {_INJECT}(["path"]); ("': {
            "get": {
                "operationId": "get\nx",
                "summary": f"*/ {_INJECT}(['summary']); /*\u2028",
                "parameters": [{"name": 'a"b\u2028', "in": "query", "schema": {"type": "string"}}],
                "responses": {
                    "200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Dup_Name"}}}}
                },
            }
        }
    },
    "components": {
        "schemas": {
            "Dup-Name": {"type": "object", "properties": {"v": {"enum": ["a\u2028b", 'q"', "\\"]}}},
            "Dup_Name": {"type": "object", "properties": {"w": {"$ref": "#/components/schemas/Dup-Name"}}},
            "Client": {"type": "object", "properties": {f'k"\u2029{_INJECT}': {"type": "string"}}},
        }
    },
}


def test_codegen_emits_every_string_of_the_document_as_data(package: Path, tmp_path: Path) -> None:
    """Titles, versions, paths, names and values of a hostile document stay literals and comments: the client
    compiles under tsc --strict, and importing it runs nothing of theirs; colliding names are made distinct."""
    (tmp_path / "hostile.json").write_text(json.dumps(HOSTILE))
    folder = tmp_path / "out"
    compiled = compile_generated(package, str(tmp_path / "hostile.json"), folder)
    source = (folder / "client.ts").read_text()
    for declared in ("interface DupName {", "interface DupName2 {", "interface Client2 {", "class Client {"):
        assert f"export {declared}" in source
    assert "\u2028" not in source.replace("\\u2028", "")  # no raw line separator anywhere
    probe = folder / "probe.mjs"
    probe.write_text(
        f"import {{ Client }} from {json.dumps(str(compiled))};\n"
        "const methods = Object.getOwnPropertyNames(Client.prototype).filter((m) => m !== 'constructor');\n"
        "console.log(JSON.stringify({ injected: globalThis.injected ?? null, methods }));\n"
    )
    result = json.loads(run(["node", str(probe)], cwd=folder))
    assert result == {"injected": None, "methods": ["getX"]}


def test_codegen_reads_a_running_apps_document(tmp_path: Path) -> None:
    from examples.demo import app
    from tests.conftest import serve

    with serve(app) as url:
        from_url = generate(url + "/openapi.json", tmp_path / "url")
    assert from_url == GOLDEN.read_text()


@pytest.mark.parametrize(
    ("source", "message", "status"),
    [
        ("http://127.0.0.1:9/openapi.json", "cannot read the OpenAPI document at", 1),
        ("missing.json", "cannot read the OpenAPI document missing.json", 2),
        ("pyproject.toml.json", "cannot read the OpenAPI document", 2),
        ("linestream.status:HTTP_200_OK", "is not a linestream app", 2),
    ],
)
def test_codegen_refuses_what_is_not_a_document(tmp_path: Path, source: str, message: str, status: int) -> None:
    result = codegen(source, tmp_path)
    assert result.returncode == status, result.stderr
    assert message in result.stderr
    assert not (tmp_path / "client.ts").exists()


def test_codegen_refuses_json_without_paths(tmp_path: Path) -> None:
    source = tmp_path / "not.json"
    source.write_text('{"openapi": "3.1.0"}')
    result = codegen(str(source), tmp_path)
    assert result.returncode == 2
    assert "is not an OpenAPI document (no 'paths')" in result.stderr


def test_events_follow_a_durable_answer_across_a_cut_connection(package: Path) -> None:
    """The TypeScript client's events() reads a durable answer through a proxy that cuts the connection: it
    reconnects with Last-Event-ID, and the job (which went on) gives it every item once, in order."""
    with serve_process("tests.apps.durable_app:app") as server:
        proxy = CuttingProxy(int(server.url.rsplit(":", 1)[1]))
        with proxy.running() as url:
            env = {**os.environ, "LINESTREAM_URL": url}
            reader = subprocess.Popen(
                ["node", "test-server/durable.mjs"], cwd=PACKAGE, env=env, stdout=subprocess.PIPE, text=True
            )
            assert reader.stdout is not None
            indices = []
            for line in reader.stdout:
                indices.append(line.strip())
                if len(indices) == 4:
                    proxy.cut()
                    break
            rest, _ = reader.communicate(timeout=60)
    indices += rest.split()
    assert reader.returncode == 0, indices[-3:]
    assert indices == [str(index) for index in range(12)]
