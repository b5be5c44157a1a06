"""Build the built-in pack that sqlenv-core ships from its sources here, or check the shipped copy.

Usage (from anywhere in the repository; needs only the standard library)::

    python data/builtin/build.py [--check] [db_id ...]

Each ``data/builtin/<db_id>/`` is turned into what the package ships, under
``packages/sqlenv-core/src/sqlenv_core/builtin/``:

- ``databases/<db_id>.sqlite``: ``schema.sql`` runs in a fresh file, then ``generate.py``'s
  ``populate(conn, rng)`` inserts the rows with ``random.Random("sqlenv-builtin:" + db_id)``,
  foreign keys are checked and the file is vacuumed;
- ``questions/<db_id>.jsonl``: a copy of the folder's ``questions.jsonl``;
- ``pack.json``: every database's ``meta.json`` (split, domain, description), by ``db_id``.

The result is deterministic, so ``--check`` rebuilds everything into a temporary folder and
compares the logical content (schema and every table's rows) with the shipped files, and the
shipped questions and ``pack.json`` with the sources.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

__all__ = [
    "BuildError",
    "DATABASES_DIR",
    "PACK_DIR",
    "SOURCES_DIR",
    "build_database",
    "check_databases",
    "check_pack",
    "database_content",
    "install",
    "main",
    "pack_meta",
    "source_ids",
]

#: The sources: one folder per database, next to this script.
SOURCES_DIR = Path(__file__).resolve().parent
#: What sqlenv-core ships: databases, question files and pack.json.
PACK_DIR = SOURCES_DIR.parents[1] / "packages" / "sqlenv-core" / "src" / "sqlenv_core" / "builtin"
DATABASES_DIR = PACK_DIR / "databases"
SEED_PREFIX = "sqlenv-builtin:"
PACK_FORMAT = 1

Populate = Callable[[sqlite3.Connection, random.Random], None]


class BuildError(RuntimeError):
    """A source folder is incomplete or its recipe failed; the message names the database."""


def source_ids(sources_dir: Path = SOURCES_DIR) -> list[str]:
    """The ``db_id`` of every complete source folder (one with ``meta.json``), sorted."""
    if not sources_dir.is_dir():
        return []
    return sorted(p.parent.name for p in sources_dir.glob("*/meta.json"))


def _load_populate(generate_py: Path) -> Populate:
    # Compiled and executed by hand rather than imported: the recipes are data, not modules of
    # the package, and this writes no __pycache__ into the source tree.
    namespace: dict[str, Any] = {"__name__": f"sqlenv_builtin_recipe_{generate_py.parent.name}"}
    code = compile(generate_py.read_text(encoding="utf-8"), str(generate_py), "exec")
    exec(code, namespace)
    populate = namespace.get("populate")
    if not callable(populate):
        raise BuildError(f"{generate_py} defines no populate(conn, rng) function")
    return cast(Populate, populate)


def build_database(db_id: str, out_path: Path, *, sources_dir: Path = SOURCES_DIR) -> dict[str, int]:
    """Generate one database from its sources into ``out_path`` (replaced atomically).

    Args:
        db_id: the folder name under ``sources_dir``.
        out_path: the ``.sqlite`` file to write; its folder must exist.
        sources_dir: where the source folders live.

    Returns:
        Row count of each table, by table name.

    Raises:
        BuildError: a source file is missing, the recipe failed, or a foreign key dangles.
    """
    source = sources_dir / db_id
    schema_sql, generate_py = source / "schema.sql", source / "generate.py"
    for needed in (schema_sql, generate_py):
        if not needed.is_file():
            raise BuildError(f"{db_id}: missing {needed}")
    populate = _load_populate(generate_py)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{db_id}-", suffix=".sqlite.tmp", dir=out_path.parent)
    os.close(fd)
    tmp_path = Path(tmp_name)
    try:
        conn = sqlite3.connect(tmp_path, isolation_level=None)
        try:
            conn.execute("PRAGMA foreign_keys=ON")
            conn.executescript(schema_sql.read_text(encoding="utf-8"))
            conn.execute("BEGIN")
            populate(conn, random.Random(SEED_PREFIX + db_id))
            if conn.in_transaction:
                conn.execute("COMMIT")
            dangling = conn.execute("PRAGMA foreign_key_check").fetchall()
            if dangling:
                raise BuildError(f"{db_id}: {len(dangling)} rows break foreign keys, first: {dangling[0]}")
            conn.execute("VACUUM")
            counts = {name: _count_rows(conn, name) for name in _table_names(conn)}
        except sqlite3.Error as exc:
            raise BuildError(f"{db_id}: building failed: {exc}") from exc
        finally:
            conn.close()
        os.replace(tmp_path, out_path)
    finally:
        tmp_path.unlink(missing_ok=True)
    return counts


def _table_names(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
    ).fetchall()
    return [str(r[0]) for r in rows]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _count_rows(conn: sqlite3.Connection, table: str) -> int:
    return int(conn.execute(f"SELECT count(*) FROM {_quote(table)}").fetchone()[0])


@dataclass(frozen=True)
class DatabaseContent:
    """What ``--check`` compares: the schema and every table's rows, in a canonical order."""

    schema: list[tuple[str, str, str]]
    tables: dict[str, list[tuple[object, ...]]]


def database_content(path: Path) -> DatabaseContent:
    """Read the logical content of a database file (schema objects and rows, sorted)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        schema = [
            (str(t), str(n), str(s or ""))
            for t, n, s in conn.execute(
                "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name"
            )
        ]
        tables: dict[str, list[tuple[object, ...]]] = {}
        for name in _table_names(conn):
            width = len(conn.execute(f"SELECT * FROM {_quote(name)} LIMIT 0").description)
            order = ", ".join(str(i) for i in range(1, width + 1))
            tables[name] = [tuple(r) for r in conn.execute(f"SELECT * FROM {_quote(name)} ORDER BY {order}")]
        return DatabaseContent(schema, tables)
    finally:
        conn.close()


def _difference(db_id: str, shipped: Path, rebuilt: Path) -> str:
    if not shipped.is_file():
        return f"{db_id}: {shipped} is missing"
    old, new = database_content(shipped), database_content(rebuilt)
    if old.schema != new.schema:
        return f"{db_id}: schema differs from sources"
    for name in sorted(set(old.tables) | set(new.tables)):
        old_rows, new_rows = old.tables.get(name, []), new.tables.get(name, [])
        if old_rows != new_rows:
            return f"{db_id}: table {name} differs ({len(old_rows)} rows shipped, {len(new_rows)} from sources)"
    return ""


def check_databases(
    db_ids: Sequence[str] | None = None,
    *,
    sources_dir: Path = SOURCES_DIR,
    databases_dir: Path = DATABASES_DIR,
) -> list[str]:
    """Rebuild databases in a temporary folder and compare them with the shipped files.

    Args:
        db_ids: the databases to check (default: every source folder).
        sources_dir: where the source folders live.
        databases_dir: where the shipped ``.sqlite`` files live.

    Returns:
        One line per database that differs (or is missing); empty when all match.
    """
    ids = list(db_ids) if db_ids is not None else source_ids(sources_dir)
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="sqlenv-builtin-check-") as tmp:
        for db_id in ids:
            rebuilt = Path(tmp) / f"{db_id}.sqlite"
            build_database(db_id, rebuilt, sources_dir=sources_dir)
            problem = _difference(db_id, databases_dir / f"{db_id}.sqlite", rebuilt)
            if problem:
                problems.append(problem)
    return problems


def pack_meta(db_ids: Sequence[str], *, sources_dir: Path = SOURCES_DIR) -> str:
    """The text of ``pack.json``: each database's ``meta.json``, by ``db_id`` (sorted, stable)."""
    databases: dict[str, Any] = {}
    for db_id in sorted(db_ids):
        databases[db_id] = json.loads((sources_dir / db_id / "meta.json").read_text(encoding="utf-8"))
    payload = {"format": PACK_FORMAT, "databases": databases}
    return json.dumps(payload, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def install(
    db_ids: Sequence[str], *, sources_dir: Path = SOURCES_DIR, pack_dir: Path = PACK_DIR
) -> dict[str, dict[str, int]]:
    """Build the databases, copy the question files and write ``pack.json`` into ``pack_dir``.

    ``pack.json`` always lists every source folder, whichever databases were rebuilt.

    Returns:
        Row counts per table, per database built.
    """
    for sub in ("databases", "questions"):
        (pack_dir / sub).mkdir(parents=True, exist_ok=True)
    counts: dict[str, dict[str, int]] = {}
    for db_id in db_ids:
        counts[db_id] = build_database(db_id, pack_dir / "databases" / f"{db_id}.sqlite", sources_dir=sources_dir)
        text = (sources_dir / db_id / "questions.jsonl").read_bytes()
        (pack_dir / "questions" / f"{db_id}.jsonl").write_bytes(text)
    (pack_dir / "pack.json").write_text(pack_meta(source_ids(sources_dir), sources_dir=sources_dir), encoding="utf-8")
    return counts


def check_pack(
    db_ids: Sequence[str] | None = None, *, sources_dir: Path = SOURCES_DIR, pack_dir: Path = PACK_DIR
) -> list[str]:
    """Compare everything shipped in ``pack_dir`` with what the sources give.

    Returns:
        One line per difference (a database, a question file, ``pack.json``); empty when all match.
    """
    ids = list(db_ids) if db_ids is not None else source_ids(sources_dir)
    problems = check_databases(ids, sources_dir=sources_dir, databases_dir=pack_dir / "databases")
    for db_id in ids:
        shipped = pack_dir / "questions" / f"{db_id}.jsonl"
        if not shipped.is_file():
            problems.append(f"{db_id}: {shipped} is missing")
        elif shipped.read_bytes() != (sources_dir / db_id / "questions.jsonl").read_bytes():
            problems.append(f"{db_id}: {shipped} differs from its source questions.jsonl")
    meta = pack_dir / "pack.json"
    expected = pack_meta(source_ids(sources_dir), sources_dir=sources_dir)
    if not meta.is_file() or meta.read_text(encoding="utf-8") != expected:
        problems.append(f"{meta} differs from the sources' meta.json files")
    return problems


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python data/builtin/build.py",
        description="Build the built-in pack that sqlenv-core ships from its sources (or --check the shipped copy).",
    )
    parser.add_argument("db_ids", nargs="*", metavar="db_id", help="databases to build (default: all)")
    parser.add_argument(
        "--check", action="store_true", help="rebuild in a temp folder and compare with the shipped files"
    )
    args = parser.parse_args(argv)
    known = source_ids()
    wanted: list[str] = list(args.db_ids) or known
    unknown = [d for d in wanted if d not in known]
    if unknown:
        parser.error(f"no sources for {', '.join(unknown)}; known: {', '.join(known) or '(none)'}")
    try:
        if args.check:
            problems: list[str] = []
            for db_id in wanted:
                _say(f"checking {db_id} ...")
                problems += check_pack([db_id])
            for problem in dict.fromkeys(problems):
                _say(f"DIFFERS {problem}")
            if problems:
                _say("rebuild with: python data/builtin/build.py")
                return 1
            _say(f"ok: {len(wanted)} databases match their sources")
            return 0
        for db_id, counts in install(wanted).items():
            out = DATABASES_DIR / f"{db_id}.sqlite"
            size_kb = out.stat().st_size / 1024
            _say(f"built {db_id}: {len(counts)} tables, {sum(counts.values())} rows, {size_kb:.0f} KiB")
    except BuildError as exc:
        _say(f"error: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
