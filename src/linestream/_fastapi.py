"""What ``LineStream(compat="fastapi")`` answers differently: FastAPI's own encodings, for an app that moves
from FastAPI while its clients (and tests) still expect FastAPI's bytes (docs/fastapi.md, "Compatibility mode").

- A value returned without a declared type is encoded as FastAPI's ``jsonable_encoder`` then ``json.dumps``
  encode it: datetimes by ``isoformat()`` (``+00:00``), durations as seconds, ``Decimal`` as a number.
- A JSON body that does not parse is reported as FastAPI reports it (the position and the message of
  Python's ``json`` module).
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import ipaddress
import json
import pathlib
import re
import uuid
from collections import deque
from collections.abc import Mapping
from types import GeneratorType
from typing import Any

from pydantic import BaseModel

__all__ = ["COMPAT_MODES", "fastapi_json", "fastapi_jsonable", "json_error"]

#: The values of ``LineStream(compat=...)``.
COMPAT_MODES = ("fastapi",)

_AS_STRING = (uuid.UUID, pathlib.PurePath, ipaddress.IPv4Address, ipaddress.IPv6Address, ipaddress.IPv4Network,
              ipaddress.IPv6Network, ipaddress.IPv4Interface, ipaddress.IPv6Interface)  # fmt: skip
_SEQUENCES = (list, set, frozenset, tuple, deque, GeneratorType)


def fastapi_jsonable(value: Any) -> Any:
    """``value`` as JSON data by FastAPI's ``jsonable_encoder`` rules (its defaults)."""
    if isinstance(value, BaseModel):
        return fastapi_jsonable(value.model_dump(mode="json", by_alias=True))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return fastapi_jsonable(dataclasses.asdict(value))
    if isinstance(value, enum.Enum):
        return value.value
    if value is None or isinstance(value, (str, int, float)):
        return value
    if isinstance(value, Mapping):
        return {fastapi_jsonable(key): fastapi_jsonable(item) for key, item in value.items()}
    if isinstance(value, _SEQUENCES):
        return [fastapi_jsonable(item) for item in value]
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        exponent = value.as_tuple().exponent
        return int(value) if isinstance(exponent, int) and exponent >= 0 else float(value)
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, re.Pattern):
        return value.pattern
    if isinstance(value, _AS_STRING):
        return str(value)
    try:
        data = dict(value)
    except (TypeError, ValueError):
        try:
            data = vars(value)
        except TypeError as exc:
            raise ValueError(f"{type(value).__name__} is not JSON serializable") from exc
    return fastapi_jsonable(data)


def fastapi_json(value: Any) -> bytes:
    """``value`` as FastAPI's ``JSONResponse`` sends it (after ``jsonable_encoder``)."""
    text = json.dumps(fastapi_jsonable(value), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.encode()


def json_error(raw: bytes) -> dict[str, Any]:
    """FastAPI's error for a JSON body that does not parse: located at the character where it failed."""
    try:
        json.loads(raw)
    except json.JSONDecodeError as exc:
        return {"loc": ["body", exc.pos], "msg": "JSON decode error", "type": "json_invalid", "input": {},
                "ctx": {"error": exc.msg}}  # fmt: skip
    except (UnicodeDecodeError, ValueError) as exc:
        return {"loc": ["body", 0], "msg": "JSON decode error", "type": "json_invalid", "input": {},
                "ctx": {"error": str(exc)}}  # fmt: skip
    # pydantic-core refused what Python's json accepts (NaN, a lone surrogate): still invalid here.
    return {"loc": ["body", 0], "msg": "JSON decode error", "type": "json_invalid", "input": {}, "ctx": {"error": ""}}
