"""What hostile input costs a linestream server: peak RSS growth, the longest wait of other requests, the answer.

Each attack is sent to one uvicorn worker (httptools, uvloop) serving ``tests/apps/hostile_app.py`` in a
subprocess, while a second client asks ``/quick`` every 10 ms and records the slowest answer (a stalled event
loop shows there). Results go to bench/results/hostile.md (``--smoke``: smaller attacks, hostile-smoke.md).

    bench/.venv/bin/python bench/hostile.py [--smoke] [--app module:app] [--pythonpath DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gzip
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


class Server:
    def __init__(self, target: str, pythonpath: str | None) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        env = {**os.environ, "MALLOC_ARENA_MAX": "2"}
        if pythonpath:
            env["PYTHONPATH"] = pythonpath
        command = [
            "prlimit", f"--as={4 * 1024**3}", "--", sys.executable, "-m", "uvicorn", target, "--host", "127.0.0.1",
            "--port", str(self.port), "--log-level", "critical", "--http", "httptools", "--loop", "uvloop",
        ]  # fmt: skip
        self.process = subprocess.Popen(command, cwd=ROOT, env=env)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(self.url + "/quick", timeout=1).raise_for_status()
                break
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.05)

    def status(self, field: str) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
        return 0

    def reset_peak(self) -> int:
        Path(f"/proc/{self.process.pid}/clear_refs").write_text("5")
        return self.status("VmRSS")

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(10)


@contextlib.contextmanager
def watch_latency(url: str) -> Iterator[list[float]]:
    worst: list[float] = [0.0]
    stop = threading.Event()

    def run() -> None:
        with httpx.Client(timeout=120) as client:
            while not stop.is_set():
                started = time.perf_counter()
                with contextlib.suppress(httpx.HTTPError):
                    client.get(url + "/quick")
                worst[0] = max(worst[0], time.perf_counter() - started)
                stop.wait(0.01)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield worst
    finally:
        stop.set()
        thread.join(150)


def gzip_of(block: bytes, total: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    repeated = block * max(1, (1024 * 1024) // len(block))
    parts = [compressor.compress(repeated[: total - done]) for done in range(0, total, len(repeated))]
    return b"".join(parts) + compressor.flush()


def varied_items(count: int) -> bytes:
    rng = random.Random(7)
    return b"".join(
        json.dumps({"name": f"{rng.getrandbits(40):x}", "tags": [rng.randrange(1000) for _ in range(3)]}).encode()
        + b"\n"
        for _ in range(count)
    )


Attack = Callable[[str], httpx.Response]


def post(path: str, body: bytes, **headers: str) -> Attack:
    return lambda url: httpx.post(url + path, content=body, headers=headers, timeout=300)


def get(path: str, **headers: str) -> Attack:
    return lambda url: httpx.get(url + path, headers=headers, timeout=300)


def distinct_accepts(count: int) -> Attack:
    def attack(url: str) -> httpx.Response:
        with httpx.Client(timeout=60) as client:
            response: httpx.Response | None = None
            for index in range(count):
                ranges = (f"application/x-{index}-{part}-{'a' * 80};q=0.5" for part in range(36))
                response = client.get(url + "/stream", headers={"accept": ",".join(ranges) + ",*/*"})
            assert response is not None
            return response

    return attack


def attacks(scale: float) -> list[tuple[str, Attack]]:
    gz = {"content-type": "application/jsonl", "content-encoding": "gzip"}
    decoded = int(256 * 1024**2 * scale)
    items = int(1_000_000 * scale)
    rng = random.Random(3)
    numbers = b"[" + b",".join(b"%d" % rng.randrange(1000) for _ in range(items)) + b"]"
    return [
        (f"gzip of {decoded >> 20} MiB of newlines", post("/count", gzip_of(b"\n", decoded), **gz)),
        (
            f"gzip of {decoded >> 20} MiB of CRLFs, to a def endpoint",
            post("/count-sync", gzip_of(b"\r\n", decoded), **gz),
        ),
        (f"gzip of one {decoded >> 20} MiB line", post("/count", gzip_of(b"a", decoded), **gz)),
        (
            f"gzip of {decoded >> 20} MiB of json-seq separators",
            post("/count-numbers", gzip_of(b"\x1e", decoded), **{**gz, "content-type": "application/json-seq"}),
        ),
        (
            f"gzip of {items:,} varied valid items (legitimate)",
            post("/count", gzip.compress(varied_items(items)), **gz),
        ),
        (
            f"gzip of a JSON array of {items:,} numbers (legitimate)",
            post("/count-numbers", gzip.compress(numbers), **{**gz, "content-type": "application/json"}),
        ),
        (
            "one JSON Lines item with 15,000 invalid elements",
            post(
                "/count",
                json.dumps({"name": "x", "tags": ["bad"] * 15_000}).encode() + b"\n",
                **{"content-type": "application/jsonl"},
            ),
        ),
        (
            "a 4 MiB plain JSON body with 150,000 invalid values",
            post(
                "/plain",
                json.dumps([{"name": index} for index in range(150_000)]).encode(),
                **{"content-type": "application/json"},
            ),
        ),
        ("a 1 MB Accept header", get("/stream", accept="a/b," * 250_000)),
        ("2,000 distinct 3.8 KB Accept headers", distinct_accepts(int(2000 * max(scale, 0.1)))),
        ("a 50 KB Last-Event-ID", get("/live", **{"last-event-id": "x" * 50_000})),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--app", default="tests.apps.hostile_app:app")
    parser.add_argument("--pythonpath", default=None, help="run the server with this PYTHONPATH (another tree)")
    options = parser.parse_args()
    scale = 0.05 if options.smoke else 1.0
    rows: list[dict[str, Any]] = []
    server = Server(options.app, options.pythonpath)
    try:
        for name, attack in attacks(scale):
            print(f"  {name}...", flush=True)
            if server.process.poll() is not None:
                server = Server(options.app, options.pythonpath)
            before = server.reset_peak()
            started = time.perf_counter()
            with watch_latency(server.url) as worst:
                try:
                    response = attack(server.url)
                    answer = f"{response.status_code}, {len(response.content):,} B"
                except httpx.HTTPError as exc:
                    answer = f"{type(exc).__name__}"
            seconds = time.perf_counter() - started
            alive = server.process.poll() is None
            growth = (server.status("VmHWM") - before) / 2**20 if alive else float("nan")
            rows.append(
                {
                    "attack": name,
                    "answer": answer if alive else answer + " (server died)",
                    "seconds": seconds,
                    "rss_mib": growth,
                    "worst_ms": worst[0] * 1000,
                }
            )
    finally:
        server.close()
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"# Hostile input: what each attack costs the server ({stamp})",
        "",
        f"One uvicorn worker (httptools, uvloop), Python {sys.version.split()[0]}, {os.cpu_count()} cores; "
        f"{'smoke sizes' if options.smoke else 'full sizes'}. Peak RSS growth while the attack is handled; the "
        "slowest answer to `/quick`, asked every 10 ms meanwhile (the longest the event loop was held).",
        "",
        "| attack | answer | time, s | peak RSS growth, MiB | slowest other request, ms |",
        "|---|---|---:|---:|---:|",
        *(
            f"| {r['attack']} | {r['answer']} | {r['seconds']:.2f} | {r['rss_mib']:.1f} | {r['worst_ms']:.0f} |"
            for r in rows
        ),
    ]
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / ("hostile-smoke.md" if options.smoke else "hostile.md")
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
