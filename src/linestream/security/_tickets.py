"""Stream tickets: authorize an ``EventSource`` without a long-lived credential in its URL.

A browser's ``EventSource`` cannot send an ``Authorization`` header. Instead of a token in the query string
(which lands in logs and history, and lives as long as the token), an authenticated call gets a *ticket*: short
lived, signed with the app's secret key (HMAC-SHA256), bound to a subject (the user), a method and a path. The
page opens ``new EventSource("/orders/live?ticket=...")``; the route depends on the ``StreamTickets`` instance,
which verifies the ticket and gives its subject. No server-side state: any worker verifies any ticket.
``EventSource`` reconnects (``Last-Event-ID``) with the same URL, so they work while the ticket is valid; after
it expired, the reconnect gets a 401 and ``EventSource`` stops: the page asks for a new ticket.
"""

import base64
import hashlib
import hmac
import json
import time
import urllib.parse
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BaseModel, Field
from starlette.requests import HTTPConnection

from linestream._routing.router import APIRouter
from linestream.exceptions import HTTPException, RequestValidationError
from linestream.params import Depends
from linestream.security._base import SecurityBase

__all__ = ["MAX_TICKET", "StreamTickets", "TicketRequest"]

#: The longest ticket verified (a ticket of a path of 2048 characters is about 2,900); issuing a longer one is
#: refused (422 from the issuer route), so that every issued ticket opens its stream.
MAX_TICKET = 4096
_CONTEXT = b"linestream stream ticket v1:"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TicketRequest(BaseModel):
    """What a stream ticket is asked for: the route, as the client will request it."""

    path: str = Field(max_length=2048, pattern="^/")
    method: str = Field("GET", pattern="^[A-Za-z]{1,16}$")


class StreamTickets(SecurityBase):
    """Issues and verifies stream tickets signed with ``secret_key`` (at least 32 bytes; share it between the
    app's workers), valid ``max_age`` seconds, read from the query parameter ``name``.

    ```python
    tickets = StreamTickets(secret_key=os.environ["TICKET_KEY"])

    @app.post("/orders/live/ticket")
    async def ticket(user: Annotated[User, Depends(current_user)]) -> dict[str, str]:
        return {"ticket": tickets.issue(user.id, "/orders/live")}

    @app.get("/orders/live")
    async def live(user_id: Annotated[str, Depends(tickets)]) -> AsyncIterable[Order]: ...
    ```
    """

    def __init__(
        self,
        secret_key: str | bytes,
        *,
        max_age: float = 60.0,
        name: str = "ticket",
        scheme_name: str | None = None,
        description: str | None = None,
        auto_error: bool = True,
    ) -> None:
        key = secret_key.encode() if isinstance(secret_key, str) else bytes(secret_key)
        if len(key) < 32:
            raise ValueError("StreamTickets needs a secret_key of at least 32 bytes (e.g. secrets.token_hex(32)).")
        if max_age <= 0:
            raise ValueError(f"StreamTickets max_age must be positive, not {max_age!r}.")
        model = {"type": "apiKey", "in": "query", "name": name}
        described = description or 'A short-lived stream ticket (docs/security.md: "Stream tickets").'
        super().__init__(model, scheme_name or "StreamTicket", described, auto_error)
        self._key = key
        self.max_age = max_age
        self.name = name

    def make_authenticate_headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": "Ticket"}

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, _CONTEXT + payload.encode(), hashlib.sha256).digest())

    def issue(self, subject: str, path: str, *, method: str = "GET", max_age: float | None = None) -> str:
        """A ticket for ``subject`` to ``method path`` (the path as the client requests it, percent-encoded or
        not), valid ``max_age`` seconds (default: the instance's). ``ValueError`` if the ticket would be longer
        than ``MAX_TICKET`` characters (a very long path or subject), which could not be verified."""
        expires = time.time() + (self.max_age if max_age is None else max_age)
        claims = {"sub": subject, "m": method.upper(), "p": urllib.parse.unquote(path), "exp": round(expires, 3)}
        payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
        ticket = f"{payload}.{self._sign(payload)}"
        if len(ticket) > MAX_TICKET:
            raise ValueError(
                f"A stream ticket for this path and subject would be {len(ticket)} characters, more than the "
                f"{MAX_TICKET} a ticket may have: use a shorter path or subject."
            )
        return ticket

    def _refuse(self, detail: str) -> HTTPException:
        return HTTPException(401, detail, headers=self.make_authenticate_headers())

    def verify(self, ticket: str, method: str, path: str) -> str:
        """The subject of ``ticket`` if it is genuine, unexpired and for ``method path``; else a 401."""
        payload, _, signature = ticket.partition(".")
        # A genuine ticket is ASCII (base64url and a dot); compare_digest takes only ASCII strings.
        if len(ticket) > MAX_TICKET or not ticket.isascii() or not hmac.compare_digest(signature, self._sign(payload)):
            raise self._refuse("Invalid stream ticket.")
        claims = json.loads(_unb64(payload))
        if claims["exp"] <= time.time():
            raise self._refuse("The stream ticket expired; ask for a new one.")
        if claims["m"] != method.upper() or claims["p"] != path:
            raise self._refuse("The stream ticket is for another route.")
        return str(claims["sub"])

    def issuer(self, subject: Callable[..., Any], path: str = "/stream-tickets") -> APIRouter:
        """A router with ``POST path``: ``{"path": "/orders/live", "method": "GET"}`` in, ``{"ticket": ...,
        "expires_in": seconds}`` out, for the subject that the dependency ``subject`` gives (the current user's
        id; it refuses the unauthenticated). The document names it (``x-linestream-ticket-url``), so the stream
        explorer gets tickets by itself. A ticket only says who asks: the stream route still decides what that
        subject may see."""
        router = APIRouter()
        self.model["x-linestream-ticket-url"] = path
        tickets = self

        async def issue_ticket(wanted: TicketRequest, who: Annotated[Any, Depends(subject)]) -> dict[str, str | float]:
            try:
                ticket = tickets.issue(str(who), wanted.path, method=wanted.method)
            except ValueError as exc:
                raise RequestValidationError(
                    [{"loc": ["body", "path"], "msg": str(exc), "type": "ticket_too_long", "input": wanted.path}]
                ) from None
            return {"ticket": ticket, "expires_in": tickets.max_age}

        router.add_api_route(path, issue_ticket, methods=["POST"], summary="Issue a stream ticket", tags=["security"])
        return router

    async def __call__(self, request: HTTPConnection) -> str | None:
        ticket = self._given(request.query_params.get(self.name))
        if ticket is None:
            return None
        method = request.scope.get("method", "GET")
        return self.verify(ticket, method, request.url.path)
