"""Security: copies of FastAPI's security tutorial programs (only their imports changed) behave as under FastAPI
(statuses, headers, bodies' ``detail``); every scheme is documented in OpenAPI; streams refuse before the first
item with a real 401."""

import secrets
from collections.abc import AsyncIterable
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any

import httpx
import jwt
import pytest
from jwt.exceptions import InvalidTokenError
from openapi_spec_validator import validate
from pwdlib import PasswordHash
from pydantic import BaseModel, ValidationError

from linestream import APIRouter, Depends, HTTPException, LineStream, Security, WebSocket, status
from linestream.openapi import build_openapi
from linestream.security import (
    APIKeyCookie,
    APIKeyHeader,
    APIKeyQuery,
    HTTPAuthorizationCredentials,
    HTTPBasic,
    HTTPBasicCredentials,
    HTTPBearer,
    HTTPDigest,
    OAuth2AuthorizationCodeBearer,
    OAuth2PasswordBearer,
    OAuth2PasswordRequestForm,
    OAuth2PasswordRequestFormStrict,
    OpenIdConnect,
    SecurityScopes,
)
from linestream.testing import TestClient, WebSocketDenialResponse, iter_json_lines

# -- "Security - First Steps": a bearer token --------------------------------------------------------------

first_steps = LineStream()
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="token")


@first_steps.get("/items/")
async def read_items(token: Annotated[str, Depends(oauth2_scheme)]) -> dict[str, str]:
    return {"token": token}


def test_first_steps_bearer_token() -> None:
    with TestClient(first_steps) as client:
        ok = client.get("/items", headers={"Authorization": "Bearer testtoken"})
        missing = client.get("/items")
        wrong_scheme = client.get("/items", headers={"Authorization": "Notexistent testtoken"})
        document = client.get("/openapi.json").json()
    assert ok.json() == {"token": "testtoken"}
    for refused in (missing, wrong_scheme):
        assert refused.status_code == 401
        assert refused.json()["detail"] == "Not authenticated"
        assert refused.headers["www-authenticate"] == "Bearer"
        assert refused.headers["content-type"] == "application/problem+json"
    assert document["components"]["securitySchemes"] == {
        "OAuth2PasswordBearer": {"type": "oauth2", "flows": {"password": {"tokenUrl": "token", "scopes": {}}}}
    }
    assert document["paths"]["/items/"]["get"]["security"] == [{"OAuth2PasswordBearer": []}]


# -- "OAuth2 with Password (and hashing), Bearer with JWT tokens" ----------------------------------------------

SECRET_KEY = "09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7"
ALGORITHM = "HS256"
password_hash = PasswordHash.recommended()
fake_users_db = {
    "johndoe": {
        "username": "johndoe",
        "full_name": "John Doe",
        "email": "johndoe@example.com",
        "hashed_password": password_hash.hash("secret"),
        "disabled": False,
        "scopes": ["me", "items"],
    },
    "alice": {
        "username": "alice",
        "full_name": "Alice Chains",
        "email": "alicechains@example.com",
        "hashed_password": password_hash.hash("secret2"),
        "disabled": True,
        "scopes": ["me"],
    },
}


class Token(BaseModel):
    access_token: str
    token_type: str


class TokenData(BaseModel):
    username: str | None = None
    scopes: list[str] = []


class User(BaseModel):
    username: str
    email: str | None = None
    full_name: str | None = None
    disabled: bool | None = None


class UserInDB(User):
    hashed_password: str


jwt_scheme = OAuth2PasswordBearer(
    tokenUrl="token",
    scopes={"me": "Read information about the current user.", "items": "Read items."},
)
jwt_app = LineStream()


def get_user(db: dict[str, Any], username: str | None) -> UserInDB | None:
    if username in db:
        return UserInDB(**db[username])
    return None


def authenticate_user(db: dict[str, Any], username: str, password: str) -> UserInDB | None:
    user = get_user(db, username)
    if not user or not password_hash.verify(password, user.hashed_password):
        return None
    return user


def create_access_token(data: dict[str, Any], expires_delta: timedelta) -> str:
    to_encode = data.copy()
    to_encode.update({"exp": datetime.now(timezone.utc) + expires_delta})
    return jwt.encode(to_encode, SECRET_KEY, algorithm=ALGORITHM)


async def get_current_user(security_scopes: SecurityScopes, token: Annotated[str, Depends(jwt_scheme)]) -> User:
    authenticate_value = f'Bearer scope="{security_scopes.scope_str}"' if security_scopes.scopes else "Bearer"
    credentials_exception = HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail="Could not validate credentials",
        headers={"WWW-Authenticate": authenticate_value},
    )
    try:
        payload = jwt.decode(token, SECRET_KEY, algorithms=[ALGORITHM])
        username = payload.get("sub")
        if username is None:
            raise credentials_exception
        token_data = TokenData(scopes=payload.get("scopes", []), username=username)
    except (InvalidTokenError, ValidationError):
        raise credentials_exception from None
    user = get_user(fake_users_db, username=token_data.username)
    if user is None:
        raise credentials_exception
    for scope in security_scopes.scopes:
        if scope not in token_data.scopes:
            raise HTTPException(
                status_code=status.HTTP_401_UNAUTHORIZED,
                detail="Not enough permissions",
                headers={"WWW-Authenticate": authenticate_value},
            )
    return user


async def get_current_active_user(current_user: Annotated[User, Security(get_current_user, scopes=["me"])]) -> User:
    if current_user.disabled:
        raise HTTPException(status_code=400, detail="Inactive user")
    return current_user


@jwt_app.post("/token")
async def login_for_access_token(form_data: Annotated[OAuth2PasswordRequestForm, Depends()]) -> Token:
    user = authenticate_user(fake_users_db, form_data.username, form_data.password)
    if not user:
        raise HTTPException(status_code=400, detail="Incorrect username or password")
    access_token = create_access_token(
        data={"sub": user.username, "scopes": form_data.scopes}, expires_delta=timedelta(minutes=30)
    )
    return Token(access_token=access_token, token_type="bearer")


@jwt_app.get("/users/me/", response_model=User)
async def read_users_me(current_user: Annotated[User, Depends(get_current_active_user)]) -> User:
    return current_user


@jwt_app.get("/users/me/items/")
async def read_own_items(
    current_user: Annotated[User, Security(get_current_active_user, scopes=["items"])],
) -> list[dict[str, str]]:
    return [{"item_id": "Foo", "owner": current_user.username}]


@jwt_app.get("/users/me/items/stream")
async def stream_own_items(
    current_user: Annotated[User, Security(get_current_active_user, scopes=["items"])],
) -> AsyncIterable[dict[str, str]]:
    for item_id in ("Foo", "Bar"):
        yield {"item_id": item_id, "owner": current_user.username}


@jwt_app.get("/status/")
async def read_system_status(current_user: Annotated[User, Depends(get_current_user)]) -> dict[str, str]:
    return {"status": "ok"}


def login(client: TestClient, username: str, password: str, scope: str = "") -> httpx.Response:
    return client.post("/token", data={"username": username, "password": password, "scope": scope})


def test_oauth2_password_flow_with_hashing_jwt_and_scopes() -> None:
    with TestClient(jwt_app) as client:
        wrong = login(client, "johndoe", "incorrect")
        token = login(client, "johndoe", "secret", "me items").json()["access_token"]
        me_only = login(client, "johndoe", "secret", "me").json()["access_token"]
        inactive = login(client, "alice", "secret2", "me").json()["access_token"]
        me = client.get("/users/me/", headers={"Authorization": f"Bearer {token}"})
        items = client.get("/users/me/items/", headers={"Authorization": f"Bearer {token}"})
        not_enough = client.get("/users/me/items/", headers={"Authorization": f"Bearer {me_only}"})
        invalid = client.get("/users/me/", headers={"Authorization": "Bearer nonsense"})
        disabled = client.get("/users/me/", headers={"Authorization": f"Bearer {inactive}"})
        system = client.get("/status/", headers={"Authorization": f"Bearer {me_only}"})
        missing = client.get("/users/me/")
        form_without_fields = client.post("/token", data={})
    assert wrong.status_code == 400
    assert wrong.json()["detail"] == "Incorrect username or password"
    assert me.json() == {
        "username": "johndoe",
        "email": "johndoe@example.com",
        "full_name": "John Doe",
        "disabled": False,
    }
    assert items.json() == [{"item_id": "Foo", "owner": "johndoe"}]
    assert not_enough.status_code == 401
    assert not_enough.json()["detail"] == "Not enough permissions"
    assert not_enough.headers["www-authenticate"] == 'Bearer scope="items me"'
    assert invalid.status_code == 401
    assert invalid.json()["detail"] == "Could not validate credentials"
    assert disabled.status_code == 400
    assert disabled.json()["detail"] == "Inactive user"
    assert system.json() == {"status": "ok"}
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert form_without_fields.status_code == 422
    assert sorted(error["loc"][-1] for error in form_without_fields.json()["errors"]) == ["password", "username"]


def test_a_secured_stream_refuses_before_its_first_item_with_a_real_401() -> None:
    with TestClient(jwt_app) as client:
        token = login(client, "johndoe", "secret", "me items").json()["access_token"]
        me_only = login(client, "johndoe", "secret", "me").json()["access_token"]
        streamed = client.get("/users/me/items/stream", headers={"Authorization": f"Bearer {token}"})
        refused = client.get("/users/me/items/stream", headers={"Authorization": f"Bearer {me_only}"})
    assert [item["item_id"] for item in iter_json_lines(streamed)] == ["Foo", "Bar"]
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"


def test_the_scopes_are_documented_per_operation() -> None:
    document = build_openapi(jwt_app)
    validate(document)
    validate(build_openapi(jwt_app, version="3.2.0"))
    flows = document["components"]["securitySchemes"]["OAuth2PasswordBearer"]["flows"]
    assert flows["password"]["scopes"] == {"me": "Read information about the current user.", "items": "Read items."}
    paths = document["paths"]
    assert paths["/users/me/"]["get"]["security"] == [{"OAuth2PasswordBearer": ["me"]}]
    assert paths["/users/me/items/"]["get"]["security"] == [{"OAuth2PasswordBearer": ["items", "me"]}]
    assert paths["/status/"]["get"]["security"] == [{"OAuth2PasswordBearer": []}]
    assert "security" not in paths["/token"]["post"]
    token_body = paths["/token"]["post"]["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    form = document["components"]["schemas"][token_body["$ref"].rsplit("/", 1)[1]]
    assert form["properties"]["password"]["format"] == "password"
    assert form["required"] == ["username", "password"]


# -- "HTTP Basic Auth" --------------------------------------------------------------------------------------

basic_app = LineStream()
basic = HTTPBasic()


def get_current_username(credentials: Annotated[HTTPBasicCredentials, Depends(basic)]) -> str:
    current_username_bytes = credentials.username.encode("utf8")
    is_correct_username = secrets.compare_digest(current_username_bytes, b"stanleyjobson")
    current_password_bytes = credentials.password.encode("utf8")
    is_correct_password = secrets.compare_digest(current_password_bytes, b"swordfish")
    if not (is_correct_username and is_correct_password):
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="Incorrect username or password",
            headers={"WWW-Authenticate": "Basic"},
        )
    return credentials.username


@basic_app.get("/users/me")
def read_current_user(username: Annotated[str, Depends(get_current_username)]) -> dict[str, str]:
    return {"username": username}


def test_http_basic_auth() -> None:
    with TestClient(basic_app) as client:
        ok = client.get("/users/me", auth=("stanleyjobson", "swordfish"))
        wrong = client.get("/users/me", auth=("stanleyjobson", "wrong"))
        missing = client.get("/users/me")
        not_base64 = client.get("/users/me", headers={"Authorization": "Basic notabase64token!"})
        no_colon = client.get("/users/me", headers={"Authorization": "Basic dXNlcm5hbWU="})
    assert ok.json() == {"username": "stanleyjobson"}
    assert wrong.status_code == 401
    assert wrong.json()["detail"] == "Incorrect username or password"
    for refused in (missing, not_base64, no_colon):
        assert refused.status_code == 401
        assert refused.json()["detail"] == "Not authenticated"
        assert refused.headers["www-authenticate"] == "Basic"
    realm = HTTPBasic(realm="simple")
    assert realm.make_authenticate_headers() == {"WWW-Authenticate": 'Basic realm="simple"'}


# -- every other scheme: what it gives, how it refuses, how it is documented ---------------------------------


def schemes_app() -> LineStream:
    app = LineStream()
    header = APIKeyHeader(name="X-API-Key", description="a key")
    query = APIKeyQuery(name="api_key", auto_error=False)
    cookie = APIKeyCookie(name="session")
    bearer = HTTPBearer(bearerFormat="JWT")
    digest = HTTPDigest()
    openid = OpenIdConnect(openIdConnectUrl="/.well-known/openid-configuration")
    code = OAuth2AuthorizationCodeBearer(authorizationUrl="/authorize", tokenUrl="/token", scopes={"read": "Read."})

    @app.get("/header")
    async def by_header(key: Annotated[str, Depends(header)]) -> dict[str, str]:
        return {"key": key}

    @app.get("/query")
    async def by_query(key: Annotated[str | None, Depends(query)]) -> dict[str, str | None]:
        return {"key": key}

    @app.get("/cookie")
    async def by_cookie(key: Annotated[str, Depends(cookie)]) -> dict[str, str]:
        return {"key": key}

    @app.get("/bearer")
    async def by_bearer(credentials: Annotated[HTTPAuthorizationCredentials, Depends(bearer)]) -> dict[str, str]:
        return credentials.model_dump()

    @app.get("/digest")
    async def by_digest(credentials: Annotated[HTTPAuthorizationCredentials, Depends(digest)]) -> dict[str, str]:
        return credentials.model_dump()

    @app.get("/openid")
    async def by_openid(authorization: Annotated[str, Depends(openid)]) -> dict[str, str]:
        return {"authorization": authorization}

    @app.get("/code")
    async def by_code(token: Annotated[str, Security(code, scopes=["read"])]) -> dict[str, str]:
        return {"token": token}

    router = APIRouter(dependencies=[Depends(header)])

    @router.get("/routed")
    async def routed() -> AsyncIterable[int]:
        yield 1

    app.include_router(router)

    @app.websocket("/socket")
    async def socket(websocket: WebSocket, credentials: Annotated[HTTPAuthorizationCredentials, Depends(bearer)]):  # type: ignore[no-untyped-def]
        await websocket.accept()
        await websocket.send_text(credentials.credentials)
        await websocket.close()

    return app


def test_each_scheme_gives_its_credential_and_refuses_without_one() -> None:
    with TestClient(schemes_app()) as client:
        assert client.get("/header", headers={"X-API-Key": "k1"}).json() == {"key": "k1"}
        assert client.get("/query?api_key=k2").json() == {"key": "k2"}
        assert client.get("/query").json() == {"key": None}  # auto_error=False
        client.cookies.set("session", "k3")
        assert client.get("/cookie").json() == {"key": "k3"}
        client.cookies.clear()
        assert client.get("/bearer", headers={"Authorization": "Bearer t"}).json() == {
            "scheme": "Bearer",
            "credentials": "t",
        }
        assert client.get("/digest", headers={"Authorization": "Digest d"}).json()["credentials"] == "d"
        assert client.get("/openid", headers={"Authorization": "Bearer o"}).json() == {"authorization": "Bearer o"}
        assert client.get("/code", headers={"Authorization": "Bearer c"}).json() == {"token": "c"}
        assert list(iter_json_lines(client.get("/routed", headers={"X-API-Key": "k"}))) == [1]
        refusals = {
            "/header": "APIKey",
            "/cookie": "APIKey",
            "/bearer": "Bearer",
            "/digest": "Digest",
            "/openid": "Bearer",
            "/code": "Bearer",
            "/routed": "APIKey",
        }
        for path, challenge in refusals.items():
            response = client.get(path)
            assert (path, response.status_code, response.headers["www-authenticate"]) == (path, 401, challenge)
        for path in ("/bearer", "/digest", "/code"):  # the wrong scheme
            assert client.get(path, headers={"Authorization": "Basic eDp5"}).status_code == 401
        with client.websocket_connect("/socket", headers={"Authorization": "Bearer w"}) as ws:
            assert ws.receive_text() == "w"
        with pytest.raises(WebSocketDenialResponse) as refused:
            client.websocket_connect("/socket").__enter__()
    assert refused.value.status_code == 401


def test_every_scheme_is_in_the_document() -> None:
    document = build_openapi(schemes_app())
    validate(document)
    schemes = document["components"]["securitySchemes"]
    assert schemes == {
        "APIKeyCookie": {"type": "apiKey", "in": "cookie", "name": "session"},
        "APIKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "a key"},
        "APIKeyQuery": {"type": "apiKey", "in": "query", "name": "api_key"},
        "HTTPBearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
        "HTTPDigest": {"type": "http", "scheme": "digest"},
        "OAuth2AuthorizationCodeBearer": {
            "type": "oauth2",
            "flows": {
                "authorizationCode": {
                    "authorizationUrl": "/authorize",
                    "tokenUrl": "/token",
                    "scopes": {"read": "Read."},
                }
            },
        },
        "OpenIdConnect": {"type": "openIdConnect", "openIdConnectUrl": "/.well-known/openid-configuration"},
    }
    assert document["paths"]["/code"]["get"]["security"] == [{"OAuth2AuthorizationCodeBearer": ["read"]}]
    assert document["paths"]["/routed"]["get"]["security"] == [{"APIKeyHeader": []}]


def test_the_strict_password_form_requires_its_grant_type() -> None:
    app = LineStream()

    @app.post("/token")
    async def token(form: Annotated[OAuth2PasswordRequestFormStrict, Depends()]) -> dict[str, Any]:
        return {"grant_type": form.grant_type, "scopes": form.scopes}

    with TestClient(app) as client:
        missing = client.post("/token", data={"username": "u", "password": "p"})
        wrong = client.post("/token", data={"username": "u", "password": "p", "grant_type": "code"})
        ok = client.post("/token", data={"username": "u", "password": "p", "grant_type": "password", "scope": "a b"})
    assert missing.status_code == 422
    assert wrong.status_code == 422
    assert ok.json() == {"grant_type": "password", "scopes": ["a", "b"]}
