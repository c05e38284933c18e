"""The documentation site builds with ``mkdocs build --strict`` (no broken link or reference), and its API
reference documents every public name of the public modules."""

import html
import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
#: Names re-exported from Starlette unchanged: the reference names them and points to Starlette's documentation.
STARLETTE = {"Request", "Response", "WebSocket", "WebSocketDisconnect", "WebSocketException", "BackgroundTasks"}
MODULES = {
    "linestream": "reference/linestream",
    "linestream.client": "reference/client",
    "linestream.testing": "reference/testing",
    "linestream.topics": "reference/topics",
    "linestream.security": "reference/security",
    "linestream.exceptions": "reference/exceptions",
}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(target)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return target


def test_the_site_builds_strictly_with_every_page(site: Path) -> None:
    for page in ("index", "formats", "security", "clients", "deploying", "fastapi", "reference/client"):
        assert (site / page / "index.html").exists() or (site / f"{page}.html").exists(), page


@pytest.mark.parametrize("module_name", sorted(MODULES))
def test_the_reference_documents_every_public_name(site: Path, module_name: str) -> None:
    reference = "".join(path.read_text() for path in (site / "reference").rglob("index.html"))
    module = importlib.import_module(module_name)
    # A name re-exported by several modules is documented once, under one of them (an exception: under
    # linestream.exceptions).
    missing = [
        name
        for name in module.__all__
        if name != "__version__"
        and not (module_name == "linestream" and name in STARLETTE)
        and not any(f'id="{documented}.{name}"' in reference for documented in MODULES)
    ]
    assert missing == [], f"{module_name}: not in the API reference"
    if module_name == "linestream":
        page = (site / MODULES[module_name] / "index.html").read_text()
        assert all(f"<code>{name}</code>" in page for name in STARLETTE)


def test_the_reference_shows_docstring_examples_as_code(site: Path) -> None:
    # reStructuredText's `::` is not Markdown: an example written so shows as a stray "::" and a run-on paragraph.
    pages = {path: path.read_text() for path in (site / "reference").rglob("index.html")}
    stray = [str(path) for path, html in pages.items() if re.search(r"::\s*</p>", html)]
    assert stray == []
    client = (site / "reference" / "client" / "index.html").read_text()
    example = client[client.index('id="linestream.client.AsyncClient"') :]
    code = re.search(r"<pre[^>]*>(.*?)</pre>", example, re.S)
    assert code is not None
    text = html.unescape(re.sub(r"<[^>]+>", "", code.group(1)))
    assert 'async with AsyncClient("http://127.0.0.1:8000") as client:\n' in text
