"""Forms and files: ``Form()``, ``File()``, ``UploadFile``, form models, their limits and their OpenAPI bodies.
The 1 GiB upload runs over uvicorn with the server's memory capped."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterable, Iterator
from typing import Annotated, Any

import httpx
import pytest
from pydantic import BaseModel, ConfigDict

from linestream import BodyLimits, EndpointDefinitionError, File, Form, LineStream, UploadFile
from linestream.testing import TestClient, iter_json_lines
from tests.conftest import ServerProcess, serve_process


def login_app(**options: Any) -> LineStream:
    app = LineStream(**options)

    @app.post("/login")
    async def login(username: Annotated[str, Form()], password: Annotated[str, Form(min_length=3)]) -> dict[str, str]:
        return {"username": username, "password_length": str(len(password))}

    return app


def test_form_fields_from_a_url_encoded_and_a_multipart_body() -> None:
    with TestClient(login_app()) as client:
        encoded = client.post("/login", data={"username": "ada", "password": "secret"})
        multipart = client.post(
            "/login", data={"username": "ada", "password": "secret"}, files={"unused": ("a.txt", b"x")}
        )
    assert encoded.json() == {"username": "ada", "password_length": "6"}
    assert multipart.json() == {"username": "ada", "password_length": "6"}


def test_an_invalid_form_field_is_a_422_located_in_the_body() -> None:
    with TestClient(login_app()) as client:
        response = client.post("/login", data={"password": "no"})
    assert response.status_code == 422
    locations = sorted(tuple(error["loc"]) for error in response.json()["errors"])
    assert locations == [("body", "password"), ("body", "username")]


def test_a_json_body_sent_to_a_form_is_a_415_naming_the_form_types() -> None:
    with TestClient(login_app()) as client:
        response = client.post("/login", json={"username": "ada", "password": "secret"})
        missing = client.post("/login", content=b"username=ada", headers={"content-type": ""})
    assert response.status_code == 415
    assert "multipart/form-data" in response.json()["detail"]
    assert "'application/json'" in response.json()["detail"]
    assert missing.status_code == 415


def test_upload_file_has_fastapi_s_attributes_and_methods() -> None:
    app = LineStream()

    @app.post("/files")
    async def files(file: UploadFile, raw: Annotated[bytes, File()], label: Annotated[str, Form()]) -> dict[str, Any]:
        first = await file.read(3)
        await file.seek(0)
        whole = await file.read()
        return {
            "filename": file.filename,
            "content_type": file.content_type,
            "size": file.size,
            "header": file.headers["content-type"],
            "first": first.decode(),
            "whole": whole.decode(),
            "raw": raw.decode(),
            "label": label,
        }

    with TestClient(app) as client:
        response = client.post(
            "/files",
            data={"label": "two files"},
            files={"file": ("notes.txt", b"hello world", "text/plain"), "raw": ("raw.bin", b"\x00\x01".hex())},
        )
    assert response.json() == {
        "filename": "notes.txt",
        "content_type": "text/plain",
        "size": 11,
        "header": "text/plain",
        "first": "hel",
        "whole": "hello world",
        "raw": "0001",
        "label": "two files",
    }


def test_lists_of_files_and_optional_files() -> None:
    app = LineStream()

    @app.post("/many")
    async def many(
        files: list[UploadFile], blobs: Annotated[list[bytes], File()], extra: UploadFile | None = None
    ) -> dict[str, Any]:
        return {
            "names": [file.filename for file in files],
            "blobs": [blob.decode() for blob in blobs],
            "extra": extra.filename if extra else None,
        }

    with TestClient(app) as client:
        response = client.post(
            "/many",
            files=[
                ("files", ("a.txt", b"a")),
                ("files", ("b.txt", b"b")),
                ("blobs", ("c", b"c")),
                ("blobs", ("d", b"d")),
            ],
        )
        missing = client.post("/many", files=[("blobs", ("c", b"c"))])
    assert response.json() == {"names": ["a.txt", "b.txt"], "blobs": ["c", "d"], "extra": None}
    assert missing.status_code == 422
    assert [error["loc"] for error in missing.json()["errors"]] == [["body", "files"]]


def test_uploaded_files_are_closed_when_the_request_ends() -> None:
    app = LineStream()
    seen: list[UploadFile] = []

    @app.post("/keep")
    async def keep(file: UploadFile) -> AsyncIterable[dict[str, int]]:
        seen.append(file)
        yield {"size": len(await file.read())}  # readable while the stream runs

    with TestClient(app) as client:
        response = client.post("/keep", files={"file": ("a.txt", b"abc")})
    assert list(iter_json_lines(response)) == [{"size": 3}]
    assert seen[0].file.closed


class Login(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str
    password: str
    remember: bool = False


def test_a_form_model_takes_each_of_its_fields_from_the_form_and_refuses_extras() -> None:
    app = LineStream()

    @app.post("/login")
    async def login(data: Annotated[Login, Form()]) -> Login:
        return data

    with TestClient(app) as client:
        ok = client.post("/login", data={"username": "ada", "password": "pw", "remember": "true"})
        extra = client.post("/login", data={"username": "ada", "password": "pw", "admin": "1"})
        missing = client.post("/login", data={"username": "ada"})
    assert ok.json() == {"username": "ada", "password": "pw", "remember": True}
    assert extra.status_code == 422
    errors = [(error["loc"], error["type"]) for error in extra.json()["errors"]]
    assert errors == [(["body", "admin"], "extra_forbidden")]
    assert [error["loc"] for error in missing.json()["errors"]] == [["body", "password"]]


def test_form_limits_answer_413() -> None:
    limits = BodyLimits(max_form_fields=2, max_form_files=1, max_form_part_size=10, max_upload_size=1000)
    app = LineStream(body_limits=limits)

    @app.post("/form")
    async def form(files: list[UploadFile] | None = None, a: Annotated[str, Form()] = "") -> dict[str, str]:
        return {"a": a}

    with TestClient(app) as client:
        fields = client.post("/form", data={"a": "1", "b": "2", "c": "3"}, files={"x": ("x", b"")})
        files = client.post("/form", files=[("files", ("1", b"1")), ("files", ("2", b"2"))])
        part = client.post("/form", data={"a": "x" * 11}, files={"x": ("x", b"")})
        upload = client.post("/form", files={"files": ("big", b"x" * 2000)})
        fine = client.post("/form", data={"a": "x" * 10}, files={"files": ("small", b"x" * 100)})
    assert [r.status_code for r in (fields, files, part, upload)] == [413, 413, 413, 413]
    settings = ["max_form_fields", "max_form_files", "max_form_part_size", "max_upload_size"]
    for response, setting in zip((fields, files, part, upload), settings, strict=True):
        assert f"LineStream(body_limits=BodyLimits({setting}=...)) changes it" in response.json()["detail"]
    assert all(r.headers["content-type"] == "application/problem+json" for r in (fields, files, part, upload))
    assert fine.json() == {"a": "x" * 10}


def test_a_bytes_file_is_bounded_by_max_body_size_and_says_to_take_an_upload_file() -> None:
    app = LineStream(body_limits=BodyLimits(max_body_size=100))

    @app.post("/bytes")
    async def take(file: Annotated[bytes, File()]) -> dict[str, int]:
        return {"size": len(file)}

    with TestClient(app) as client:
        small = client.post("/bytes", files={"file": ("f", b"x" * 100)})
        large = client.post("/bytes", files={"file": ("f", b"x" * 101)})
    assert small.json() == {"size": 100}
    assert large.status_code == 413
    assert "UploadFile" in large.json()["detail"]


def test_a_malformed_multipart_body_is_a_400() -> None:
    with TestClient(login_app()) as client:
        response = client.post(
            "/login",
            content=b"--b\r\nContent-Disposition: form-data\r\n\r\nvalue\r\n--b--\r\n",
            headers={"content-type": "multipart/form-data; boundary=b"},
        )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"


def test_a_form_and_a_json_body_at_once_fail_at_build_time() -> None:
    app = LineStream()

    with pytest.raises(EndpointDefinitionError, match=r"cannot be a form .* and JSON"):

        @app.post("/both")
        async def both(item: Login, name: Annotated[str, Form()]) -> None: ...


def test_openapi_describes_multipart_and_url_encoded_bodies() -> None:
    app = LineStream()

    @app.post("/upload")
    async def upload(file: UploadFile, files: list[UploadFile], note: Annotated[str, Form()] = "") -> None: ...

    @app.post("/login")
    async def login(data: Annotated[Login, Form()]) -> None: ...

    with TestClient(app) as client:
        document = client.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    upload_body = document["paths"]["/upload"]["post"]["requestBody"]
    assert upload_body["required"] is True
    reference = upload_body["content"]["multipart/form-data"]["schema"]["$ref"]
    body = schemas[reference.rsplit("/", 1)[1]]
    assert reference.rsplit("/", 1)[1].startswith("Body_upload")
    assert body["properties"]["file"] == {"type": "string", "format": "binary", "title": "File"}
    assert body["properties"]["files"]["items"] == {"type": "string", "format": "binary"}
    assert sorted(body["required"]) == ["file", "files"]
    login_body = document["paths"]["/login"]["post"]["requestBody"]["content"]
    assert list(login_body) == ["application/x-www-form-urlencoded"]
    login_schema = login_body["application/x-www-form-urlencoded"]["schema"]
    resolved = schemas[login_schema["$ref"].rsplit("/", 1)[1]] if "$ref" in login_schema else login_schema
    assert set(resolved["properties"]) == {"username", "password", "remember"}


# Over uvicorn, the server's memory capped: a 1 GiB file is spooled to disk, never held.

ADDRESS_SPACE = 1024 * 1024 * 1024
RSS_GROWTH = 64 * 1024 * 1024


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    with serve_process("tests.apps.hostile_app:app", address_space=ADDRESS_SPACE, env={"MALLOC_ARENA_MAX": "2"}) as s:
        httpx.get(s.url + "/quick").raise_for_status()
        yield s


def multipart_of_size(boundary: bytes, size: int, digest: Any) -> Iterator[bytes]:
    yield b"--" + boundary + b'\r\nContent-Disposition: form-data; name="note"\r\n\r\nbig one\r\n'
    yield b"--" + boundary + b'\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n'
    yield b"Content-Type: application/octet-stream\r\n\r\n"
    block = os.urandom(1024 * 1024)
    for _ in range(size // len(block)):
        digest.update(block)
        yield block
    yield b"\r\n--" + boundary + b"--\r\n"


@pytest.mark.slow
def test_a_one_gib_upload_is_spooled_to_disk_with_bounded_memory(server: ServerProcess) -> None:
    digest = hashlib.sha256()
    before = server.reset_peak()
    response = httpx.post(
        server.url + "/upload",
        content=multipart_of_size(b"xyzzy", 1024 * 1024 * 1024, digest),
        headers={"content-type": "multipart/form-data; boundary=xyzzy"},
        timeout=300,
    )
    assert response.json() == {
        "filename": "big.bin",
        "size": 1024 * 1024 * 1024,
        "sha256": digest.hexdigest(),
        "note": "big one",
    }
    assert server.peak_rss - before < RSS_GROWTH


def multipart_of_parts(boundary: bytes, name: str, count: int, size: int, *, files: bool) -> Iterator[bytes]:
    """``count`` parts named ``name`` of ``size`` bytes each: files, or text fields."""
    block = b"x" * size
    for index in range(count):
        filename = f'; filename="{index}.bin"'.encode() if files else b""
        yield b"--" + boundary + b'\r\nContent-Disposition: form-data; name="' + name.encode() + b'"' + filename
        yield b"\r\n\r\n" + block + b"\r\n"
    yield b"--" + boundary + b"--\r\n"


def test_many_small_files_are_spooled_by_the_forms_total_not_each_by_its_own(server: ServerProcess) -> None:
    # 300 files just under 1 MiB: each alone would stay in memory; together, 300 MiB.
    before = server.reset_peak()
    response = httpx.post(
        server.url + "/upload-many",
        content=multipart_of_parts(b"xyzzy", "files", 300, 1024 * 1024 - 1, files=True),
        headers={"content-type": "multipart/form-data; boundary=xyzzy"},
        timeout=300,
    )
    assert response.json() == {"files": 300, "size": 300 * (1024 * 1024 - 1)}
    assert server.peak_rss - before < RSS_GROWTH


def test_field_values_past_the_forms_memory_bound_are_refused(server: ServerProcess) -> None:
    before = server.reset_peak()
    response = httpx.post(
        server.url + "/notes",
        content=multipart_of_parts(b"xyzzy", "note", 100, 1000 * 1024, files=False),
        headers={"content-type": "multipart/form-data; boundary=xyzzy"},
        timeout=120,
    )
    assert response.status_code == 413
    assert (
        "than 8388608 bytes; send large values as files; the limit is BodyLimits.max_form_memory"
        in response.json()["detail"]
    )
    assert server.peak_rss - before < RSS_GROWTH


def test_files_taken_as_bytes_are_bounded_together(server: ServerProcess) -> None:
    # 40 files of 3 MiB: each under max_body_size (4 MiB), together 120 MiB in memory.
    before = server.reset_peak()
    response = httpx.post(
        server.url + "/upload-many-bytes",
        content=multipart_of_parts(b"xyzzy", "files", 40, 3 * 1024 * 1024, files=True),
        headers={"content-type": "multipart/form-data; boundary=xyzzy"},
        timeout=120,
    )
    assert response.status_code == 413
    assert "4194304 bytes, the most bytes parameters hold in memory together" in response.text
    assert "BodyLimits.max_body_size" in response.text
    assert server.peak_rss - before < RSS_GROWTH


@pytest.mark.parametrize(
    "body",
    [
        b'--b\r\nContent-Disposition: form-data; name="note"\r\n\r\nhello\r\n',  # no closing boundary
        b'--b\r\nContent-Disposition: form-data; name="note"\r\n\r\nhello\r\n--b\r\nContent-Disp',  # cut in a head
        b'--b\r\nContent-Disposition: form-data; name="note"\r\n\r\nhello\r\n--b\r\n'
        b'Content-Disposition: form-data; name="note"\r\n\r\nhal',  # cut in a value
    ],
    ids=["no closing boundary", "cut in a part's headers", "cut in a part's data"],
)
def test_a_truncated_multipart_body_is_a_400_never_a_partial_form(body: bytes) -> None:
    app = LineStream()

    @app.post("/notes")
    async def notes(note: Annotated[list[str], Form()]) -> dict[str, int]:
        return {"notes": len(note)}

    with TestClient(app) as client:
        response = client.post("/notes", content=body, headers={"content-type": "multipart/form-data; boundary=b"})
    assert response.status_code == 400
    assert "ended before its closing boundary" in response.json()["detail"]


def test_a_large_bytes_upload_is_refused_before_it_is_held_in_memory(server: ServerProcess) -> None:
    before = server.reset_peak()
    response = httpx.post(
        server.url + "/upload-bytes",
        content=multipart_of_size(b"xyzzy", 64 * 1024 * 1024, hashlib.sha256()),
        headers={"content-type": "multipart/form-data; boundary=xyzzy"},
        timeout=120,
    )
    assert response.status_code == 413
    assert server.peak_rss - before < RSS_GROWTH
