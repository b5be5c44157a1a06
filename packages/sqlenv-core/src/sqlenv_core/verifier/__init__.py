"""Answer verification against the gold query's result.

- :func:`verify` reads an ANSWER an agent typed (a scalar, a list, a table, as JSON or as text)
  and judges it against the gold result, with a short reason (:mod:`.answers` reads the text,
  :mod:`.verdict` judges it).
- :func:`results_match` compares two SQL results (test-suite-sql-eval semantics: rows as a
  multiset unless the gold is ordered, columns in any order; :mod:`.compare`).
- :func:`canonical_cell` is how every cell is normalised before comparison (:mod:`.cells`).

Cells are compared after normalisation: integers exactly, floats within a relative tolerance,
numeric text as numbers, strings case- and whitespace-insensitively, and NULL equal to NULL (the
words ``None`` and ``null`` mean NULL). See ``docs/verifier.md`` for the rules with examples.
The dense reward's partial credit lives with the rewards
(:func:`sqlenv_core.rewards.result_similarity`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlenv_core.verifier.cells import DEFAULT_FLOAT_TOLERANCE, Canon, canonical_cell
from sqlenv_core.verifier.compare import results_match
from sqlenv_core.verifier.gold import GoldResult
from sqlenv_core.verifier.verdict import MAX_ANSWER_CHARS, MAX_ANSWER_VALUES, Verdict, verify

if TYPE_CHECKING:
    from sqlenv_core.rewards.similarity import result_similarity

__all__ = [
    "DEFAULT_FLOAT_TOLERANCE",
    "MAX_ANSWER_CHARS",
    "MAX_ANSWER_VALUES",
    "Canon",
    "GoldResult",
    "Verdict",
    "canonical_cell",
    "result_similarity",
    "results_match",
    "verify",
]


def __getattr__(name: str) -> Any:
    # result_similarity moved to the rewards (it is the dense reward's partial credit); the old
    # import path keeps working without importing the rewards here (they import this package).
    if name == "result_similarity":
        from sqlenv_core.rewards.similarity import result_similarity

        return result_similarity
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
