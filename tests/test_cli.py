"""The `linestream` command, run for real in subprocesses (and in a pseudo-terminal for the pretty mode)."""

import json
import os
import pty
import re
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterable, Iterator
from pathlib import Path

import httpx
import pyte
import pytest
from openapi_spec_validator import validate
from pydantic import BaseModel

from linestream import LineStream, SerializedItem
from tests.conftest import free_port, serve, wait_for

ROOT = Path(__file__).parent.parent
COMMAND = [sys.executable, "-m", "linestream"]
EXPECTED_ITEMS = [
    {"name": "Plumbus", "description": "A multi-purpose household device."},
    {"name": "Portal Gun", "description": "A portal opening device."},
    {"name": "Meeseeks Box", "description": "A box that summons a Meeseeks."},
]


def run(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*COMMAND, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT)


class Tick(BaseModel):
    n: int


def make_app() -> LineStream:
    app = LineStream(sse_keepalive=None)

    @app.get("/ticks")
    async def ticks(count: int = 3) -> AsyncIterable[Tick]:
        for n in range(count):
            yield Tick(n=n)

    @app.get("/broken")
    async def broken() -> AsyncIterable[Tick]:
        yield Tick(n=0)
        raise RuntimeError("cut")

    @app.get("/lookalikes", stream_end=True)
    async def lookalikes() -> AsyncIterable[dict[str, dict[str, int]]]:
        yield {"end": {"line": 3}}  # an item shaped like the end record: an item all the same

    @app.get("/gap")
    async def gap() -> AsyncIterable[SerializedItem[Tick]]:
        yield SerializedItem("5-0", b'{"n":5}', Tick).after_gap("1-0")  # messages after 1-0 were lost

    return app


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with serve(make_app()) as url:
        yield url


@pytest.mark.parametrize("command", [[], ["run"], ["openapi"], ["tail"]])
def test_every_command_has_help(command: list[str]) -> None:
    result = run(*command, "--help")
    assert result.returncode == 0
    assert "Usage: linestream" in result.stdout


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "linestream"
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=30, check=True)
    assert "0.1.0" in result.stdout


@pytest.mark.parametrize(("version", "expected"), [([], "3.1.0"), (["--version", "3.2"], "3.2.0")])
def test_openapi_prints_a_valid_document(version: list[str], expected: str) -> None:
    result = run("openapi", "examples/items.py", *version)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["openapi"] == expected
    validate(document)


def test_openapi_accepts_a_module_target() -> None:
    result = run("openapi", "examples.stream_data:app")
    assert result.returncode == 0, result.stderr
    assert "/story" in json.loads(result.stdout)["paths"]


@pytest.mark.parametrize("target", ["nowhere.py", "examples/items.py:missing", "no_such_module"])
def test_bad_targets_give_one_line_and_status_2(target: str) -> None:
    result = run("openapi", target)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "Error: Invalid value for TARGET" in result.stderr


def test_tail_prints_json_lines_when_piped(base_url: str) -> None:
    result = run("tail", base_url + "/ticks?count=4")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [json.dumps({"n": n}, separators=(",", ":")) for n in range(4)]
    assert "4 item(s)" in result.stderr


@pytest.mark.parametrize("stream_format", ["jsonl", "ndjson", "json-seq", "sse", "json"])
def test_tail_reads_every_format(base_url: str, stream_format: str) -> None:
    result = run("tail", "--format", stream_format, "--no-reconnect", base_url + "/ticks")
    assert result.returncode == 0, result.stderr
    assert [json.loads(line) for line in result.stdout.splitlines()] == [{"n": n} for n in range(3)]


@pytest.mark.parametrize("stream_format", ["jsonl", "ndjson", "json-seq", "sse", "json"])
def test_tail_prints_items_shaped_like_records_and_takes_the_end_record_as_the_end(
    base_url: str, stream_format: str
) -> None:
    result = run("tail", "--format", stream_format, "--no-reconnect", base_url + "/lookalikes")
    assert result.returncode == 0, result.stderr
    assert [json.loads(line) for line in result.stdout.splitlines()] == [{"end": {"line": 3}}]


def test_tail_raw_prints_the_bytes(base_url: str) -> None:
    result = run("tail", "--raw", "--format", "json-seq", base_url + "/ticks?count=2")
    assert result.stdout == '\x1e{"n":0}\n\x1e{"n":1}\n'


def test_tail_exits_1_on_a_truncated_stream(base_url: str) -> None:
    result = run("tail", base_url + "/broken")
    assert result.returncode == 1
    assert result.stdout.splitlines() == ['{"n":0}']
    assert "linestream: error: The stream was cut after 1 item(s)" in result.stderr
    assert "Traceback" not in result.stderr


def test_tail_exits_3_on_an_error_status(base_url: str) -> None:
    result = run("tail", base_url + "/nowhere")
    assert result.returncode == 3
    assert result.stderr.strip().splitlines()[-1].startswith("linestream: error: 404 Not Found")


def test_tail_of_an_unreachable_server_is_one_line() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = run("tail", f"http://127.0.0.1:{port}/x", "--timeout", "2")
    assert result.returncode == 1
    assert "linestream: error: ConnectError" in result.stderr
    assert "Traceback" not in result.stderr


def _on_a_terminal(*arguments: str) -> bytes:
    """What ``linestream tail`` writes to a terminal that is both its stdout and its stderr."""
    primary, secondary = pty.openpty()
    process = subprocess.Popen(
        [*COMMAND, "tail", *arguments],
        stdout=secondary,
        stderr=secondary,
        cwd=ROOT,
        env={**os.environ, "TERM": "xterm-256color", "COLUMNS": "80"},
    )
    os.close(secondary)
    output = b""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        ready, _, _ = select.select([primary], [], [], 0.5)
        if ready:
            try:
                data = os.read(primary, 65536)
            except OSError:
                break
            if not data:
                break
            output += data
        elif process.poll() is not None:
            break
    os.close(primary)
    assert process.wait(10) == 0
    return output


def test_tail_pretty_mode_on_a_terminal(base_url: str) -> None:
    text = _on_a_terminal(base_url + "/ticks?count=2").decode()
    assert "\x1b[" in text  # coloured
    assert '"n"' in text
    assert "2 item(s)" in text


@pytest.mark.parametrize("mode", ["--plain", "--pretty", "--raw"])
def test_tail_erases_its_status_line_before_each_item_on_a_terminal(base_url: str, mode: str) -> None:
    # The live status is drawn at the first item; what the screen shows afterwards is one item per line and the
    # summary on a line of its own, never an item after the status.
    screen = pyte.Screen(80, 24)
    pyte.ByteStream(screen).feed(_on_a_terminal(mode, base_url + "/ticks?count=3"))
    lines = [line.rstrip() for line in screen.display if line.strip()]
    assert [json.loads(line) for line in lines[:-1]] == [{"n": n} for n in range(3)], lines
    assert re.fullmatch(r"3 item\(s\), [\d,.]+/s, [\d.]+ s", lines[-1]), lines


def test_run_serves_the_demo_prints_urls_and_stops_cleanly() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [*COMMAND, "run", "examples/demo.py", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
    )
    try:
        url = f"http://127.0.0.1:{port}"

        wait_for(lambda: serves(url + "/items/stream"), timeout=20)
        tailed = run("tail", url + "/items/stream")
        assert [json.loads(line) for line in tailed.stdout.splitlines()] == EXPECTED_ITEMS
    finally:
        output = stop(process)
    assert process.returncode == 0
    assert f"Docs:    {url}/docs" in output
    assert f"Watch:   {url}/explorer" in output
    assert f"Stream:  {url}/items/stream" in output
    assert f"Stream:  {url}/story" in output


MEMORY_TOPIC_APP = """
from linestream import LineStream
from linestream.topics import Topic

app = LineStream()
rooms = Topic("rooms", dict)

@app.get("/up")
async def up() -> str:
    return "up"
"""


@pytest.mark.parametrize("workers", [1, 2])
def test_run_warns_that_workers_do_not_share_in_memory_topics(tmp_path: Path, workers: int) -> None:
    (tmp_path / "roomsapp.py").write_text(MEMORY_TOPIC_APP)
    port = free_port()
    process = subprocess.Popen(
        [*COMMAND, "run", str(tmp_path / "roomsapp.py"), "--port", str(port), "--workers", str(workers)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
    )
    try:
        wait_for(lambda: serves(f"http://127.0.0.1:{port}/up"), timeout=30)
    finally:
        output = stop(process)
    warning = (
        "linestream: warning: topic(s) 'rooms' are held in memory, and each of the 2 workers holds its own: "
        "a subscriber gets only what its worker published."
    )
    assert (warning in output) is (workers > 1), output


def test_tail_reports_a_gap_in_a_topic_stream(base_url: str) -> None:
    result = run("tail", "--format", "sse", "--no-reconnect", base_url + "/gap")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"n": 5}
    assert "linestream: warning: The server lost messages of this stream after 1-0, before 5-0." in result.stderr


def test_tail_sse_exits_3_on_an_error_status_too(base_url: str) -> None:
    result = run("tail", "--format", "sse", base_url + "/nowhere")
    assert result.returncode == 3
    assert result.stderr.strip().splitlines()[-1].startswith("linestream: error: 404 Not Found")


@pytest.mark.parametrize("stream_format", ["jsonl", "sse"])
def test_tail_into_a_closed_pipe_exits_quietly(base_url: str, stream_format: str) -> None:
    tail = subprocess.Popen(
        [*COMMAND, "tail", "--format", stream_format, base_url + "/ticks?count=100000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    assert tail.stdout is not None
    first = tail.stdout.readline()  # `| head -1`: read one line, then close the pipe
    tail.stdout.close()
    assert tail.wait(timeout=30) == 0
    assert tail.stderr is not None
    with tail.stderr:
        errors = tail.stderr.read().decode()
    assert json.loads(first) == {"n": 0}
    assert "Error" not in errors
    assert "Traceback" not in errors


APP_SOURCE = """
from collections.abc import AsyncIterable

from linestream import LineStream

app = LineStream()


@app.get("/version")
async def version() -> AsyncIterable[dict[str, str]]:
    yield {"version": "VERSION"}
"""


def serve_command(args: list[str], cwd: Path) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    process = subprocess.Popen(
        [*COMMAND, "run", *args, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=cwd,
    )
    return process, f"http://127.0.0.1:{port}"


def serves(url: str) -> bool:
    """Whether a GET of ``url`` answers 200 (the server is up)."""
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def answer(url: str) -> str | None:
    try:
        response = httpx.get(url + "/version", timeout=2)
    except httpx.HTTPError:
        return None
    return str(response.json()["version"]) if response.status_code == 200 else None


def stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    finally:
        if process.poll() is None:  # pragma: no cover
            process.kill()
            process.wait()
    assert process.stdout is not None
    with process.stdout:
        return process.stdout.read()


@pytest.mark.parametrize("target", ["app:app", "app", "pkg.sub:app"])
def test_run_imports_a_module_target_from_the_current_folder(tmp_path: Path, target: str) -> None:
    (tmp_path / "app.py").write_text(APP_SOURCE.replace("VERSION", "top"))
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "sub.py").write_text(APP_SOURCE.replace("VERSION", "nested"))
    process, url = serve_command([target], tmp_path)
    try:
        wait_for(lambda: answer(url) is not None or process.poll() is not None, timeout=20)
        got = answer(url)
    finally:
        output = stop(process)
    assert got == ("nested" if target.startswith("pkg") else "top"), output


@pytest.mark.slow
def test_run_reload_picks_up_an_edit(tmp_path: Path) -> None:
    source = tmp_path / "app.py"
    source.write_text(APP_SOURCE.replace("VERSION", "first"))
    process, url = serve_command(["app:app", "--reload"], tmp_path)
    try:
        wait_for(lambda: answer(url) == "first", timeout=30)
        source.write_text(APP_SOURCE.replace("VERSION", "second"))
        wait_for(lambda: answer(url) == "second", timeout=30)
    finally:
        stop(process)
