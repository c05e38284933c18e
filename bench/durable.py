"""Durable path operations against plain streams, over uvicorn on loopback, in one run.

The same generator of N small Pydantic items is served by a plain streaming route and by a durable one
(``durable=DurableStreams(backend)``), on the in-memory and the Redis backends; a client reads each answer to
its end with httpx. Reported: items per second as the client receives them (the durable answer's items go
through the job, the backend and the log reader first), Redis commands per item (``INFO commandstats`` before
and after: appends are batched while one is in flight, so this falls as the generator outruns Redis), and the
server's RSS per running durable job (``--jobs`` jobs started and left running).

``--smoke``: tiny sizes, once. A redis-server (Debian package) is started on a free loopback port for the Redis
rows and stopped at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import redis

ROOT = Path(__file__).resolve().parent.parent
APP = """
import os
from collections.abc import AsyncIterable
import anyio
from pydantic import BaseModel
from linestream import LineStream
from linestream.durable import DurableStreams, MemoryBackend, RedisBackend

class Item(BaseModel):
    id: int
    name: str
    price: float

url = os.environ.get("REDIS_URL")
streams = DurableStreams(RedisBackend(url) if url else MemoryBackend(max_streams=1_000_000))
app = LineStream()
app.include_router(streams, prefix="/v1/stream")

async def items(n: int, delay: float) -> AsyncIterable[Item]:
    for index in range(n):
        if delay and index:
            await anyio.sleep(delay)
        yield Item(id=index, name="widget", price=9.5)

@app.get("/plain")
async def plain(n: int = 1000, delay: float = 0.0) -> AsyncIterable[Item]:
    async for item in items(n, delay):
        yield item

@app.get("/durable", durable=streams)
async def durable(n: int = 1000, delay: float = 0.0) -> AsyncIterable[Item]:
    async for item in items(n, delay):
        yield item
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def server(directory: Path, env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "durable_bench_app:app", "--port", str(port), "--log-level", "warning"]
    process = subprocess.Popen(command, cwd=directory, env={**os.environ, **env, "PYTHONPATH": str(ROOT / "src")})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(f"{url}/plain", params={"n": 1})
                break
            time.sleep(0.05)
        yield url, process
    finally:
        process.terminate()
        process.wait(10)


def rate(url: str, path: str, n: int, reps: int) -> float:
    best = 0.0
    with httpx.Client(timeout=60) as client:
        for _ in range(reps):
            started = time.perf_counter()
            with client.stream("GET", f"{url}{path}", params={"n": n}) as response:
                count = sum(1 for _ in response.iter_lines())
            assert count == n, (path, count)
            best = max(best, n / (time.perf_counter() - started))
    return best


def rss(process: subprocess.Popen[bytes]) -> int:
    for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def per_job(url: str, process: subprocess.Popen[bytes], jobs: int) -> float:
    with httpx.Client(timeout=60) as client:
        for _ in range(20):
            with client.stream("GET", f"{url}/durable", params={"n": 2}):
                pass
        before = rss(process)
        for _ in range(jobs):
            with client.stream("GET", f"{url}/durable", params={"n": 10_000, "delay": 1.0}):
                pass
        return (rss(process) - before) / jobs


def commands(client: redis.Redis) -> int:
    stats = client.info("commandstats")
    return sum(int(value["calls"]) for key, value in stats.items() if key != "cmdstat_info")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("-n", type=int, default=20_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=1000)
    args = parser.parse_args()
    n, reps, jobs = (200, 1, 20) if args.smoke else (args.n, args.reps, args.jobs)
    results: dict[str, object] = {"items": n, "reps": reps, "jobs": jobs}
    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder)
        (directory / "durable_bench_app.py").write_text(APP)
        with server(directory, {}) as (url, process):
            results["memory"] = {
                "plain items/s": rate(url, "/plain", n, reps),
                "durable items/s": rate(url, "/durable", n, reps),
                "RSS per running job (bytes)": per_job(url, process, jobs),
            }
        binary = shutil.which("redis-server")
        if binary is None:
            print("redis-server is not installed: the Redis rows are skipped", file=sys.stderr)
        else:
            port = free_port()
            redis_process = subprocess.Popen(
                [binary, "--port", str(port), "--save", "", "--appendonly", "no", "--dir", folder],
                stdout=subprocess.DEVNULL,
            )
            try:
                client = redis.Redis(port=port)
                for _ in range(200):
                    with contextlib.suppress(redis.ConnectionError):
                        client.ping()
                        break
                    time.sleep(0.02)
                with server(directory, {"REDIS_URL": f"redis://127.0.0.1:{port}/0"}) as (url, process):
                    before = commands(client)
                    durable_rate = rate(url, "/durable", n, reps)
                    spent = commands(client) - before
                    results["redis"] = {
                        "plain items/s": rate(url, "/plain", n, reps),
                        "durable items/s": durable_rate,
                        "Redis commands per item": spent / (n * reps),
                    }
            finally:
                redis_process.terminate()
                redis_process.wait(10)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
