"""The ``linestream`` command: run an app, print its OpenAPI document, generate a client, tail a stream, or check
a deployed one (``doctor``, in ``_doctor.py``)."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import time
from typing import Any, NoReturn

import click
import httpx

from linestream.cli._doctor import doctor
from linestream.cli._load import import_string, load_app
from linestream.cli._options import FORMAT_NAMES, header_option

__all__ = ["main"]


class _Fail(click.ClickException):
    """An error shown as one line; exit status 1 (the stream failed)."""

    exit_code = 1

    def show(self, file: Any = None) -> None:
        click.echo(f"linestream: error: {self.format_message()}", err=True)


class _HTTPFail(_Fail):
    """The server answered with an error status: exit status 3."""

    exit_code = 3


class _UsageFail(_Fail):
    """The command was given something it cannot use: exit status 2."""

    exit_code = 2


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="linestream")
def cli() -> None:
    """Run, inspect and watch streaming HTTP APIs built with linestream."""


@cli.command()
@click.argument("target")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option("--reload", is_flag=True, help="Restart when source files change (development).")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1), help="Worker processes.")
@click.option(
    "--app-dir",
    default=".",
    show_default=True,
    help="Folder put first on the import path, to import a package.module TARGET from.",
)
@click.option("--root-path", default="", help="The path prefix a proxy serves the app under (ASGI root_path).")
@click.option(
    "--proxy-headers/--no-proxy-headers",
    default=True,
    show_default=True,
    help="Trust X-Forwarded-For/-Proto from --forwarded-allow-ips (the client's address behind a proxy).",
)
@click.option(
    "--forwarded-allow-ips",
    default=None,
    help="Proxies whose X-Forwarded-* headers are trusted (default: uvicorn's, 127.0.0.1).",
)
@click.option(
    "--graceful-timeout",
    default=5,
    show_default=True,
    type=click.IntRange(min=0),
    help="Seconds open connections get to finish when the server is stopped.",
)
def run(
    target: str,
    host: str,
    port: int,
    reload: bool,
    workers: int,
    app_dir: str,
    root_path: str,
    proxy_headers: bool,
    forwarded_allow_ips: str | None,
    graceful_timeout: int,
) -> None:
    """Serve TARGET (package.module[:app] from the current folder, or path/to/app.py[:app]) with uvicorn."""
    import uvicorn

    app = load_app(target, app_dir)
    spec, folder = import_string(target, app_dir)
    base = f"http://{host}:{port}{root_path}"
    click.echo(f"Serving {spec} on {base}")
    docs = getattr(app, "docs_url", None)
    if docs:
        click.echo(f"  Docs:    {base}{docs}")
    explorer = getattr(app, "explorer_url", None)
    if explorer and getattr(app, "openapi_url", None):
        click.echo(f"  Watch:   {base}{explorer}")
    for path in _stream_paths(app):
        click.echo(f"  Stream:  {base}{path}")
    if workers > 1:
        _warn_of_memory_topics(workers)
    # uvicorn re-raises the signal that stopped it; a handler of ours receives it, so a graceful stop exits 0.
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    uvicorn.run(
        spec,
        host=host,
        port=port,
        reload=reload,
        reload_dirs=[str(folder)] if reload else None,
        workers=workers,
        app_dir=str(folder),
        root_path=root_path,
        proxy_headers=proxy_headers,
        forwarded_allow_ips=forwarded_allow_ips,
        timeout_graceful_shutdown=graceful_timeout,
        log_level="info",
    )


def _warn_of_memory_topics(workers: int) -> None:
    """Each worker holds in-memory topics apart: a subscriber would see only what its own worker published."""
    from linestream.topics import memory_topics

    names = sorted(memory_topics())
    if names:
        shown = ", ".join(repr(name) for name in names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        click.echo(
            f"linestream: warning: topic(s) {shown} are held in memory, and each of the {workers} workers holds its "
            "own: a subscriber gets only what its worker published. Give them a shared backend "
            "(Topic(..., backend=RedisBackend(url)), started by LineStream(topic_backend=...)), or run one worker.",
            err=True,
        )


def _stream_paths(app: Any) -> list[str]:
    """The paths a browser or ``curl`` can open: the app's ``GET`` streams."""
    from linestream import APIRoute

    routes = getattr(app, "routes", [])
    return [
        route.path
        for route in routes
        if isinstance(route, APIRoute) and route.is_stream and "GET" in (route.methods or ())
    ]


@cli.command()
@click.argument("target")
@click.option("--version", "version", type=click.Choice(["3.1", "3.2"]), help="OpenAPI version (default: the app's).")
@click.option("--app-dir", default=".", show_default=True, help="Folder to import a package.module TARGET from.")
def openapi(target: str, version: str | None, app_dir: str) -> None:
    """Print the OpenAPI document of TARGET (package.module[:app] or path/to/app.py[:app])."""
    from linestream import LineStream
    from linestream.openapi import build_openapi

    app = load_app(target, app_dir)
    if not isinstance(app, LineStream):
        raise _UsageFail(f"{target} is not a linestream app (a LineStream)")
    document = app.openapi() if version is None else build_openapi(app, version=f"{version}.0")
    click.echo(json.dumps(document, indent=2, ensure_ascii=False))


@cli.group()
def codegen() -> None:
    """Generate a typed client from an app's OpenAPI document."""


@codegen.command("typescript")
@click.argument("source")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="Folder to write client.ts in.")
@click.option("--runtime", default="@linestream/client", show_default=True, help="The runtime package to import.")
@click.option("--app-dir", default=".", show_default=True, help="Folder to import a package.module SOURCE from.")
def codegen_typescript(source: str, out: str, runtime: str, app_dir: str) -> None:
    """Write OUT/client.ts, a typed TypeScript client of SOURCE: an app (package.module[:app] or
    path/to/app.py[:app]), the URL of an OpenAPI document, or a JSON file of one."""
    from pathlib import Path

    from linestream.openapi import typescript_client

    document = _document(source, app_dir)
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "client.ts"
    target.write_text(typescript_client(document, runtime=runtime), encoding="utf-8")
    click.echo(f"Wrote {target}", err=True)


def _document(source: str, app_dir: str) -> dict[str, Any]:
    """The OpenAPI document of ``source``: a URL, a .json file, or an app target."""
    if source.startswith(("http://", "https://")):
        try:
            response = httpx.get(source, follow_redirects=True, timeout=30)
            response.raise_for_status()
            document = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise _Fail(f"cannot read the OpenAPI document at {source}: {exc}") from exc
    elif source.endswith(".json"):
        try:
            with open(source, encoding="utf-8") as file:
                document = json.load(file)
        except (OSError, ValueError) as exc:
            raise _UsageFail(f"cannot read the OpenAPI document {source}: {exc}") from exc
    else:
        from linestream import LineStream

        app = load_app(source, app_dir)
        if not isinstance(app, LineStream):
            raise _UsageFail(f"{source} is not a linestream app (a LineStream)")
        document = app.openapi()
    if not isinstance(document, dict) or "paths" not in document:
        raise _UsageFail(f"{source} is not an OpenAPI document (no 'paths')")
    return document


@cli.command()
@click.argument("url")
@click.option("--format", "stream_format", type=click.Choice(FORMAT_NAMES), help="Ask the server for this format.")
@click.option("--raw", is_flag=True, help="Print the bytes as received, without decoding.")
@click.option("-H", "--header", "headers", multiple=True, metavar="NAME:VALUE", help="Extra request header.")
@click.option("--pretty/--plain", default=None, help="Colourful output (default: when stdout is a terminal).")
@click.option("--reconnect/--no-reconnect", default=True, show_default=True, help="Reconnect SSE streams.")
@click.option("--timeout", default=30.0, show_default=True, type=float, help="Connect/read timeout in seconds.")
def tail(
    url: str,
    stream_format: str | None,
    raw: bool,
    headers: tuple[str, ...],
    pretty: bool | None,
    reconnect: bool,
    timeout: float,
) -> None:
    """Follow the stream at URL and print each item as it arrives.

    Items are printed as JSON Lines when the output is piped, pretty and coloured on a terminal; a live count
    and rate go to stderr. The exit status is 1 if the stream was cut or ended with an error record, 3 for an
    HTTP error status.
    """
    from linestream.client import Client, HTTPStatusError, RetryPolicy, StreamError, StreamTruncated
    from linestream.exceptions import StreamDecodeError

    request_headers = dict(header_option(value) for value in headers)
    progress = _Progress(sys.stderr.isatty())
    # What the client warns of (an SSE stream that lost messages) goes to stderr, beside the items, on a line
    # of its own.
    warnings = logging.StreamHandler(sys.stderr)
    warnings.setFormatter(logging.Formatter("linestream: warning: %(message)s"))
    warnings.addFilter(progress.clear)
    logging.getLogger("linestream.client").addHandler(warnings)
    if pretty is None:
        pretty = sys.stdout.isatty()
    printer = _Printer(pretty, progress)
    retry = RetryPolicy() if reconnect else RetryPolicy(max_attempts=0)
    try:
        with Client(timeout=timeout, retry=retry) as client:
            if stream_format == "sse" and not raw:
                for event in client.events(url, headers=request_headers):
                    printer.show(event.data, event.event, event.id)
                    progress.tick()
            else:
                _tail_once(client.http, url, stream_format, request_headers, raw, printer, progress)
    except BrokenPipeError:
        # The reader went away (`linestream tail URL | head -1`): a normal end for a filter, as for `cat`.
        _quiet_stdout()
        sys.exit(0)
    except HTTPStatusError as exc:
        progress.done()
        raise _HTTPFail(str(exc)) from None
    except (StreamTruncated, StreamError) as exc:
        progress.done()
        raise _Fail(str(exc)) from None
    except (StreamDecodeError, httpx.HTTPError, OSError) as exc:
        progress.done()
        raise _Fail(f"{type(exc).__name__}: {exc}") from None
    except KeyboardInterrupt:
        progress.done()
        sys.exit(130)
    progress.done()


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so that flushing it at exit does not fail again on the closed pipe."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _tail_once(
    http: httpx.Client,
    url: str,
    stream_format: str | None,
    headers: dict[str, str],
    raw: bool,
    printer: _Printer,
    progress: _Progress,
) -> None:
    """One request: decoded items when the response is a stream format (and not ``raw``), else its bytes."""
    from linestream.client import HTTPStatusError, StreamReader
    from linestream.streams import accept_header, format_for_media_type

    headers.setdefault("accept", accept_header(stream_format))
    with http.stream("GET", url, headers=headers) as response:
        if not response.is_success:
            raise _HTTPFail(str(HTTPStatusError(response, response.read())))
        content_type = response.headers.get("content-type", "")
        reader = (
            None if raw or format_for_media_type(content_type) is None else StreamReader.for_response(response.headers)
        )
        try:
            for chunk in response.iter_raw() if reader is None else response.iter_bytes():
                if reader is None:
                    progress.clear()
                    sys.stdout.buffer.write(chunk)
                    sys.stdout.buffer.flush()
                    progress.tick(chunk.count(b"\n"))
                    continue
                for event in reader.read(chunk):
                    printer.show(event.data, event.event, event.id)
                    progress.tick()
        except httpx.RemoteProtocolError as exc:
            if reader is not None:
                raise reader.truncated(exc) from exc
            raise _Fail(f"the stream was cut: {exc}") from None
        if reader is not None:
            for event in reader.finish():
                printer.show(event.data, event.event, event.id)
                progress.tick()


class _Printer:
    def __init__(self, pretty: bool, progress: _Progress) -> None:
        self.pretty = pretty
        self.progress = progress
        if pretty:
            from rich.console import Console

            self.console = Console(highlight=True, soft_wrap=True)

    def show(self, value: Any, event: str | None, event_id: str | None) -> None:
        self.progress.clear()
        if not self.pretty:
            sys.stdout.write(json.dumps(value, ensure_ascii=False, separators=(",", ":")) + "\n")
            sys.stdout.flush()
            return
        from rich.json import JSON

        label = " ".join(
            part for part in (f"event={event}" if event else "", f"id={event_id}" if event_id else "") if part
        )
        if label:
            self.console.print(f"[dim]{label}[/dim]")
        self.console.print(JSON.from_data(value, indent=None))


class _Progress:
    """A live count and rate on stderr (on a terminal), and a summary line at the end.

    The live line is erased before anything else is printed (``clear``), so that an item never follows it on
    the same line when stdout and stderr share the terminal; it is drawn again at the next tick.
    """

    _ERASE = "\r\x1b[K"  # back to column 0, erase to the end of the line

    def __init__(self, live: bool) -> None:
        self.live = live
        self.count = 0
        self.started = time.monotonic()
        self.shown = 0.0
        self.showing = False

    def clear(self, record: object = None) -> bool:
        """Erase the live line if it is shown (also a logging filter that lets every record through)."""
        if self.showing:
            sys.stderr.write(self._ERASE)
            sys.stderr.flush()
            self.showing = False
        return True

    def tick(self, items: int = 1) -> None:
        self.count += items
        now = time.monotonic()
        if self.live and now - self.shown > 0.2:
            self.shown = now
            sys.stderr.write(f"{self._ERASE}{self._status(now)}")
            sys.stderr.flush()
            self.showing = True

    def _status(self, now: float) -> str:
        elapsed = max(now - self.started, 1e-9)
        return f"{self.count} item(s), {self.count / elapsed:,.1f}/s, {elapsed:.1f} s"

    def done(self) -> None:
        self.clear()
        sys.stderr.write(f"{self._status(time.monotonic())}\n")
        sys.stderr.flush()


cli.add_command(doctor)


def main(argv: list[str] | None = None) -> NoReturn:
    """The console script's entry point."""
    try:
        cli.main(args=argv, prog_name="linestream", standalone_mode=True)
    except SystemExit as exit:
        raise exit
    sys.exit(0)
