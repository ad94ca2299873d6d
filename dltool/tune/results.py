"""A study's results in ``runs/<study>/``: the winner trained again with its test error (``best-trial-<n>/``),
``trials.csv``, ``best.yaml`` with the command that trains the winner, the plots, and the ``tune --json`` summary."""

from __future__ import annotations

import csv
import io

from dltool.runs import read_metrics, write_text
from dltool.tune.plan import Plan, override_value, train_command, trial_config
from dltool.tune.plots import draw as draw_plots
from dltool.tune.storage import safe_url
from dltool.tune.trials import best_trial, feasible


def finish(p: Plan, study) -> dict:
    """Train the best configuration once more with its test error, write trials.csv, best.yaml and plots."""
    import yaml

    changed = write_trials_csv(p, study)
    best = best_trial(study)
    trials = study.get_trials(deepcopy=False)
    summary = {
        "study": p.study_name, "storage": safe_url(p.storage_url),
        "n_trials": len([t for t in trials if t.state.is_finished()]),
        "stages": [{"name": name, "n_trials": n, "ranges": study.user_attrs.get(f"stage:{name}", {})}
                   for name, n in p.stages],
        "infeasible": [t.number for t in trials if t.state.name == "COMPLETE" and not feasible(t)],
        "best": None,
    }
    if best is not None and p.opts.retrain_best:
        overrides = best.user_attrs["overrides"]
        run = _best_run(p, best)
        command = train_command(p, overrides)
        write_text(p.study_dir / "best.yaml", yaml.safe_dump(
            {"trial": best.number, "dev_error": best.value, "overrides": overrides, "command": command}, sort_keys=False))
        summary["best"] = {"value": best.value, "params": overrides, "run": str(run["path"]), "trial": best.number,
                           "test_error": run["test_error"], "command": command}
    if changed or not (p.study_dir / "plots").is_dir():
        done = [{"number": t.number, "value": t.value, "values": t.user_attrs["overrides"],
                 "stage": t.user_attrs.get("stage")} for t in trials if t.state.name == "COMPLETE"]
        draw_plots(p.study_dir / "plots", p.space, done)
    return summary


def _best_run(p: Plan, best) -> dict:
    """Retrain the winner as ``runs/<study>/best-trial-<n>`` (once) to measure its test error, untouched by the search."""
    from dltool.train import train

    path = p.study_dir / f"best-trial-{best.number:04d}"
    result = read_metrics(path)
    if result is None or result.get("status") not in ("completed", "diverged"):
        if path.exists():
            import shutil

            shutil.rmtree(path)  # an earlier attempt that did not finish (killed, or stopped by a full disk)
        train(trial_config(p.cfg, best.user_attrs["overrides"]), runs_dir=p.study_dir, name=path.name, progress=False)
        result = read_metrics(path) or {}
    return {"path": path, "test_error": ((result.get("splits") or {}).get("test") or {}).get("error")}


def write_trials_csv(p: Plan, study) -> bool:
    """Write trials.csv, a column per config key with its exact value; False when it already held exactly this
    (another worker finished the same study first)."""
    keys = [q.key for q in p.space]
    columns = ["number", "stage", "state", "dev_error", "train_error", "train_dev_error", "epochs", *keys,
               "feasible", "satisficing", "run", "fail_reason", "seconds"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for t in study.get_trials(deepcopy=False):
        a, r = t.user_attrs, t.user_attrs.get("result", {})
        seconds = (t.datetime_complete - t.datetime_start).total_seconds() if t.datetime_complete and t.datetime_start else None
        writer.writerow({"number": t.number, "stage": a.get("stage"), "state": t.state.name, "dev_error": t.value,
                         **{k: a.get(k, r.get(k)) for k in ("train_error", "train_dev_error")},  # r: studies of before
                         "epochs": r.get("epochs"), **{k: override_value(a.get("overrides", {}).get(k)) for k in keys},
                         "feasible": feasible(t), "satisficing": a.get("satisficing"), "run": r.get("run"),
                         "fail_reason": a.get("fail_reason"), "seconds": seconds})
    path = p.study_dir / "trials.csv"
    if path.is_file() and path.read_text() == buffer.getvalue():
        return False
    write_text(path, buffer.getvalue())
    return True
