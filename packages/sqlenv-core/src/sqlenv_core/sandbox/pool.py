"""Opening sandboxed connections, and keeping idle ones per database for the next caller.

A sandboxed connection is read-only and immutable, and everything it remembers between
statements is either fixed at open time (limits, the authorizer, the linear built-ins) or reset
by the next statement (the authorizer's notes, SQLite's interrupt flag). So any sandbox on the
same database with the same limits can run its next statement on it: sessions borrow a
connection for one call and give it back, idle sessions hold none, and an episode that moves to
another database finds that database's connection already open instead of closing one and
opening another.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path
from urllib.parse import quote

from sqlenv_core.sandbox.authorizer import Authorizer
from sqlenv_core.sandbox.functions import SafeFunctions
from sqlenv_core.sandbox.heap import ensure_heap_limit
from sqlenv_core.sandbox.limits import SandboxError, SandboxLimits

__all__ = ["SHARED_POOL", "ConnectionPool", "PoolSlot", "PooledConnection", "open_connection", "pending_changes"]

#: Page cache per connection, in KiB. Databases are read-only and small; a server may hold
#: hundreds of connections and every cached page counts against the process-wide heap cap.
CACHE_KIB = 512

PoolKey = tuple[str, SandboxLimits, "tuple[int, int, int, int] | None"]


#: Statements whose determinism a connection remembers: twice sqlite3's statement cache (128).
REMEMBERED_STATEMENTS = 256


class PooledConnection:
    """One sandboxed connection: the sqlite3 connection, its authorizer and its linear built-ins.

    Used by one caller at a time (a pool lends it to one sandbox call, which gives it back).
    """

    __slots__ = ("authorizer", "conn", "functions", "key", "statements")

    def __init__(self, key: PoolKey, conn: sqlite3.Connection, authorizer: Authorizer, functions: SafeFunctions):
        self.key = key
        self.conn = conn
        self.authorizer = authorizer
        self.functions = functions
        self.statements: dict[str, bool] = {}
        """Whether each statement compiled here is deterministic (see :meth:`deterministic`)."""

    def deterministic(self, sql: str) -> bool:
        """Whether the statement ``sql`` that just ran here is deterministic (its result may be cached).

        The authorizer sees a statement only when SQLite compiles it; sqlite3 reuses the prepared
        statement when the same text runs again on this connection, and the authorizer then sees
        nothing. What it saw at compile time is kept here for those runs (at most
        :data:`REMEMBERED_STATEMENTS`, the newest; one forgotten counts as not deterministic).
        Without this, every statement that ran before on a pooled connection (the gold SQL
        computed at warm-up, a GRPO group's shared query) was never cached again.
        """
        authorizer = self.authorizer
        if authorizer.compiled:
            verdict = not authorizer.nondeterministic
            self.statements.pop(sql, None)
            self.statements[sql] = verdict
            if len(self.statements) > REMEMBERED_STATEMENTS:
                del self.statements[next(iter(self.statements))]
            return verdict
        verdict = self.statements.pop(sql, None)
        if verdict is None:
            return False
        self.statements[sql] = verdict  # the newest again: kept while sqlite3 keeps reusing it
        return verdict

    def close(self) -> None:
        """Close the connection and the private one the built-ins use."""
        self.conn.close()
        self.functions.close()


def open_connection(db_path: str | Path, limits: SandboxLimits, key: PoolKey | None = None) -> PooledConnection:
    """Open ``db_path`` read-only and immutable, with ``limits`` applied and the authorizer set.

    ``key`` is the pool slot it belongs to (by default: the path and limits alone).

    Raises:
        SandboxError: ``unavailable`` when the file is missing or SQLite cannot open it.
    """
    path = Path(db_path)
    if not path.is_file():
        raise SandboxError("unavailable", f"database file not found: {path}")
    problem = pending_changes(path)
    if problem:
        raise SandboxError("unavailable", problem)
    uri = f"file:{quote(str(path.resolve()))}?mode=ro&immutable=1"
    try:
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)
    except sqlite3.Error as exc:
        raise SandboxError("unavailable", f"cannot open database {path}: {exc}") from exc
    try:
        _apply_limits(conn, limits)
        functions = SafeFunctions(limits.max_value_bytes)
    except sqlite3.Error as exc:
        conn.close()
        raise SandboxError("unavailable", f"cannot open database {path}: {exc}") from exc
    functions.install(conn)
    try:
        # Read before the authorizer is set: it allows reading these names and nothing else.
        tables = [str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")]
    except sqlite3.Error as exc:
        conn.close()
        raise SandboxError("unavailable", f"cannot read the schema of {path}: {exc}") from exc
    authorizer = Authorizer(limits.max_pattern_matches, tables)
    conn.set_authorizer(authorizer)
    if key is None:
        key = (os.fspath(db_path), limits, None)
    return PooledConnection(key, conn, authorizer, functions)


def pending_changes(path: Path) -> str:
    """Why ``path`` cannot be read as it stands by an immutable connection ('' when it can).

    An immutable connection reads the main file alone, as the databases are meant to be. A
    WAL-mode database whose last transactions still sit in its ``-wal`` file, or a database with
    a hot ``-journal`` (a write that never finished), would read as older or half-written data;
    such files are refused with the command that settles them (reading them as they are would
    need locks and a ``-shm`` file beside them, and the sandbox never writes).
    """
    wal = Path(f"{path}-wal")
    journal = Path(f"{path}-journal")
    try:
        with path.open("rb") as handle:
            header = handle.read(20)
        wal_size = wal.stat().st_size if wal.exists() else 0
        journal_size = journal.stat().st_size if journal.exists() else 0
    except OSError as exc:
        return f"cannot read database {path}: {exc.strerror or exc}"
    quoted = str(path).replace("'", "'\\''")
    if len(header) == 20 and header[18] == 2 and wal_size > 0:
        return (
            f"database {path} is in WAL mode and its latest changes are still in {wal.name} "
            f"({wal_size:,} bytes), which a read-only connection cannot see; fold them into the file "
            f"first: sqlite3 '{quoted}' 'PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode=DELETE'"
        )
    if journal_size > 0:
        return (
            f"database {path} has a hot journal {journal.name} (a write that never finished); "
            f"open it once with write access to roll it back: sqlite3 '{quoted}' 'PRAGMA integrity_check'"
        )
    return ""


def _apply_limits(conn: sqlite3.Connection, lim: SandboxLimits) -> None:
    ensure_heap_limit()  # process-wide: the default unless the application set its own
    conn.execute(f"PRAGMA temp_store={lim.temp_store.upper()}")
    conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
    conn.execute("PRAGMA trusted_schema=OFF")
    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, lim.max_value_bytes)
    conn.setlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH, max(lim.max_sql_chars * 4, 1_000))
    conn.setlimit(sqlite3.SQLITE_LIMIT_COLUMN, lim.max_columns)
    conn.setlimit(sqlite3.SQLITE_LIMIT_EXPR_DEPTH, lim.max_expr_depth)
    conn.setlimit(sqlite3.SQLITE_LIMIT_COMPOUND_SELECT, lim.max_compound_select)
    conn.setlimit(sqlite3.SQLITE_LIMIT_LIKE_PATTERN_LENGTH, lim.max_like_pattern)
    conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
    conn.setlimit(sqlite3.SQLITE_LIMIT_FUNCTION_ARG, 64)
    conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 0)
    conn.setlimit(sqlite3.SQLITE_LIMIT_TRIGGER_DEPTH, 1)
    conn.setlimit(sqlite3.SQLITE_LIMIT_WORKER_THREADS, 0)


class PoolSlot:
    """The idle connections of one (database, limits) in a pool; a sandbox keeps its slot."""

    __slots__ = ("_pool", "idle", "key", "last_used")

    def __init__(self, pool: ConnectionPool, key: PoolKey) -> None:
        self._pool = pool
        self.key = key
        self.idle: list[PooledConnection] = []
        self.last_used = 0

    def acquire(self) -> PooledConnection:
        """An idle connection of this slot, or a new one (see :meth:`ConnectionPool.acquire`)."""
        return self._pool.acquire_from(self)

    def release(self, conn: PooledConnection) -> None:
        """Give ``conn`` back (see :meth:`ConnectionPool.release`)."""
        self._pool.release_to(self, conn)


class ConnectionPool:
    """Idle sandboxed connections per (database, limits), lent to one call at a time.

    Args:
        max_idle_per_database: idle connections kept per database and limits; more are opened
            when calls overlap, and closed when given back beyond this.
        max_idle: idle connections kept in all; past it, those of the least recently used
            database are closed first.
    """

    def __init__(self, max_idle_per_database: int = 4, max_idle: int = 128) -> None:
        if max_idle_per_database < 1 or max_idle < 1:
            raise ValueError("a pool keeps at least one idle connection")
        self.max_idle_per_database = max_idle_per_database
        self.max_idle = max_idle
        self._slots: dict[PoolKey, PoolSlot] = {}
        self._count = 0
        self._clock = 0
        self._lock = threading.Lock()
        self.opened = 0
        """Connections opened so far (how often no idle one was there to lend)."""

    def __len__(self) -> int:
        """Idle connections held now."""
        return self._count

    def slot(self, db_path: str | Path, limits: SandboxLimits) -> PoolSlot:
        """The slot of ``db_path`` with ``limits`` (a sandbox looks it up once, then uses it per call).

        A file replaced at the same path (``sqlenv data import --replace``) gets a new slot: the
        file's identity is part of the key, since an immutable connection would go on reading
        the old one.
        """
        path = os.fspath(db_path)
        try:
            stat = os.stat(path)
            identity: tuple[int, int, int, int] | None = (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)
        except OSError:
            identity = None  # opening will say what is wrong
        key = (path, limits, identity)
        with self._lock:
            found = self._slots.get(key)
            if found is None:
                found = self._slots[key] = PoolSlot(self, key)
            return found

    def acquire(self, db_path: str | Path, limits: SandboxLimits) -> PooledConnection:
        """An idle connection to ``db_path`` with ``limits``, or a new one.

        Raises:
            SandboxError: ``unavailable`` when a new connection cannot be opened.
        """
        return self.acquire_from(self.slot(db_path, limits))

    def acquire_from(self, slot: PoolSlot) -> PooledConnection:
        """An idle connection of ``slot``, or a new one."""
        with self._lock:
            if slot.idle:
                self._count -= 1
                return slot.idle.pop()
            self.opened += 1
        return open_connection(slot.key[0], slot.key[1], slot.key)

    def release(self, conn: PooledConnection) -> None:
        """Give ``conn`` back for the next caller (closed instead when enough are idle)."""
        with self._lock:
            slot = self._slots.get(conn.key)
        if slot is None:
            conn.close()
        else:
            self.release_to(slot, conn)

    def release_to(self, slot: PoolSlot, conn: PooledConnection) -> None:
        """Give ``conn`` back to ``slot`` (closed instead when enough are idle)."""
        surplus: PooledConnection | None = None
        evicted: list[PooledConnection] = []
        with self._lock:
            self._clock += 1
            slot.last_used = self._clock
            if len(slot.idle) >= self.max_idle_per_database:
                surplus = conn
            else:
                slot.idle.append(conn)
                self._count += 1
                if self._count > self.max_idle:
                    evicted = self._evict_locked()
        for extra in (surplus, *evicted):
            if extra is not None:
                extra.close()

    def _evict_locked(self) -> list[PooledConnection]:
        # Rare (only past max_idle): close the idle connections of the least recently used slots.
        evicted: list[PooledConnection] = []
        for slot in sorted(self._slots.values(), key=lambda s: s.last_used):
            while slot.idle and self._count > self.max_idle:
                evicted.append(slot.idle.pop(0))
                self._count -= 1
            if self._count <= self.max_idle:
                break
        return evicted

    def close(self) -> None:
        """Close every idle connection; one lent out now comes back to the pool when its call ends."""
        with self._lock:
            idle = [conn for slot in self._slots.values() for conn in slot.idle]
            for slot in self._slots.values():
                slot.idle.clear()
            self._count = 0
        for conn in idle:
            conn.close()


#: The process's pool, shared by every environment (their sandboxes borrow from it per call).
SHARED_POOL = ConnectionPool()
