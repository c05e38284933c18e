"""What subscribers that never read cost a server: SSE subscribers of a topic whose clients stop reading after
the response head (a small receive buffer, never read), while messages are published.

Measures, over uvicorn (one worker, httptools) in its own process: the server's RSS growth per stuck
subscriber, how long the publishes take (and the worst single one) beside the same publishes with no
subscriber, and the latency of a cheap request asked every 20 ms while they run and for 3 s after. Run with
``--smoke`` for tiny sizes; ``--subscribers N --messages M`` (defaults: 2000 and 50,000, as in issue 29.11).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def stuck_subscriber(port: int) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.sendall(b"GET /live HTTP/1.1\r\nHost: b\r\nAccept: text/event-stream\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 200"), head
    return sock  # never read again


def run(subscribers: int, messages: int, source: Path) -> dict[str, Any]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": f"{source}:{ROOT}"}
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bench.apps.subscribers_app:app", "--port", str(port), "--log-level",
         "warning", "--http", "httptools", "--backlog", "4096", "--timeout-graceful-shutdown", "1"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, timeout=600) as client:
            for _ in range(200):
                try:
                    client.get("/quick")
                    break
                except httpx.TransportError:
                    time.sleep(0.05)
            alone = client.post("/publish", params={"n": messages}).json()
            base = rss(server.pid)
            socks = [stuck_subscriber(port) for _ in range(subscribers)]
            while client.get("/subscribers").json()["subscribers"] < subscribers:
                time.sleep(0.05)
            connected = rss(server.pid)
            quick: list[float] = []
            stop = threading.Event()

            def ask() -> None:
                with httpx.Client(base_url=url, timeout=60) as other:
                    while not stop.is_set():
                        began = time.perf_counter()
                        other.get("/quick")
                        quick.append(time.perf_counter() - began)
                        stop.wait(0.02)

            asker = threading.Thread(target=ask, daemon=True)
            asker.start()
            stuck = client.post("/publish", params={"n": messages}).json()
            time.sleep(3)  # the subscribers' streams take what they can after the publishes
            stop.set()
            asker.join(60)
            after = rss(server.pid)
            for sock in socks:
                sock.close()
    finally:
        server.terminate()
        server.wait(20)
    return {
        "subscribers": subscribers,
        "messages": messages,
        "publish_alone_s": alone["seconds"],
        "publish_with_stuck_s": stuck["seconds"],
        "worst_publish_ms": stuck["worst_ms"],
        "kib_per_stuck_subscriber": (after - base) / subscribers / 1024,
        "kib_per_connected_subscriber": (connected - base) / subscribers / 1024,
        "quick_median_ms": statistics.median(quick) * 1000 if quick else None,
        "quick_worst_ms": max(quick) * 1000 if quick else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, to prove the benchmark runs")
    parser.add_argument("--subscribers", type=int, default=2000)
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--source", type=Path, default=ROOT / "src", help="the linestream source tree to run")
    args = parser.parse_args()
    subscribers, messages = (20, 200) if args.smoke else (args.subscribers, args.messages)
    print(json.dumps(run(subscribers, messages, args.source), indent=2))


if __name__ == "__main__":
    main()
