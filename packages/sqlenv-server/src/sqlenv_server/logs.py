"""Access logs without secrets.

A session id in a query string (``/state?session_id=...``) is a bearer token for that session, so
it never reaches uvicorn's access log, however the parameter's name is encoded
(``session%5Fid``, ``session_id`` in any case): names are decoded as the server decodes them
before they are compared.
"""

from __future__ import annotations

import logging
from urllib.parse import unquote_plus

__all__ = ["RedactSessionIds", "redact_access_log", "redact_query"]


def redact_query(text: str) -> str:
    """``text`` with the value of every query parameter whose decoded name is a session id redacted.

    Linear in the text's length: the query is split on ``&`` and each name decoded once.
    """
    path, sep, query = text.partition("?")
    if not sep:
        return text
    parts: list[str] = []
    for param in query.split("&"):
        name, eq, _ = param.partition("=")
        if eq and "session" in unquote_plus(name).lower():
            param = f"{name}=<redacted>"
        parts.append(param)
    return f"{path}?{'&'.join(parts)}"


class RedactSessionIds(logging.Filter):
    """Replaces the value of any ``session_id`` query parameter in a log record's arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact and keep the record."""
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(redact_query(arg) if isinstance(arg, str) else arg for arg in record.args)
        return True


def redact_access_log(logger_name: str = "uvicorn.access") -> None:
    """Install :class:`RedactSessionIds` on uvicorn's access logger (once)."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, RedactSessionIds) for f in logger.filters):
        logger.addFilter(RedactSessionIds())
