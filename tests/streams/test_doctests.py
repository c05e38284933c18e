"""The examples in the codecs' docstrings run as written."""

import doctest
import importlib

import pytest

MODULES = ["jsonlines", "ndjson", "jsonseq", "sse", "jsonarray"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(f"linestream.streams.{name}")
    result = doctest.testmod(module)
    assert result.failed == 0
    assert result.attempted > 0 or name == "ndjson"
