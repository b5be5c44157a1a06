"""SQL structure, read with sqlglot rather than guessed from text.

Used where the engine needs to know what a query *is*: whether its result is ordered (the
verifier compares rows in order only then), which tables it reads, and a normal form that
detects a query the agent already ran under another spelling. Only dataset (gold) SQL is parsed
with sqlglot; an agent's SQL only ever meets :func:`normalize_sql`, a linear scan.
"""

from __future__ import annotations

import re
from functools import lru_cache

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

__all__ = ["is_ordered", "normalize_sql", "tables_used"]

_DIALECT = "sqlite"


#: Longest SQL handed to sqlglot (dataset SQL; real gold queries are a few hundred characters).
#: Its parser is about linear, but a quarter of a megabyte still takes a second.
MAX_PARSED_CHARS = 50_000


@lru_cache(maxsize=8192)
def _parse(sql: str) -> exp.Expr | None:
    if len(sql) > MAX_PARSED_CHARS:
        return None
    try:
        return sqlglot.parse_one(sql, read=_DIALECT)
    except (SqlglotError, ValueError, RecursionError):
        return None


def is_ordered(sql: str) -> bool:
    """True when the outermost query of ``sql`` has an ``ORDER BY`` (its row order is meaningful).

    An ``ORDER BY`` inside a subquery or CTE does not order the final result; one on a compound
    ``SELECT ... UNION ...`` does. Unparseable SQL (or SQL over :data:`MAX_PARSED_CHARS`) is treated
    as unordered.
    """
    tree = _parse(sql)
    if tree is None:
        return False
    if isinstance(tree, exp.Query):
        return tree.args.get("order") is not None
    return False


def tables_used(sql: str) -> frozenset[str]:
    """Lower-cased names of the tables ``sql`` reads (CTE names excluded)."""
    tree = _parse(sql)
    if tree is None:
        return frozenset()
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    return frozenset(t.name.lower() for t in tree.find_all(exp.Table) if t.name and t.name.lower() not in ctes)


# The parts of SQL text that keep their spelling (string literals, quoted names) or vanish
# (comments). Each alternative is a plain run with no nested repetition, and an unterminated
# one runs to the end of the text instead of failing, so a scan never backtracks over the text.
_VERBATIM = re.compile(
    r"""(
        --[^\n]*
      | /\*(?:[^*]|\*(?!/))*(?:\*/|\Z)
      | '(?:[^']|'')*(?:'|\Z)
      | "(?:[^"]|"")*(?:"|\Z)
      | `(?:[^`]|``)*(?:`|\Z)
      | \[[^\]]*(?:\]|\Z)
    )""",
    re.VERBOSE | re.DOTALL,
)
# Words, and every ASCII mark on its own, so that ``a>=1`` and ``a >= 1`` give the same words.
_WORDS = re.compile(r"[!%&()*+,\-./:;<=>?@^|~]|[^\s!%&()*+,\-./:;<=>?@^|~]+")


def normalize_sql(sql: str) -> str:
    """A canonical spelling of ``sql`` for detecting repeats.

    Keywords and unquoted identifiers are folded to lower case, comments and trailing
    semicolons dropped, words and marks separated by single spaces, and literals and quoted
    names kept exactly. Two queries with the same normal form are the same query; the converse
    is not attempted (that would need a solver). Linear in the text for any text an agent
    sends: a regular-expression split and a scan into words, neither of which can backtrack.
    """
    words: list[str] = []
    for index, piece in enumerate(_VERBATIM.split(sql)):
        if not index % 2:
            words.extend(_WORDS.findall(piece.lower()))
        elif not piece.startswith(("--", "/*")):
            words.append(piece)  # a literal or a quoted name; comments only separate words
    while words and words[-1] == ";":
        words.pop()
    return " ".join(words)
