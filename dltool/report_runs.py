"""The tables of runs on stdout: one run's splits after ``dltool train`` (print_run), and the runs of a folder side by
side for ``dltool runs`` (print_runs). Re-exported by dltool.report, where the other reports are."""

from __future__ import annotations

from pathlib import Path

from dltool.diagnose import LABELS
from dltool.metrics import SPLITS

# the columns beside error in the run table, per task: (label, key of the split's figures; None = 1 - error)
FIGURES = {"classify": (("accuracy", None),), "segment": (("mIoU", "miou"), ("pixel acc", "pixel_accuracy"),
                                                           ("Dice", "dice")), "multilabel": (("F1", "f1"),),
           "lm": (("perplexity", "perplexity"),), "verify": (("AUC", "auc"), ("one-shot", "one_shot")),
           "detect": (("mAP@.5", "map50"), ("mAP@.5:.95", "map"), ("recall", "recall")),
           "seq2seq": (("exact", "exact_match"), ("tokens", "token_accuracy"), ("BLEU", "bleu")),
           "ctc": (("exact", "exact_match"),),
           "trigger": (("F1", "f1"), ("precision", "precision"), ("recall", "recall")),
           "tag": (("F1", "f1"), ("tokens", "token_accuracy")),
           "embed": (("AUC", None),)}  # error = 1 - the AUC of true contexts against noise words


def print_run(result: dict, runs_dir: Path) -> None:
    """The run's status line, then per split its error, the logistic-regression baseline's error beside it (a column
    only where the run has a baseline: dltool.baseline), the task's other figures, loss and size."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    # a line of its own, not the table's title: a title is centred and wraps to the table's width
    console.print(f"run {result['run']}: {result['status']}, best epoch {result['best_epoch']} of "
                  f"{result['epochs']}, {result['seconds']:.1f} s", markup=False, highlight=False, soft_wrap=True)
    if result.get("debug"):  # trainer.fast_dev_run or trainer.overfit_batches
        from dltool.debug_runs import debug_line

        console.print(debug_line(result["debug"]), markup=False, highlight=False, soft_wrap=True)
    table = Table()
    # 1 - error under its own name, and the task's other figures of one number
    figures = FIGURES.get(result.get("task", "classify"), ())
    baseline = result.get("baseline")
    columns = ("split", "error", *(["baseline"] if baseline else []), *(label for label, _ in figures), "loss", "n")
    for column in columns:
        table.add_column(column, justify="left" if column == "split" else "right")
    base = [""] if baseline else []
    if result["human_error"] is not None:
        human = [f"{1 - result['human_error']:.4f}" if key is None else "" for _, key in figures]
        table.add_row("human (proxy)", f"{result['human_error']:.4f}", *base, *human, "", "")
    for split in SPLITS:
        m = result["splits"].get(split)
        if baseline:
            base = [_fmt((baseline["splits"].get(split) or {}).get("error"))]
        if m:
            loss = "nan" if m["loss"] is None else f"{m['loss']:.4f}"
            cells = [_fmt(1 - m["error"] if key is None else m.get(key)) for _, key in figures]
            table.add_row(split, f"{m['error']:.4f}", *base, *cells, loss, str(m["n"]))
        else:
            table.add_row(split, "-", *base, *("-" for _ in figures), "-", "0")
    console.print(table)
    if baseline:
        unfit = "" if baseline.get("converged", True) else \
            f" (it did not converge in {baseline['iterations']} iterations: its errors are of where it stopped)"
        console.print(f"baseline: the error of a {baseline['model']} on the same standardized splits{unfit}; "
                      f"dltool diagnose {result['run']} compares them", markup=False, highlight=False, soft_wrap=True)
    if result.get("embedding"):
        console.print(embedding_line(result["embedding"]), markup=False, highlight=False, soft_wrap=True)
    console.print(f"saved in {Path(runs_dir) / result['run']}", markup=False, highlight=False, soft_wrap=True)


def embedding_line(figures: dict) -> str:
    """The best vectors' WordSim-353 Spearman and analogy accuracy, with their coverage, in one line (task=embed)."""
    sim, ana = figures["wordsim353"], figures["analogies"]
    return (f"word vectors: WordSim-353 Spearman {_fmt(sim['spearman'])} on {sim['pairs']} of {sim['pairs_total']} "
            f"pairs; analogies {_fmt(ana['accuracy'])} on {ana['questions']} of {ana['questions_total']} questions "
            f"(semantic {_fmt(ana['semantic']['accuracy'])}, syntactic {_fmt(ana['syntactic']['accuracy'])})")


def _param(value) -> str:
    """A config value in a table cell: lists compact (``[100,100]``), a key a run lacks as ``-``."""
    import json

    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return f"{value:.4g}"  # a sampled rate: 0.01568, not 0.01567667719550607
    return "-" if value is None else json.dumps(value, separators=(",", ":"))


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.4f}"


def print_runs(rows: list[dict]) -> None:
    """The runs table: one row per run, errors side by side, the logistic-regression baseline's dev error (a column
    only where some run has one), the diagnosed focus.

    Names are never folded or cut: where the terminal is too narrow for every column, the model and data columns go
    first (default run names begin with both), then the seconds; where it is narrower still, each run takes two
    lines, its name, status and focus, then its errors."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    def number(value, digits):
        return "-" if value is None else f"{value:.{digits}f}"

    keys = list(rows[0].get("params") or {}) if rows else []  # the config keys the runs differ in: a column each,
    leaves = [k.split(".")[0] if k.endswith(".name") else k.rsplit(".", 1)[-1] for k in keys]  # headed by its last
    params = {k: leaf if leaves.count(leaf) == 1 and leaf != "s" else k for k, leaf in zip(keys, leaves)}  # part
    columns = {  # header -> (cells, right-aligned)
        "run": ([r["name"] for r in rows], False), "model": ([r["model"] or "-" for r in rows], False),
        "data": ([r["data"] or "-" for r in rows], False),
        **{header: ([_param(r["params"].get(key)) for r in rows],  # numbers right-aligned
                    all(isinstance(r["params"].get(key), (int, float, type(None))) for r in rows))
           for key, header in params.items()},
        "status": ([r["status"] or "-" for r in rows], False),
        **{label: ([number(r[f"{k}_error"], 3) for r in rows], True)
           for k, label in (("train", "train"), ("train_dev", "train-dev"), ("dev", "dev"), ("test", "test"),
                            ("baseline_dev", "baseline"))},
        "focus": ([LABELS.get(r["focus"], "-") for r in rows], False),
        "best/epochs": ([f"{r.get('best_epoch', '-')}/{r.get('epochs', '-')}" if r.get("epochs") is not None
                         else "-" for r in rows], True),
        "s": ([number(r["seconds"], 0) for r in rows], True),
        "started": ([(r.get("started") or "-")[:16] for r in rows], False),  # ISO, to the minute
    }
    console = Console()
    if not console.is_terminal:  # piped into a file or a pager: no terminal width to respect
        console = Console(width=160)

    def width(names) -> int:
        # each cell is padded by one space a side, columns are parted by the box's blank divider, and it has edges
        return sum(max(len(h), *(len(c) for c in columns[h][0])) for h in names) + 3 * (len(names) - 1) + 2

    shown = [h for h in columns if h != "baseline" or any(r.get("baseline_dev_error") is not None for r in rows)]
    for optional in ("model", "data", "started", "s", "baseline", *list(params.values())[:2:-1], "best/epochs"):
        if rows and optional in shown and width(shown) > console.width:
            shown.remove(optional)
    if rows and width(shown) > console.width:
        console.print(f"{len(rows)} runs", markup=False, highlight=False)
        for i, r in enumerate(rows):
            console.print(f"{r['name']}  {columns['status'][0][i]}  focus {columns['focus'][0][i]}", markup=False,
                          highlight=False, soft_wrap=True)
            errors = "  ".join(f"{h} {columns[h][0][i]}" for h in ("train", "train-dev", "dev", "test", "baseline")
                               if h != "baseline" or rows[i].get("baseline_dev_error") is not None)
            console.print(f"  {errors}  {columns['s'][0][i]} s", markup=False, highlight=False, soft_wrap=True)
        return
    table = Table(title=f"{len(rows)} runs", box=box.SIMPLE_HEAD, pad_edge=False)
    for header in shown:
        table.add_column(header, justify="right" if columns[header][1] else "left", no_wrap=True)
    for i in range(len(rows)):
        table.add_row(*(columns[h][0][i] for h in shown))
    console.print(table)
