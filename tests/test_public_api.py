"""The public API is curated: every exported name imports, and nothing private leaks."""

import linestream
import linestream.client
import linestream.exception_handlers
import linestream.exceptions
import linestream.openapi
import linestream.params
import linestream.responses
import linestream.sse
import linestream.status
import linestream.streams
import linestream.testing
import linestream.topics


def test_every_exported_name_is_importable() -> None:
    modules = (
        linestream,
        linestream.client,
        linestream.exception_handlers,
        linestream.exceptions,
        linestream.openapi,
        linestream.params,
        linestream.responses,
        linestream.sse,
        linestream.status,
        linestream.streams,
        linestream.testing,
        linestream.topics,
    )
    for module in modules:
        for name in module.__all__:
            assert getattr(module, name) is not None, f"{module.__name__}.{name}"


def test_no_private_name_is_exported() -> None:
    exported = [name for name in linestream.__all__ if name != "__version__"]
    assert all(not name.startswith("_") for name in exported)
    assert sorted(exported) == sorted(set(exported))


def test_exception_tree_has_one_root() -> None:
    for name in linestream.exceptions.__all__:
        error = getattr(linestream.exceptions, name)
        assert issubclass(error, linestream.LineStreamError)
