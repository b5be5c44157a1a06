"""Linear-time stand-ins for SQLite built-ins whose native cost grows with the product of their inputs."""

from __future__ import annotations

import re
import sqlite3
import threading

__all__ = ["SafeFunctions"]

_PRINTF_SPEC = re.compile(r"%([-+ #!,0]*)(\*|\d*)(?:\.(\*|\d*))?(l{0,2})(.)", re.DOTALL)


class SafeFunctions:
    """Linear-time stand-ins for built-ins whose native cost grows with the product of their inputs.

    Natively ``instr``/``replace`` compare the needle at every offset and two-argument ``trim`` scans
    the whole character set for every character; on values near the length cap one call runs for
    seconds with no deadline check. Python's string search is linear, so these cannot.
    """

    def __init__(self, max_value_bytes: int) -> None:
        self.max_value_bytes = max_value_bytes
        # printf is delegated to SQLite itself once its arguments are checked; a private
        # in-memory connection keeps its exact formatting rules.
        self._printf_conn = sqlite3.connect(":memory:", check_same_thread=False)
        self._printf_conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, max_value_bytes)
        self._printf_lock = threading.Lock()

    def close(self) -> None:
        """Release the private connection printf is delegated to."""
        self._printf_conn.close()

    def install(self, conn: sqlite3.Connection) -> None:
        """Register the stand-ins on ``conn``, shadowing the built-ins of the same names."""
        conn.create_function("instr", 2, self.instr, deterministic=True)
        conn.create_function("replace", 3, self.replace, deterministic=True)
        conn.create_function("trim", 2, self.trim, deterministic=True)
        conn.create_function("ltrim", 2, self.ltrim, deterministic=True)
        conn.create_function("rtrim", 2, self.rtrim, deterministic=True)
        conn.create_function("printf", -1, self.printf, deterministic=True)
        if sqlite3.sqlite_version_info >= (3, 38, 0):
            conn.create_function("format", -1, self.printf, deterministic=True)

    def _text(self, value: object) -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, bytes):
            return value.decode("utf-8", errors="replace")
        if isinstance(value, float):
            # SQLite renders REAL with its own rules (1e+20 -> "1.0e+20"); ask it.
            with self._printf_lock:
                return str(self._printf_conn.execute("SELECT CAST(? AS TEXT)", (value,)).fetchone()[0])
        return str(value)

    def instr(self, haystack: object, needle: object) -> int | None:
        """SQLite's ``instr`` in linear time."""
        if haystack is None or needle is None:
            return None
        if isinstance(haystack, bytes) and isinstance(needle, bytes):
            return haystack.find(needle) + 1
        return self._text(haystack).find(self._text(needle)) + 1

    def replace(self, value: object, old: object, new: object) -> str | None:
        """SQLite's ``replace``, refusing results over the value-length cap before building them."""
        if value is None or old is None or new is None:
            return None
        text, old_text, new_text = self._text(value), self._text(old), self._text(new)
        if not old_text:
            return text
        grow = len(new_text.encode()) - len(old_text.encode())
        if grow > 0 and len(text.encode()) + text.count(old_text) * grow > self.max_value_bytes:
            raise OverflowError("string or blob too big")
        return text.replace(old_text, new_text)

    def _strip(self, value: object, chars: object, left: bool, right: bool) -> str | None:
        if value is None or chars is None:
            return None
        text, drop = self._text(value), set(self._text(chars))
        start, end = 0, len(text)
        if left:
            while start < end and text[start] in drop:
                start += 1
        if right:
            while end > start and text[end - 1] in drop:
                end -= 1
        return text[start:end]

    def trim(self, value: object, chars: object) -> str | None:
        """Two-argument ``trim`` with a set lookup per character."""
        return self._strip(value, chars, True, True)

    def ltrim(self, value: object, chars: object) -> str | None:
        """Two-argument ``ltrim`` with a set lookup per character."""
        return self._strip(value, chars, True, False)

    def rtrim(self, value: object, chars: object) -> str | None:
        """Two-argument ``rtrim`` with a set lookup per character."""
        return self._strip(value, chars, False, True)

    def printf(self, *args: object) -> str | None:
        """SQLite's own ``printf``, once ``%c`` repetitions are known to fit the value-length cap."""
        if not args or args[0] is None:
            return None
        fmt = self._text(args[0])
        # Native %c with a precision appends one character at a time, even past the length
        # cap (2e9 repetitions take seconds); refuse what could not be returned anyway.
        next_arg = 1
        for match in _PRINTF_SPEC.finditer(fmt):
            _flags, width, precision, _length, kind = match.groups()
            if kind == "%":
                continue
            if width == "*":
                next_arg += 1
            count: object = precision
            if precision == "*":
                count = args[next_arg] if next_arg < len(args) else 0
                next_arg += 1
            next_arg += 1
            if kind == "c" and _as_count(count) > self.max_value_bytes:
                raise OverflowError("string or blob too big")
        placeholders = ", ".join("?" * len(args))
        with self._printf_lock:
            try:
                formatted = self._printf_conn.execute(f"SELECT printf({placeholders})", args).fetchone()[0]
            except sqlite3.DataError:  # past the length limit
                formatted = None
        if formatted is None:  # at the limit SQLite's printf gives NULL: both are "too big", as SQLite says
            raise OverflowError("string or blob too big")
        return str(formatted)


def _as_count(value: object) -> int:
    if isinstance(value, int | float):
        return int(value) if abs(value) < 1e18 else 10**18
    if isinstance(value, str):
        match = re.match(r"\s*[-+]?\d{1,18}", value)
        return int(match.group()) if match else 0
    return 0
