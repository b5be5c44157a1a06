"""The built-in pack's package data: what :func:`sqlenv_core.datasets.builtin` reads at run time.

``pack.json`` lists each database's split, domain and description; ``databases/<db_id>.sqlite``
and ``questions/<db_id>.jsonl`` are its database and questions. All three are built from the
sources in the repository's ``data/builtin/`` by ``python data/builtin/build.py`` (and checked
against them by ``python data/builtin/build.py --check``). Load the pack with
:func:`sqlenv_core.datasets.builtin` (or ``load("builtin")``).
"""
