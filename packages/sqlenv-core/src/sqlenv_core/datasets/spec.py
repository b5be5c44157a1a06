"""``load(spec)``: one string names a dataset, its split and a filter.

Grammar: ``KIND[:ARG][?key=value&key=value...]``

=========================  ===============================================================
``builtin``                the built-in pack (both splits); ``builtin:train``, ``builtin:eval``
``spider:<path>``          Spider in its own layout; ``?split=dev`` (default), ``train``, ``test``
``bird:<path>``            BIRD in its own layout; ``?split=dev`` (default) or ``train``
``dir:<path>``             a folder of ``.sqlite`` files plus ``questions.jsonl|json|csv``
``procgen:<split>``        generated tasks, ``train`` or ``eval``; ``?seed=0&n=200&level=1-3``
                           (also ``offset``, ``per_db``; see :mod:`sqlenv_core.datasets.procgen`)
=========================  ===============================================================

Filters, for every kind: ``db=a,b`` (databases), ``difficulty=easy,medium``, ``limit=N`` (the first
N questions after filtering). For ``dir:`` datasets ``split=`` filters on the questions' split.
Each option is given once (``db=a&db=b`` is an error that suggests ``db=a,b``).
Example: ``builtin:eval?db=transit,clinic&difficulty=easy,medium``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs

from sqlenv_core.datasets.base import Dataset, DatasetError
from sqlenv_core.datasets.bird import load_bird
from sqlenv_core.datasets.builtin import builtin
from sqlenv_core.datasets.directory import load_dir
from sqlenv_core.datasets.gold_cache import GoldCache
from sqlenv_core.datasets.procgen import PROCGEN_OPTIONS, load_procgen, procgen_options
from sqlenv_core.datasets.spider import load_spider

__all__ = ["DatasetSpec", "SPEC_HELP", "load", "no_usable_questions", "parse_spec"]

SPEC_HELP = (
    "expected 'builtin', 'builtin:train', 'builtin:eval', 'spider:<path>?split=dev', "
    "'bird:<path>?split=dev', 'dir:<path>' or 'procgen:train?seed=0&n=200&level=1-3', "
    "optionally followed by filters such as "
    "'?db=a,b&difficulty=easy,medium&limit=50'"
)
KINDS = ("builtin", "spider", "bird", "dir", "procgen")
OPTIONS = ("split", "db", "difficulty", "limit")


@dataclass(frozen=True)
class DatasetSpec:
    """A parsed spec string.

    Attributes:
        kind: ``builtin``, ``spider``, ``bird`` or ``dir``.
        target: the path (or, for ``builtin``, the split) after the colon; may be empty.
        split: the ``split`` option, when given.
        db_ids: databases to keep (empty: all).
        difficulties: difficulties to keep (empty: all).
        limit: keep at most this many questions (``None``: all).
        params: the kind's own options, sorted (``procgen``: ``seed``, ``n``, ``level``...).
    """

    kind: str
    target: str = ""
    split: str | None = None
    db_ids: tuple[str, ...] = field(default=())
    difficulties: tuple[str, ...] = field(default=())
    limit: int | None = None
    params: tuple[tuple[str, str], ...] = field(default=())


def _csv(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def parse_spec(spec: str) -> DatasetSpec:
    """Parse a spec string without loading anything.

    Raises:
        DatasetError: unknown kind or option, a missing path, or a malformed value.
    """
    text = spec.strip()
    if not text:
        raise DatasetError(f"empty dataset spec; {SPEC_HELP}")
    head, _, query = text.partition("?")
    kind, _, target = head.partition(":")
    kind = kind.strip().lower()
    if kind not in KINDS:
        raise DatasetError(f"unknown dataset kind {kind!r} in {spec!r}; {SPEC_HELP}")
    try:
        parsed = parse_qs(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError as exc:
        raise DatasetError(f"malformed options {query!r} in {spec!r}: {exc}; {SPEC_HELP}") from exc
    allowed = OPTIONS + PROCGEN_OPTIONS if kind == "procgen" else OPTIONS
    if kind == "procgen":
        allowed = tuple(o for o in allowed if o != "split")
    unknown = sorted(set(parsed) - set(allowed))
    if unknown:
        raise DatasetError(f"unknown option {', '.join(unknown)} in {spec!r}; options: {', '.join(allowed)}")
    repeated = sorted(key for key, values in parsed.items() if len(values) > 1)
    if repeated:
        key = repeated[0]
        hint = f"give several values as one list, {key}={','.join(v.strip() for v in parsed[key])}"
        if key in ("split", "limit") or key in PROCGEN_OPTIONS:
            hint = "give it once"
        raise DatasetError(f"option {key!r} given {len(parsed[key])} times in {spec!r}; {hint}")
    options = {key: values[0].strip() for key, values in parsed.items()}
    limit: int | None = None
    if "limit" in options:
        try:
            limit = int(options["limit"])
        except ValueError:
            raise DatasetError(f"limit must be a whole number, got {options['limit']!r} in {spec!r}") from None
        if limit < 1:
            raise DatasetError(f"limit must be at least 1, got {limit} in {spec!r}")
    target = target.strip()
    params: tuple[tuple[str, str], ...] = ()
    if kind == "procgen":
        own = {key: value for key, value in options.items() if key in PROCGEN_OPTIONS}
        procgen_options(target, own)  # checks the split and every option now, before loading
        params = tuple(sorted(own.items()))
    elif kind != "builtin" and not target:
        raise DatasetError(f"{kind} spec needs a path, e.g. '{kind}:/data/{kind}': got {spec!r}")
    if kind == "builtin" and target and options.get("split") and options["split"] != target:
        raise DatasetError(f"two different splits in {spec!r}: {target!r} and {options['split']!r}")
    return DatasetSpec(
        kind=kind,
        target=target,
        split=options.get("split") or None,
        db_ids=_csv(options.get("db", "")),
        difficulties=_csv(options.get("difficulty", "")),
        limit=limit,
        params=params,
    )


def load(
    spec: str,
    *,
    compute_gold: bool = True,
    progress: Callable[[int, int], None] | None = None,
    gold_cache: GoldCache | None = None,
    generate_progress: Callable[[int, int], None] | None = None,
) -> Dataset:
    """Load the dataset a spec string names, filtered as its options say.

    Gold answers are computed (through the sandbox) after filtering, so only the questions you
    asked for are run; questions whose gold SQL fails or returns nothing usable are dropped and
    listed in ``Dataset.skipped`` with the reason.

    Args:
        spec: e.g. ``builtin:eval?difficulty=easy`` or ``spider:/data/spider?split=dev&db=pets_1``.
        compute_gold: compute (and cache) gold answers now.
        progress: ``progress(done, total)`` while gold answers are computed.
        gold_cache: where gold answers persist between runs (default: :meth:`GoldCache.default`,
            ``$SQLENV_CACHE_DIR`` or the user's cache folder); a second load of the same
            databases reads them instead of running every gold query again.
        generate_progress: ``generate_progress(done, total)`` per database while ``procgen``
            databases are generated (other kinds generate nothing).

    Raises:
        DatasetError: the spec is malformed or names something that is not there, its filters
            select no question, or no question has a usable gold answer; the message says what
            was expected (and, for the last, the commonest reasons questions were dropped).
    """
    parsed = parse_spec(spec)
    if parsed.kind == "builtin":
        dataset = builtin(parsed.target or parsed.split or None, gold_cache=gold_cache)
    elif parsed.kind == "spider":
        dataset = load_spider(Path(parsed.target), parsed.split or "dev", compute_gold=False, gold_cache=gold_cache)
    elif parsed.kind == "bird":
        dataset = load_bird(Path(parsed.target), parsed.split or "dev", compute_gold=False, gold_cache=gold_cache)
    elif parsed.kind == "procgen":
        options = procgen_options(parsed.target, dict(parsed.params))
        dataset = load_procgen(options, gold_cache=gold_cache, progress=generate_progress)
    else:
        dataset = load_dir(Path(parsed.target), compute_gold=False, gold_cache=gold_cache)
    dataset = _apply_filters(dataset, parsed, spec)
    if not dataset.questions:
        raise DatasetError(f"{spec!r} selects no questions; loosen its filters (see `sqlenv data list`)")
    if compute_gold:
        dataset.compute_gold(progress=progress)
        if not dataset.questions:
            raise DatasetError(no_usable_questions(spec, dataset))
    return dataset


def no_usable_questions(spec: str, dataset: Dataset) -> str:
    """The message for a dataset whose every question was dropped: how many, and the commonest reasons."""
    reasons = Counter(s.reason for s in dataset.skipped)
    shown = "; ".join(f"{count} x {reason}" for reason, count in reasons.most_common(3))
    more = f"; and {len(reasons) - 3} other reasons" if len(reasons) > 3 else ""
    return (
        f"{spec!r} has no usable questions: all {len(dataset.skipped)} were dropped ({shown}{more}). "
        "Every question needs gold SQL that runs and returns at least one non-NULL value; "
        "`sqlenv data validate` checks each one"
    )


def _apply_filters(dataset: Dataset, parsed: DatasetSpec, spec: str) -> Dataset:
    split_filter = parsed.split if parsed.kind == "dir" else None
    if not (parsed.db_ids or parsed.difficulties or split_filter or parsed.limit):
        return dataset
    filtered = dataset.filter(
        db_ids=parsed.db_ids or None,
        difficulties=parsed.difficulties or None,
        splits=(split_filter,) if split_filter else None,
    )
    if split_filter and not filtered.questions:
        present = sorted({q.split for q in dataset.questions})
        raise DatasetError(
            f"no questions with split {split_filter!r} in {spec!r}; splits present: {', '.join(present)}"
        )
    if parsed.limit is not None and len(filtered.questions) > parsed.limit:
        kept = filtered.questions[: parsed.limit]
        used = {q.db_id for q in kept}
        filtered = Dataset(
            filtered.name,
            kept,
            {db_id: path for db_id, path in filtered.databases.items() if db_id in used},
            skipped=filtered.skipped,
            limits=filtered.limits,
            gold_cache=filtered.gold_cache,
        )
    kept_dbs = set(filtered.databases)
    filtered.skipped = [s for s in filtered.skipped if s.db_id in kept_dbs or not parsed.db_ids]
    return filtered
