"""The official JavaScript clients read linestream.llm's streams in Node: the AI SDK's ``DefaultChatTransport``
with ``readUIMessageStream`` (what ``useChat`` runs) and the ``openai`` npm package (tests/llm/node, pinned by
its lock file)."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.apps import llm_app
from tests.conftest import serve, wait_for

NODE = Path(__file__).parent / "node"


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is required (scripts/test installs Debian's nodejs and npm)")
    if not (NODE / "node_modules" / "ai").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=NODE, check=True)
    with serve(llm_app.app) as base:
        yield base


def run(command: str, url: str, prompt: str, *, api: str = "/api/chat") -> Any:
    """What ``node clients.mjs command url prompt api`` printed (the AI SDK's chat at ``api``)."""
    done = subprocess.run(
        ["node", "clients.mjs", command, url, prompt, api],
        cwd=NODE,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout)


def test_ai_sdk_assembles_reasoning_text_and_the_tool_call_with_its_output(url: str) -> None:
    result = run("ui", url, "tool")
    assert result["errors"] == []
    message = result["message"]
    assert message["role"] == "assistant"
    assert message["metadata"] == {"usage": {"inputTokens": 11, "outputTokens": 7}}
    parts = {part["type"]: part for part in message["parts"]}
    assert parts["reasoning"]["text"] == "The user wants the weather."
    assert parts["text"] == {"type": "text", "text": "Let me check. ", "state": "done"}
    tool = parts["tool-get_weather"]
    assert (tool["toolCallId"], tool["state"], tool["input"], tool["output"]) == (
        "call_1",
        "output-available",
        {"city": "Paris"},
        {"celsius": 21},
    )
    assert result["chunks"][-1] == "finish"


def test_ai_sdk_sees_an_error_after_the_first_part(url: str) -> None:
    result = run("ui", url, "fail")
    assert result["chunks"][-1] == "error"
    assert result["errors"] == ["Error: The stream failed after 3 item(s)."]
    assert result["message"]["parts"][-1]["text"] == "Partial answer"


def test_ai_sdk_abort_closes_the_generator(url: str) -> None:
    result = run("ui-leave", url, "endless ui")
    assert result["errors"] == ["AbortError: This operation was aborted"]
    wait_for(lambda: "endless ui" in llm_app.CLOSED, timeout=5)


def test_openai_npm_client_reads_text_tool_calls_and_usage(url: str) -> None:
    result = run("openai", url, "tool")
    assert result["text"] == "Let me check. "
    assert result["calls"] == [{"id": "call_1", "name": "get_weather", "arguments": '{"city": "Paris"}'}]
    assert result["finish"] == "tool_calls"
    assert result["usage"] == {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}


def test_openai_npm_client_raises_the_error_after_the_first_part_and_the_status_before(url: str) -> None:
    failed = run("openai", url, "fail")
    assert failed["text"] == "Partial answer"
    assert failed["error"]["name"] == "APIError"
    refused = run("openai", url, "forbidden")
    assert (refused["error"]["name"], refused["error"]["status"]) == ("PermissionDeniedError", 403)


def test_ai_sdk_resumes_a_durable_answer_after_a_reload(url: str) -> None:
    result = run("ui-resume", url + "/durable", "slow")
    left = result["left"]["parts"][-1]
    assert left["state"] == "streaming"
    assert llm_app.SLOW_ANSWER.startswith(left["text"])  # the reload cut the answer short...
    resumed = result["resumed"]
    assert resumed["parts"][-1] == {"type": "text", "text": llm_app.SLOW_ANSWER, "state": "done"}  # ...not the job
    assert resumed["id"] == result["left"]["id"]  # the same answer, replayed from its start
    assert result["again"] is None  # once it ended, there is nothing to resume: 204
