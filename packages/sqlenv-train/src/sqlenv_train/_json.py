"""Narrowing of parsed JSON for the type checker: objects as ``dict[str, Any]``, arrays as ``list[Any]``."""

from __future__ import annotations

from typing import Any, cast

__all__ = ["as_list", "as_object"]


def as_object(value: object) -> dict[str, Any] | None:
    """``value`` if it is a JSON object (a dict), else ``None``."""
    return cast(dict[str, Any], value) if isinstance(value, dict) else None


def as_list(value: object) -> list[Any] | None:
    """``value`` if it is a JSON array (a list), else ``None``."""
    return cast(list[Any], value) if isinstance(value, list) else None
