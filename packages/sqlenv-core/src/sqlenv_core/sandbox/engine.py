"""The engine: :class:`Sandbox` runs one read-only statement at a time within its limits."""

from __future__ import annotations

import itertools
import os
import re
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import cast

from sqlenv_core.protocol import Cell
from sqlenv_core.sandbox.authorizer import Authorizer, statement_name, unreadable_table
from sqlenv_core.sandbox.limits import CancelToken, InlineBudget, QueryResult, SandboxError, SandboxLimits
from sqlenv_core.sandbox.pool import ConnectionPool, PooledConnection
from sqlenv_core.sandbox.watchdog import WATCHDOG, TempBudget

__all__ = ["Sandbox", "quote_identifier"]

# Whitespace SQLite does not treat as whitespace (no-break and other Unicode spaces, zero-width).
_ODD_SPACE = re.compile(r"[^\S\t\n\v\f\r ]|[\u200b\u200c\u200d\u2060\ufeff]")

_MAX_ERROR_TEXT = 200
# Rows fetched per batch at most, and the most bytes a batch may hold at worst (every cell of
# every row at the value-length cap); the batch size follows from the result's width.
_MAX_BATCH_ROWS = 256
_BATCH_BYTES = 8 * 1024 * 1024
_SQLITE_NOMEM = 7
_SQLITE_READONLY = 8
_SQLITE_INTERRUPT = 9
_SQLITE_TOOBIG = 18
_SQLITE_AUTH = 23


def quote_identifier(name: str) -> str:
    """Quote ``name`` as an SQLite identifier (``"a""b"``), so no SQL is built from raw text."""
    return '"' + name.replace('"', '""') + '"'


def _decode_text(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


def _short(text: str, limit: int = _MAX_ERROR_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Sandbox:
    """A read-only, resource-capped view of one SQLite database file.

    Each call borrows a connection from a :class:`~sqlenv_core.sandbox.pool.ConnectionPool` and
    gives it back when it returns. By default the sandbox has a pool of its own (one connection,
    opened on first use and kept); pass ``pool=SHARED_POOL`` to share idle connections with every
    other sandbox on the same database and limits, as environments do. A ``Sandbox`` is safe to
    share between threads (its calls are serialised). Close it with :meth:`close` or a ``with``
    block.

    Example:
        >>> with Sandbox("shop.sqlite") as box:  # doctest: +SKIP
        ...     box.execute("SELECT count(*) FROM orders").rows
        [(42,)]
    """

    def __init__(
        self, db_path: str | Path, limits: SandboxLimits | None = None, *, pool: ConnectionPool | None = None
    ) -> None:
        self._path_key = db_path if isinstance(db_path, str) else str(db_path)
        self.limits = limits or SandboxLimits()
        self._own_pool = pool is None
        self._pool = pool if pool is not None else ConnectionPool(max_idle_per_database=1, max_idle=1)
        self._slot = self._pool.slot(self._path_key, self.limits)
        self._lock = threading.Lock()
        # Guards _running/_cancelled so interrupt() never reaches a call that has already returned.
        self._interrupt_lock = threading.Lock()
        self._running: int | None = None  # the watchdog token of the call in progress
        self._cancelled = False
        self._deadline = 0.0
        self._timed_out = False
        self._temp_exceeded = False
        self._over_budget = False
        self._fetched_bytes = 0
        self._value_cap = self.limits.max_value_bytes  # the longest value SQLite may return now
        self._tables: list[str] | None = None
        self._size: int | None = None

    @property
    def db_path(self) -> Path:
        """The database file."""
        return Path(self._path_key)

    # -- lifecycle -----------------------------------------------------------------------------

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the sandbox's own connection (a shared pool keeps its idle ones for others).

        The sandbox opens or borrows one again if used after this.
        """
        with self._lock:
            if self._own_pool:
                self._pool.close()

    # -- queries -------------------------------------------------------------------------------

    def execute(
        self,
        sql: str,
        *,
        max_rows: int | None = None,
        timeout_s: float | None = None,
        cancel: CancelToken | None = None,
        budget: InlineBudget | None = None,
    ) -> QueryResult:
        """Run one read-only statement and fetch its rows within the limits.

        Args:
            sql: one SQL statement (trailing ``;``s and comments are fine).
            max_rows: rows to fetch at most (default ``limits.max_rows``).
            timeout_s: deadline for this call (default ``limits.timeout_s``).
            cancel: the request this call belongs to; once it is cancelled the call stops (or
                does not start), even if :meth:`interrupt` came before the statement began.
            budget: run under this much smaller allowance instead (see :class:`InlineBudget`):
                a statement that needs more fails with code ``over_budget``, at once.

        Returns:
            The columns and rows; ``truncated`` is set when rows were left unfetched.

        Raises:
            SandboxError: the SQL was refused, failed, or ran out of time or memory. Nothing else
                escapes for any string an agent can send.
        """
        if not isinstance(sql, str) or not sql or sql.isspace():  # pyright: ignore[reportUnnecessaryIsInstance]
            raise SandboxError("empty", "empty query: send one SELECT statement")
        lim = self.limits
        if len(sql) > lim.max_sql_chars:
            raise SandboxError("too_long", f"SQL is {len(sql):,} characters; the limit is {lim.max_sql_chars:,}")
        if "\x00" in sql:
            raise SandboxError("sql_error", "SQL contains a NUL character; remove it")
        # "SELECT 1;;" is one statement followed by empty ones; sqlite3 would call it two.
        statement = sql.rstrip(" \t\r\n\f\v;")
        if not statement:
            raise SandboxError("empty", "empty query: send one SELECT statement")
        row_cap = lim.max_rows if max_rows is None else max_rows
        timeout = lim.timeout_s if timeout_s is None else timeout_s
        with self._lock:
            lent = self._slot.acquire()
            try:
                if budget is not None:
                    return self._execute_within(lent, sql, statement, row_cap, budget)
                return self._execute(lent, sql, statement, row_cap, timeout, cancel)
            finally:
                self._slot.release(lent)

    def _db_bytes(self) -> int:
        if self._size is None:
            try:
                self._size = os.path.getsize(self._path_key)
            except OSError:
                self._size = 0  # opening it will fail with its own message
        return self._size

    def _execute_within(
        self, lent: PooledConnection, sql: str, statement: str, row_cap: int, budget: InlineBudget
    ) -> QueryResult:
        # No watchdog: the progress handler keeps the deadline (nothing else can interrupt this
        # call: it runs on the thread that would have to ask). Tighter SQLite limits bound what
        # one VM instruction can cost, since the handler runs only between instructions.
        if len(sql) > budget.max_chars or self._db_bytes() > budget.max_db_bytes:
            raise _over_budget()
        conn, lim = lent.conn, self.limits
        start = time.perf_counter()
        deadline = start + budget.max_s
        ticks = budget.max_ops // budget.check_every
        self._over_budget = self._timed_out = self._temp_exceeded = self._cancelled = False

        def check() -> int:
            nonlocal ticks
            ticks -= 1
            if ticks < 0 or time.perf_counter() > deadline:
                self._over_budget = True
                return 1
            return 0

        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, min(budget.max_value_bytes, lim.max_value_bytes))
        conn.setlimit(sqlite3.SQLITE_LIMIT_LIKE_PATTERN_LENGTH, min(budget.max_like_pattern, lim.max_like_pattern))
        conn.set_progress_handler(check, budget.check_every)
        self._deadline = float("inf")
        self._value_cap = min(budget.max_value_bytes, lim.max_value_bytes)
        failure: sqlite3.Error | None = None
        try:
            columns, rows, truncated = self._run(conn, lent.authorizer, statement, row_cap)
        except sqlite3.Error as exc:
            failure = exc
            columns, rows, truncated = [], [], False
        except (MemoryError, UnicodeError):
            self._over_budget = True  # rare: a run without the budget gives the right message
            columns, rows, truncated = [], [], False
        finally:
            self._value_cap = lim.max_value_bytes
            conn.set_progress_handler(None, 0)
            conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, lim.max_value_bytes)
            conn.setlimit(sqlite3.SQLITE_LIMIT_LIKE_PATTERN_LENGTH, lim.max_like_pattern)
        over, self._over_budget = self._over_budget, False
        if over or (failure is not None and _past_inline_limits(failure)):
            raise _over_budget()
        if failure is not None:
            # A plain error (syntax, unknown table, refused by the authorizer) is answered here.
            raise self._translate(failure, sql, budget.max_s, lent)
        if len(rows) * max(len(columns), 1) > budget.max_cells:
            raise _over_budget()
        return QueryResult(
            columns,
            rows,
            truncated,
            time.perf_counter() - start,
            nbytes=self._fetched_bytes,
            deterministic=lent.deterministic(statement),
        )

    def _execute(
        self,
        lent: PooledConnection,
        sql: str,
        statement: str,
        row_cap: int,
        timeout: float,
        cancel: CancelToken | None,
    ) -> QueryResult:
        conn, authorizer = lent.conn, lent.authorizer
        start = time.monotonic()
        self._deadline = start + timeout
        self._timed_out = self._temp_exceeded = False
        lim = self.limits
        budget: TempBudget | None = (
            (threading.get_native_id(), lim.max_temp_bytes, self._on_temp_exceeded)
            if lim.temp_store == "file"
            else None
        )
        token = WATCHDOG.arm(conn, self._deadline, self._on_deadline, budget)
        with self._interrupt_lock:
            self._running, self._cancelled = token, False
        try:
            # Read after registering: a cancel from now on interrupts the call through the watchdog,
            # and one that came earlier is seen here.
            if cancel is not None and cancel.cancelled:
                raise SandboxError("cancelled", "query cancelled before it finished (its session was closed)")
            columns, rows, truncated = self._run(conn, authorizer, statement, row_cap)
        except sqlite3.Error as exc:
            raise self._translate(exc, sql, timeout, lent) from None
        except MemoryError:
            raise SandboxError("out_of_memory", "query used too much memory; narrow it down") from None
        except UnicodeEncodeError:
            raise SandboxError(
                "sql_error", "SQL contains a character that is not valid Unicode (a lone surrogate)"
            ) from None
        except UnicodeDecodeError:
            raise SandboxError(
                "sql_error", "a result column name is not valid UTF-8; name the columns with AS"
            ) from None
        except _Timeout:
            raise _timeout_error(timeout) from None
        finally:
            WATCHDOG.disarm(token)
            with self._interrupt_lock:
                self._running = None
            self._deadline = float("inf")
        return QueryResult(
            columns,
            rows,
            truncated,
            time.monotonic() - start,
            nbytes=self._fetched_bytes,
            deterministic=lent.deterministic(statement),
        )

    def _run(
        self, conn: sqlite3.Connection, authorizer: Authorizer, sql: str, row_cap: int
    ) -> tuple[list[str], list[tuple[Cell, ...]], bool]:
        try:
            return self._run_once(conn, authorizer, sql, row_cap)
        except sqlite3.OperationalError as exc:
            if not str(exc).startswith("Could not decode to UTF-8"):
                raise
        # Text that is not valid UTF-8 is rare; only then pay for a Python decoder per cell.
        conn.text_factory = _decode_text
        try:
            return self._run_once(conn, authorizer, sql, row_cap)
        finally:
            conn.text_factory = str

    def _run_once(
        self, conn: sqlite3.Connection, authorizer: Authorizer, sql: str, row_cap: int
    ) -> tuple[list[str], list[tuple[Cell, ...]], bool]:
        # The authorizer runs only when SQLite compiles the statement (not when sqlite3 reuses a
        # cached one): what it saw at compile time is remembered by the connection (deterministic()).
        authorizer.start()
        cursor = conn.execute(sql)
        try:
            columns = [d[0] for d in cursor.description or ()]
            rows, truncated = self._fetch(cursor, row_cap, len(columns))
        finally:
            cursor.close()
        return columns, rows, truncated

    def _fetch(self, cursor: sqlite3.Cursor, row_cap: int, width: int) -> tuple[list[tuple[Cell, ...]], bool]:
        lim = self.limits
        cell_cap, max_bytes = lim.max_cell_chars, lim.max_result_bytes
        deadline = self._deadline
        # Rows come in batches small enough that the largest rows SQLite can return (every
        # column at the value-length cap in force: the inline budget's is far lower) stay within
        # _BATCH_BYTES; wide rows come one at a time.
        batch = min(_MAX_BATCH_ROWS, _BATCH_BYTES // (max(width, 1) * max(self._value_cap, 1))) or 1
        wanted = min(batch, row_cap + 1)
        chunk = cursor.fetchmany(wanted)
        rows: list[tuple[Cell, ...]] = []
        size = 0
        while chunk:
            cut = len(rows) + len(chunk) > row_cap
            if cut:
                # The batch holds the row past row_cap, which only says the result goes on: the
                # rows before it are taken like any batch's, and the result is cut there.
                chunk = chunk[: row_cap - len(rows)]
            # A whole batch is checked column by column: only batches holding a blob or a cell over
            # the cap, or reaching the byte limit, go row by row.
            measured = _measure(chunk, cell_cap) if chunk else 0
            if measured >= 0 and size + measured <= max_bytes:
                rows += chunk
                size += measured
            else:
                for raw in chunk:
                    row: tuple[Cell, ...] = tuple(_cell(value, cell_cap) for value in raw)
                    rows.append(row)
                    size += sum(len(c) if isinstance(c, str) else 8 for c in row) + 8
                    if size > max_bytes:
                        self._fetched_bytes = size
                        return rows, True
            if cut:
                self._fetched_bytes = size
                return rows, True
            if time.monotonic() > deadline:
                raise _Timeout
            if len(chunk) < wanted:
                break  # fetchmany comes back short only at the end
            wanted = min(batch, row_cap + 1 - len(rows))
            chunk = cursor.fetchmany(wanted)
        self._fetched_bytes = size
        return rows, False

    def _translate(self, exc: sqlite3.Error, sql: str, timeout: float, lent: PooledConnection) -> SandboxError:
        text = _short(str(exc))
        primary = _primary(exc)
        if isinstance(exc, sqlite3.ProgrammingError) and "one statement" in text:
            return SandboxError("multiple_statements", "only one SQL statement per call; drop the extra ones")
        if self._cancelled:
            return SandboxError("cancelled", "query cancelled before it finished (its session was closed)")
        if self._temp_exceeded:
            return SandboxError(
                "too_large",
                f"query needed more than {self.limits.max_temp_bytes // (1024 * 1024):,} MiB of temporary storage "
                "(a sort, GROUP BY or DISTINCT over too many rows); filter earlier or add a LIMIT",
            )
        if self._timed_out or primary == _SQLITE_INTERRUPT:
            return _timeout_error(timeout)
        denied = lent.authorizer.denied
        if primary in {_SQLITE_AUTH, _SQLITE_READONLY} or denied is not None or text.endswith("may not be modified"):
            what = statement_name(sql) or denied or "that operation"
            if denied and denied.startswith("more than"):
                return SandboxError("forbidden", f"{denied}; combine or drop some")
            hidden = unreadable_table(denied)
            if hidden is not None:
                return SandboxError(
                    "forbidden",
                    f"{hidden} is not readable: it shows the server's state, not the database; "
                    f"query the database's tables ({', '.join(self._table_names(lent.conn))})",
                )
            return SandboxError("forbidden", f"{what} is not allowed: the database is read-only; send one SELECT")
        if primary == _SQLITE_NOMEM:
            return SandboxError("out_of_memory", "query used too much memory; narrow it down")
        if primary == _SQLITE_TOOBIG or text.startswith("string or blob too big"):
            return SandboxError(
                "too_large",
                f"a value exceeds the {self.limits.max_value_bytes:,}-byte limit; build smaller strings",
            )
        if text.startswith("too many SQL variables"):
            return SandboxError("sql_error", "parameters (?, :name) are not supported; write values inline")
        lowered = text.lower()
        if lowered.startswith(
            ("too many terms", "too many columns", "expression tree is too large", "parser stack overflow")
        ) or ("pattern too complex" in lowered):
            return SandboxError("too_large", f"query exceeds a size limit ({text}); make it smaller")
        if lowered.startswith("no such table"):
            tables = ", ".join(self._table_names(lent.conn))
            return SandboxError("unknown_table", _short(f"{text}; tables: {tables}", 600))
        message = f"SQL error: {text}"
        if "syntax error" in lowered and (odd := _ODD_SPACE.search(sql)):
            message += f" (the SQL contains U+{ord(odd.group()):04X}, not a plain space; use ASCII spaces)"
        return SandboxError("sql_error", message)

    # -- schema helpers ------------------------------------------------------------------------

    def table_names(self) -> list[str]:
        """User tables of the database, in schema order (internal ``sqlite_*`` tables left out)."""
        with self._lock:
            if self._tables is None:
                lent = self._slot.acquire()
                try:
                    self._table_names(lent.conn)
                finally:
                    self._slot.release(lent)
            assert self._tables is not None
            return list(self._tables)

    def _table_names(self, conn: sqlite3.Connection) -> list[str]:
        if self._tables is None:
            saved = self._deadline
            self._deadline = time.monotonic() + self.limits.timeout_s
            try:
                conn.text_factory = _decode_text
                cur = conn.execute(
                    "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
                    "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY rowid"
                )
                self._tables = [str(r[0]) for r in cur.fetchall()]
            except sqlite3.Error as exc:
                raise SandboxError("unavailable", f"cannot read the schema: {_short(str(exc))}") from None
            finally:
                conn.text_factory = str
                self._deadline = saved
        return list(self._tables)

    def interrupt(self) -> bool:
        """Cancel the statement running now, from any thread (its call raises ``cancelled``).

        Returns:
            Whether a statement was running.
        """
        with self._interrupt_lock:
            token = self._running
            if token is None:
                return False
            self._cancelled = True
        WATCHDOG.expire_now(token)
        return True

    def _on_deadline(self) -> None:
        self._timed_out = True  # read by _translate: an interrupt now means "out of time"

    def _on_temp_exceeded(self) -> None:
        self._temp_exceeded = True  # read by _translate before the timeout it comes with


class _Timeout(Exception):
    """The deadline passed while rows were being fetched."""


def _primary(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def _past_inline_limits(exc: sqlite3.Error) -> bool:
    # A value or a LIKE pattern over the budget's tighter limits: the full limits may allow it.
    return _primary(exc) == _SQLITE_TOOBIG or "pattern too complex" in str(exc).lower()


def _over_budget() -> SandboxError:
    return SandboxError("over_budget", "the statement needs more than the inline budget; run it without one")


def _timeout_error(timeout: float) -> SandboxError:
    return SandboxError(
        "timeout", f"query exceeded the {timeout:g} s time limit; simplify it, filter earlier or add a LIMIT"
    )


_SCALAR_TYPES = frozenset({int, float, type(None)})
# Batches with at least this many rows per column are measured column by column.
_NARROW = 8


def _measure(chunk: list[tuple[object, ...]], cell_cap: int) -> int:
    """The size of a batch (text length, 8 bytes a number), or -1 when a cell needs rewriting.

    C-level passes over its cells: their types, then the lengths of the text cells. A batch of
    many narrow rows is read column by column (a column mostly holds one type); one of a few
    wide rows, in one pass over all its cells (a pass per column would cost more than the cells).
    """
    if len(chunk) >= _NARROW * len(chunk[0]):
        size = 8 * len(chunk)
        for column in zip(*chunk, strict=True):  # a cursor's rows all have the same width
            measured = _measure_cells(column, cell_cap)
            if measured < 0:
                return -1
            size += measured
        return size
    cells = list(itertools.chain.from_iterable(chunk))
    measured = _measure_cells(cells, cell_cap)
    return measured + 8 * len(chunk) if measured >= 0 else -1


def _measure_cells(cells: Sequence[object], cell_cap: int) -> int:
    kinds = set(map(type, cells))
    if kinds <= _SCALAR_TYPES:
        return 8 * len(cells)  # all numbers and NULLs
    if bytes in kinds:
        return -1  # shown as "<blob N bytes>"
    if len(kinds) == 1 and str in kinds:
        lengths = list(map(len, cast("Sequence[str]", cells)))
    else:
        texts = cast("Iterable[str]", itertools.compress(cells, map(isinstance, cells, itertools.repeat(str))))
        lengths = list(map(len, texts))
    if max(lengths) > cell_cap:
        return -1  # cut and ended with an ellipsis
    return sum(lengths) + 8 * (len(cells) - len(lengths))


def _cell(value: object, cap: int) -> Cell:
    if value is None or isinstance(value, int | float):
        return value  # pyright: ignore[reportReturnType]
    if isinstance(value, bytes):
        return f"<blob {len(value)} bytes>"
    text = value if isinstance(value, str) else str(value)
    if len(text) > cap:
        return text[: cap - 1] + "…"
    return text
