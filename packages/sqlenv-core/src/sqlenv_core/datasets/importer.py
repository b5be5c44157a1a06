"""Build a SQLite database from CSV / TSV / JSON / JSONL files: one table per file, types detected."""

from __future__ import annotations

import csv
import json
import os
import re
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import sqlite_utils
from sqlite_utils.utils import Format, RowError, TypeTracker, rows_from_file

from sqlenv_core.datasets.base import DatasetError
from sqlenv_core.datasets.directory import jsonl_records

__all__ = ["IMPORT_SUFFIXES", "MAX_IMPORT_COLUMNS", "import_files", "table_name_for"]

IMPORT_SUFFIXES = {
    ".csv": Format.CSV,
    ".tsv": Format.TSV,
    ".json": Format.JSON,
    ".jsonl": Format.NL,
    ".ndjson": Format.NL,
}
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: Columns one imported table may have: sqlite-utils inserts a row with one SQL parameter per
#: column, and SQLite's default parameter limit is 999.
MAX_IMPORT_COLUMNS = 999


def table_name_for(path: Path) -> str:
    """The table a file becomes: its stem, with characters other than letters, digits and ``_`` as ``_``.

    A name SQLite would refuse (starting with a digit, or with ``sqlite_``, which SQLite keeps for
    itself) gets a ``t_`` prefix.
    """
    name = re.sub(r"\W+", "_", path.stem).strip("_") or "data"
    return f"t_{name}" if name[0].isdigit() or name.lower().startswith("sqlite_") else name


def _check_columns(path: Path, names: list[str], where: str, *, named_in: str = "the header") -> None:
    """Refuse column names SQLite or sqlite-utils would refuse, or that would silently lose data."""
    if len(names) > MAX_IMPORT_COLUMNS:
        raise DatasetError(
            f"{where}: {len(names):,} columns; at most {MAX_IMPORT_COLUMNS} fit one table "
            "(one SQL parameter per column per row): split the file into narrower ones"
        )
    first: dict[str, int] = {}
    for index, name in enumerate(names, 1):
        if not str(name).strip():
            raise DatasetError(f"{where}: column {index} has no name; name every column in {named_in}")
        key = str(name).strip().casefold()
        if key in first:
            raise DatasetError(
                f"{where}: columns {first[key]} and {index} are both named {name!r} "
                f"(SQLite compares column names ignoring case); rename one in {named_in}"
            )
        first[key] = index


def _csv_header(path: Path, fmt: Format) -> list[str]:
    dialect = "excel-tab" if fmt == Format.TSV else "excel"
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            for header in csv.reader(handle, dialect=dialect):
                return header
            return []
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except csv.Error as exc:
        raise DatasetError(f"{path}:1: unreadable header ({exc})") from exc


def _read_json_rows(path: Path, fmt: Format) -> list[dict[str, Any]]:
    """JSON / JSONL rows, with errors that name the line (sqlite-utils' own ones do not)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    if fmt == Format.NL:
        return [record for _, record in jsonl_records(path, text)]
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg} at column {exc.colno})") from exc
    except RecursionError:
        raise DatasetError(f"{path}: JSON nested too deeply to read; flatten the nested values") from None
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):  # pyright: ignore[reportUnknownVariableType]
        raise DatasetError(f"{path}: expected a JSON list of objects (one object per row)")
    return list(data)  # pyright: ignore[reportUnknownArgumentType]


def _insert(db: sqlite_utils.Database, path: Path, table: str) -> int:
    fmt = IMPORT_SUFFIXES[path.suffix.lower()]
    try:
        return _insert_rows(db, path, table, fmt)
    except DatasetError:
        raise
    except sqlite3.Error as exc:
        raise DatasetError(f"{path}: SQLite refused the data ({exc}); check the column names and values") from exc
    except (ValueError, OverflowError) as exc:
        raise DatasetError(f"{path}: cannot import ({exc})") from exc


def _insert_rows(db: sqlite_utils.Database, path: Path, table: str, fmt: Format) -> int:
    if fmt in (Format.JSON, Format.NL):
        rows = _read_json_rows(path, fmt)
        if not rows:
            raise DatasetError(f"{path}: no rows")
        keys: dict[str, None] = {}
        for row in rows:
            keys.update(dict.fromkeys(str(k) for k in row))
        _check_columns(path, list(keys), str(path), named_in="the objects' keys")
        db[table].insert_all(rows, alter=True)  # pyright: ignore[reportAttributeAccessIssue]
        return len(rows)
    _check_columns(path, _csv_header(path, fmt), f"{path}:1")
    tracker = TypeTracker()
    with path.open("rb") as fh:
        reader, _ = rows_from_file(fh, fmt)
        try:
            db[table].insert_all(tracker.wrap(reader), alter=True)  # pyright: ignore[reportAttributeAccessIssue]
        except RowError as exc:
            raise DatasetError(f"{path}: {exc}") from exc
        except UnicodeDecodeError as exc:
            raise DatasetError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
        except csv.Error as exc:
            raise DatasetError(f"{path}: unreadable CSV ({exc})") from exc
    count = db[table].count  # pyright: ignore[reportAttributeAccessIssue]
    if not count:
        raise DatasetError(f"{path}: no rows below the header")
    # Numbers in CSV arrive as text; give columns the type every value fits.
    db[table].transform(types=tracker.types)  # pyright: ignore[reportAttributeAccessIssue]
    return int(count)


def import_files(
    files: list[str | Path], *, db_name: str, to: str | Path, replace: bool = False
) -> tuple[Path, dict[str, int]]:
    """Create ``<to>/<db_name>.sqlite`` with one table per input file.

    The database is written to a temporary file and renamed into place only when every file
    imported, so a failed import leaves nothing behind (and never half-updates an existing one).

    Args:
        files: ``.csv``, ``.tsv``, ``.json`` (a list of objects) or ``.jsonl`` files.
        db_name: the database name (becomes its ``db_id``).
        to: the folder to write into (created if needed).
        replace: overwrite an existing database of that name.

    Returns:
        The database path, and the row count of each table.

    Raises:
        DatasetError: a bad name, an unsupported or malformed file, or an existing database.
    """
    if not _NAME.match(db_name):
        raise DatasetError(f"database name {db_name!r} must be letters, digits and _ (not starting with a digit)")
    if not files:
        raise DatasetError("no input files; pass one or more .csv, .tsv, .json or .jsonl files")
    paths = [Path(f).expanduser() for f in files]
    tables: dict[str, Path] = {}
    for path in paths:
        if not path.is_file():
            raise DatasetError(f"input file not found: {path}")
        if path.suffix.lower() not in IMPORT_SUFFIXES:
            raise DatasetError(f"{path}: unsupported file type; use {', '.join(sorted(IMPORT_SUFFIXES))}")
        table = table_name_for(path)
        if table in tables:
            raise DatasetError(f"{path} and {tables[table]} would both become table {table!r}; rename one")
        tables[table] = path
    folder = Path(to).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{db_name}.sqlite"
    if target.exists() and not replace:
        raise DatasetError(f"{target} already exists; pass --replace to overwrite it")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{db_name}.", suffix=".sqlite", dir=folder)
    os.close(fd)
    tmp = Path(tmp_name)
    counts: dict[str, int] = {}
    try:
        db = sqlite_utils.Database(tmp)
        try:
            for table, path in tables.items():
                counts[table] = _insert(db, path, table)
        finally:
            db.close()
        tmp.chmod(0o644)  # mkstemp makes it private; a dataset file is meant to be shared
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    return target, counts
