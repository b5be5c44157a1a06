"""The authorizer: SQLite asks it about every operation a statement compiles to; it allows reading only.

It also notes, per statement, what the engine needs to know afterwards: whether the statement was
compiled in this call, whether it calls a function whose result can change between runs (then its
result is not shared between sessions), and why it was refused.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable

__all__ = ["Authorizer", "statement_name", "unreadable_table"]

# Authorizer action codes are stable across SQLite versions; names kept for messages.
_ALLOWED_ACTIONS = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION}
_SQLITE_RECURSIVE = getattr(sqlite3, "SQLITE_RECURSIVE", 33)
_ALLOWED_ACTIONS.add(_SQLITE_RECURSIVE)
_FUNCTION = sqlite3.SQLITE_FUNCTION
_OK = sqlite3.SQLITE_OK
_READ_ONLY_PRAGMAS = frozenset(
    {"table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo", "foreign_key_list"}
)
_DENIED_FUNCTIONS = frozenset({"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer"})
_PATTERN_FUNCTIONS = frozenset({"like", "glob"})
# Functions whose result can change between two runs of the same SQL on the same data. Date and
# time functions are deterministic unless given 'now'; the authorizer cannot see arguments, so
# all of them count.
_NONDETERMINISTIC_FUNCTIONS = frozenset(
    {
        "random",
        "randomblob",
        "changes",
        "total_changes",
        "last_insert_rowid",
        "date",
        "time",
        "datetime",
        "julianday",
        "strftime",
        "unixepoch",
        "timediff",
        "current_date",
        "current_time",
        "current_timestamp",
    }
)
_SCHEMA_TABLES = frozenset({"sqlite_master", "sqlite_schema", "sqlite_temp_master", "sqlite_temp_schema"})
_READ = sqlite3.SQLITE_READ
_UNREADABLE = "reading "
# What a statement may read besides the database's own tables and views: the schema tables, the
# JSON table-valued functions, and the read-only pragmas as table-valued functions. Everything
# else that SQLite can read without a schema entry is a virtual table over the state of the
# connection or the process, which other sessions share through the pool: `sqlite_stmt` lists
# the statements other sessions ran (the gold SQL among them), `dbstat` and `sqlite_dbpage` the
# file's pages, and builds with more modules add `bytecode`, `tables_used`, `sqlite_memstat`,
# `fsdir`, ... An allowlist keeps those out whatever the SQLite build compiles in.
_ALWAYS_READABLE = frozenset(
    {*_SCHEMA_TABLES, "sqlite_sequence", "sqlite_stat1", "sqlite_stat4", "json_each", "json_tree"}
    | {f"pragma_{name}" for name in _READ_ONLY_PRAGMAS}
)

_ACTION_NAMES: dict[int, str] = {
    getattr(sqlite3, name): name.removeprefix("SQLITE_").replace("_", " ")
    for name in (
        "SQLITE_INSERT", "SQLITE_UPDATE", "SQLITE_DELETE", "SQLITE_CREATE_TABLE", "SQLITE_CREATE_INDEX",
        "SQLITE_CREATE_VIEW", "SQLITE_CREATE_TRIGGER", "SQLITE_CREATE_TEMP_TABLE",
        "SQLITE_CREATE_TEMP_INDEX", "SQLITE_CREATE_TEMP_VIEW", "SQLITE_CREATE_TEMP_TRIGGER",
        "SQLITE_CREATE_VTABLE", "SQLITE_DROP_TABLE", "SQLITE_DROP_INDEX", "SQLITE_DROP_VIEW",
        "SQLITE_DROP_TRIGGER", "SQLITE_DROP_TEMP_TABLE", "SQLITE_DROP_TEMP_INDEX",
        "SQLITE_DROP_TEMP_VIEW", "SQLITE_DROP_TEMP_TRIGGER", "SQLITE_DROP_VTABLE", "SQLITE_ALTER_TABLE",
        "SQLITE_ATTACH", "SQLITE_DETACH", "SQLITE_TRANSACTION", "SQLITE_SAVEPOINT", "SQLITE_PRAGMA",
        "SQLITE_REINDEX", "SQLITE_ANALYZE",
    )
    if hasattr(sqlite3, name)
}  # fmt: skip

# Statement kinds named from the SQL text when SQLite reports only an internal step of them
# (CREATE TABLE is first seen as an INSERT into sqlite_master, VACUUM as an ATTACH, ...).
_STATEMENT_WORDS = frozenset(
    {
        "INSERT", "REPLACE", "UPDATE", "DELETE", "CREATE", "DROP", "ALTER", "ATTACH", "DETACH",
        "VACUUM", "REINDEX", "ANALYZE", "BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE",
    }
)  # fmt: skip
_OBJECT_WORDS = frozenset({"TABLE", "VIEW", "INDEX", "TRIGGER"})
_LEADING_NOISE = re.compile(r"(?:\s+|--[^\n]*(?:\n|\Z)|/\*.*?(?:\*/|\Z))*", re.DOTALL)
_WORD = re.compile(r"[A-Za-z_]+")


class Authorizer:
    """The callback given to ``Connection.set_authorizer``, with what it saw of the last statement.

    Attributes:
        denied: what was refused first, for the error message (``None`` when nothing was).
        compiled: SQLite compiled a statement since :meth:`start` (a reused prepared statement
            is not authorized again).
        nondeterministic: the statement calls a time- or randomness-dependent function.
    """

    def __init__(self, max_pattern_matches: int, tables: Iterable[str] = ()) -> None:
        """Allow reading ``tables`` (the database's own tables and views) and the harmless built-ins."""
        self.max_pattern_matches = max_pattern_matches
        names = set(tables)
        self._readable = frozenset(names | {n.lower() for n in names} | _ALWAYS_READABLE)
        self.start()

    def start(self) -> None:
        """Forget the previous statement."""
        self.denied: str | None = None
        self.compiled = False
        self.nondeterministic = False
        self._pattern_calls = 0

    def __call__(self, action: int, arg1: str | None, arg2: str | None, db: str | None, _trigger: str | None) -> int:
        """Allow or deny one operation (``sqlite3.SQLITE_OK`` / ``SQLITE_DENY``)."""
        self.compiled = True
        if action in _ALLOWED_ACTIONS:  # the common case, kept short: SQLite calls this per column read
            if action == _READ:
                # db is None for a CTE or subquery of the statement itself (count(*) over one).
                return _OK if arg1 in self._readable or db is None else self._read_elsewhere(arg1)
            if action == _FUNCTION and arg2 is not None:
                name = arg2.lower()
                if name in _NONDETERMINISTIC_FUNCTIONS:
                    self.nondeterministic = True
                if name in _DENIED_FUNCTIONS:
                    return self._deny(f"function {arg2}()")
                if name in _PATTERN_FUNCTIONS:
                    self._pattern_calls += 1
                    if self._pattern_calls > self.max_pattern_matches:
                        return self._deny(
                            f"more than {self.max_pattern_matches} LIKE/GLOB comparisons in one statement"
                        )
            return _OK
        if action == sqlite3.SQLITE_PRAGMA and arg1 is not None and arg1.lower() in _READ_ONLY_PRAGMAS:
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_UPDATE and arg1 == "sqlite_master" and db == "main":
            # Connecting a table-valued function (json_each, pragma_table_info) authorizes an
            # internal schema update; a real UPDATE of sqlite_master is refused by SQLite before
            # the authorizer sees it (no writable_schema), and the connection is read-only anyway.
            return sqlite3.SQLITE_OK
        name = _ACTION_NAMES.get(action, f"operation {action}")
        if action == sqlite3.SQLITE_PRAGMA and arg1:
            name = f"PRAGMA {arg1}"
        elif action in {sqlite3.SQLITE_INSERT, sqlite3.SQLITE_UPDATE, sqlite3.SQLITE_DELETE} and arg1:
            if arg1 in _SCHEMA_TABLES:
                name = "changing the schema"
        return self._deny(name)

    def _read_elsewhere(self, table: str | None) -> int:
        if table is not None and table.lower() in self._readable:
            return _OK
        if table is not None and table.lower().startswith("pragma_"):
            return self._deny(f"PRAGMA {table[7:]}")  # refused as the PRAGMA statement is
        return self._deny(f"{_UNREADABLE}{table}")

    def _deny(self, what: str) -> int:
        if self.denied is None:
            self.denied = what
        return sqlite3.SQLITE_DENY


def unreadable_table(denied: str | None) -> str | None:
    """The table a refused statement tried to read, when that is why it was refused."""
    return denied.removeprefix(_UNREADABLE) if denied and denied.startswith(_UNREADABLE) else None


def statement_name(sql: str) -> str | None:
    """The kind of a non-SELECT statement from its leading words (``CREATE TEMP TABLE``), if any."""
    head = sql[_LEADING_NOISE.match(sql).end() :][:120]  # pyright: ignore[reportOptionalMemberAccess]
    words = [w.upper() for w in _WORD.findall(head)[:5]]
    if not words or words[0] not in _STATEMENT_WORDS:
        return None
    if words[0] in {"CREATE", "DROP", "ALTER"}:
        for end, word in enumerate(words):
            if word in _OBJECT_WORDS:
                return " ".join(w for w in words[: end + 1] if w not in {"IF", "NOT", "EXISTS"})
        return words[0]
    if words[0] == "VACUUM" and len(words) > 1 and words[1] == "INTO":
        return "VACUUM INTO"
    return words[0]
