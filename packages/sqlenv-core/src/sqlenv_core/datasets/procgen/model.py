"""What a procgen domain is made of: three entities, their attributes and value generators.

Every domain has the same shape, a chain of one-to-many relations::

    group (a few rows)  <-  item (tens of rows)  <-  event (a hundred or more rows)

e.g. ``departments <- doctors <- appointments`` or ``categories <- products <- orders``. The
shape is fixed so that every question family applies to every domain; what varies is the
vocabulary (entity and attribute names, value lists), the naming style of the schema, the row
counts and the data itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Attr", "Domain", "Entity", "NameGen"]


@dataclass(frozen=True)
class Attr:
    """One column besides the keys and the name.

    Attributes:
        name: the column's canonical snake_case name (``unit_price``); the schema's naming style
            rewrites it (``UnitPrice``, ``unit_prc``).
        kind: ``cat`` (text from ``values``), ``int`` and ``real`` (between ``lo`` and ``hi``),
            ``date`` (ISO ``YYYY-MM-DD`` between the years ``lo`` and ``hi``).
        values: the categories of a ``cat`` attribute.
        lo: lower bound (a year for dates).
        hi: upper bound (a year for dates).
        label: the words questions use for it (default: the name with spaces).
        counted: an ``int`` that counts things (``pages``, ``years of experience``): questions
            say "more than 300 pages" and "the most pages", not "a pages above 300".
    """

    name: str
    kind: str
    values: tuple[str, ...] = ()
    lo: float = 0
    hi: float = 0
    label: str = ""
    counted: bool = False

    @property
    def words(self) -> str:
        """The phrase a question uses for this attribute."""
        return self.label or self.name.replace("_", " ")


@dataclass(frozen=True)
class NameGen:
    """How an entity's ``name`` column is filled.

    Attributes:
        kind: ``person`` (first and last names from the shared lists), ``list`` (exactly the
            ``words``, each used once), ``combo`` (an adjective from the shared list and one of
            ``words``: "Golden Anchor").
        words: the words of ``list`` and ``combo``.
    """

    kind: str
    words: tuple[str, ...] = ()


@dataclass(frozen=True)
class Entity:
    """One table of a domain.

    Attributes:
        singular: the noun for one row (``patient``); its words make the table and key names.
        plural: the noun for many (``patients``).
        names: how the ``name`` column is filled (``None``: the table has no name column; only
            the event entity may have none).
        attrs: the other columns.
    """

    singular: str
    plural: str
    names: NameGen | None
    attrs: tuple[Attr, ...] = field(default=())


@dataclass(frozen=True)
class Domain:
    """A subject area: ``group <- item <- event``.

    Attributes:
        key: a short unique identifier (``clinic``); it starts every ``db_id`` of the domain.
        split: ``train`` or ``eval``; the two splits share no domain and no table name.
        group: the parent entity, a handful of named rows.
        item: the main entity; each row belongs to one group.
        event: rows that each belong to one item; must have one ``date`` attribute, and one
            numeric attribute.
    """

    key: str
    split: str
    group: Entity
    item: Entity
    event: Entity
