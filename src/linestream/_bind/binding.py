"""The per-request state of binding: ``RequestBinding`` (the dependency cache, the exit stacks of ``yield``
dependencies, the parsed body and form, the response a path operation asks for), the app's dependency
``Overrides`` as one route sees them, and the light ``ExitStack`` a request holds while it streams.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.background import BackgroundTasks
from starlette.datastructures import FormData
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from linestream._compile.dependant import Dependant, build_dependant
from linestream._declare.options import BodyLimits

__all__ = ["NOT_READ", "ExitStack", "Overrides", "RequestBinding", "TemporalResponse"]

#: The body of a request nothing has read yet.
NOT_READ: Any = object()


class TemporalResponse(Response):
    """The ``Response`` a path operation can ask for to set headers, cookies or the status code."""

    def __init__(self) -> None:
        super().__init__()
        self.status_code: int | None = None  # type: ignore[assignment]
        del self.raw_headers[:]


class Overrides:
    """A route's view of the app's dependency overrides: which function replaces which, and the analysis of each
    replacement (made once per route, with the route's path parameters: an override may take one)."""

    __slots__ = ("_analysed", "_path_params", "mapping")

    def __init__(self, path_params: frozenset[str]) -> None:
        self._path_params = path_params
        self._analysed: dict[Callable[..., Any], Dependant] = {}
        self.mapping: Mapping[Callable[..., Any], Callable[..., Any]] = {}

    def get(self, dependency: Callable[..., Any]) -> Callable[..., Any] | None:
        return self.mapping.get(dependency)

    def analyse(self, override: Callable[..., Any]) -> Dependant:
        dependant = self._analysed.get(override)
        if dependant is None:
            if len(self._analysed) > 1024:  # overrides replaced again and again (a test suite): start afresh
                self._analysed.clear()
            dependant = self._analysed[override] = build_dependant(override, path_param_names=self._path_params)
        return dependant


class ExitStack(contextlib.AsyncExitStack):
    """``contextlib.AsyncExitStack`` holding its exits in a list rather than a deque: a request holds one for as
    long as its stream is open, and a deque's first block is about 600 bytes, most of a small stream's
    bookkeeping (contextlib appends and pops; it never takes from the left)."""

    def __init__(self) -> None:
        super().__init__()
        self._exit_callbacks: Any = []


class RequestBinding:
    """Per-request state of argument binding: the dependency cache, exit stack and parsed body."""

    __slots__ = (
        "_function_stack",
        "background",
        "body",
        "body_limits",
        "cache",
        "connection",
        "errors_omitted",
        "fastapi",
        "file_bytes",
        "form",
        "items_received",
        "overrides",
        "response",
        "stack",
        "strict_content_type",
    )

    def __init__(
        self,
        connection: HTTPConnection,
        stack: contextlib.AsyncExitStack,
        overrides: Overrides,
        body_limits: BodyLimits,
        strict_content_type: bool = True,
        *,
        fastapi: bool = False,
    ) -> None:
        #: The request (or the WebSocket).
        self.connection = connection
        #: Told how a streamed request body ended (its items, and the status that refused it, if one did), when
        #: the app has telemetry.
        self.items_received: Callable[[int, int | None], None] | None = None
        #: A body without a Content-Type is refused (415), not read as JSON (see ``LineStream``).
        self.strict_content_type = strict_content_type
        #: Bodies and errors as FastAPI reads and reports them (``LineStream(compat="fastapi")``).
        self.fastapi = fastapi
        #: Exits when the response is complete: ``yield`` dependencies of scope ``"request"``.
        self.stack = stack
        #: Exits when the path operation has returned: ``yield`` dependencies of scope ``"function"`` (made for
        #: the first of them: most requests have none).
        self._function_stack: ExitStack | None = None
        #: The request's ``BackgroundTasks``, made when a function asks for them.
        self.background: BackgroundTasks | None = None
        self.overrides = overrides
        self.body_limits = body_limits
        self.cache: dict[Any, Any] = {}
        self.response: TemporalResponse | None = None
        self.body: Any = NOT_READ
        self.form: FormData | None = None
        #: Bytes of the uploaded files read into ``bytes`` parameters so far (bounded by ``max_body_size``).
        self.file_bytes = 0
        self.errors_omitted = 0

    @property
    def function_stack(self) -> ExitStack:
        if self._function_stack is None:
            self._function_stack = ExitStack()
        return self._function_stack

    def detach(self) -> Callable[[BaseException | None], Awaitable[None]]:
        """Take the exits of this request's dependencies away from it (its exit stack is left empty), and
        return the function that runs them, seeing an error or none: a stream whose ``def`` generator outlives
        its response, and a durable path operation's job, tear them down once their generator closed."""
        request_stack = self.stack.pop_all()
        function_stack, self._function_stack = self._function_stack, None

        async def teardown(error: BaseException | None) -> None:
            details = (None, None, None) if error is None else (type(error), error, error.__traceback__)
            try:
                if function_stack is not None:
                    await function_stack.__aexit__(*details)
            finally:
                await request_stack.__aexit__(*details)

        return teardown

    async def exit_function_scope(self, error: BaseException | None = None) -> None:
        """Exit the ``"function"``-scoped dependencies (seeing ``error``, if the path operation failed)."""
        stack = self._function_stack
        if stack is None:
            return
        if error is None:
            await stack.aclose()
        else:
            await stack.__aexit__(type(error), error, error.__traceback__)

    @property
    def request(self) -> Request:
        connection = self.connection
        assert isinstance(connection, Request), "a WebSocket has no request body (refused when declared)"
        return connection

    def background_tasks(self) -> BackgroundTasks:
        if self.background is None:
            self.background = BackgroundTasks()
        return self.background

    def temporal_response(self) -> TemporalResponse:
        if self.response is None:
            self.response = TemporalResponse()
        return self.response
