"""Access logs without secrets.

A session id in a query string (``/state?session_id=...``) is a bearer token for that session, so
it never reaches uvicorn's access log.
"""

from __future__ import annotations

import logging
import re

__all__ = ["RedactSessionIds", "redact_access_log"]

_SESSION_PARAM = re.compile(r"(session_id=)[^&\s]*", re.IGNORECASE)


class RedactSessionIds(logging.Filter):
    """Replaces the value of any ``session_id`` query parameter in a log record's arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact and keep the record."""
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(
                _SESSION_PARAM.sub(r"\1<redacted>", arg) if isinstance(arg, str) else arg for arg in record.args
            )
        return True


def redact_access_log(logger_name: str = "uvicorn.access") -> None:
    """Install :class:`RedactSessionIds` on uvicorn's access logger (once)."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, RedactSessionIds) for f in logger.filters):
        logger.addFilter(RedactSessionIds())
