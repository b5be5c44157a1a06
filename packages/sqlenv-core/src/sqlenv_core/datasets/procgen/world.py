"""One generated database: a domain, a naming style, rows and their dirt.

Everything is drawn from one :class:`random.Random` seeded with a string, which Python hashes
with SHA-512 (never with the per-process ``hash()``), so the same seed gives the same world on
every machine and every run. Nothing iterates over a ``set`` or depends on the clock or locale.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import sqlite3
from dataclasses import dataclass, field

from sqlenv_core.datasets.procgen.model import Attr, Domain, Entity, NameGen
from sqlenv_core.datasets.procgen.words import ADJECTIVES, FIRST_NAMES, LAST_NAMES

__all__ = ["NAMING_STYLES", "RESERVED", "Table", "World", "build_world", "sql_literal"]

NAMING_STYLES = ("snake", "camel", "abbrev", "mixed")

#: Short forms the ``abbrev`` naming style uses, word by word.
ABBREVIATIONS = {
    "account": "acct",
    "address": "addr",
    "amount": "amt",
    "appointment": "appt",
    "average": "avg",
    "budget": "bdgt",
    "capacity": "cap",
    "category": "cat",
    "country": "ctry",
    "customer": "cust",
    "date": "dt",
    "department": "dept",
    "description": "descr",
    "distance": "dist",
    "duration": "dur",
    "employee": "emp",
    "experiment": "expt",
    "founded": "fnd",
    "height": "ht",
    "instructor": "instr",
    "invoice": "inv",
    "length": "len",
    "location": "loc",
    "maximum": "max",
    "measurement": "meas",
    "member": "mbr",
    "minimum": "min",
    "minutes": "mins",
    "number": "num",
    "patient": "pat",
    "percentage": "pct",
    "player": "plyr",
    "position": "pos",
    "price": "prc",
    "product": "prod",
    "quantity": "qty",
    "rating": "rtg",
    "reference": "ref",
    "region": "rgn",
    "registration": "reg",
    "salary": "sal",
    "score": "scr",
    "season": "ssn",
    "station": "stn",
    "student": "stu",
    "teacher": "tchr",
    "transaction": "txn",
    "vehicle": "veh",
    "volume": "vol",
    "weight": "wt",
    "year": "yr",
}

#: SQL words no generated identifier may be (checked when a world is built).
RESERVED = frozenset(
    """abort action add after all alter always analyze and as asc attach autoincrement before begin
    between by cascade case cast check collate column commit conflict constraint create cross current
    current_date current_time current_timestamp database date default deferrable deferred delete desc
    detach distinct do drop each else end escape except exclude exclusive exists explain fail filter
    first following for foreign from full generated glob group groups having if ignore immediate in
    index indexed initially inner insert instead intersect into is isnull join key last left like limit
    match materialized natural no not nothing notnull null nulls of offset on or order others outer over
    partition plan pragma preceding primary query raise range recursive references regexp reindex release
    rename replace restrict returning right rollback row rows savepoint select set table temp temporary
    then ties time timestamp to transaction trigger unbounded union unique update using vacuum values
    view virtual when where window with without""".split()
)


def _words(name: str) -> list[str]:
    return name.replace(" ", "_").split("_")


def _pascal(name: str) -> str:
    return "".join(w[:1].upper() + w[1:] for w in _words(name))


def _abbrev(name: str) -> str:
    return "_".join(ABBREVIATIONS.get(w, w) for w in _words(name))


def _snake(name: str) -> str:
    return "_".join(_words(name))


def _safe(candidate: str, fallback: str) -> str:
    return fallback if candidate.lower() in RESERVED else candidate


@dataclass
class Table:
    """A table of the world: its entity, SQL names and rows.

    Attributes:
        role: ``group``, ``item`` or ``event``.
        entity: what its rows are.
        name: the SQL table name.
        pk: the primary-key column.
        name_col: the ``name`` column (``None`` for an event table without one).
        fk: the column referencing the parent's primary key (``None`` for the group table).
        cols: attribute name → SQL column name.
        rows: one dict per row, keyed by the SQL column names.
    """

    role: str
    entity: Entity
    name: str
    pk: str
    name_col: str | None
    fk: str | None
    cols: dict[str, str]
    rows: list[dict[str, object]] = field(default_factory=list[dict[str, object]])

    def attrs(self, *kinds: str) -> list[Attr]:
        """The table's attributes of these kinds (all when none given), in declaration order."""
        return [a for a in self.entity.attrs if not kinds or a.kind in kinds]


@dataclass
class World:
    """One database: its domain, tables (group, item, event) and which columns are dirty.

    Attributes:
        db_id: the database's id (also its file name).
        domain: the domain it instantiates.
        style: the naming style of its identifiers.
        group: the parent table.
        item: the main table.
        event: the child table.
        dirty: the dirt it holds: ``"case:<role>.<attr>"`` (a category spelled in several ways),
            ``"null:<role>.<attr>"`` (missing values), ``"dupnames"`` (item names that repeat).
    """

    db_id: str
    domain: Domain
    style: str
    group: Table
    item: Table
    event: Table
    dirty: list[str] = field(default_factory=list[str])

    @property
    def tables(self) -> list[Table]:
        """Group, item and event tables, in creation order."""
        return [self.group, self.item, self.event]

    def is_dirty(self, table: Table, attr: Attr) -> bool:
        """Whether ``attr`` of ``table`` holds case variants or NULLs."""
        key = f"{table.role}.{attr.name}"
        return f"case:{key}" in self.dirty or f"null:{key}" in self.dirty

    def schema_sql(self) -> list[str]:
        """``CREATE TABLE`` statements, parents first."""
        statements: list[str] = []
        for table in self.tables:
            cols = [f"{table.pk} INTEGER PRIMARY KEY"]
            if table.name_col is not None:
                cols.append(f"{table.name_col} TEXT NOT NULL")
            parent = self.group if table.role == "item" else self.item
            if table.fk is not None:
                cols.append(f"{table.fk} INTEGER NOT NULL REFERENCES {parent.name}({parent.pk})")
            for attr in table.entity.attrs:
                sql_type = {"int": "INTEGER", "real": "REAL"}.get(attr.kind, "TEXT")
                cols.append(f"{table.cols[attr.name]} {sql_type}")
            statements.append(f"CREATE TABLE {table.name} (\n  " + ",\n  ".join(cols) + "\n)")
        return statements

    def fingerprint(self) -> str:
        """SHA-256 of the schema and every row: names the database file, so a file is never stale."""
        material = [self.schema_sql(), [[list(row.items()) for row in t.rows] for t in self.tables]]
        return hashlib.sha256(json.dumps(material, ensure_ascii=True).encode("ascii")).hexdigest()

    def write(self, conn: sqlite3.Connection) -> None:
        """Create the tables in ``conn`` and insert every row (in one transaction)."""
        for statement in self.schema_sql():
            conn.execute(statement)
        for table in self.tables:
            if not table.rows:
                continue
            names = list(table.rows[0])
            marks = ", ".join("?" for _ in names)
            conn.executemany(
                f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({marks})",
                [tuple(row[n] for n in names) for row in table.rows],
            )


def sql_literal(value: object) -> str:
    """``value`` as an SQL literal (text quoted with doubled quotes)."""
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


def _table(role: str, entity: Entity, style: str, parent: Table | None) -> Table:
    singular, plural = _snake(entity.singular), _snake(entity.plural)
    # How this style spells a (snake_case) identifier.
    spell = {"camel": _pascal, "abbrev": _abbrev}.get(style, _snake)
    if style == "snake":
        name, pk, name_col = plural, "id", "name"
    elif style == "camel":
        name, pk, name_col = _pascal(plural), "Id", "Name"
    elif style == "abbrev":
        name, pk, name_col = _safe(_abbrev(singular), plural), _abbrev(singular) + "_id", _abbrev(singular) + "_name"
    else:  # mixed: CamelCase tables, snake_case columns
        name, pk, name_col = _safe(_pascal(singular), _pascal(plural)), "id", "name"
    # A column whose name is an SQL keyword ("view") takes its table's noun in front ("suite_view").
    cols = {a.name: _safe(spell(a.name), spell(f"{singular}_{a.name}")) for a in entity.attrs}
    fk: str | None = None
    if parent is not None:
        parent_singular = _snake(parent.entity.singular)
        fk = {"camel": _pascal(parent_singular) + "Id", "abbrev": _abbrev(parent_singular) + "_id"}.get(
            style, parent_singular + "_id"
        )
    return Table(role, entity, name, pk, name_col if entity.names is not None else None, fk, cols)


def _names(gen: NameGen, count: int, rng: random.Random) -> list[str]:
    """``count`` distinct names (fewer when a ``list`` is shorter)."""
    if gen.kind == "list":
        pool = list(gen.words)
        rng.shuffle(pool)
        return pool[:count]
    seen: list[str] = []
    known: set[str] = set()
    for _ in range(count * 20):
        if len(seen) == count:
            break
        if gen.kind == "person":
            name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        else:
            name = f"{rng.choice(ADJECTIVES)} {rng.choice(gen.words)}"
        if name not in known:
            known.add(name)
            seen.append(name)
    return seen


def _value(attr: Attr, rng: random.Random) -> object:
    if attr.kind == "cat":
        return rng.choice(attr.values)
    if attr.kind == "int":
        return rng.randint(int(attr.lo), int(attr.hi))
    if attr.kind == "real":
        return round(rng.uniform(attr.lo, attr.hi), 2)
    start = dt.date(int(attr.lo), 1, 1).toordinal()
    end = dt.date(int(attr.hi), 12, 31).toordinal()
    return dt.date.fromordinal(rng.randint(start, end)).isoformat()


def _variant(value: str, rng: random.Random) -> str:
    forms = [value.lower(), value.upper(), value + " ", " " + value, value.lower() + " "]
    forms = [f for f in forms if f != value]
    return rng.choice(forms)


def build_world(domain: Domain, db_id: str, rng: random.Random, style: str | None = None) -> World:
    """Draw one database of ``domain``: naming style (unless given), row counts, rows, then dirt."""
    drawn = rng.choice(NAMING_STYLES)
    style = style or drawn
    group = _table("group", domain.group, style, None)
    item = _table("item", domain.item, style, group)
    event = _table("event", domain.event, style, item)
    world = World(db_id, domain, style, group, item, event)

    def fill(table: Table, count: int, parent: Table | None, parent_ids: list[int]) -> None:
        gen = table.entity.names
        names = _names(gen, count, rng) if gen is not None else []
        if gen is not None:
            count = len(names)
        for i in range(count):
            row: dict[str, object] = {table.pk: i + 1}
            if table.name_col is not None:
                row[table.name_col] = names[i]
            if table.fk is not None and parent is not None:
                row[table.fk] = rng.choice(parent_ids)
            for attr in table.entity.attrs:
                row[table.cols[attr.name]] = _value(attr, rng)
            table.rows.append(row)

    fill(group, rng.randint(4, 8), None, [])
    group_ids = [int(str(r[group.pk])) for r in group.rows]
    fill(item, rng.randint(18, 40), group, group_ids)
    item_ids = [int(str(r[item.pk])) for r in item.rows]
    # Some items have no events, so "which have none" questions have answers.
    active = [i for i in item_ids if rng.random() > 0.15] or item_ids[:1]
    fill(event, rng.randint(60, 160), item, active)
    _add_dirt(world, rng)
    return world


def _add_dirt(world: World, rng: random.Random) -> None:
    for table in (world.item, world.event):
        cats = table.attrs("cat")
        if cats and rng.random() < 0.5:
            attr = cats[0]
            col = table.cols[attr.name]
            for row in table.rows:
                if rng.random() < 0.3:
                    row[col] = _variant(str(row[col]), rng)
            world.dirty.append(f"case:{table.role}.{attr.name}")
    nums = world.item.attrs("int", "real")
    if nums and rng.random() < 0.5:
        attr = nums[-1]
        col = world.item.cols[attr.name]
        for row in world.item.rows:
            if rng.random() < 0.15:
                row[col] = None
        world.dirty.append(f"null:item.{attr.name}")
    name_col = world.item.name_col
    if name_col is not None and len(world.item.rows) > 6 and rng.random() < 0.5:
        rows = world.item.rows
        for target in rng.sample(range(len(rows)), 2):
            source = rng.randrange(len(rows))
            if source != target:
                rows[target][name_col] = rows[source][name_col]
        world.dirty.append("dupnames")
