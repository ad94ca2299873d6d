"""Reports: rich tables on stdout, markdown and PNG charts, and the diagnosis files of a run. Thin: the numbers come
from dltool.diagnose and dltool.evaluate, the run's files from dltool.runs."""

from __future__ import annotations

from pathlib import Path

from dltool.diagnose import ERROR_LABELS, ERRORS, GAPS, LABELS, RUNGS, TOLERANCE, diagnose
from dltool.errors import UserError
from dltool.metrics import SPLITS
from dltool.runs import read_config, read_metrics, split_errors, write_atomic, write_json, write_text

LADDER = tuple((k, ERROR_LABELS[k]) for k in ERRORS)


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


def diagnose_run(run_dir: Path, human_error: float | None = None, tolerance: float = TOLERANCE) -> dict:
    """Diagnose a run folder from its metrics.json; write diagnosis.json, diagnosis.md and diagnosis.png into it."""
    metrics = read_metrics(run_dir)
    if metrics is None:
        why = "unreadable" if (run_dir / "metrics.json").exists() else "no"
        raise UserError(f"run {run_dir} has {why} metrics.json (still running, or not a dltool run)")
    errors = split_errors(metrics)
    if errors["train"] is None or errors["dev"] is None:
        raise UserError(f"run {run_dir} has no train and dev errors to diagnose (status: {metrics.get('status')})")
    errors["human"] = human_error if human_error is not None else metrics.get("human_error")
    result = {"run": run_dir.name, **diagnose(errors, tolerance, read_config(run_dir), str(run_dir),
                                               status=metrics.get("status", "completed"))}
    write_json(run_dir / "diagnosis.json", result)
    write_text(run_dir / "diagnosis.md", diagnosis_markdown(result))
    diagnosis_chart(result, run_dir / "diagnosis.png")
    return result


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.4f}"


def print_diagnosis(d: dict) -> None:
    """The error ladder, the gaps (focus marked), notes and recommendations, as rich tables on stdout."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    errors = Table(title="errors" + (f" of run {d['run']}" if d.get("run") else ""))
    for key, label in LADDER:
        errors.add_column(label, justify="right")
    errors.add_row(*(_fmt(d["errors"][k]) for k, _ in LADDER))
    console.print(errors)
    gaps = Table(title="gaps")
    gaps.add_column("gap")
    gaps.add_column("value", justify="right")
    gaps.add_column("")
    for gap in GAPS:
        mark = "<- work on this first" if gap == d["focus"] else ""
        gaps.add_row(LABELS[gap], _fmt(d["gaps"][gap]), mark, style="bold red" if mark else None)
    console.print(gaps)
    console.print(f"focus: [bold]{LABELS[d['focus']]}[/bold]")
    for note in d["notes"]:
        console.print(f"note: {note}", markup=False)
    for i, rec in enumerate(d["recommendations"], 1):
        console.print(f"{i}. {rec}", markup=False)


def diagnosis_markdown(d: dict) -> str:
    lines = [f"# Diagnosis{' of ' + d['run'] if d.get('run') else ''}", "",
             "| " + " | ".join(label for _, label in LADDER) + " |", "|" + "---|" * len(LADDER),
             "| " + " | ".join(_fmt(d["errors"][k]) for k, _ in LADDER) + " |", "",
             "| gap | value |", "|---|---|"]
    lines += [f"| {'**' + LABELS[g] + '**' if g == d['focus'] else LABELS[g]} | {_fmt(d['gaps'][g])} |" for g in GAPS]
    lines += ["", f"Focus: **{LABELS[d['focus']]}**", ""]
    lines += [f"- {note}" for note in d["notes"]]
    if d["recommendations"]:
        lines += ["", "## What to try", ""] + [f"{i}. {r}" for i, r in enumerate(d["recommendations"], 1)]
    return "\n".join(lines) + "\n"


def diagnosis_chart(d: dict, path: Path) -> None:
    """A PNG of the error ladder (human -> train -> train-dev -> dev -> test) with each gap marked; focus in red."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rungs = [(k, label) for k, label in LADDER if d["errors"][k] is not None]
    xs = {k: i for i, (k, _) in enumerate(rungs)}
    fig = Figure(figsize=(7, 4), layout="constrained")  # no pyplot: no global state, no display
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.bar(range(len(rungs)), [d["errors"][k] for k, _ in rungs], color="#9db4d0")
    for k, i in xs.items():
        ax.text(i, d["errors"][k], f"{d['errors'][k]:.3f}", ha="center", va="bottom", fontsize=9)
    for gap, (a, b) in RUNGS.items():
        if gap == "variance" and "train_dev" not in xs:
            b = "dev"
        value = d["gaps"][gap]
        if value is None or a not in xs or b not in xs:
            continue
        color = "#c0392b" if gap == d["focus"] else "#555555"
        x = (xs[a] + xs[b]) / 2
        ax.annotate("", xy=(x, d["errors"][b]), xytext=(x, d["errors"][a]),
                    arrowprops={"arrowstyle": "<->", "color": color, "lw": 2 if gap == d["focus"] else 1})
        ax.text(x + 0.05, (d["errors"][a] + d["errors"][b]) / 2, f"{LABELS[gap]}\n{value:+.3f}", color=color,
                fontsize=8, va="center")
    ax.set_xticks(range(len(rungs)), [label for _, label in rungs])
    ax.set_ylabel("error")
    ax.set_title(f"error ladder{' of ' + d['run'] if d.get('run') else ''}: focus on {LABELS[d['focus']]}")
    write_atomic(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120))


MAX_MATRIX = 20  # wider confusion matrices do not fit a terminal: they stay in the JSON and the PNG


def print_evaluation(result: dict) -> None:
    """The metric, per-class scores, the confusion matrix (rows true, columns predicted), latency, size, checks."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    average = "" if result["average"] == "none" else f" ({result['average']} average)"
    console.print(f"run {result['run']}: [bold]{result['metric']}{average} = {result['value']:.4f}[/bold] "
                  f"on the {result['split']} split (n = {result['n']})")

    per_class = Table(title="per class")
    for column in ("class", "precision", "recall", "F1", "support"):
        per_class.add_column(column, justify="left" if column == "class" else "right")
    for label, m in result["per_class"].items():
        per_class.add_row(label, f"{m['precision']:.4f}", f"{m['recall']:.4f}", f"{m['f1']:.4f}", str(m["support"]))
    console.print(per_class)

    labels = list(result["per_class"])
    if len(labels) <= MAX_MATRIX:
        matrix = Table(title="confusion matrix (rows: true, columns: predicted)")
        matrix.add_column("true \\ predicted")
        for label in labels:
            matrix.add_column(label, justify="right")
        for i, (label, row) in enumerate(zip(labels, result["confusion_matrix"])):
            # the diagonal (right answers) in bold
            matrix.add_row(label, *(f"[bold]{v}[/bold]" if i == j else str(v) for j, v in enumerate(row)))
        console.print(matrix)
    else:
        console.print(f"confusion matrix: {len(labels)} classes, see confusion-{result['split']}.png")

    console.print(f"latency {result['latency_ms_per_example']:.4f} ms per example at batch size 1, "
                  f"{result['latency_ms_per_example_batched']:.5f} ms batched; {result['parameters']:,} parameters")
    for check in result["requirements"]:
        mark = "[green]met[/green]" if check["met"] else "[red]NOT met[/red]"
        console.print(f"  {check['require']}: {check['value']:.6g} {mark}")


def print_export(result: dict) -> None:
    """Where the weights went and what the file holds."""
    from rich.console import Console

    epoch = "" if result.get("epoch") is None else f" (best epoch {result['epoch']})"
    console = Console()
    console.print(f"run {result['run']}{epoch}: {result['tensors']} tensors, {result['parameters']:,} parameters "
                  f"of {result['model']}, as {result['format']}", markup=False, highlight=False, soft_wrap=True)
    console.print(f"wrote {result['path']} ({result['bytes']:,} bytes)", markup=False, highlight=False,
                  soft_wrap=True)  # a path is copied, not read: never broken across lines


def print_runs(rows: list[dict]) -> None:
    """The runs table: one row per run, errors side by side, the diagnosed focus."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(rows)} runs", box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("run", "model", "data", "status", "train", "train-dev", "dev", "test", "focus", "s"):
        if column in ("train", "train-dev", "dev", "test", "s"):  # numbers keep their width; names fold
            table.add_column(column, justify="right", no_wrap=True, min_width=len(column) if column != "s" else 3)
        else:
            table.add_column(column, overflow="fold")
    for r in rows:
        seconds = "-" if r["seconds"] is None else f"{r['seconds']:.0f}"
        errors = ("-" if r[f"{k}_error"] is None else f"{r[f'{k}_error']:.3f}" for k in ("train", "train_dev", "dev", "test"))
        table.add_row(r["name"], r["model"] or "-", r["data"] or "-", r["status"] or "-", *errors,
                      LABELS.get(r["focus"], "-"), seconds)
    console = Console()
    if not console.is_terminal:  # piped into a file or a pager: no terminal width to respect
        console = Console(width=160)
    console.print(table)


def _range(values: list) -> str:
    return "[" + ", ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in values) + "]"


def print_study(summary: dict) -> None:
    """The stages with their ranges, and the best configuration as a ready command."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"study {summary['study']}: {summary['n_trials']} trials in {summary['storage']}")
    for column in ("stage", "trials", "ranges"):
        table.add_column(column)
    for stage in summary["stages"]:
        ranges = "; ".join(f"{k} {_range(v)}" for k, v in stage["ranges"].items()) or "(not reached)"
        table.add_row(stage["name"], str(stage["n_trials"]), ranges)
    console.print(table)
    if summary["infeasible"]:
        console.print(f"infeasible (constraints not met): trials {', '.join(map(str, summary['infeasible']))}")
    best = summary["best"]
    if best is None:
        console.print("no completed feasible trial yet")
        return
    test = "-" if best["test_error"] is None else f"{best['test_error']:.4f}"
    console.print(f"best: trial {best['trial']}, dev error {best['value']:.4f}, test error {test} (run {best['run']})")
    console.print(f"  {best['command']}", markup=False, highlight=False)


def print_models(rows: list[dict], data: str, input_shape: tuple) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"models on {data}, examples of shape {tuple(input_shape)}")
    table.add_column("model")
    table.add_column("parameters", justify="right")
    table.add_column("note")
    for r in rows:
        table.add_row(r["name"], "-" if r["parameters"] is None else f"{r['parameters']:,}", r["note"])
    Console().print(table)
