"""The exception handlers every app starts with, for an app that replaces one and wants to fall back on it:

```python
from linestream.exception_handlers import http_exception_handler

@app.exception_handler(HTTPException)
async def logged(request: Request, exc: HTTPException) -> Response:
    logger.info("%s %s: %s", request.method, request.url.path, exc.detail)
    return await http_exception_handler(request, exc)
```

Each answers with an RFC 9457 problem (``application/problem+json``), or, in an app made with
``LineStream(compat="fastapi")``, with FastAPI's shapes, as FastAPI's own handlers do.
"""

from __future__ import annotations

from linestream._problem import (
    http_exception_handler,
    server_error_handler,
)
from linestream._problem import (
    request_validation_handler as request_validation_exception_handler,
)
from linestream._problem import (
    response_validation_handler as response_validation_exception_handler,
)

__all__ = [
    "http_exception_handler",
    "request_validation_exception_handler",
    "response_validation_exception_handler",
    "server_error_handler",
]
