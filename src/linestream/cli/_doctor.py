"""``linestream doctor URL``: watch a deployed stream end to end and say what stands between it and its clients.

One request is watched for ``watch`` seconds (or to its end): when its head, its bytes and its items arrive, how
it ends. From that: is the first item delivered before the stream ends (a buffering proxy, a CDN, a compressor
hold it back), do bytes keep coming while the stream is quiet (keep-alives at their interval), is an idle
connection cut (a proxy's read timeout), which HTTP version and content encoding answered; and, for SSE with
event ids, a second request with ``Last-Event-ID`` checks that the stream resumes after it. Each finding that is
a problem comes with its fix.
"""

from __future__ import annotations

import dataclasses
import itertools
import sys
import threading
import time
from collections.abc import Mapping

import click
import httpx

from linestream.cli._options import FORMAT_NAMES, header_option
from linestream.streams import accept_header, format_for_media_type

__all__ = ["Finding", "Observation", "diagnose", "doctor", "observe"]


@dataclasses.dataclass
class Observation:
    """What one request showed. Times are seconds since the request was sent."""

    status: int
    http_version: str
    headers: Mapping[str, str]
    head_at: float
    #: When each chunk of bytes arrived, and when each complete item did.
    bytes_at: list[float] = dataclasses.field(default_factory=list)
    items_at: list[float] = dataclasses.field(default_factory=list)
    ids: list[str] = dataclasses.field(default_factory=list)
    #: ``"complete"`` (a clean end), ``"cut"`` (the connection ended without one), ``"watching"`` (still open
    #: when the watch ended).
    outcome: str = "watching"
    ended_at: float = 0.0

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    @property
    def idle_before_end(self) -> float:
        """Seconds without a byte before the stream ended (or the watch did)."""
        last = self.bytes_at[-1] if self.bytes_at else self.head_at
        return self.ended_at - last

    def longest_silence(self) -> float:
        """The longest time without a byte, from the head to the end of the stream or of the watch."""
        moments = [self.head_at, *self.bytes_at, self.ended_at]
        return max((later - earlier for earlier, later in itertools.pairwise(moments)), default=0.0)


@dataclasses.dataclass(frozen=True)
class Finding:
    """One line of the diagnosis: ``ok`` or a problem with its ``fix``."""

    ok: bool
    text: str
    fix: str | None = None


def observe(
    client: httpx.Client,
    url: str,
    *,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    stream_format: str | None = "sse",
    watch: float = 20.0,
    last_event_id: str | None = None,
    items_wanted: int | None = None,
) -> Observation:
    """Send one request and watch its response for ``watch`` seconds at most (``items_wanted`` items: less)."""
    request_headers = {"accept": accept_header(stream_format), **(headers or {})}
    if last_event_id is not None:
        request_headers["last-event-id"] = last_event_id
    started = time.monotonic()
    with client.stream(method, url, headers=request_headers) as response:
        seen = Observation(
            response.status_code, response.http_version, dict(response.headers), time.monotonic() - started
        )
        if not response.is_success:
            response.read()
            seen.outcome, seen.ended_at = "complete", time.monotonic() - started
            return seen
        stream_format_found = format_for_media_type(seen.content_type)
        reader = None if stream_format_found is None else stream_format_found.reader(records=("error", "end", "gap"))
        watched = threading.Event()

        def end_the_watch() -> None:
            watched.set()
            response.close()

        timer = threading.Timer(max(watch - seen.head_at, 0.0), end_the_watch)
        timer.daemon = True
        timer.start()
        try:
            for chunk in response.iter_bytes():
                now = time.monotonic() - started
                seen.bytes_at.append(now)
                for frame in reader.feed(chunk) if reader is not None else ():
                    if frame.record is None:
                        seen.items_at.append(now)
                        if frame.id is not None:
                            seen.ids.append(frame.id)
                if items_wanted is not None and len(seen.items_at) >= items_wanted:
                    break
            else:
                seen.outcome = "complete"
        except (httpx.HTTPError, RuntimeError):
            # The watch closed the response (RuntimeError: httpx's "stream closed"), or the connection broke.
            seen.outcome = "watching" if watched.is_set() else "cut"
        finally:
            timer.cancel()
        seen.ended_at = time.monotonic() - started
    return seen


_BUFFERING_FIX = (
    "a proxy buffers the stream. nginx: `proxy_buffering off;` for this location, or let it honour the "
    "`X-Accel-Buffering: no` that linestream sends (remove it from `proxy_ignore_headers`); a CDN: bypass its "
    "cache for this path; a compressor: exclude this media type, or flush it per message"
)


def diagnose(seen: Observation, resumed: Observation | None = None, *, keepalive: float | None = None) -> list[Finding]:
    """The findings of one observation (and of a resume with ``Last-Event-ID``); ``keepalive``: the interval at
    which keep-alives are expected (``None``: not checked)."""
    encoding = seen.headers.get("content-encoding")
    findings = [
        Finding(
            200 <= seen.status < 300,
            f"HTTP/{seen.http_version.removeprefix('HTTP/')} {seen.status}, {seen.content_type or 'no content type'}, "
            + (f"content encoding {encoding}" if encoding else "no content encoding"),
            None if 200 <= seen.status < 300 else "the stream answers with an error status: see its body",
        )
    ]
    if not 200 <= seen.status < 300:
        return findings
    if format_for_media_type(seen.content_type) is None:
        findings.append(Finding(False, "not a stream format linestream reads", "ask for one with --format"))
    findings.append(_delivery(seen, encoding))
    if keepalive is not None:
        findings.append(_keepalives(seen, keepalive))
    if seen.outcome == "cut" and seen.idle_before_end >= 0.5:
        findings.append(
            Finding(
                False,
                f"the connection was cut after {seen.idle_before_end:.1f} s without a byte",
                "an idle timeout between (nginx `proxy_read_timeout`, 60 s by default; a load balancer's idle "
                "timeout): keep-alives shorter than it (`sse_keepalive=`, `jsonl_keepalive=`) keep it open",
            )
        )
    elif seen.outcome == "cut":
        findings.append(Finding(False, "the stream was cut (no clean end)", "see the server's log for this request"))
    if resumed is not None:
        findings.append(_resume(seen, resumed))
    return findings


def _delivery(seen: Observation, encoding: str | None) -> Finding:
    count = len(seen.items_at)
    if count == 0:
        state = "ended" if seen.outcome != "watching" else "still open"
        return Finding(True, f"no item within {seen.ended_at:.1f} s (the stream {state}): nothing to judge by")
    first = seen.items_at[0]
    span = seen.ended_at
    held = seen.outcome != "watching" and count > 1 and span >= 0.5 and first >= 0.8 * span
    if held:
        fix = _BUFFERING_FIX if not encoding else f"the stream is compressed ({encoding}): " + _BUFFERING_FIX
        return Finding(
            False, f"the items arrived only as the stream ended: the first after {first:.2f} s of {span:.2f} s", fix
        )
    return Finding(True, f"first item after {first:.2f} s; {count} items over {span:.2f} s, as they were sent")


def _keepalives(seen: Observation, interval: float) -> Finding:
    silence = seen.longest_silence()
    if silence > 2 * interval:
        return Finding(
            False,
            f"{silence:.1f} s without a byte, where keep-alives were expected every {interval:g} s",
            "keep-alives are off (`sse_keepalive=None`), or something between holds them back (a buffering proxy)",
        )
    return Finding(
        True, f"bytes kept coming: the longest silence was {silence:.1f} s (keep-alives every {interval:g} s)"
    )


def _resume(seen: Observation, resumed: Observation) -> Finding:
    after = seen.ids[0]
    if resumed.status >= 300:
        return Finding(False, f"a reconnection with Last-Event-ID: {after} was answered {resumed.status}", None)
    if not resumed.ids:
        return Finding(True, f"a reconnection with Last-Event-ID: {after} was answered, with no event yet")
    if resumed.ids[0] == after:
        return Finding(
            False,
            f"a reconnection with Last-Event-ID: {after} sent that event again",
            "the stream ignores Last-Event-ID: read it (a Header parameter) and resume after it",
        )
    expected = seen.ids[1] if len(seen.ids) > 1 else None
    if expected is not None and resumed.ids[0] != expected:
        return Finding(
            False,
            f"a reconnection with Last-Event-ID: {after} went on at {resumed.ids[0]}, not at {expected}",
            "events were skipped or replayed: resume right after the id given",
        )
    return Finding(True, f"a reconnection with Last-Event-ID: {after} resumed right after it ({resumed.ids[0]})")


@click.command()
@click.argument("url")
@click.option(
    "--format", "stream_format", type=click.Choice(FORMAT_NAMES), default="sse", show_default=True,
    help="Ask the server for this format.",
)  # fmt: skip
@click.option("-X", "--method", default="GET", show_default=True, help="The request's method.")
@click.option("-H", "--header", "headers", multiple=True, metavar="NAME:VALUE", help="Extra request header.")
@click.option("--watch", default=20.0, show_default=True, type=float, help="Seconds to watch the stream at most.")
@click.option(
    "--keepalive",
    type=float,
    default=None,
    help="The keep-alive interval to expect, in seconds (default: 15 for SSE; other formats: not checked).",
)
def doctor(
    url: str, stream_format: str, method: str, headers: tuple[str, ...], watch: float, keepalive: float | None
) -> None:
    """Check the stream at URL end to end (through whatever proxies stand in front of it), and say how to fix
    what stands between it and its clients: buffering, missing keep-alives, idle cuts, compression, resuming.

    Give it a stream that sends a few items over a few seconds and then stays quiet longer than its keep-alive
    interval: the exit status is 1 if a problem was found, 0 if none.
    """
    request_headers = dict(header_option(value) for value in headers)
    with httpx.Client(timeout=httpx.Timeout(10.0, read=None)) as client:
        try:
            seen = observe(
                client, url, method=method, headers=request_headers, stream_format=stream_format, watch=watch
            )
            resumed = None
            if seen.ids and seen.content_type.startswith("text/event-stream"):
                resumed = observe(
                    client, url, method=method, headers=request_headers, stream_format=stream_format,
                    watch=min(watch, 10.0), last_event_id=seen.ids[0], items_wanted=1,
                )  # fmt: skip
        except httpx.HTTPError as exc:
            raise click.ClickException(f"{type(exc).__name__}: {exc}") from None
    if keepalive is None and seen.content_type.startswith("text/event-stream"):
        keepalive = 15.0
    click.echo(f"linestream doctor {url} (watched {seen.ended_at:.1f} s)")
    findings = diagnose(seen, resumed, keepalive=keepalive)
    for finding in findings:
        click.echo(f"  {'ok ' if finding.ok else 'FIX'} {finding.text}")
        if finding.fix:
            click.echo(f"      {finding.fix}")
    sys.exit(0 if all(finding.ok for finding in findings) else 1)
