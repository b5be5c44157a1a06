"""One progress-bar helper (rich) for the long loops: warm start, evaluation, training."""

from __future__ import annotations

from collections.abc import Callable, Generator
from contextlib import contextmanager

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

__all__ = ["progress_bar"]


@contextmanager
def progress_bar(label: str, total: int, *, enabled: bool = True) -> Generator[Callable[..., None]]:
    """A bar of ``total`` steps; the yielded ``advance(**fields)`` moves it on and shows the fields.

    ``advance(loss=0.5)`` shows ``loss 0.5`` beside the bar. Disabled, it draws nothing.
    """
    progress = Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        disable=not enabled,
    )
    with progress:
        task = progress.add_task(label, total=total, info="")

        def advance(**fields: float | str) -> None:
            info = "  ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in fields.items())
            progress.update(task, advance=1, info=info)

        yield advance
