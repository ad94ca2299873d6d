"""Printing run results: a rich table on stdout."""

from __future__ import annotations

from pathlib import Path

from dltool.data.splits import SPLITS


def print_run(result: dict, runs_dir: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"run {result['run']}: {result['status']}, best epoch {result['best_epoch']} of "
                        f"{result['epochs']}, {result['seconds']:.1f} s")
    for column in ("split", "error", "accuracy", "loss", "n"):
        table.add_column(column, justify="left" if column == "split" else "right")
    if result["human_error"] is not None:
        table.add_row("human (proxy)", f"{result['human_error']:.4f}", f"{1 - result['human_error']:.4f}", "", "")
    for split in SPLITS:
        m = result["splits"].get(split)
        if m:
            loss = "nan" if m["loss"] is None else f"{m['loss']:.4f}"
            table.add_row(split, f"{m['error']:.4f}", f"{1 - m['error']:.4f}", loss, str(m["n"]))
        else:
            table.add_row(split, "-", "-", "-", "0")
    console = Console()
    console.print(table)
    console.print(f"saved in {Path(runs_dir) / result['run']}")
