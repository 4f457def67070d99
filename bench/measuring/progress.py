"""A run's progress on stderr, drawn by rich: on a terminal a bar with the
cells done and the time left, estimated by rich from the pace so far; in
any case one line per finished measurement (above the bar), which a log
keeps when there is no terminal."""

from __future__ import annotations


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


class RunProgress:
    """Called with each stored row, the cells done and the cells planned."""

    def __init__(self, enabled: bool, cluster: bool = False):
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.enabled = enabled
        self.where = (lambda row: f" on {row['machine']}") if cluster else (lambda row: "")
        self.progress = Progress(
            TextColumn("measuring"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("left"),
            TimeRemainingColumn(),
            console=Console(stderr=True, highlight=False, soft_wrap=True),  # whole lines in a log
            disable=not enabled,
        )
        self.task = None

    def __enter__(self) -> RunProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def __call__(self, row: dict, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.task is None:
            self.task = self.progress.add_task("", total=total)
        self.progress.update(self.task, completed=done, total=total)
        left = self.progress.tasks[0].time_remaining
        status = row["status"]
        detail = format_seconds(row.get("median_s")) if status == "ok" else (row.get("error") or "")[:70]
        estimate = f"~{left:4.0f}s left" if left is not None else "         "
        self.progress.console.print(
            f"[{done:>4}/{total}  {estimate}] {row['op']}/{row['impl']} {row['device']} "
            f"{row['case']} {row['dtype']}{self.where(row)}: {status} {detail}",
            markup=False,
        )
