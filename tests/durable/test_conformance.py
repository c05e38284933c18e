"""The Durable Streams protocol's own conformance suite (``@durable-streams/server-conformance-tests``, run by
vitest in Node, pinned by tests/durable/node/package-lock.json) against linestream's server under uvicorn.

The suite has 338 tests; 6 cover the reserved subscription APIs (webhooks, pull-wake), which the suite runs
only for servers that offer them and linestream does not: they are skipped. Every other test must pass (the
reference server, ``@durable-streams/server`` 0.3.7, passes 326 of the 338 on this machine). It runs on each
backend: in memory, and on a real redis-server.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import serve_process

NODE = Path(__file__).parent / "node"
SUBSCRIPTION_TESTS = 6


def node_modules() -> Path:
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is required (scripts/test installs Debian's nodejs and npm)")
    if not (NODE / "node_modules" / ".bin" / "vitest").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=NODE, check=True)
    return NODE / "node_modules"


def run_suite(url: str, report: Path) -> dict[str, Any]:
    node_modules()
    env = {**os.environ, "CONFORMANCE_TEST_URL": url, "LONG_POLL_TIMEOUT_MS": "5000"}
    command = [
        str(NODE / "node_modules" / ".bin" / "vitest"), "run", "conformance.test.mjs",
        "--reporter=json", f"--outputFile={report}",
    ]  # fmt: skip
    subprocess.run(command, cwd=NODE, env=env, capture_output=True, timeout=600, check=False)
    result: dict[str, Any] = json.loads(report.read_text())
    return result


def outcomes(report: dict[str, Any]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for file in report["testResults"]:
        for test in file["assertionResults"]:
            name = " > ".join([*test["ancestorTitles"][1:], test["title"]])
            found.setdefault(test["status"], []).append(name)
    return found


@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_the_conformance_suite_passes(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    env = {"DURABLE_BACKEND": backend}
    if backend == "redis":
        env |= {"REDIS_URL": request.getfixturevalue("redis_url"), "REDIS_PREFIX": f"test:{uuid.uuid4().hex}:"}
    with serve_process("tests.apps.durable_app:app", env=env) as server:
        report = run_suite(server.url, tmp_path / "report.json")
    found = outcomes(report)
    assert found.get("failed", []) == []
    assert len(found["passed"]) == report["numTotalTests"] - SUBSCRIPTION_TESTS
    assert len(found.get("pending", [])) + len(found.get("skipped", [])) == SUBSCRIPTION_TESTS
