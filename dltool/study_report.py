"""``dltool diagnose STUDY``: the study's diagnosis files, table and chart (the numbers come from
dltool.study_diagnosis and dltool.diagnose; the winner's ladder from dltool.report.diagnose_run)."""

from __future__ import annotations

from pathlib import Path

from dltool.runs import read_config, write_atomic, write_json
from dltool.study_diagnosis import trend, trial_rows, winner_dir


def diagnose_study(study_dir: Path, human_error: float | None = None) -> dict:
    """Diagnose every finished trial and the winner; write diagnosis.json and diagnosis.png into the study folder."""
    from dltool.report import diagnose_run

    winner = winner_dir(study_dir)
    if human_error is None:
        human_error = _human_level(study_dir, winner)
    rows = trial_rows(study_dir, human_error)
    result = {"study": study_dir.name, "path": str(study_dir), "human_error": human_error, "trials": rows,
              "bound": {kind: sum(r["bound"] == kind for r in rows) for kind in ("bias", "variance", "fine")},
              "stages": trend(rows),
              "winner": diagnose_run(winner, human_error=human_error) if winner is not None else None}
    write_json(study_dir / "diagnosis.json", result)
    study_chart(result, study_dir / "diagnosis.png")
    return result


def _human_level(study_dir: Path, winner: Path | None) -> float | None:
    """The data set's human-level proxy, from the winner's config or any trial's."""
    folders = [winner] if winner is not None else []
    folders += sorted((study_dir / "trials").glob("*")) if (study_dir / "trials").is_dir() else []
    for folder in folders:
        config = read_config(folder)
        if config is not None:
            return (config.get("data") or {}).get("human_error")
    return None


def study_chart(result: dict, path: Path) -> None:
    """Avoidable bias against variance, a point a trial coloured by stage, the winner ringed, the diagonal between
    bias-bound (below) and variance-bound (above) trials."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = result["trials"]
    figure = Figure(figsize=(5.6, 4.8), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    bias = [r["avoidable_bias"] if r["avoidable_bias"] is not None else r["train_error"] for r in rows]
    for i, stage in enumerate(dict.fromkeys(r["stage"] for r in rows)):
        points = [(b, r["variance"]) for b, r in zip(bias, rows) if r["stage"] == stage]
        axes.scatter(*zip(*points), color=f"C{i}", label=stage or "trials", alpha=0.8)
    axes.scatter([bias[0]], [rows[0]["variance"]], s=160, facecolors="none", edgecolors="black",
                 label=f"best (trial {rows[0]['trial']})")
    top = max([*bias, *(r["variance"] for r in rows), 0.01]) * 1.05
    low = min([*bias, *(r["variance"] for r in rows), 0.0])
    axes.plot([low, top], [low, top], color="grey", linestyle="--", linewidth=1)
    axes.set_xlabel("avoidable bias (train - human)" if result["human_error"] is not None else "train error")
    axes.set_ylabel("variance (train-dev - train)")
    axes.set_title(f"study {result['study']}: above the line variance-bound")
    axes.legend(fontsize=8)
    write_atomic(path, lambda tmp: figure.savefig(tmp, format="png", dpi=110))


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.4f}"


MAX_ROWS = 20  # the table shows the best trials; diagnosis.json holds them all


def print_study_diagnosis(result: dict) -> None:
    """The trials' ladder and gaps (best first), the counts of bias- and variance-bound trials, the stages' trend, then
    the winner's full diagnosis."""
    from rich.console import Console
    from rich.table import Table

    from dltool.report import print_diagnosis

    console = Console()
    rows = result["trials"]
    table = Table(title=f"study {result['study']}: {len(rows)} finished trials, best dev error first")
    for column in ("trial", "stage", "train", "train-dev", "dev", "bias", "variance", "bound"):  # bias: avoidable
        table.add_column(column, justify="left" if column in ("stage", "bound") else "right")
    for r in rows[:MAX_ROWS]:
        table.add_row(str(r["trial"]), r["stage"], *(_fmt(r[k]) for k in ("train_error", "train_dev_error", "dev_error",
                                                                         "avoidable_bias", "variance")), r["bound"])
    console.print(table)
    if len(rows) > MAX_ROWS:
        console.print(f"({len(rows) - MAX_ROWS} more in diagnosis.json)")
    counts = result["bound"]
    console.print(f"bound by bias: {counts['bias']}, by variance: {counts['variance']}, fine: {counts['fine']}"
                  + ("" if result["human_error"] is not None else " (no human level: train error stands for bias)"))
    for stage in result["stages"]:
        change = f": {stage['change']}" if stage["change"] else ""
        console.print(f"stage {stage['stage'] or '-'} ({stage['trials']} trials): median avoidable bias "
                      f"{_fmt(stage['median_bias'])}, variance {_fmt(stage['median_variance'])}, dev "
                      f"{_fmt(stage['median_dev_error'])}{change}", soft_wrap=True)
    if result["winner"] is not None:
        print_diagnosis(result["winner"])
    else:
        console.print("the winner has not been retrained yet: run the study's dltool tune command to finish it")
    console.print(f"wrote diagnosis.json and diagnosis.png in {result['path']}")
