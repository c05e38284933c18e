"""``jsonable_encoder``: any value as plain JSON data (dicts, lists, strings, numbers), as FastAPI's.

```python
from linestream.encoders import jsonable_encoder

fake_db[item_id] = jsonable_encoder(item)  # a model with a datetime -> {"title": ..., "timestamp": "2026-..."}
```

Pydantic does the work (``to_jsonable_python``: models, dataclasses, datetimes, UUIDs, enums, sets, bytes,
paths...), so the result is what the app would send for the value. One difference from FastAPI: a ``Decimal``
becomes a string (``"1.50"``, exact), where FastAPI gives a float or an int.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pydantic_core
from pydantic import BaseModel

__all__ = ["jsonable_encoder"]


def jsonable_encoder(
    obj: Any,
    include: Any = None,
    exclude: Any = None,
    by_alias: bool = True,
    exclude_unset: bool = False,
    exclude_defaults: bool = False,
    exclude_none: bool = False,
    custom_encoder: Mapping[Any, Callable[[Any], Any]] | None = None,
    sqlalchemy_safe: bool = True,
) -> Any:
    """``obj`` as JSON-compatible data. ``include``/``exclude`` (sets or dicts of fields), ``by_alias``,
    ``exclude_unset``/``exclude_defaults``/``exclude_none`` apply to models as in ``model_dump``;
    ``custom_encoder`` maps a type to a function giving its JSON data (tried before the defaults)."""
    encoders = dict(custom_encoder or {})

    def fallback(value: Any) -> Any:
        encoder = _encoder_for(value, encoders)
        if encoder is not None:
            return jsonable_encoder(encoder(value), custom_encoder=encoders)
        if isinstance(value, Mapping):
            return {str(key): item for key, item in value.items()}
        if hasattr(value, "__dict__"):
            return {key: item for key, item in vars(value).items() if not (sqlalchemy_safe and key.startswith("_sa"))}
        raise ValueError(f"{type(value).__name__} is not JSON serializable; give a custom_encoder for it.")

    top = _encoder_for(obj, encoders)
    if top is not None:
        return jsonable_encoder(top(obj), custom_encoder=encoders)
    if isinstance(obj, BaseModel):
        return obj.model_dump(
            mode="json",
            include=include,
            exclude=exclude,
            by_alias=by_alias,
            exclude_unset=exclude_unset,
            exclude_defaults=exclude_defaults,
            exclude_none=exclude_none,
            fallback=fallback,
        )
    if isinstance(obj, Mapping) and (include is not None or exclude is not None):
        obj = {
            key: value
            for key, value in obj.items()
            if (include is None or key in include) and (exclude is None or key not in exclude)
        }
    return pydantic_core.to_jsonable_python(
        obj, by_alias=by_alias, exclude_none=exclude_none, fallback=fallback, serialize_unknown=False
    )


def _encoder_for(value: Any, encoders: Mapping[Any, Callable[[Any], Any]]) -> Callable[[Any], Any] | None:
    if not encoders:
        return None
    for cls in type(value).__mro__:
        if cls in encoders:
            return encoders[cls]
    return None
