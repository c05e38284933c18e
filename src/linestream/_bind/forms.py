"""Form bodies: ``Form()`` and ``File()`` parameters, ``UploadFile``, read within the body limits.

A form is parsed by python-multipart through Starlette's parsers, fed by the same bounded reader as every body
(``Content-Encoding`` undone in slices, ``idle_timeout``, ``body_timeout``). Uploaded files are spooled to disk
past 1 MiB, so memory stays bounded whatever their size; ``max_upload_size`` bounds a multipart body in all,
``max_form_fields``, ``max_form_files`` and ``max_form_part_size`` (a field's value) bound its parts (413 past
any of them). A URL-encoded form is a plain body: ``max_body_size``.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema
from starlette.datastructures import FormData, Headers
from starlette.datastructures import UploadFile as StarletteUploadFile
from starlette.formparsers import FormParser, MultiPartException, MultiPartParser
from starlette.types import Receive

from linestream._bind.body import body_slices, read_body
from linestream._declare.options import BodyLimits
from linestream.exceptions import HTTPException

__all__ = ["FORM_TYPES", "UploadFile", "read_form"]

#: The content types of a form body.
FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


class UploadFile(StarletteUploadFile):
    """A file uploaded in a form (``file: UploadFile`` or ``Annotated[UploadFile, File()]``), as in FastAPI:
    ``filename``, ``content_type``, ``size``, ``headers``, and async ``read``, ``write``, ``seek``, ``close``.
    Its content is spooled to disk past 1 MiB; it is closed when the request ends."""

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.is_instance_schema(StarletteUploadFile)

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {"type": "string", "format": "binary"}


async def read_form(receive: Receive, headers: Headers, media_type: str, limits: BodyLimits) -> FormData:
    """The request's form (``media_type``: one of ``FORM_TYPES``), read within ``limits``: 413 past a limit, 400
    when it is not a well-formed form, 408 when it takes too long."""
    if media_type == "application/x-www-form-urlencoded":
        body = await read_body(receive, headers.get("content-length"), headers.get("content-encoding", ""), limits)
        parser: Any = FormParser(headers, _once(body), max_fields=limits.max_form_fields)
    else:
        stream = _bounded(receive, headers.get("content-encoding", ""), limits)
        parser = MultiPartParser(
            headers,
            stream,
            max_files=limits.max_form_files,
            max_fields=limits.max_form_fields,
            max_part_size=limits.max_form_part_size,
        )
    try:
        form: FormData = await parser.parse()
        return form
    except MultiPartException as exc:
        message = str(exc)
        too_much = message.startswith(("Too many", "Part exceeded"))
        raise HTTPException(413 if too_much else 400, f"{message} (the form body)") from exc


async def _once(body: bytes) -> AsyncGenerator[bytes, None]:
    yield body


async def _bounded(receive: Receive, content_encoding: str, limits: BodyLimits) -> AsyncGenerator[bytes, None]:
    """The decoded bytes of a multipart body, within ``max_upload_size`` and ``idle_timeout`` (no limit on the
    whole duration: a large file takes what the link allows)."""
    total = 0
    async for piece in body_slices(receive, content_encoding, limits):
        total += len(piece)
        if limits.max_upload_size is not None and total > limits.max_upload_size:
            raise HTTPException(413, f"The form body is larger than max_upload_size={limits.max_upload_size} bytes.")
        yield piece
