"""Chromium streams a request body (``fetch`` with a ``ReadableStream`` and ``duplex: "half"``) over HTTP/2 to
Hypercorn with TLS (a certificate made for the test): the server reads each item as it is sent, not once the
body ends. (Chromium streams request bodies only over HTTP/2, and speaks HTTP/2 only over TLS.)"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.apps import servers_app
from tests.conftest import free_port, serve

ROOT = Path(__file__).parent.parent


@pytest.fixture(scope="module")
def https_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("tls")
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    port = free_port()
    command = [
        sys.executable, "-m", "hypercorn", "tests.apps.servers_app:app", "--bind", f"127.0.0.1:{port}",
        "--certfile", str(cert), "--keyfile", str(key),
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, "hypercorn exited"
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            assert time.monotonic() < deadline
            time.sleep(0.05)
        yield f"https://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


UPLOAD = """async (url) => {
  const encoder = new TextEncoder();
  const body = new ReadableStream({
    async start(controller) {
      for (let index = 0; index < 3; index++) {
        controller.enqueue(encoder.encode(JSON.stringify({ index }) + "\\n"));
        await new Promise((resolve) => setTimeout(resolve, 400));
      }
      controller.close();
    },
  });
  const response = await fetch(url, {
    method: "POST", body, duplex: "half", headers: { "content-type": "application/jsonl" },
  });
  const protocol = performance.getEntriesByType("resource").map((entry) => entry.nextHopProtocol);
  return { status: response.status, json: await response.json(), protocol };
}"""


def test_chromium_streams_a_request_body_over_http2(browser: Any, https_url: str) -> None:
    context = browser.new_context(ignore_https_errors=True)
    try:
        page = context.new_page()
        page.goto(f"{https_url}/page")
        result = page.evaluate(UPLOAD, f"{https_url}/upload")
    finally:
        context.close()
    assert result["status"] == 200, result
    after_first = result["json"]["after_first"]
    assert len(after_first) == 3
    # Sent 0.4 s apart, read as they came: a body buffered to its end would arrive all at once.
    assert after_first[1] >= 0.2
    assert after_first[2] - after_first[1] >= 0.2
    assert "h2" in result["protocol"]


def test_chromium_refuses_to_stream_a_request_body_over_http1(browser: Any) -> None:
    with serve(servers_app.app) as url:
        page = browser.new_page()
        try:
            page.goto(f"{url}/page")
            failure = page.evaluate(f"(url) => ({UPLOAD})(url).catch((error) => String(error))", f"{url}/upload")
        finally:
            page.close()
    assert "Failed to fetch" in failure
