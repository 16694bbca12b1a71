"""Progress bars for long stages (rich), silent when asked to be."""

from __future__ import annotations

from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

__all__ = ["progress", "console"]

console = Console()  # results (tables, summaries) on stdout
if not console.is_terminal:
    console = Console(width=160)
_bars = Console(stderr=True)  # progress bars on stderr


class _Bar:
    def __init__(self, prog: Progress | None, task):
        self._prog, self._task = prog, task

    def advance(self, status: str = "", n: int = 1) -> None:
        if self._prog is not None:
            self._prog.update(self._task, advance=n, status=status)


@contextmanager
def progress(desc: str, total: int, quiet: bool = False):
    """A progress bar on stderr with a free-text status column; yields an object with
    ``advance``."""
    if quiet:
        yield _Bar(None, None)
        return
    prog = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[status]}"),
        console=_bars,
        transient=False,
    )
    with prog:
        yield _Bar(prog, prog.add_task(desc, total=total, status=""))
