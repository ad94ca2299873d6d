"""What ``dltool errors`` prints and draws: the sampled sheet, its tally, and the picture of the sampled mistakes
(course 3's error analysis looks at the examples themselves). Thin: the numbers come from dltool.sheet."""

from __future__ import annotations

from pathlib import Path

from dltool.runs import write_atomic

COLUMNS = 8  # panels a row in the picture
LABEL_CHARS = 14  # a longer true or predicted label is cut in a panel's title (the sheet has it whole)


def print_sheet(result: dict) -> None:
    """How many mistakes the split has, how many were sampled, the files written, and the command that tallies them."""
    from rich.console import Console

    console = Console()

    def line(text: str) -> None:  # paths and commands are copied: never markup, never broken across lines
        console.print(text, markup=False, highlight=False, soft_wrap=True)

    r = result
    line(f"run {r['run']}: {r['mistakes']} mistakes in the {r['examples']} examples of the {r['split']} split "
         f"({r['mistakes'] / r['examples']:.2%})")
    if not r["sampled"]:
        line("nothing to analyse: no sheet written")
        return
    every = " (all of them)" if r["sampled"] == r["mistakes"] else f" at random (--n {r['n']}, --seed {r['seed']})"
    line(f"sampled {r['sampled']}{every}")
    line(f"wrote {r['sheet']} (one row a mistake; empty columns: {', '.join(r['tags'])}, note)")
    if r["picture"] is None:
        line("no picture: the sheet's input column holds each example's text")
    else:
        shown = f"{r['panels']} examples" if r["panels"] == r["sampled"] else \
            f"the first {r['panels']} of the {r['sampled']}: a picture shows at most {r['panels']}"
        line(f"wrote {r['picture']} ({shown})")
    line("look at each mistake, mark its columns (1, x, anything) and add a column for a category you find; then:")
    line(f"  {r['next']}")


def print_tally(result: dict) -> None:
    """Per tag, its count, share of the sampled mistakes and ceiling, largest first; the notes under it."""
    from rich.console import Console
    from rich.table import Table

    r = result
    console = Console()

    def line(text: str) -> None:
        console.print(text, markup=False, highlight=False, soft_wrap=True)

    of = "" if r["mistakes"] is None else f" of {r['mistakes']}"
    line(f"run {r['run']}: {r['split']} error {r['error']:.4f}; {r['sampled']}{of} mistakes tallied from {r['sheet']}")
    table = Table()
    for column in ("tag", "count", "share", "ceiling", f"{r['split']} error if fixed"):
        table.add_column(column, justify="left" if column == "tag" else "right", no_wrap=True)
    for tag, t in r["tags"].items():
        table.add_row(tag, str(t["count"]), f"{t['share']:.1%}", f"{t['ceiling']:.4f}", f"{t['error_after']:.4f}")
    console.print(table)
    line("ceiling = error x share: the most that fixing every mistake of the category can take off the error; tags "
         "overlap (a mistake may have several), so the shares need not sum to 100%")
    if r["untagged"]:
        line(f"{r['untagged']} of {r['sampled']} mistakes have no tag: a category may be missing (add a column)")
    for note in r["notes"]:
        line(note)


def contact_sheet(path: Path, x, rows: list[dict], title: str) -> None:
    """A PNG of the examples ``x`` (one a row of ``rows``), each titled "#index true→predicted (confidence)": an
    image (C, H, W) or (H, W) as an image, a signal (L,) or (C, L) as a line plot, one line a channel."""
    import math

    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n = len(rows)
    columns = min(COLUMNS, n)
    figure = Figure(figsize=(1.9 * columns + 0.4, 1.9 * math.ceil(n / columns) + 0.6), layout="constrained")
    FigureCanvasAgg(figure)
    grid = figure.subplots(math.ceil(n / columns), columns, squeeze=False)
    for axes, example, r in zip(grid.ravel(), np.asarray(x), rows):
        kind = _kind(example.shape)
        if kind == "image":
            axes.imshow(_as_image(example), cmap="gray", interpolation="nearest")
        elif kind == "signal":
            for channel in example.reshape(-1, example.shape[-1]):
                axes.plot(channel, linewidth=0.8)
            axes.margins(x=0)
        else:
            axes.text(0.5, 0.5, f"shape {tuple(example.shape)}", ha="center", va="center", fontsize=7)
        axes.set_title(f"#{r['index']} {_cut(r['true'])}→{_cut(r['predicted'])} ({r['confidence']:.2f})", fontsize=7)
        axes.set_xticks([])
        axes.set_yticks([])
    for axes in grid.ravel()[n:]:
        axes.set_axis_off()
    figure.suptitle(title, fontsize=9)
    write_atomic(path, lambda tmp: figure.savefig(tmp, format="png", dpi=100))


def _kind(shape: tuple) -> str:
    """``image`` for (C, H, W) and (H, W), ``signal`` for (L,) and (C, L) with few channels, else ``other``."""
    if len(shape) == 3 or (len(shape) == 2 and not (shape[0] <= 4 and shape[1] > 4 * shape[0])):
        return "image"
    return "signal" if len(shape) in (1, 2) else "other"


def _as_image(example):
    """(H, W) grey, or (H, W, 3) colour scaled into [0, 1], from (C, H, W) or (H, W)."""
    if example.ndim == 2:
        return example
    if example.shape[0] == 3:
        rgb = example.transpose(1, 2, 0)
        low, high = rgb.min(), rgb.max()
        return (rgb - low) / (high - low) if high > low else rgb * 0
    return example.mean(axis=0)


def _cut(label: str) -> str:
    label = label or "∅"  # a multi-label example with no label present
    return label if len(label) <= LABEL_CHARS else label[:LABEL_CHARS - 1] + "…"
