"""An adversarial corpus against the sandbox: writes in every spelling, escapes, and CPU, memory and
output bombs.

Every attack must be answered within the deadline plus a margin, with the right error code, a short
message, bounded memory, and no file changed or created (SQLite's own temporary files excepted:
in SQLITE_TMPDIR, unlinked as they are created, the folder empty afterwards). The bombs run in a
child process with an address-space limit, so one that escaped could not take the test runner
down; the child reports, per attack, the time, the error, its peak RSS growth and any file it saw
SQLite open.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_sandbox import build_db

from sqlenv_core.sandbox import Sandbox, SandboxError, SandboxLimits

DEADLINE_S = 0.5
MARGIN_S = 2.0
FAST = SandboxLimits(timeout_s=DEADLINE_S)

# (id, sql, expected code, fragment the message must contain)
WRITES = [
    ("delete", "DELETE FROM people", "DELETE"),
    ("delete-lowercase-spaces", "  delete\n\tfrom   people  ", "DELETE"),
    ("delete-after-comment", "/* harmless */ -- really\nDELETE FROM people", "DELETE"),
    ("delete-cte", "WITH x AS (SELECT 1) DELETE FROM people", "DELETE"),
    ("delete-returning", "DELETE FROM people RETURNING *", "DELETE"),
    ("insert", "INSERT INTO pets(kind) VALUES ('eel')", "INSERT"),
    ("insert-cte", "WITH x(k) AS (SELECT 'eel') INSERT INTO pets(kind) SELECT k FROM x", "INSERT"),
    ("insert-returning", "INSERT INTO pets(kind) VALUES ('eel') RETURNING id", "INSERT"),
    ("insert-or-replace", "INSERT OR REPLACE INTO pets(id, kind) VALUES (1, 'eel')", "INSERT"),
    ("replace", "REPLACE INTO pets(id, kind) VALUES (1, 'eel')", "REPLACE"),
    ("upsert", "INSERT INTO pets(id, kind) VALUES (1, 'eel') ON CONFLICT(id) DO UPDATE SET kind = 'eel'", "INSERT"),
    ("update", "UPDATE people SET age = 0", "UPDATE"),
    ("update-cte", "WITH x AS (SELECT 1) UPDATE people SET age = 0", "UPDATE"),
    ("update-schema", "UPDATE sqlite_master SET sql = NULL", "UPDATE"),
    ("create-table", "CREATE TABLE t(x)", "CREATE TABLE"),
    ("create-table-as", "CREATE TABLE t AS SELECT * FROM people", "CREATE TABLE"),
    ("create-index", "CREATE INDEX i ON people(age)", "CREATE INDEX"),
    ("create-view", "CREATE VIEW v AS SELECT 1", "CREATE VIEW"),
    ("create-trigger", "CREATE TRIGGER tr AFTER INSERT ON pets BEGIN SELECT 1; END", "CREATE TRIGGER"),
    ("create-temp-table", "CREATE TEMP TABLE t AS SELECT 1", "CREATE TEMP TABLE"),
    ("create-temporary-view", "CREATE TEMPORARY VIEW v AS SELECT 1", "CREATE TEMPORARY VIEW"),
    ("create-temp-trigger", "CREATE TEMP TRIGGER tr AFTER INSERT ON pets BEGIN SELECT 1; END", "CREATE TEMP TRIGGER"),
    ("create-virtual-table", "CREATE VIRTUAL TABLE f USING fts5(x)", "CREATE VIRTUAL TABLE"),
    ("create-temp-virtual-table", "CREATE VIRTUAL TABLE temp.f USING fts5(x)", "CREATE VIRTUAL TABLE"),
    ("drop-table", "DROP TABLE pets", "DROP TABLE"),
    ("drop-view-if-exists", "DROP VIEW IF EXISTS adults", "DROP VIEW"),
    ("drop-index", "DROP INDEX pets_owner", "DROP INDEX"),
    ("alter-table", "ALTER TABLE people ADD COLUMN z", "ALTER TABLE"),
    ("alter-rename", "ALTER TABLE people RENAME TO folk", "ALTER TABLE"),
    ("attach-memory", "ATTACH ':memory:' AS m", "ATTACH"),
    ("attach-file", "ATTACH DATABASE 'evil.sqlite' AS m", "ATTACH"),
    ("attach-uri", "ATTACH 'file:evil.sqlite?mode=rwc' AS m", "ATTACH"),
    ("detach", "DETACH main", "DETACH"),
    ("vacuum", "VACUUM", "VACUUM"),
    ("vacuum-into", "VACUUM INTO 'copy.sqlite'", "VACUUM INTO"),
    ("vacuum-into-tmp", "VACUUM INTO '/tmp/sqlenv-vacuum-copy.sqlite'", "VACUUM INTO"),
    ("reindex", "REINDEX", "REINDEX"),
    ("analyze", "ANALYZE", "ANALYZE"),
    ("begin", "BEGIN", "BEGIN"),
    ("begin-immediate", "BEGIN IMMEDIATE", "BEGIN"),
    ("commit", "COMMIT", "COMMIT"),
    ("rollback", "ROLLBACK", "ROLLBACK"),
    ("savepoint", "SAVEPOINT a", "SAVEPOINT"),
    ("release", "RELEASE a", "RELEASE"),
    ("pragma-journal-mode", "PRAGMA journal_mode = WAL", "PRAGMA journal_mode"),
    ("pragma-writable-schema", "PRAGMA writable_schema = ON", "PRAGMA writable_schema"),
    ("pragma-hard-heap-limit", "PRAGMA hard_heap_limit = 0", "PRAGMA hard_heap_limit"),
    ("pragma-soft-heap-limit", "PRAGMA soft_heap_limit = 0", "PRAGMA soft_heap_limit"),
    ("pragma-query-only", "PRAGMA query_only = 0", "PRAGMA query_only"),
    ("pragma-temp-store", "PRAGMA temp_store = FILE", "PRAGMA temp_store"),
    ("pragma-temp-store-directory", "PRAGMA temp_store_directory = '/tmp'", "PRAGMA temp_store_directory"),
    ("pragma-cache-size", "PRAGMA cache_size = -10000000", "PRAGMA cache_size"),
    ("pragma-mmap-size", "PRAGMA mmap_size = 1000000000", "PRAGMA mmap_size"),
    ("pragma-trusted-schema", "PRAGMA trusted_schema = ON", "PRAGMA trusted_schema"),
    ("pragma-user-version", "PRAGMA user_version = 7", "PRAGMA user_version"),
    ("pragma-optimize", "PRAGMA optimize", "PRAGMA optimize"),
    ("pragma-shrink-memory", "PRAGMA shrink_memory", "PRAGMA shrink_memory"),
    ("pragma-schema-qualified", "PRAGMA main.journal_mode = DELETE", "PRAGMA journal_mode"),
    ("pragma-vtab-heap-limit", "SELECT * FROM pragma_hard_heap_limit", "PRAGMA hard_heap_limit"),
    ("pragma-vtab-optimize", "SELECT * FROM pragma_optimize(65538)", "PRAGMA optimize"),
    ("pragma-vtab-in-join", "SELECT * FROM people JOIN pragma_soft_heap_limit LIMIT 1", "PRAGMA soft_heap_limit"),
    ("load-extension", "SELECT load_extension('/tmp/evil.so')", "load_extension"),
    ("load-extension-upper", "SELECT LOAD_EXTENSION('/tmp/evil.so', 'init')", "load_extension"),
    ("load-extension-in-where", "SELECT 1 FROM people WHERE load_extension('x') IS NULL", "load_extension"),
    ("fts3-tokenizer", "SELECT fts3_tokenizer('simple')", "fts3_tokenizer"),
]

MULTI = [
    ("two-selects", "SELECT 1; SELECT 2"),
    ("select-then-delete", "SELECT 1; DELETE FROM people"),
    ("delete-after-comment-after-select", "SELECT 1; /* c */ DELETE FROM people"),
    ("delete-after-line-comment", "SELECT 1; -- c\nDELETE FROM people"),
    ("select-then-attach", "SELECT 1;ATTACH ':memory:' AS m"),
    ("select-then-pragma", "SELECT 1;\n\nPRAGMA writable_schema=ON;"),
]


def _signature(path: Path) -> tuple[str, list[str]]:
    return hashlib.sha256(path.read_bytes()).hexdigest(), sorted(os.listdir(path.parent))


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_db(tmp_path_factory.mktemp("attacks") / "town.sqlite")


@pytest.mark.parametrize(("sql", "fragment"), [pytest.param(s, f, id=i) for i, s, f in WRITES])
def test_writes_are_refused_by_name(db: Path, sql: str, fragment: str) -> None:
    before = _signature(db)
    cwd = os.getcwd()
    os.chdir(db.parent)  # relative ATTACH/VACUUM INTO targets would land here
    try:
        with Sandbox(db, FAST) as box:
            start = time.monotonic()
            with pytest.raises(SandboxError) as err:
                box.execute(sql)
            assert time.monotonic() - start < DEADLINE_S + MARGIN_S
            assert err.value.code == "forbidden", err.value.message
            assert fragment in err.value.message.split(" is not allowed")[0], err.value.message
            assert "read-only" in err.value.message and len(err.value.message) < 200
            assert box.execute("SELECT count(*) FROM people").rows == [(400,)]
    finally:
        os.chdir(cwd)
    assert _signature(db) == before
    assert not Path("/tmp/sqlenv-vacuum-copy.sqlite").exists()


@pytest.mark.parametrize("sql", [pytest.param(s, id=i) for i, s in MULTI])
def test_one_statement_per_call(db: Path, sql: str) -> None:
    before = _signature(db)
    with Sandbox(db, FAST) as box:
        with pytest.raises(SandboxError) as err:
            box.execute(sql)
        assert err.value.code == "multiple_statements"
        assert box.execute("SELECT count(*) FROM people").rows == [(400,)]
    assert _signature(db) == before


# Tables and table-valued functions that show connection or process state. Pooled connections are
# shared by every session on a database, so each of these would let one session read another's:
# sqlite_stmt lists the statements other sessions ran (the gold SQL among them).
STATE_LEAKS = [
    ("sqlite-stmt", "SELECT sql FROM sqlite_stmt", "sqlite_stmt"),
    ("sqlite-stmt-filtered", "SELECT sql FROM sqlite_stmt WHERE sql NOT LIKE 'PRAGMA%'", "sqlite_stmt"),
    ("sqlite-stmt-main", "SELECT * FROM main.sqlite_stmt", "sqlite_stmt"),
    ("sqlite-stmt-temp", "SELECT * FROM temp.sqlite_stmt", "sqlite_stmt"),
    ("sqlite-stmt-case", "SELECT SQL FROM SQLITE_STMT", "sqlite_stmt"),
    ("sqlite-stmt-subquery", "SELECT * FROM people WHERE name IN (SELECT sql FROM sqlite_stmt)", "sqlite_stmt"),
    ("sqlite-stmt-cte", "WITH s AS (SELECT sql FROM sqlite_stmt) SELECT count(*) FROM s", "sqlite_stmt"),
    ("sqlite-stmt-exists", "SELECT EXISTS (SELECT 1 FROM sqlite_stmt WHERE sql LIKE '%x%')", "sqlite_stmt"),
    ("dbstat", "SELECT * FROM dbstat", "dbstat"),
    ("dbstat-arg", "SELECT * FROM dbstat('main')", "dbstat"),
    ("database-list", "SELECT file FROM pragma_database_list", "PRAGMA database_list"),
    ("function-list", "SELECT * FROM pragma_function_list", "PRAGMA function_list"),
    ("module-list", "SELECT * FROM pragma_module_list", "PRAGMA module_list"),
    ("compile-options", "SELECT * FROM pragma_compile_options", "PRAGMA compile_options"),
    ("pragma-list", "SELECT * FROM pragma_pragma_list", "PRAGMA pragma_list"),
    ("collation-list", "SELECT * FROM pragma_collation_list", "PRAGMA collation_list"),
    ("cache-size", "SELECT * FROM pragma_cache_size", "PRAGMA cache_size"),
    ("data-version", "SELECT * FROM pragma_data_version", "PRAGMA data_version"),
    ("soft-heap", "SELECT * FROM pragma_soft_heap_limit", "PRAGMA soft_heap_limit"),
    ("temp-store", "SELECT * FROM pragma_temp_store", "PRAGMA temp_store"),
]


@pytest.mark.parametrize(("sql", "table"), [pytest.param(s, t, id=i) for i, s, t in STATE_LEAKS])
def test_connection_and_process_state_is_unreadable(db: Path, sql: str, table: str) -> None:
    with Sandbox(db, FAST) as box:
        box.execute("SELECT name FROM people WHERE city = 'Oslo' AND age > 40")  # a statement to leak
        with pytest.raises(SandboxError) as err:
            box.execute(sql)
        assert err.value.code == "forbidden", err.value.message
        if table.startswith("PRAGMA"):
            assert err.value.message.startswith(f"{table} is not allowed"), err.value.message
        else:
            assert err.value.message.lower().startswith(f"{table} is not readable"), err.value.message
            assert "people" in err.value.message  # says what can be read instead


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT name FROM pragma_table_info('people')",
        "SELECT * FROM pragma_index_list('pets')",
        "SELECT * FROM pragma_foreign_key_list('pets')",
        "SELECT name FROM pragma_table_list WHERE schema = 'main'",
        "SELECT value FROM json_each('[1, 2]')",
        "SELECT count(*) FROM json_tree('{\"a\": [1, 2]}')",
        "SELECT name FROM sqlite_master WHERE type = 'table'",
        "SELECT count(*) FROM sqlite_schema",
        "SELECT count(*) FROM adults",
        "SELECT count(*) FROM PEOPLE",
        'SELECT count(*) FROM "people" AS p JOIN pets ON pets.owner_id = p.id',
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 5) SELECT sum(x) FROM c",
    ],
)
def test_reading_the_database_and_harmless_builtins_still_works(db: Path, sql: str) -> None:
    with Sandbox(db, FAST) as box:
        assert box.execute(sql).rows


def test_one_session_cannot_read_what_another_ran_through_the_shared_pool(db: Path) -> None:
    from sqlenv_core.sandbox import SHARED_POOL

    secret = "SELECT name FROM people WHERE city = 'Lima' AND score > 41.5"
    victim, attacker = Sandbox(db, FAST, pool=SHARED_POOL), Sandbox(db, FAST, pool=SHARED_POOL)
    victim.execute(secret)
    for sql in ("SELECT sql FROM sqlite_stmt", "SELECT group_concat(sql) FROM sqlite_stmt WHERE sql LIKE '%Lima%'"):
        with pytest.raises(SandboxError) as err:
            attacker.execute(sql)
        assert "Lima" not in err.value.message


def _cross(n: int) -> str:
    return ", ".join(f"people p{i}" for i in range(n))


def _big(chars: int, fill: str = "a") -> str:
    return f"printf('%.*c', {chars}, '{fill}')"


_COUNTER = "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r LIMIT {n}) "
_BIG_CTE = f"WITH s(x) AS (SELECT {_big(99_000)}) "
_MANY_BIG = "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r LIMIT 100000) "
_NEST = 2_000

# (id, sql, allowed codes). An empty tuple means the query may also succeed (truncated).
BOMBS = [
    # CPU
    (
        "recursive-cte-unbounded",
        "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM r) SELECT count(*) FROM r",
        ("timeout",),
    ),
    (
        "recursive-cte-fanout",
        "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM r, people) SELECT max(i) FROM r",
        ("timeout", "out_of_memory"),
    ),
    ("cartesian-count", f"SELECT count(*) FROM {_cross(6)}", ("timeout",)),
    (
        "cartesian-distinct",
        f"SELECT count(DISTINCT p0.name || p1.name || p2.name) FROM {_cross(3)}",
        ("timeout", "out_of_memory"),
    ),
    (
        "nested-subqueries",
        "SELECT (SELECT count(*) FROM people b, people c WHERE b.id < c.id + a.id) FROM people a",
        ("timeout",),
    ),
    (
        "like-backtracking",
        _BIG_CTE
        + "SELECT count(*) FROM s, people, pets WHERE x || people.id LIKE '%a%a%a%a%a%a%a%a%a%a%a%a%a%a%a%a%a%a%b'",
        (),  # linear now: may finish, within the caps
    ),
    (
        "like-long-literal",
        _BIG_CTE + f"SELECT count(*) FROM s, people WHERE x || people.id LIKE '%' || {_big(96)} || 'b'",
        ("timeout",),
    ),
    (
        "glob-long-literal",
        _BIG_CTE + f"SELECT count(*) FROM s, people WHERE x || people.id GLOB '*' || {_big(96)} || 'b'",
        ("timeout",),
    ),
    ("like-pattern-too-long", f"SELECT 'a' LIKE {_big(5_000)}", ("too_large",)),
    (
        "like-many-columns",
        "WITH s(x) AS (SELECT "
        + _big(99_000)
        + ") SELECT "
        + ", ".join(f"x LIKE '%' || {_big(96)} || '{i}'" for i in range(40))
        + " FROM s",
        ("forbidden",),
    ),
    (
        "instr-quadratic",
        _BIG_CTE + "SELECT instr(x, substr(x, 1, 49000) || 'b') FROM s, people",
        (),  # linear now: may finish, within the caps
    ),
    (
        "instr-many-columns",
        "WITH s(x) AS (SELECT "
        + _big(99_000)
        + ") SELECT "
        + ", ".join(f"instr(x, substr(x, 1, 49000) || '{i}')" for i in range(300))
        + " FROM s",
        (),  # linear now: may finish, within the caps
    ),
    (
        "replace-quadratic",
        _BIG_CTE + "SELECT length(replace(x, substr(x, 1, 49000) || 'b', '')) FROM s, people",
        (),  # linear now: may finish, within the caps
    ),
    (
        "trim-quadratic",
        f"WITH s(x) AS (SELECT {_big(49_000)}) SELECT length(trim(x, {_big(49_000, 'b')} || 'a')) FROM s, people",
        ("timeout",),
    ),
    ("printf-char-repeat", "SELECT printf('%.*c', 2000000000, 'x')", ("too_large",)),
    ("format-char-repeat", "SELECT length(format('%!.*c', 2000000000, 'x'))", ("too_large",)),
    ("printf-width", "SELECT printf('%*d', 2000000000, 1)", ()),
    ("printf-precision-float", "SELECT printf('%.*f', 2000000000, 1.5)", ()),
    # Memory
    ("randomblob-huge", "SELECT randomblob(2000000000)", ("too_large",)),
    ("zeroblob-huge", "SELECT zeroblob(2000000000)", ("too_large",)),
    ("printf-huge-string", f"SELECT length({_big(50_000_000)})", ("too_large",)),
    (
        "replace-doubling",
        "WITH RECURSIVE d(x) AS (SELECT 'ab' UNION ALL SELECT replace(x, 'a', 'aa') || x FROM d) "
        "SELECT max(length(x)) FROM d",
        ("too_large", "timeout"),
    ),
    (
        "concat-doubling",
        "WITH RECURSIVE d(x) AS (SELECT 'ab' UNION ALL SELECT x || x FROM d) SELECT max(length(x)) FROM d",
        ("too_large",),
    ),
    (
        "group-concat-cartesian",
        f"SELECT length(group_concat(p0.name || p1.name || p2.name)) FROM {_cross(3)}",
        ("too_large", "timeout"),
    ),
    (
        "order-by-cartesian",
        f"SELECT p0.name, p1.name, p2.name, {_big(500)} FROM {_cross(3)} ORDER BY random()",
        ("out_of_memory", "timeout", "too_large"),
    ),
    (
        "distinct-big-rows",
        _MANY_BIG + f"SELECT count(*) FROM (SELECT DISTINCT {_big(99_000)} || i FROM r)",
        ("out_of_memory", "timeout", "too_large"),
    ),
    (
        "window-over-big-rows",
        _MANY_BIG
        + f"SELECT max(length(y)) FROM (SELECT lag({_big(99_000)} || i, 50000) OVER (ORDER BY i) AS y FROM r)",
        ("out_of_memory", "timeout", "too_large"),
    ),
    ("wide-row-of-big-values", "SELECT " + ", ".join(f"randomblob(99000) AS c{i}" for i in range(450)), ()),
    ("json-nesting", "SELECT json(" + "'" + "[" * 5_000 + "]" * 5_000 + "')", ("sql_error", "too_large")),
    # Output
    ("millions-of-rows", _COUNTER.format(n=10_000_000) + "SELECT i FROM r", ()),
    ("millions-of-big-rows", _COUNTER.format(n=10_000_000) + f"SELECT {_big(99_000)} FROM r", ()),
    ("millions-of-blobs", _COUNTER.format(n=10_000_000) + "SELECT zeroblob(99000), randomblob(99000) FROM r", ()),
    ("wide-rows", f"SELECT * FROM {_cross(8)}", ()),
    # Huge or deep SQL
    ("nested-parentheses", "SELECT " + "(" * _NEST + "1" + ")" * _NEST, ("too_large",)),
    ("nested-case", "SELECT " + "CASE WHEN 1 THEN " * 800 + "1" + " END" * 800, ("too_large",)),
    ("nested-subselect", "SELECT " + "(SELECT " * 500 + "1" + ")" * 500, ("too_large",)),
    ("long-or-chain", "SELECT count(*) FROM people WHERE " + " OR ".join(f"id = {i}" for i in range(1_500)), ()),
    ("long-in-list", "SELECT count(*) FROM people WHERE id IN (" + ",".join(str(i) for i in range(3_000)) + ")", ()),
    ("many-compound", " UNION ".join(f"SELECT {i}" for i in range(100)), ("too_large",)),
    ("many-columns", "SELECT " + ", ".join(str(i) for i in range(1_000)), ("too_large",)),
]

CHILD = r"""
import json, os, resource, sys, threading, time
sys.setrecursionlimit(10_000)
resource.setrlimit(resource.RLIMIT_AS, (__ADDRESS_SPACE__, __ADDRESS_SPACE__))
from sqlenv_core.sandbox import Sandbox, SandboxError, SandboxLimits

db, tmpdir, cases = sys.argv[1], sys.argv[2], json.load(sys.stdin)
seen = set()
watching = threading.Event()

def fd_targets():
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            found.add(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            pass
    return found

def watch():
    while watching.is_set():
        seen.update(fd_targets())
        time.sleep(0.002)

def rss_peak_kib():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])

box = Sandbox(db, SandboxLimits(timeout_s=__DEADLINE__))
box.execute("SELECT 1")
baseline_fds = fd_targets()
out = {}
for case_id, sql in cases:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    base = rss_peak_kib()
    seen.clear()
    watching.set()
    watcher = threading.Thread(target=watch)
    watcher.start()
    start = time.monotonic()
    try:
        r = box.execute(sql)
        code, message, rows, truncated = None, "", len(r.rows), r.truncated
        size = sum(len(c) if isinstance(c, str) else 8 for row in r.rows for c in row)
    except SandboxError as e:
        code, message, rows, truncated, size = e.code, e.message, 0, False, 0
    except BaseException as e:
        code, message, rows, truncated, size = "RAW " + type(e).__name__, str(e)[:300], 0, False, 0
    elapsed = time.monotonic() - start
    watching.clear()
    watcher.join()
    after = box.execute("SELECT count(*) FROM people").rows
    ignored = ("pipe:", "socket:", "anon_inode:", "/dev/", "/proc/")
    opened = sorted(t for t in seen - baseline_fds if not t.startswith(ignored))
    # SQLite's temporary files (temp_store=file) are allowed: in SQLITE_TMPDIR, unlinked right
    # after they are opened (the watcher may catch one in between; the folder is checked empty).
    temp = [t for t in opened if t.startswith(tmpdir + "/etilqs_")]
    new_files = [t for t in opened if t not in temp]
    growth = (rss_peak_kib() - base) / 1024
    out[case_id] = dict(code=code, message=message, rows=rows, truncated=truncated, size=size,
                        elapsed=elapsed, rss_growth_mib=growth, temp_files=len(temp),
                        new_files=new_files, usable=after == [(400,)])
json.dump(out, sys.stdout)
"""

#: Address space for the child: Python and SQLite's heap cap (512 MiB) with room to spare.
CHILD_ADDRESS_SPACE = 3 * 1024**3
#: Peak RSS growth allowed for one attack: the widest row SQLite can return (max_columns x
#: max_value_bytes, ~45 MiB, held by SQLite and copied once by Python), a fetch batch and slack.
#: Sorts, DISTINCT and window functions spill to temporary files, so none of them gets near it
#: (with temp_store=memory they could take the whole 512 MiB heap).
MAX_RSS_GROWTH_MIB = 160


@pytest.fixture(scope="module")
def bomb_results(
    db: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, dict[str, object]], tuple[str, list[str]], tuple[str, list[str]]]:
    before = _signature(db)
    tmpdir = tmp_path_factory.mktemp("sqlite-tmp")
    env = dict(os.environ, SQLITE_TMPDIR=str(tmpdir), TMPDIR=str(tmpdir))
    code = CHILD.replace("__ADDRESS_SPACE__", str(CHILD_ADDRESS_SPACE)).replace("__DEADLINE__", str(DEADLINE_S))
    proc = subprocess.run(
        [sys.executable, "-c", code, str(db), str(tmpdir)],
        input=json.dumps([(case_id, sql) for case_id, sql, _ in BOMBS]),
        capture_output=True,
        text=True,
        timeout=len(BOMBS) * (DEADLINE_S + MARGIN_S) + 60,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    after = _signature(db)
    assert os.listdir(tmpdir) == []
    return json.loads(proc.stdout), before, after


@pytest.mark.parametrize(("case_id", "codes"), [pytest.param(i, c, id=i) for i, _, c in BOMBS])
def test_bomb_is_contained(bomb_results, case_id: str, codes: tuple[str, ...]) -> None:
    results, before, after = bomb_results
    r = results[case_id]
    assert r["elapsed"] < DEADLINE_S + MARGIN_S, r
    assert r["rss_growth_mib"] < MAX_RSS_GROWTH_MIB, r
    assert r["new_files"] == [], r
    assert r["usable"], r
    assert not str(r["code"]).startswith("RAW"), r
    if codes:
        assert r["code"] in codes, r
        assert 0 < len(str(r["message"])) < 300, r
    else:
        # Allowed to succeed, but only within the row, cell and result-size caps.
        assert r["code"] is None or r["code"] in {"timeout", "too_large", "out_of_memory"}, r
        assert r["rows"] <= FAST.max_rows and int(r["size"]) <= FAST.max_result_bytes + 1_000_000, r
    assert after == before


def test_a_cte_named_like_a_state_table_is_the_statement_own(db: Path) -> None:
    with Sandbox(db, FAST) as box:
        assert box.execute("WITH sqlite_stmt(sql) AS (SELECT 'mine') SELECT count(*) FROM sqlite_stmt").rows == [(1,)]
        counter = "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r LIMIT 9) SELECT count(*) FROM r"
        assert box.execute(counter).rows == [(9,)]
