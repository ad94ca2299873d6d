"""Reports: rich tables on stdout, markdown and PNG charts, and the diagnosis files of a run. Thin: the numbers come
from dltool.diagnose and dltool.evaluate, the run's files from dltool.runs."""

from __future__ import annotations

from pathlib import Path

from dltool.diagnose import ERROR_LABELS, ERRORS, GAPS, LABELS, RUNGS, TOLERANCE, diagnose
from dltool.errors import UserError
from dltool.metrics import SPLITS
from dltool.report_runs import print_run, print_runs  # noqa: F401  (dltool.report.print_run, as cli.py imports them)
from dltool.runs import baseline_errors, read_config, read_metrics, split_errors, write_atomic, write_json, write_text

LADDER = tuple((k, ERROR_LABELS[k]) for k in ERRORS)
def diagnose_run(run_dir: Path, human_error: float | None = None, tolerance: float = TOLERANCE) -> dict:
    """Diagnose a run folder from its metrics.json, against its logistic-regression baseline where it has one; write
    diagnosis.json, diagnosis.md and diagnosis.png into it."""
    metrics = read_metrics(run_dir)
    if metrics is None:
        why = "unreadable" if (run_dir / "metrics.json").exists() else "no"
        raise UserError(f"run {run_dir} has {why} metrics.json (still running, or not a dltool run)")
    errors = split_errors(metrics)
    if errors["train"] is None or errors["dev"] is None:
        raise UserError(f"run {run_dir} has no train and dev errors to diagnose (status: {metrics.get('status')})")
    errors["human"] = human_error if human_error is not None else metrics.get("human_error")
    # intervals need errors that are proportions of examples: classification's (a mean IoU or a mean over labels is
    # not one; their intervals would need a bootstrap over examples); a translation is right or wrong as a whole
    proportions = metrics.get("task", "classify") in ("classify", "seq2seq")
    sizes = {k: (metrics["splits"].get(k) or {}).get("n") for k in SPLITS} if proportions else None
    result = {"run": run_dir.name, **diagnose(errors, tolerance, read_config(run_dir), str(run_dir),
                                               status=metrics.get("status", "completed"), sizes=sizes,
                                               baseline=baseline_errors(metrics))}
    if result["baseline"] is not None:  # what the baseline was (dltool.baseline)
        result["baseline"] = {"model": metrics["baseline"].get("model"), **result["baseline"]}
    if not proportions:
        result["notes"].append(f"No intervals: the error of task {metrics['task']} is not a proportion of examples, "
                               "so its gaps carry no noise estimate here.")
    write_json(run_dir / "diagnosis.json", result)
    write_text(run_dir / "diagnosis.md", diagnosis_markdown(result))
    diagnosis_chart(result, run_dir / "diagnosis.png")
    return result


def _span(interval, signed: bool = False) -> str:
    if interval is None:
        return "-"
    return f"[{interval[0]:+.3f}, {interval[1]:+.3f}]" if signed else f"[{interval[0]:.3f}, {interval[1]:.3f}]"


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
    intervals = d.get("intervals")
    if intervals:  # each error's 95 % interval under it
        errors.add_row("", *(_span(intervals["errors"].get(k)) for k, _ in LADDER[1:]), style="dim")
    console.print(errors)
    gaps = Table(title="gaps")
    gaps.add_column("gap")
    gaps.add_column("value", justify="right")
    if intervals:
        gaps.add_column("95 % interval", justify="right")
    gaps.add_column("")
    for gap in GAPS:
        mark = "<- work on this first" if gap == d["focus"] else ""
        span = [_span(intervals["gaps"].get(gap), signed=True)] if intervals else []
        gaps.add_row(LABELS[gap], _fmt(d["gaps"][gap]), *span, mark, style="bold red" if mark else None)
    console.print(gaps)
    console.print(f"focus: [bold]{LABELS[d['focus']]}[/bold]")
    if d.get("baseline"):
        console.print(f"baseline: {_against(d['baseline'])}", markup=False, highlight=False, soft_wrap=True)
    for note in d["notes"]:
        console.print(f"note: {note}", markup=False, soft_wrap=True)
    for i, rec in enumerate(d["recommendations"], 1):
        console.print(f"{i}. {rec}", markup=False, soft_wrap=True)  # a command is copied: no line breaks in it


def _against(versus: dict) -> str:
    """The baseline's dev error against the run's, in a line (diagnose.against_baseline's dict)."""
    base = versus["errors"]["dev"]
    model = versus.get("model") or "baseline model"
    return (f"dev error {base:.4f} for a {model}, {base + versus['dev_difference']:.4f} for this run"
            + (" (the baseline is better beyond noise)" if versus["better"] else ""))


def diagnosis_markdown(d: dict) -> str:
    lines = [f"# Diagnosis{' of ' + d['run'] if d.get('run') else ''}", "",
             "| " + " | ".join(label for _, label in LADDER) + " |", "|" + "---|" * len(LADDER),
             "| " + " | ".join(_fmt(d["errors"][k]) for k, _ in LADDER) + " |", "",
             "| gap | value | 95 % interval |", "|---|---|---|"]
    spans = {g: _span((d.get("intervals") or {}).get("gaps", {}).get(g), signed=True) for g in GAPS}
    lines += [f"| {'**' + LABELS[g] + '**' if g == d['focus'] else LABELS[g]} | {_fmt(d['gaps'][g])} | {spans[g]} |"
              for g in GAPS]
    lines += ["", f"Focus: **{LABELS[d['focus']]}**", ""]
    if d.get("baseline"):
        lines += [f"Baseline: {_against(d['baseline'])}", ""]
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

    if result["per_class"]:  # none for a task without classes (task=embed)
        per_class = Table(title="per class")
        columns = list(next(iter(result["per_class"].values())))  # the task's figures: precision ... or iou, dice
        for column in ("class", *columns):
            per_class.add_column(column, justify="left" if column == "class" else "right")
        for label, m in result["per_class"].items():
            per_class.add_row(label, *(str(m[c]) if isinstance(m[c], int) else _fmt(m[c]) for c in columns))
        console.print(per_class)
    if result.get("task") == "embed":  # the vectors' figures beside the split's error
        from dltool.report_runs import embedding_line

        console.print(f"{result['pairs']:,} pairs: error {result['error']:.4f} (AUC {result['auc']:.4f}); "
                      + embedding_line({"wordsim353": result["similarity"], "analogies": result["analogy_questions"]}),
                      markup=False, highlight=False, soft_wrap=True)

    labels = list(result["per_class"])
    if result.get("task") == "segment":  # a pixel count matrix: in the JSON
        console.print(f"pixel confusion matrix in eval-{result['split']}.json; masks in masks-{result['split']}.png")
    elif "confusion_matrix" not in result:  # several labels an example: no one matrix
        pass
    elif len(labels) <= MAX_MATRIX:
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

    if "beam_analysis" in result:  # task=seq2seq: course 5's error analysis of beam search
        from dltool.beam_analysis import describe

        for line in describe(result):
            console.print(line, markup=False, highlight=False, soft_wrap=True)
    console.print(f"latency {result['latency_ms_per_example']:.4f} ms per example at batch size 1, "
                  f"{result['latency_ms_per_example_batched']:.5f} ms batched; {result['parameters']:,} parameters")
    for check in result["requirements"]:
        mark = "[green]met[/green]" if check["met"] else "[red]NOT met[/red]"
        console.print(f"  {check['require']}: {check['value']:.6g} {mark}")
    for line in competition_lines(result):
        console.print(line, markup=False, highlight=False, soft_wrap=True)


def competition_lines(result: dict) -> list[str]:
    """The ensemble and test-time augmentation figures (dltool.ensemble) beside the single model's, with their cost."""
    lines, metric = [], result["metric"]

    def cost(part: dict) -> str:
        return (f"latency {part['latency_ms_per_example']:.4f} ms per example ({part['latency_multiplier']:.1f} x "
                f"the run alone), batched {part['latency_ms_per_example_batched']:.5f} ms "
                f"({part['latency_multiplier_batched']:.1f} x)")

    if "tta" in result:
        t = result["tta"]
        lines.append(f"test-time augmentation, {t['views']} views (offsets {t['offsets']}, shift up to {t['shift']}: "
                     f"{t['shift_from']}): {metric} {t['value']:.4f}, single view {t['single_view_value']:.4f}; "
                     f"{t['forward_passes']} forward passes, {cost(t)}")
    if "ensemble" in result:
        e = result["ensemble"]
        views = f" x {e['views']} views" if e["views"] > 1 else ""
        members = ", ".join(f"{m} {v:.4f}" for m, v in zip(e["members"], e["member_values"]))
        lines.append(f"ensemble of {len(e['members'])}{views}: {metric} {e['value']:.4f}; members (single view) "
                     f"{members}; best single {e['best_member']} {e['best_member_value']:.4f}; the members' "
                     f"{cost(e)}")
    if lines:
        lines.append("both cost compute at every prediction: the course's tricks for benchmarks, not production")
    return lines


def print_export(result: dict) -> None:
    """Where the weights went and what the file holds."""
    from rich.console import Console

    epoch = "" if result.get("epoch") is None else f" (best epoch {result['epoch']})"
    console = Console()
    console.print(f"run {result['run']}{epoch}: {result['tensors']} tensors, {result['parameters']:,} parameters "
                  f"of {result['model']}, as {result['format']}", markup=False, highlight=False, soft_wrap=True)
    console.print(f"wrote {result['path']} ({result['bytes']:,} bytes)", markup=False, highlight=False,
                  soft_wrap=True)  # a path is copied, not read: never broken across lines


def _range(values: list) -> str:
    """A stage's range or choices, short: floats to 4 significant digits, lists as [a,b]."""

    def short(v) -> str:
        if isinstance(v, list):
            return "[" + ",".join(short(x) for x in v) + "]"
        return f"{v:.4g}" if isinstance(v, float) else str(v).lower() if isinstance(v, bool) else str(v)

    return "[" + ", ".join(short(v) for v in values) + "]"


def print_study(summary: dict) -> None:
    """The study, its stages with their ranges, and the best configuration as a ready command. What a user copies
    (the storage URL, run folders, the command) is printed whole on a line of its own: never broken mid-word, never
    read as markup; the table's title is short enough for an 80-column terminal."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console()

    def line(text: str) -> None:
        console.print(text, markup=False, highlight=False, soft_wrap=True)

    line(f"study {summary['study']}: {summary['n_trials']} trials, stored in {summary['storage']}")
    table = Table(title="stages", title_justify="left")
    for column in ("stage", "trials", "ranges"):
        table.add_column(column)
    for stage in summary["stages"]:
        ranges = "\n".join(f"{k} {_range(v)}" for k, v in stage["ranges"].items()) or "(not reached)"
        table.add_row(Text(stage["name"]), str(stage["n_trials"]), Text(ranges))
    console.print(table)
    if summary["infeasible"]:
        line(f"infeasible (constraints not met): trials {', '.join(map(str, summary['infeasible']))}")
    best = summary["best"]
    if best is None:
        line("no completed feasible trial yet")
        return
    test = "-" if best["test_error"] is None else f"{best['test_error']:.4f}"
    line(f"best: trial {best['trial']}, dev error {best['value']:.4f}, test error {test}, retrained in {best['run']}")
    line("train it with:")
    line(best["command"])


def print_gradcheck(result: dict) -> None:
    """Each parameter tensor's relative difference and band, the worst one named, the overall figure."""
    from rich.console import Console
    from rich.table import Table

    colour = {"fine": "green", "check": "yellow", "bug": "red"}
    table = Table(title=None)
    for column in ("parameter", "relative difference", "band"):
        table.add_column(column, justify="right" if column == "relative difference" else "left", no_wrap=True)
    for name, value in result["layers"].items():
        b = result["bands"][name]
        table.add_row(name, f"{value:.2e}", f"[{colour[b]}]{b}[/{colour[b]}]")
    console = Console()
    console.print(table)
    b = result["band"]
    console.print(f"overall {result['overall']:.2e}: [{colour[b]}]{b}[/{colour[b]}] ({result['sampled']} entries, "
                  f"batch of {result['batch']}, eps {result['eps']:g}"
                  + (f", after {result['after']} steps" if result["after"] else "") + f"); worst: {result['worst']}",
                  highlight=False, soft_wrap=True)


def print_models(rows: list[dict], data: str, input_shape: tuple) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"models on {data}, examples of shape {tuple(input_shape)}", markup=False, highlight=False,
                  soft_wrap=True)  # a line of its own: a table's title wraps to the table's width
    table = Table()
    table.add_column("model", no_wrap=True)
    table.add_column("parameters", justify="right")
    table.add_column("note")
    for r in rows:
        table.add_row(r["name"], "-" if r["parameters"] is None else f"{r['parameters']:,}", r["note"])
    console.print(table)


def confusion_chart(path: Path, matrix, classes: list[str], title: str) -> None:
    """The confusion matrix as a PNG, drawn on a Figure with the Agg canvas (no pyplot state, no display)."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from sklearn.metrics import ConfusionMatrixDisplay

    k = len(classes)
    size = min(4 + 0.45 * k, 20)
    figure = Figure(figsize=(size, size), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    display = ConfusionMatrixDisplay(np.asarray(matrix), display_labels=classes)
    display.plot(ax=axes, include_values=k <= 20, values_format="d", colorbar=False,
                 xticks_rotation="vertical" if k > 10 else "horizontal")
    axes.set_title(title)
    write_atomic(path, lambda tmp: figure.savefig(tmp, format="png", dpi=100))


def masks_chart(path: Path, images, true, predicted, classes: list[str], title: str) -> None:
    """A PNG of a few examples in columns: the input image, the true mask and the predicted mask, one colour a class
    (the legend names them), each predicted mask titled with its pixel accuracy."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    k, n = len(classes), len(images)
    colours = ListedColormap(["#ffffff", *[f"C{i % 10}" for i in range(k - 1)]])  # background white
    norm = BoundaryNorm(np.arange(-0.5, k), k)
    figure = Figure(figsize=(2 * n + 1.6, 6.4), layout="constrained")
    FigureCanvasAgg(figure)
    grid = figure.subplots(3, n, squeeze=False)
    for j in range(n):
        grid[0, j].imshow(images[j].mean(axis=0), cmap="gray")
        grid[1, j].imshow(true[j], cmap=colours, norm=norm, interpolation="nearest")
        grid[2, j].imshow(predicted[j], cmap=colours, norm=norm, interpolation="nearest")
        grid[2, j].set_title(f"{(predicted[j] == true[j]).mean():.1%} right", fontsize=8)
    for axes in grid.ravel():
        axes.set_xticks([])
        axes.set_yticks([])
    for i, label in enumerate(("input", "true mask", "predicted")):
        grid[i, 0].set_ylabel(label)
    figure.legend(handles=[Patch(color=colours(c), label=classes[c]) for c in range(1, k)], loc="outside right",
                  fontsize=8)
    figure.suptitle(title)
    write_atomic(path, lambda tmp: figure.savefig(tmp, format="png", dpi=100))
