"""docs/durable-streams.md's example, served by uvicorn and used as the page says: an answer whose client leaves
is completed, and read back by ``Last-Event-ID`` (the page's ``resume``) and by offset on the protocol."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import serve, wait_for

PAGE = Path(__file__).parent.parent.parent / "docs" / "durable-streams.md"


def page_namespace() -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "docs_durable_streams"}
    for block in re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.DOTALL):
        exec(compile(block, str(PAGE), "exec"), namespace)
    return namespace


def test_the_pages_answer_survives_its_client_and_is_read_back() -> None:
    namespace = page_namespace()
    with serve(namespace["app"]) as url:
        headers = {"Accept": "text/event-stream"}
        with httpx.stream("POST", f"{url}/chat", params={"prompt": "what is durable"}, headers=headers) as response:
            lines = response.iter_lines()
            first_id = next(line for line in lines if line.startswith("id:")).removeprefix("id: ")
            location = response.headers["location"]
        wait_for(lambda: httpx.get(location).headers.get("stream-closed") == "true")
        rest = namespace["resume"](url, "what is durable", first_id)
        everything = httpx.get(location, params={"offset": "-1"}).json()
    words = [item["text"] for item in everything]
    assert words == ["You", "asked:", "what", "is", "durable"]
    assert [json.loads(line.removeprefix("data: "))["text"] for line in rest] == words[1:]


def test_the_pages_answer_is_found_again_by_the_server_and_replayed() -> None:
    namespace = page_namespace()
    with serve(namespace["app"]) as url:
        first = httpx.post(f"{url}/conversations/tale/answer", headers={"Accept": "application/jsonl"})
        assert first.status_code == 200
        assert namespace["answers"]["tale"] == first.headers["stream-id"]
        replay = httpx.get(f"{url}/conversations/tale/answer", headers={"Accept": "application/jsonl"})
        missing = httpx.get(f"{url}/conversations/other/answer")
    assert [json.loads(line)["text"] for line in replay.text.splitlines()] == ["Once", " upon", " a time"]
    assert missing.status_code == 404
