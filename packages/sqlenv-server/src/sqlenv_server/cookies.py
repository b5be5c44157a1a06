"""The session cookie, read in linear time on every supported Python.

``http.cookies`` unquotes a quoted value with a regex that is quadratic in the number of
backslashes on Python < 3.11.10 (CVE-2024-7592), and Starlette's ``Request.cookies`` uses it: one
request with a ``Cookie`` header of backslashes froze a worker's event loop for seconds. Session
ids are plain tokens (``[A-Za-z0-9-]``), so this reads the one cookie the server needs by
splitting the header, with no unquoting beyond dropping surrounding double quotes.
"""

from __future__ import annotations

from sqlenv_core.wire import SESSION_COOKIE, SESSION_ID_MAX_CHARS

__all__ = ["MAX_COOKIE_HEADER_CHARS", "session_cookie"]

#: Characters of a ``Cookie`` header looked at; the rest is ignored (browsers send at most ~8 kB).
MAX_COOKIE_HEADER_CHARS = 16_384


def session_cookie(header: str | bytes | None, name: str = SESSION_COOKIE) -> str | None:
    """The value of cookie ``name`` in a ``Cookie`` header, or ``None``.

    Linear in the header's length (of which at most :data:`MAX_COOKIE_HEADER_CHARS` are read);
    a quoted value loses its quotes; the value is cut to the longest session id.
    """
    if not header:
        return None
    text = header.decode("latin-1") if isinstance(header, bytes) else header
    for part in text[:MAX_COOKIE_HEADER_CHARS].split(";"):
        key, sep, value = part.partition("=")
        if sep and key.strip() == name:
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            return value[:SESSION_ID_MAX_CHARS] or None
    return None
