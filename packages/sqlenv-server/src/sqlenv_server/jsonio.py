r"""JSON in and out of the server, safe for anything a client can send.

Every reply the server writes goes through :func:`encode` (HTTP bodies through
:class:`SafeJSONResponse`, WebSocket frames and MCP replies directly), so no reply ever fails to
encode (a bare 500) or is a frame ``JSON.parse`` rejects. A non-finite number in an observation
or a state reaches the client as the string ``"Infinity"``, ``"-Infinity"`` or ``"NaN"``, as the
result text spells it (:func:`sqlenv_core.wire.json_safe` writes them so before anything gets
here; ``sqlenv_core.wire.observation_payload`` documents the contract); a non-finite float that
reaches these encoders anyway (none should) becomes ``null`` rather than invalid JSON. A lone
surrogate that an agent sent in its SQL is escaped (``\ud800``) instead of breaking UTF-8.
Every request body goes through :func:`loads`, which turns nesting too deep to parse into a
``ValueError`` like any other malformed input.
"""

from __future__ import annotations

import json
import math
from typing import Any

from fastapi.responses import JSONResponse

__all__ = ["SafeJSONResponse", "dumps", "encode", "loads"]


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float replaced by ``None`` (iterative: no recursion limit).

    A last resort for a float that bypassed ``sqlenv_core.wire.json_safe`` (which spells them as
    words): better ``null`` than a reply no JSON parser reads.
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if not isinstance(value, dict | list | tuple):
        return value
    root: list[Any] = [value]
    stack: list[tuple[Any, Any]] = [(root, 0)]
    while stack:
        parent, key = stack.pop()
        item = parent[key]
        if isinstance(item, float) and not math.isfinite(item):
            parent[key] = None
        elif isinstance(item, dict):
            copied: dict[Any, Any] = dict(item)  # pyright: ignore[reportUnknownArgumentType]
            parent[key] = copied
            stack.extend((copied, k) for k in copied)
        elif isinstance(item, list | tuple):
            listed: list[Any] = list(item)  # pyright: ignore[reportUnknownArgumentType]
            parent[key] = listed
            stack.extend((listed, i) for i in range(len(listed)))
    return root[0]


def encode(value: Any) -> bytes:
    """``value`` as UTF-8 JSON that every JSON parser accepts (see the module docstring).

    Raises:
        TypeError: ``value`` holds something that is not JSON data (a bug, not client input).
    """
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except ValueError:  # a non-finite number
        value = _finite(value)
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except RecursionError:
        raise TypeError("reply nested too deeply to encode") from None
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: escape it
        return json.dumps(_finite(value), ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


def dumps(value: Any) -> str:
    """``value`` as ASCII JSON text for WebSocket text frames, in one pass.

    Safe for any string: non-ASCII characters, lone surrogates included, are escaped. Replies
    spell non-finite numbers as words already (module docstring); a stray non-finite float
    becomes ``null``.

    Raises:
        TypeError: ``value`` holds something that is not JSON data (a bug, not client input).
    """
    try:
        return json.dumps(value, allow_nan=False, separators=(",", ":"))
    except ValueError:  # a non-finite number
        return json.dumps(_finite(value), allow_nan=False, separators=(",", ":"))
    except RecursionError:
        raise TypeError("reply nested too deeply to encode") from None


def loads(raw: str | bytes) -> Any:
    """Parse a request body.

    Raises:
        ValueError: not JSON, not UTF-8, or nested too deeply to parse.
    """
    try:
        return json.loads(raw)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


class SafeJSONResponse(JSONResponse):
    """FastAPI's JSON response through :func:`encode`: never fails on what a client sent."""

    def render(self, content: Any) -> bytes:
        """The body."""
        return encode(content)
