"""The Python examples of the README and docs run as written (each file's blocks in order, one namespace)."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
DOCUMENTS = [
    "README.md",
    "docs/formats.md",
    "docs/request-streams.md",
    "docs/scaling-out.md",
    "docs/explorer.md",
    "docs/fastapi.md",
    "docs/security.md",
    "docs/clients.md",
    "docs/index.md",
    "docs/durable-streams.md",
    "docs/llm.md",
    "docs/operations.md",
]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_python_examples_run(document: str) -> None:
    text = (ROOT / document).read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    assert blocks, f"{document} has no python example"
    namespace: dict[str, object] = {"__name__": f"docs_{Path(document).stem}"}
    for block in blocks:
        exec(compile(block, document, "exec"), namespace)
