"""The learning curve's table on stdout and its PNG: train and dev error against the training-set size, the human
level as a line (the numbers come from dltool.curve)."""

from __future__ import annotations

from pathlib import Path

from dltool.runs import write_atomic


def curve_chart(curve: dict, path: Path) -> None:
    """Train, train-dev and dev error against the number of training examples (log axis), the human level dashed."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    points = [p for p in curve["points"] if p["dev_error"] is not None]
    figure = Figure(figsize=(6.4, 4.2), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    sizes = [p["size"] for p in points]
    for key, label, style in (("train_error", "train", "o-"), ("train_dev_error", "train-dev", "s:"),
                              ("dev_error", "dev", "o-")):
        values = [p[key] for p in points]
        if any(v is not None for v in values):
            axes.plot(sizes, [float("nan") if v is None else v for v in values], style, label=label)
    if curve["human_error"] is not None:
        axes.axhline(curve["human_error"], color="grey", linestyle="--", label="human level (proxy)")
    axes.set_xscale("log")
    axes.minorticks_off()  # the sizes themselves are the ticks
    axes.set_xticks(sizes, [str(s) for s in sizes])
    axes.set_xlabel("training examples")
    axes.set_ylabel("error")
    axes.set_ylim(bottom=0)
    axes.set_title(f"learning curve: {curve['model']} on {curve['data']}")
    axes.legend()
    write_atomic(path, lambda tmp: figure.savefig(tmp, format="png", dpi=110))


def print_curve(curve: dict) -> None:
    """One row a size (errors on train, train-dev and dev), the human level, and what the curve means."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"learning curve {curve['curve']}: {curve['model']} on {curve['data']}")
    for column in ("train examples", "train", "train-dev", "dev", "dev - train"):
        table.add_column(column, justify="right")
    for p in curve["points"]:
        gap = None if None in (p["dev_error"], p["train_error"]) else p["dev_error"] - p["train_error"]
        table.add_row(str(p["size"]), *("" if v is None else f"{v:.4f}" for v in
                                        (p["train_error"], p["train_dev_error"], p["dev_error"], gap)))
    console.print(table)
    if curve["human_error"] is not None:
        console.print(f"human level (proxy): {curve['human_error']:.4f}")
    console.print(f"[bold]{curve['verdict']['kind']}[/bold]: {curve['verdict']['text']}")
    console.print(f"saved in {curve['path']} (curve.png, curve.json, trials/)")
