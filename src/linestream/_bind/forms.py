"""Form bodies: ``Form()`` and ``File()`` parameters, ``UploadFile``, read within the body limits.

A form is parsed by python-multipart through Starlette's parsers, fed by the same bounded reader as every body
(``Content-Encoding`` undone in slices, ``idle_timeout``, ``body_timeout``). What a multipart form holds in
memory is bounded for the form as a whole, ``max_form_memory``: its field values (413 past it) and the files
not yet on disk (a file is spooled to disk past 1 MiB, or as soon as the form's memory would pass the bound), so
a thousand small files cost no more than one large one. ``max_upload_size`` bounds a multipart body in all,
``max_form_fields``, ``max_form_files`` and ``max_form_part_size`` (a field's value) bound its parts (413 past
any of them). A multipart body that ends before its closing boundary is a 400, never a form missing its last
part. A URL-encoded form is a plain body: ``max_body_size``.
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
from linestream._declare.options import BodyLimits, body_limit
from linestream.exceptions import HTTPException

__all__ = ["FORM_TYPES", "UploadFile", "read_form"]

#: The content types of a form body.
FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


class UploadFile(StarletteUploadFile):
    """A file uploaded in a form (``file: UploadFile`` or ``Annotated[UploadFile, File()]``), as in FastAPI:
    ``filename``, ``content_type``, ``size``, ``headers``, and async ``read``, ``write``, ``seek``, ``close``.
    Its content is spooled to disk past 1 MiB (or sooner, to keep the form within ``max_form_memory``); it is
    closed when the request ends."""

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
        parser = _MultiPartForm(headers, stream, limits)
    try:
        form: FormData = await parser.parse()
        return form
    except MultiPartException as exc:
        message = str(exc)
        for start, field in _PARSER_LIMITS:
            if message.startswith(start):
                raise HTTPException(413, f"{message} (the form body); {body_limit(field)}.") from exc
        raise HTTPException(413 if message.startswith("The form's") else 400, f"{message} (the form body)") from exc


#: Starlette's messages for the limits it checks, and the settings that set them.
_PARSER_LIMITS = (
    ("Too many files", "max_form_files"),
    ("Too many fields", "max_form_fields"),
    ("Part exceeded", "max_form_part_size"),
)


class _MultiPartForm(MultiPartParser):
    """Starlette's multipart parser, with the memory of the whole form bounded (``max_form_memory``) and the
    closing boundary required."""

    def __init__(self, headers: Headers, stream: AsyncGenerator[bytes, None], limits: BodyLimits) -> None:
        super().__init__(
            headers,
            stream,
            max_files=limits.max_form_files,
            max_fields=limits.max_form_fields,
            max_part_size=limits.max_form_part_size,
        )
        self._budget = limits.max_form_memory
        #: Bytes the form holds in memory: field values, and the content of files not yet spooled to disk.
        self._memory = 0
        self._in_memory: dict[int, int] = {}  # id(file) -> its bytes in memory
        self._ended = False

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        size = end - start
        part = self._current_part
        if part.file is None:
            if self._memory + size > self._budget:
                raise MultiPartException(
                    f"The form's field values and files in memory would be more than {self._budget} bytes; send "
                    f"large values as files; {body_limit('max_form_memory')}."
                )
            self._memory += size
        else:
            file = part.file.file
            held = self._in_memory.get(id(file))
            if held is not None:
                if self._memory + size > self._budget or held + size > self.spool_max_size:
                    self._spool(file)  # to disk now: the form's memory stays within its bound
                else:
                    self._in_memory[id(file)] = held + size
                    self._memory += size
        super().on_part_data(data, start, end)

    def on_headers_finished(self) -> None:
        super().on_headers_finished()
        part = self._current_part
        if part.file is not None:
            self._in_memory[id(part.file.file)] = 0
            if self._memory >= self._budget:
                self._spool(part.file.file)

    def _spool(self, file: Any) -> None:
        self._memory -= self._in_memory.pop(id(file), 0)
        file.rollover()

    def on_end(self) -> None:
        self._ended = True

    async def parse(self) -> FormData:
        form = await super().parse()
        if not self._ended:
            await form.close()
            raise MultiPartException(
                "The multipart body ended before its closing boundary: a part or more may be missing."
            )
        return form


async def _once(body: bytes) -> AsyncGenerator[bytes, None]:
    yield body


async def _bounded(receive: Receive, content_encoding: str, limits: BodyLimits) -> AsyncGenerator[bytes, None]:
    """The decoded bytes of a multipart body, within ``max_upload_size`` and ``idle_timeout`` (no limit on the
    whole duration: a large file takes what the link allows)."""
    total = 0
    async for piece in body_slices(receive, content_encoding, limits):
        total += len(piece)
        if limits.max_upload_size is not None and total > limits.max_upload_size:
            raise HTTPException(
                413, f"The form body is larger than {limits.max_upload_size} bytes; {body_limit('max_upload_size')}."
            )
        yield piece
