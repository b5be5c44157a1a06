"""Typed views of decoded JSON values."""

from __future__ import annotations

from typing import Any, cast


def json_object(value: object) -> dict[str, Any] | None:
    """``value`` as a ``dict`` with string keys when it is a JSON object, else ``None``."""
    if not isinstance(value, dict):
        return None
    return {str(k): v for k, v in cast(dict[Any, Any], value).items()}
