"""The sandbox runs legitimate read-only SQL correctly, reports errors an agent can act on, and stays
usable across failures and threads."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from sqlenv_core.render import resolve_table_name
from sqlenv_core.sandbox import Sandbox, SandboxError, SandboxLimits

FAST = SandboxLimits(timeout_s=0.5)
MARGIN_S = 2.0


def build_db(path: Path) -> Path:
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT, city TEXT, age INTEGER, score REAL);
        CREATE TABLE pets (id INTEGER PRIMARY KEY, owner_id INTEGER REFERENCES people(id), kind TEXT);
        CREATE INDEX pets_owner ON pets(owner_id);
        CREATE VIEW adults AS SELECT * FROM people WHERE age >= 18;
        CREATE TABLE odd (x);
        """
    )
    cities = ["Paris", "Lyon", "Oslo", "Lima"]
    conn.executemany(
        "INSERT INTO people VALUES (?, ?, ?, ?, ?)",
        [(i, f"person {i}", cities[i % 4], 10 + i % 60, i / 7) for i in range(1, 401)],
    )
    conn.executemany(
        "INSERT INTO pets VALUES (?, ?, ?)", [(i, 1 + i % 400, ["cat", "dog"][i % 2]) for i in range(1, 601)]
    )
    # Text that is not valid UTF-8, as scraped data sometimes holds.
    conn.execute("INSERT INTO odd VALUES (CAST(x'41ff42' AS TEXT))")
    conn.commit()
    conn.close()
    return path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return build_db(tmp_path / "town.sqlite")


@pytest.fixture
def box(db: Path):
    with Sandbox(db, FAST) as sandbox:
        yield sandbox


def native(db: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


LEGIT = [
    pytest.param("SELECT count(*) FROM people", id="count"),
    pytest.param("SELECT 1;", id="trailing-semicolon"),
    pytest.param("SELECT 1;;", id="double-semicolon"),
    pytest.param("SELECT 1; -- done", id="semicolon-then-comment"),
    pytest.param("/* lead */ SELECT 1 /* tail */", id="block-comments"),
    pytest.param("SELECT 1\n-- trailing comment", id="line-comment-last"),
    pytest.param(
        "WITH c AS (SELECT city, count(*) AS n FROM people GROUP BY city) SELECT * FROM c ORDER BY n DESC, city",
        id="cte",
    ),
    pytest.param(
        "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 50) SELECT sum(i) FROM r",
        id="recursive-cte-bounded",
    ),
    pytest.param(
        "SELECT name, rank() OVER (PARTITION BY city ORDER BY score DESC) FROM people ORDER BY id LIMIT 9",
        id="window-function",
    ),
    pytest.param(
        "SELECT json_extract('{\"a\": [1, 2, 3]}', '$.a[2]'), json_array(1, 'x'), json_object('k', 2)",
        id="json-scalar",
    ),
    pytest.param("SELECT key, value FROM json_each('[10, 20, 30]')", id="json-each"),
    pytest.param('SELECT count(*) FROM json_tree(\'{"a": {"b": [1, 2]}}\')', id="json-tree"),
    pytest.param("SELECT name, type FROM sqlite_master ORDER BY name", id="sqlite-master"),
    pytest.param("PRAGMA table_info(people)", id="pragma-table-info"),
    pytest.param("SELECT name FROM pragma_table_info('pets') ORDER BY cid", id="pragma-table-valued"),
    pytest.param("PRAGMA index_list(pets)", id="pragma-index-list"),
    pytest.param("PRAGMA foreign_key_list(pets)", id="pragma-fk-list"),
    pytest.param("SELECT * FROM adults ORDER BY id LIMIT 3", id="view"),
    pytest.param(
        "SELECT p.name, count(t.id) FROM people p LEFT JOIN pets t ON t.owner_id = p.id "
        "GROUP BY p.id HAVING count(t.id) > 1 ORDER BY p.id LIMIT 5",
        id="join-group-having",
    ),
    pytest.param("SELECT city FROM people UNION SELECT kind FROM pets ORDER BY 1", id="compound"),
    pytest.param("SELECT name FROM people WHERE name LIKE '%9%' AND city GLOB 'L*' ORDER BY id", id="like-glob"),
    pytest.param(
        "SELECT instr(name, '1'), replace(name, 'person', 'p'), trim('xxhixx', 'x'), ltrim('..a', '.'), "
        "rtrim('b--', '-'), trim('  t  '), printf('%05.1f|%s|%d|%.3c', score, city, age, 'z'), "
        "format('%x', age) FROM people ORDER BY id LIMIT 20",
        id="string-functions",
    ),
    pytest.param(
        "SELECT instr(x'0102030405', x'0304'), instr(12345, 34), replace(1.5, '.', ','), trim(12.5e20, '1'), "
        "instr(NULL, 'a'), replace('a', NULL, 'b'), trim(NULL, 'x'), printf(NULL), printf('%%|%5s|%-5s|', 'a', 'b')",
        id="function-edge-cases",
    ),
    pytest.param("SELECT length(randomblob(64)), hex(zeroblob(4)), typeof(x'00')", id="blobs"),
]


@pytest.mark.parametrize("sql", LEGIT)
def test_legitimate_sql_matches_plain_sqlite(db: Path, box: Sandbox, sql: str) -> None:
    if "randomblob" in sql:
        expected = [(64, "00000000", "blob")]
    else:
        expected = native(db, sql.rstrip(";").split(";")[0])
    result = box.execute(sql)
    assert not result.truncated
    assert result.rows == expected


def test_text_that_is_not_utf8_is_replaced_not_fatal(box: Sandbox) -> None:
    assert box.execute("SELECT x FROM odd").rows == [("A\ufffdB",)]
    # The fallback decoder is only for that call: valid text keeps the fast path and stays right.
    assert box.execute("SELECT 'é'").rows == [("é",)]
    assert box.execute("SELECT upper(x) FROM odd").rows[0][0].startswith("A")


def test_column_name_that_is_not_utf8_gives_an_actionable_error(tmp_path: Path) -> None:
    path = tmp_path / "badname.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t(x)")
    conn.execute("INSERT INTO t VALUES (1)")
    conn.execute("PRAGMA writable_schema=ON")
    # CREATE TABLE t(x\xffx): a column name SQLite accepts but Python cannot decode.
    conn.execute("UPDATE sqlite_master SET sql = CAST(x'435245415445205441424C4520742878ff7829' AS TEXT)")
    conn.commit()
    conn.close()
    with Sandbox(path, FAST) as box:
        with pytest.raises(SandboxError) as err:
            box.execute("SELECT * FROM t")
        assert err.value.code == "sql_error" and "AS" in err.value.message
        assert box.execute("SELECT * AS v FROM t".replace("* AS v", "1 AS v")).rows == [(1,)]


def test_rows_and_cells_are_capped(db: Path) -> None:
    limits = SandboxLimits(timeout_s=0.5, max_rows=10, max_cell_chars=20)
    with Sandbox(db, limits) as box:
        many = box.execute("SELECT id FROM people")
        assert many.truncated and [r[0] for r in many.rows] == list(range(1, 11))
        exact = box.execute("SELECT id FROM people LIMIT 10")
        assert not exact.truncated and len(exact.rows) == 10
        cell = box.execute("SELECT printf('%.*c', 500, 'y'), x'00112233'").rows[0]
        assert cell[0] == "y" * 19 + "…" and cell[1] == "<blob 4 bytes>"


def test_batched_fetch_treats_every_row_like_the_first(db: Path) -> None:
    # Rows are fetched in batches; a long cell or a blob deep in the result, or a cap that falls
    # inside a batch, must be handled exactly as on the first row.
    limits = SandboxLimits(timeout_s=2.0, max_rows=700, max_cell_chars=20)
    with Sandbox(db, limits) as box:
        late_sql = (
            "SELECT id, CASE WHEN id = 333 THEN printf('%.*c', 50, 'z') WHEN id = 399 THEN x'0102' "
            "ELSE name END FROM people ORDER BY id"
        )
        late = box.execute(late_sql)
        assert not late.truncated and len(late.rows) == 400
        assert late.rows[332] == (333, "z" * 19 + "…") and late.rows[398] == (399, "<blob 2 bytes>")
        assert late.rows[0] == (1, "person 1")
        for cap in (256, 257, 399, 400):
            capped = box.execute("SELECT id FROM people ORDER BY id", max_rows=cap)
            assert [r[0] for r in capped.rows] == list(range(1, min(cap, 400) + 1))
            assert capped.truncated == (cap < 400)
        for cap in (0, 1, 333, 350, 398, 399):  # the batch that crosses the cap holds a long cell or a blob
            cut = box.execute(late_sql, max_rows=cap)
            assert cut.truncated and [r[0] for r in cut.rows] == list(range(1, cap + 1))
            assert cut.rows[332:333] == late.rows[332 : min(cap, 333)]
            assert cut.rows[398:399] == late.rows[398 : min(cap, 399)]


def test_result_size_cap_stops_fetching(db: Path) -> None:
    limits = SandboxLimits(timeout_s=0.5, max_rows=100_000, max_result_bytes=50_000)
    with Sandbox(db, limits) as box:
        result = box.execute("SELECT a.name, b.name FROM people a, people b")
        assert result.truncated
        assert 1_000 < len(result.rows) < 3_000


ERRORS = [
    pytest.param("", "empty", "SELECT", id="empty"),
    pytest.param("  ;; ", "empty", "SELECT", id="only-semicolons"),
    pytest.param("SELEC 1", "sql_error", 'near "SELEC"', id="typo"),
    pytest.param("SELECT nope FROM people", "sql_error", "no such column: nope", id="unknown-column"),
    pytest.param("SELECT * FROM peeple", "unknown_table", "people, pets", id="unknown-table-lists-tables"),
    pytest.param('SELECT * FROM "interrupted"', "unknown_table", "interrupted", id="table-named-like-a-timeout"),
    pytest.param("SELECT readonly FROM people", "sql_error", "no such column: readonly", id="column-named-readonly"),
    pytest.param("SELECT ?", "sql_error", "inline", id="parameter-qmark"),
    pytest.param("SELECT :name", "sql_error", "inline", id="parameter-named"),
    pytest.param("SELECT 1; SELECT 2", "multiple_statements", "one SQL statement", id="two-statements"),
    pytest.param("SELECT\u00a01", "sql_error", "U+00A0", id="no-break-space"),
    pytest.param("SELECT\u20031", "sql_error", "U+2003", id="em-space"),
    pytest.param("SELECT\u200b1", "sql_error", "U+200B", id="zero-width-space"),
    pytest.param("SELECT '\ud800'", "sql_error", "Unicode", id="lone-surrogate"),
    pytest.param("SELECT '\x00'", "sql_error", "NUL", id="nul-byte"),
    pytest.param("SELECT * FROM " + "x" * 30_000, "too_long", "20,000", id="huge-sql"),
    pytest.param("SELECT * FROM x" + "y" * 5_000, "unknown_table", "…", id="huge-name-message-is-short"),
]


@pytest.mark.parametrize(("sql", "code", "fragment"), ERRORS)
def test_errors_are_short_and_actionable(db: Path, box: Sandbox, sql: str, code: str, fragment: str) -> None:
    before = digest(db)
    with pytest.raises(SandboxError) as err:
        box.execute(sql)
    assert err.value.code == code
    assert fragment in err.value.message
    assert len(err.value.message) <= 700
    assert box.execute("SELECT count(*) FROM pets").rows == [(600,)]
    assert digest(db) == before


def test_timeout_leaves_the_sandbox_usable(box: Sandbox) -> None:
    bomb = "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) SELECT count(*) FROM r"
    for _ in range(3):
        start = time.monotonic()
        with pytest.raises(SandboxError) as err:
            box.execute(bomb)
        assert err.value.code == "timeout" and "0.5 s" in err.value.message
        assert time.monotonic() - start < 0.5 + MARGIN_S
        assert box.execute("SELECT count(*) FROM people").rows == [(400,)]
    # A per-call deadline overrides the default one.
    with pytest.raises(SandboxError):
        box.execute(bomb, timeout_s=0.1)
    assert box.execute("SELECT 2").rows == [(2,)]


def test_one_sandbox_shared_by_threads(box: Sandbox) -> None:
    failures: list[str] = []
    stop = time.monotonic() + 30

    def reader(worker: int) -> None:
        for i in range(40):
            if time.monotonic() > stop:
                return
            want = (worker * 100 + i) % 400 + 1
            rows = box.execute(f"SELECT id, name FROM people WHERE id = {want}").rows
            if rows != [(want, f"person {want}")]:
                failures.append(f"{worker}/{i}: {rows}")

    def bomber() -> None:
        for _ in range(3):
            try:
                box.execute("WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) SELECT max(i) FROM r")
                failures.append("bomb finished")
            except SandboxError as exc:
                if exc.code != "timeout":
                    failures.append(exc.code)

    threads = [threading.Thread(target=reader, args=(n,)) for n in range(6)] + [threading.Thread(target=bomber)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert failures == []


def test_sandboxes_are_independent(db: Path) -> None:
    with Sandbox(db, FAST) as one, Sandbox(db, FAST) as two:
        results: dict[str, object] = {}

        def slow() -> None:
            try:
                one.execute("WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) SELECT max(i) FROM r")
            except SandboxError as exc:
                results["one"] = exc.code

        thread = threading.Thread(target=slow)
        thread.start()
        # The other session answers while the first one is busy (it holds only its own lock).
        results["two"] = two.execute("SELECT count(*) FROM people").rows
        thread.join(timeout=10)
        assert results == {"one": "timeout", "two": [(400,)]}


def test_many_open_connections_leave_heap_for_a_real_query(db: Path) -> None:
    boxes = [Sandbox(db, FAST) for _ in range(300)]
    try:
        for box in boxes:
            # Warm every page cache, as a server with hundreds of live sessions would.
            assert box.execute(
                "SELECT count(*), sum(length(name)) FROM people, pets WHERE pets.owner_id = people.id"
            ).rows
        sort = boxes[0].execute(
            "SELECT a.name, b.name FROM people a, people b ORDER BY a.score * b.score DESC LIMIT 3", timeout_s=5
        )
        assert len(sort.rows) == 3
    finally:
        for box in boxes:
            box.close()


def test_closed_sandbox_reopens_and_missing_file_is_unavailable(db: Path, tmp_path: Path) -> None:
    box = Sandbox(db, FAST)
    assert box.execute("SELECT 1").rows == [(1,)]
    box.close()
    assert box.execute("SELECT 2").rows == [(2,)]
    box.close()
    with pytest.raises(SandboxError) as err:
        Sandbox(tmp_path / "missing.sqlite").execute("SELECT 1")
    assert err.value.code == "unavailable"


def test_schema_helpers(db: Path, box: Sandbox) -> None:
    tables = box.table_names()
    assert tables == ["people", "pets", "adults", "odd"]
    assert resolve_table_name("PEOPLE", tables) == "people"
    assert resolve_table_name('"pets"', tables) == "pets"
    with pytest.raises(SandboxError) as err:
        resolve_table_name("people; DROP TABLE pets", tables)
    assert err.value.code == "unknown_table" and "people, pets" in err.value.message


def test_temp_store_choice_is_validated_and_file_mode_still_sorts(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="temp_store"):
        SandboxLimits(temp_store="disk")  # type: ignore[arg-type]
    db = tmp_path / "n.sqlite"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE n (x INTEGER)")
    conn.executemany("INSERT INTO n VALUES (?)", [(i,) for i in range(5000)])
    conn.commit()
    conn.close()
    with Sandbox(db, SandboxLimits(temp_store="file")) as box:
        result = box.execute("SELECT x % 7 AS k, count(*) FROM n GROUP BY k ORDER BY k DESC")
    assert result.rows[0] == (6, 714) and len(result.rows) == 7


def test_interrupt_cancels_the_running_query_and_only_that(db: Path) -> None:
    box = Sandbox(db, SandboxLimits(timeout_s=30.0))
    assert box.interrupt() is False  # nothing running: a no-op that says so
    outcome: list[BaseException | object] = []
    started = threading.Event()

    def run() -> None:
        started.set()
        try:
            outcome.append(
                box.execute("WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) SELECT max(i) FROM r")
            )
        except SandboxError as exc:
            outcome.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    started.wait(5)
    for _ in range(200):  # bounded: wait until the statement is really running
        if box.interrupt():
            break
        time.sleep(0.01)
    worker.join(10)
    assert not worker.is_alive(), "the query was not cancelled"
    assert isinstance(outcome[0], SandboxError) and outcome[0].code == "cancelled"
    assert box.execute("SELECT count(*) FROM people").rows == [(400,)]  # the next call is unaffected
    box.close()


def test_a_printf_result_at_or_past_the_value_cap_is_too_large(db: Path) -> None:
    # SQLite's printf gives NULL at the length limit and refuses past it; both are "too large",
    # never a silent NULL or a generic "user-defined function raised exception".
    with Sandbox(db, SandboxLimits(timeout_s=2.0, max_value_bytes=1_000)) as box:
        assert box.execute("SELECT length(printf(printf('%.*c', 999, 'x')))").rows == [(999,)]
        for chars in (1_000, 1_001, 5_000):
            with pytest.raises(SandboxError) as info:
                box.execute(f"SELECT printf(printf('%.*c', {chars}, 'x'))")
            assert info.value.code == "too_large", info.value
