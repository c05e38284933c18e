"""When a stream's credentials expire: set by a security dependency, honoured by the stream.

A dependency that knows when the credential it checked stops being valid (a token's ``exp``) calls
``credentials_expire_at(request, when)``. A stream of that request ends at that moment: an SSE stream cleanly,
with ``retry:``, so the client reconnects with fresh credentials (and ``Last-Event-ID``); a stream of another
format visibly (an error record under ``stream_errors="record"``, else truncated); an expiry before the first
item is a 401. Only streams are ended: an ordinary response is over long before.
"""

from __future__ import annotations

import datetime
import time

from starlette.requests import HTTPConnection

__all__ = ["credentials_expire_at", "seconds_left"]

_KEY = "linestream.credentials_expire"


def credentials_expire_at(connection: HTTPConnection, when: datetime.datetime | float) -> None:
    """End this request's stream at ``when`` (an aware ``datetime``, or seconds since the epoch, as a JWT's
    ``exp``). Called several times (two credentials), the earliest wins."""
    if isinstance(when, datetime.datetime):
        if when.tzinfo is None:
            raise ValueError("credentials_expire_at needs an aware datetime (with a tzinfo), or epoch seconds.")
        epoch = when.timestamp()
    else:
        epoch = float(when)
    current = connection.scope.get(_KEY)
    if current is None or epoch < current:
        connection.scope[_KEY] = epoch


def seconds_left(connection: HTTPConnection) -> float | None:
    """Seconds until the request's credentials expire (negative once they have), or ``None``."""
    epoch = connection.scope.get(_KEY)
    return None if epoch is None else float(epoch) - time.time()
