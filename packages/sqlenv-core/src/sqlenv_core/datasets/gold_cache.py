r"""Gold answers cached on disk, keyed by the database file's content hash.

Computing every gold answer means running every gold query (and parsing it to see whether it
orders its rows): a fraction of a second for the built-in pack, seconds to minutes for Spider or
BIRD. The databases never change, so each result is kept in one JSON file per database under
the cache folder, ``gold/<sha256 of the .sqlite file>.json``. Every user of
:class:`~sqlenv_core.datasets.Dataset` shares it: ``sqlenv play``, ``sqlenv data ...``, the server
and training.

An entry's key covers everything the result depends on besides the database: the gold SQL, the
sandbox limits it ran under, the SQLite and sqlglot versions and this file's format version. A
changed database has another hash, so its entries are simply never looked up again.

Where the cache lives: ``$SQLENV_CACHE_DIR`` when set (``off`` turns the disk cache off), else the
platform's user cache folder (``$XDG_CACHE_HOME/sqlenv`` or ``~/.cache/sqlenv`` on Linux,
``~/Library/Caches/sqlenv`` on macOS, ``%LOCALAPPDATA%\sqlenv\Cache`` on Windows). When that
folder cannot be written, a private folder in the system's temporary directory is used instead,
and when that fails too the answers are simply recomputed: the cache only ever saves time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import sqlite3
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from sqlenv_core.protocol import Cell
from sqlenv_core.sandbox import SandboxLimits

__all__ = ["CACHE_ENV", "GoldCache", "GoldEntry", "default_cache_dir"]

logger = logging.getLogger("sqlenv_core.gold_cache")

#: The environment variable naming the cache folder (``off`` disables the disk cache).
CACHE_ENV = "SQLENV_CACHE_DIR"
_FORMAT = 1
_OFF = frozenset({"off", "none", "0", "false", "no"})
#: Entries larger than this many cells are not written (a huge gold result is cheaper to rerun
#: than to parse back, and keeps one cache file from growing without bound).
_MAX_CELLS_PER_ENTRY = 200_000
_HASH_INDEX = "file-hashes.json"


def _sqlglot_version() -> str:
    try:
        from importlib.metadata import version

        return version("sqlglot")
    except Exception:  # pragma: no cover - metadata missing in an odd install
        return "unknown"


_SQLGLOT_VERSION = _sqlglot_version()


def default_cache_dir() -> Path | None:
    """The cache folder ``$SQLENV_CACHE_DIR`` or the platform's names (``None``: turned off)."""
    configured = os.environ.get(CACHE_ENV)
    if configured is not None:
        if configured.strip().lower() in _OFF or not configured.strip():
            return None
        return Path(configured).expanduser()
    home = Path.home()
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        base = Path(os.environ.get("LOCALAPPDATA") or home / "AppData" / "Local")
        return base / "sqlenv" / "Cache"
    if sys.platform == "darwin":  # pragma: no cover - exercised on macOS only
        return home / "Library" / "Caches" / "sqlenv"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg and Path(xdg).is_absolute() else home / ".cache") / "sqlenv"


@dataclass(frozen=True)
class GoldEntry:
    """One cached gold result: what running the gold SQL in the gold sandbox returned."""

    columns: list[str]
    rows: list[tuple[Cell, ...]]
    ordered: bool
    truncated: bool


def entry_key(gold_sql: str, limits: SandboxLimits) -> str:
    """The key of a gold query's result within its database's file."""
    settings = list(limits.settings())
    material = json.dumps([_FORMAT, sqlite3.sqlite_version, _SQLGLOT_VERSION, settings, gold_sql], default=str)
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def _as_dict(value: object) -> dict[str, Any] | None:
    """``value`` when it is a JSON object (as read back from a file), else ``None``."""
    return cast(dict[str, Any], value) if isinstance(value, dict) else None


def _cell_ok(value: object) -> bool:
    return value is None or isinstance(value, str | int | float) and not isinstance(value, bool)


def _parse_entry(raw: object) -> GoldEntry | None:
    """An entry read back from JSON, or ``None`` when it is not exactly the shape we write."""
    entry = _as_dict(raw)
    if entry is None:
        return None
    columns, rows = entry.get("columns"), entry.get("rows")
    ordered, truncated = entry.get("ordered"), entry.get("truncated")
    if not (isinstance(columns, list) and isinstance(rows, list)):
        return None
    if not (isinstance(ordered, bool) and isinstance(truncated, bool)):
        return None
    names: list[Any] = columns  # pyright: ignore[reportUnknownVariableType]
    if not all(isinstance(c, str) for c in names):
        return None
    parsed: list[tuple[Cell, ...]] = []
    for row in rows:  # pyright: ignore[reportUnknownVariableType]
        if not isinstance(row, list) or len(row) != len(names):  # pyright: ignore[reportUnknownArgumentType]
            return None
        cells: list[Any] = row  # pyright: ignore[reportUnknownVariableType]
        if not all(_cell_ok(c) for c in cells):
            return None
        parsed.append(tuple(cells))
    return GoldEntry([str(c) for c in names], parsed, ordered, truncated)


class GoldCache:
    """Gold results per database file, in ``<root>/gold/``.

    Args:
        root: the cache folder; ``None`` keeps nothing on disk (every lookup misses).

    Safe to share between processes: files are replaced atomically, a file that does not parse
    (a crash, a hand edit, another version) is ignored and rewritten, and two writers at once can
    at worst drop each other's newest entries, which are then recomputed.
    """

    def __init__(self, root: Path | None) -> None:
        self.root = root
        self._lock = threading.Lock()
        self._hashes: dict[Path, tuple[tuple[int, int, int], str]] = {}
        self._writable: Path | None = None
        self._write_failed = False

    @classmethod
    def default(cls) -> GoldCache:
        """The cache at :func:`default_cache_dir` (read from the environment now)."""
        return cls(default_cache_dir())

    @property
    def enabled(self) -> bool:
        """Whether anything is kept on disk."""
        return self.root is not None

    # -- hashing -------------------------------------------------------------------------------

    def file_hash(self, db_path: Path) -> str:
        """SHA-256 of the database file, remembered by (size, mtime, inode) on disk and in memory.

        Hashing a multi-gigabyte BIRD database takes seconds, so the digest is kept next to the
        entries and only recomputed when the file's size, modification time or inode change.
        """
        path = Path(db_path).resolve()
        st = path.stat()
        stamp = (st.st_size, st.st_mtime_ns, st.st_ino)
        known = self._hashes.get(path)
        if known is not None and known[0] == stamp:
            return known[1]
        index = _as_dict(self._read_first(_HASH_INDEX)) if self.root is not None else None
        record = _as_dict(index.get(str(path))) if index is not None else None
        if record is not None and record.get("stamp") == list(stamp) and isinstance(record.get("sha256"), str):
            digest = str(record["sha256"])
        else:
            with path.open("rb") as handle:
                digest = hashlib.file_digest(handle, "sha256").hexdigest()
            self._update_index(str(path), {"stamp": list(stamp), "sha256": digest})
        self._hashes[path] = (stamp, digest)
        return digest

    def _update_index(self, key: str, record: dict[str, Any]) -> None:
        if self.root is None:
            return
        with self._lock:
            merged = _as_dict(self._read_first(_HASH_INDEX)) or {}
            merged[key] = record
            self._write_json(_HASH_INDEX, merged)

    # -- entries -------------------------------------------------------------------------------

    def load(self, db_path: Path) -> dict[str, GoldEntry]:
        """Every cached entry for this database file (empty when nothing usable is cached)."""
        if self.root is None:
            return {}
        return self._entries(self.file_hash(db_path))

    def store(self, db_path: Path, new: dict[str, GoldEntry]) -> None:
        """Add ``new`` entries to this database's file (merged with what is there now)."""
        if self.root is None or not new:
            return
        digest = self.file_hash(db_path)
        with self._lock:
            merged = self._entries(digest)
            for key, entry in new.items():
                if len(entry.rows) * max(len(entry.columns), 1) <= _MAX_CELLS_PER_ENTRY:
                    merged[key] = entry
            # json writes NaN and infinities as bare words that its reader accepts, and floats by
            # their shortest repr: every cell reads back exactly as it was.
            payload = {
                "format": _FORMAT,
                "database": str(Path(db_path).resolve()),
                "entries": {
                    key: {"columns": e.columns, "rows": e.rows, "ordered": e.ordered, "truncated": e.truncated}
                    for key, e in merged.items()
                },
            }
            self._write_json(f"{digest}.json", payload)

    def _entries(self, digest: str) -> dict[str, GoldEntry]:
        data = _as_dict(self._read_first(f"{digest}.json"))
        raw_entries = _as_dict(data.get("entries")) if data is not None and data.get("format") == _FORMAT else None
        if raw_entries is None:
            return {}
        return {key: entry for key, raw in raw_entries.items() if (entry := _parse_entry(raw)) is not None}

    # -- files ---------------------------------------------------------------------------------

    @staticmethod
    def _dir(root: Path) -> Path:
        return root / "gold"

    def _fallback_root(self) -> Path:
        uid = os.getuid() if hasattr(os, "getuid") else os.getpid()
        return Path(tempfile.gettempdir()) / f"sqlenv-cache-{uid}"

    def _candidate_dirs(self) -> list[Path]:
        assert self.root is not None
        dirs = [self._dir(self.root)]
        if self._writable is not None and self._writable not in dirs:
            dirs.insert(0, self._writable)
        return dirs

    def _usable_dir(self) -> Path | None:
        """The folder writes go to: the configured one, else the private temporary one."""
        if self._writable is not None:
            return self._writable
        if self._write_failed or self.root is None:
            return None
        for root in (self.root, self._fallback_root()):
            folder = self._dir(root)
            try:
                folder.mkdir(parents=True, exist_ok=True, mode=0o700)
                if root != self.root:
                    # A shared temporary directory: use the folder only if it is really ours.
                    info = os.lstat(root)
                    if hasattr(os, "getuid") and (info.st_uid != os.getuid() or os.path.islink(root)):
                        raise PermissionError(f"{root} belongs to someone else")
                probe = folder / f".probe-{os.getpid()}-{threading.get_ident()}"
                probe.write_bytes(b"")
                probe.unlink()
            except OSError as exc:
                logger.warning("sqlenv: cannot write the gold-answer cache in %s (%s)", folder, exc)
                continue
            if root != self.root:
                logger.warning("sqlenv: caching gold answers in %s instead", folder)
            self._writable = folder
            return folder
        self._write_failed = True
        logger.warning("sqlenv: gold answers will not be cached on disk (set %s to a writable folder)", CACHE_ENV)
        return None

    def _read_first(self, name: str) -> object:
        """The first copy of ``name`` that parses, in the folder writes go to, then the configured one."""
        for folder in self._candidate_dirs():
            data = self._read_json(folder / name)
            if data is not None:
                return data
        return None

    @staticmethod
    def _read_json(path: Path) -> object:
        try:
            with path.open("rb") as handle:
                return json.load(handle)
        except (OSError, ValueError, RecursionError):
            return None

    def _write_json(self, name: str, payload: object) -> None:
        folder = self._usable_dir()
        if folder is None:
            return
        tmp = folder / f".{name}.{os.getpid()}.{threading.get_ident()}.tmp"
        try:
            with tmp.open("w", encoding="utf-8") as handle:
                json.dump(payload, handle, ensure_ascii=False, separators=(",", ":"))
            os.replace(tmp, folder / name)
        except (OSError, ValueError) as exc:
            logger.warning("sqlenv: could not write %s (%s)", folder / name, exc)
            with contextlib.suppress(OSError):
                tmp.unlink()
