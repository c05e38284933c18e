"""Headless Chromium against a secured app: the explorer's Authorize control (a bearer-protected stream read with
fetch, with a pasted token or one from the password flow; a ticket-protected one with EventSource), and /docs's
Authorize button logging in with the password flow."""

from collections.abc import AsyncIterable, Iterator
from typing import Annotated

import pytest
from playwright.sync_api import Browser, Page, expect

from linestream import Depends, Header, HTTPException, LineStream
from linestream.security import OAuth2PasswordBearer, OAuth2PasswordRequestForm, StreamTickets
from linestream.sse import EventSourceResponse, ServerSentEvent
from tests.conftest import serve
from tests.models import Item

oauth2 = OAuth2PasswordBearer(tokenUrl="token")
tickets = StreamTickets("t" * 32, max_age=60)


def current_user(token: Annotated[str, Depends(oauth2)]) -> str:
    if not token.startswith("tok-"):
        raise HTTPException(401, "Invalid token", {"WWW-Authenticate": "Bearer"})
    return token.removeprefix("tok-")


def secured_app() -> LineStream:
    app = LineStream(title="Secured", sse_keepalive=None)

    @app.post("/token")
    async def token(form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> dict[str, str]:
        if form.password != "secret":
            raise HTTPException(400, "Incorrect username or password")
        return {"access_token": f"tok-{form.username}", "token_type": "bearer"}

    @app.get("/users/me")
    async def me(user: Annotated[str, Depends(current_user)]) -> dict[str, str]:
        return {"username": user}

    @app.get("/secret/stream")
    async def secret_stream(user: Annotated[str, Depends(current_user)]) -> AsyncIterable[Item]:
        for index in range(3):
            yield Item(name=f"{user} {index}")

    @app.get("/secret/live", response_class=EventSourceResponse, stream_end=True)
    async def secret_live(
        user: Annotated[str, Depends(tickets)], last_event_id: Annotated[str | None, Header()] = None
    ) -> AsyncIterable[Item]:
        start = int(last_event_id) + 1 if last_event_id is not None else 0
        for index in range(start, 3):
            yield ServerSentEvent(data=Item(name=f"{user} live {index}"), id=str(index))

    app.include_router(tickets.issuer(current_user))
    return app


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with serve(secured_app()) as url:
        yield url


@pytest.fixture
def explorer(browser: Browser, base_url: str) -> Iterator[Page]:
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(base_url + "/explorer")
    expect(page.locator("#explorer")).to_have_attribute("data-ready", "true")
    yield page
    page.close()
    assert errors == []


def test_the_explorer_streams_a_bearer_protected_route_with_the_token_given_to_authorize(explorer: Page) -> None:
    page = explorer
    page.get_by_role("button", name="GET /secret/stream").first.click()
    page.get_by_role("button", name="Start").click()
    expect(page.locator("#banner")).to_contain_text("401")  # no credentials yet: the server's answer is shown
    page.get_by_text("Authorize").first.click()
    page.locator("#credential-OAuth2PasswordBearer-token").fill("tok-ada")
    page.get_by_role("button", name="Start").click()
    expect(page.locator("#rows tr")).to_have_count(3)
    assert "ada 2" in page.locator("#rows").inner_text()


def test_the_explorer_logs_in_with_the_password_flow_and_streams_with_the_token(explorer: Page) -> None:
    page = explorer
    page.get_by_text("Authorize").first.click()
    page.locator("#credential-OAuth2PasswordBearer-username").fill("dora")
    page.locator("#credential-OAuth2PasswordBearer-password").fill("wrong")
    page.get_by_role("button", name="Log in").click()
    status = page.locator("#credential-OAuth2PasswordBearer-status")
    expect(status).to_contain_text("Log in failed: HTTP 400: Incorrect username or password")
    page.locator("#credential-OAuth2PasswordBearer-password").fill("secret")
    page.get_by_role("button", name="Log in").click()
    expect(status).to_contain_text("Logged in as dora")
    expect(page.locator("#credential-OAuth2PasswordBearer-token")).to_have_value("tok-dora")
    page.get_by_role("button", name="GET /secret/stream").first.click()
    page.get_by_role("button", name="Start").click()
    expect(page.locator("#rows tr")).to_have_count(3)
    assert "dora 2" in page.locator("#rows").inner_text()


def test_the_explorer_gets_a_ticket_for_an_event_source(explorer: Page) -> None:
    page = explorer
    page.get_by_text("Authorize").first.click()
    page.locator("#credential-OAuth2PasswordBearer-token").fill("tok-bob")
    page.get_by_role("button", name="GET /secret/live").first.click()
    page.get_by_label("Format").select_option(label="Server-Sent Events, EventSource: reconnects (text/event-stream)")
    page.get_by_role("button", name="Start").click()
    expect(page.locator("#explorer")).to_have_attribute("data-complete", "true")
    expect(page.locator("#rows tr")).to_have_count(3)
    assert "bob live 0" in page.locator("#rows").inner_text()
    assert "EventSource" in page.locator("#log").inner_text()


def test_the_docs_authorize_button_logs_in_with_the_password_flow(browser: Browser, base_url: str) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(base_url + "/docs")
    page.locator("button.authorize").first.click()
    page.locator("#oauth_username").fill("carol")
    page.locator("#oauth_password").fill("secret")
    page.locator(".auth-btn-wrapper button.authorize").first.click()
    expect(page.get_by_role("button", name="Remove authorization")).to_be_visible()  # logged in: "Logout"
    page.get_by_role("button", name="Close").first.click()
    operation = page.locator(".opblock", has_text="/users/me")
    operation.locator(".opblock-summary").first.click()
    operation.locator("button.try-out__btn").click()
    operation.locator("button.execute").click()
    expect(operation.locator(".live-responses-table tbody .response-col_status").first).to_contain_text("200")
    expect(operation.locator(".live-responses-table .microlight").first).to_contain_text('"username": "carol"')
    page.close()
    assert errors == []
