"""What ``dltool style`` prints and draws: the costs at the start and the end, the loss curve, the content, style and
result side by side. Thin: the numbers come from dltool.style."""

from __future__ import annotations

from pathlib import Path

from dltool.runs import write_atomic


def _terms(row: dict, settings: dict) -> dict:
    """J and its two weighted parts, alpha J_content and beta J_style (they sum to J)."""
    return {"J": row["total"], "α·J_content": settings["alpha"] * row["content"],
            "β·J_style": settings["beta"] * row["style"]}


def print_style(result: dict) -> None:
    """The feature net and why, the costs at the start and the end, the time, the files."""
    from rich.console import Console
    from rich.table import Table

    console = Console()

    def line(text: str) -> None:  # paths are copied: never markup, never broken across lines
        console.print(text, markup=False, highlight=False, soft_wrap=True)

    r, s = result, result["settings"]
    line(f"features: {r['features']['description']}")
    line(f"  why: {r['features']['why']}")
    line(f"content {r['content']}, style {r['style']}, {s['size']}x{s['size']}; alpha {s['alpha']:g}, beta "
         f"{s['beta']:g}; Adam lr {s['lr']:g}, {s['steps']} steps from {s['init']} (seed {s['seed']})")
    line(f"content layer {s['content_layer']}; style layers "
         + ", ".join(f"{name} ({w:.2g})" for name, w in s["style_layers"].items()))
    table = Table()
    table.add_column("cost")
    table.add_column("start", justify="right")
    table.add_column("end", justify="right")
    start, final = _terms(r["start"], s), _terms(r["final"], s)
    for key in start:
        table.add_row(key, f"{start[key]:.4g}", f"{final[key]:.4g}")
    console.print(table)
    threads = f"{s['threads']} thread{'s' if s['threads'] > 1 else ''}"
    line(f"{r['seconds']:.1f} s ({r['seconds_per_step'] * 1000:.0f} ms a step on {threads})")
    for key in ("image", "side_by_side", "loss_curve", "json"):
        line(f"wrote {r[key]}")


def _figure(size):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def loss_curve(path: Path, result: dict) -> None:
    """J, alpha J_content and beta J_style against the step, on a log scale."""
    figure = _figure((6, 3.6))
    axes = figure.subplots()
    rows = result["history"]
    steps = [row["step"] for row in rows]
    for key in _terms(rows[0], result["settings"]):
        values = [max(_terms(row, result["settings"])[key], 1e-12) for row in rows]
        axes.plot(steps, values, label=key, linewidth=1.2)
    axes.set_yscale("log")
    axes.set_xlabel("step")
    axes.set_ylabel("cost")
    axes.legend()
    axes.grid(alpha=0.3)
    axes.set_title(f"J(G) = α J_content + β J_style (α {result['settings']['alpha']:g}, "
                   f"β {result['settings']['beta']:g})", fontsize=9)
    write_atomic(path, lambda tmp: figure.savefig(tmp, format="png", dpi=100))


def side_by_side(path: Path, content, style, image, result: dict) -> None:
    """Content, style and result in a row, the feature net named under them."""
    figure = _figure((9, 3.4))
    titles = (f"content: {Path(result['content']).name}", f"style: {Path(result['style']).name}", "result")
    for axes, picture, title in zip(figure.subplots(1, 3), (content, style, image), titles):
        axes.imshow(picture, interpolation="nearest")
        axes.set_title(title, fontsize=9)
        axes.set_axis_off()
    s = result["settings"]
    figure.suptitle(f"{result['features']['description']}; α {s['alpha']:g}, β {s['beta']:g}, {s['steps']} steps",
                    fontsize=8)
    write_atomic(path, lambda tmp: figure.savefig(tmp, format="png", dpi=100))
