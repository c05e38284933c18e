"""LLM protocols: what rendering an answer's parts in each protocol costs, over uvicorn on loopback, in one run.

The same answer of N text parts (``llm.TextDelta``, a usage and a finish) is served by linestream as JSON Lines
of the parts (the floor: one encode per part) and in each protocol (``OPENAI_CHAT``, ``OPENAI_RESPONSES``,
``ANTHROPIC_MESSAGES``, ``AI_SDK``: a transcoder per stream), and by FastAPI as the OpenAI Chat Completions stream
written by hand, as FastAPI apps do (a ``StreamingResponse`` of ``data: {json}`` strings, one
``ChatCompletionChunk``-shaped dict per token, then ``data: [DONE]``). A client reads each answer to its end
with httpx; reported: parts per second, best of ``--reps``.

``--smoke``: tiny sizes, once.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
APPS = """
import json
import time
from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi.responses import StreamingResponse

from linestream import LineStream, llm

linestream_app = LineStream()


async def answer(n: int) -> AsyncIterator[llm.Part]:
    yield llm.Start(model="bench")
    for index in range(n):
        yield llm.TextDelta(text=" token")
    yield llm.Usage(input_tokens=10, output_tokens=n)
    yield llm.Finish(reason="stop")


for name, protocol in [("jsonl", "jsonl"), ("openai-chat", llm.OPENAI_CHAT), ("openai-responses", llm.OPENAI_RESPONSES),
                       ("anthropic", llm.ANTHROPIC_MESSAGES), ("ai-sdk", llm.AI_SDK)]:
    async def route(n: int = 1000) -> AsyncIterator[llm.Part]:
        async for part in answer(n):
            yield part
    route.__name__ = name.replace("-", "_")
    linestream_app.get(f"/{name}", stream_formats=[protocol])(route)

fastapi_app = FastAPI()


@fastapi_app.get("/openai-chat")
async def fastapi_chat(n: int = 1000) -> StreamingResponse:
    async def chunks() -> AsyncIterator[str]:
        head = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": int(time.time()), "model": "bench"}
        first = {"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None, "finish_reason": None}
        yield f"data: {json.dumps({**head, 'choices': [first]})}\\n\\n"
        for index in range(n):
            choice = {"index": 0, "delta": {"content": " token"}, "logprobs": None, "finish_reason": None}
            yield f"data: {json.dumps({**head, 'choices': [choice]})}\\n\\n"
        last = {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
        yield f"data: {json.dumps({**head, 'choices': [last]})}\\n\\n"
        yield "data: [DONE]\\n\\n"

    return StreamingResponse(chunks(), media_type="text/event-stream")
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def server(directory: Path, app: str) -> Iterator[str]:
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", f"llm_bench_apps:{app}", "--port", str(port), "--log-level", "warning"]
    process = subprocess.Popen(command, cwd=directory, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(f"{url}/openai-chat", params={"n": 1})
                break
            time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(10)


def rate(url: str, path: str, n: int, reps: int) -> float:
    best = 0.0
    with httpx.Client(timeout=60) as client:
        for _ in range(reps):
            started = time.perf_counter()
            with client.stream("GET", f"{url}{path}", params={"n": n}) as response:
                size = sum(len(chunk) for chunk in response.iter_raw())
            assert response.status_code == 200, (path, response.status_code)
            assert size > n, (path, size)
            best = max(best, n / (time.perf_counter() - started))
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("-n", type=int, default=50_000)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    n, reps = (200, 1) if args.smoke else (args.n, args.reps)
    results: dict[str, object] = {"parts": n, "reps": reps}
    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder)
        (directory / "llm_bench_apps.py").write_text(APPS)
        with server(directory, "linestream_app") as url:
            linestream = {
                name: rate(url, f"/{name}", n, reps)
                for name in ("jsonl", "openai-chat", "openai-responses", "anthropic", "ai-sdk")
            }
        with server(directory, "fastapi_app") as url:
            fastapi = rate(url, "/openai-chat", n, reps)
    results["linestream parts/s"] = linestream
    results["FastAPI, OpenAI chat by hand, parts/s"] = fastapi
    results["linestream openai-chat / FastAPI"] = linestream["openai-chat"] / fastapi
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
