"""A study diagnosed (course 3 across a search): every trial's errors on the ladder, whether it is bound by bias or by
variance, and how the stages moved the two.

For each finished trial of ``runs/<study>/trials.csv``: avoidable bias = train - human and variance = train_dev - train
(dev - train without a train-dev split), as dltool.diagnose defines them; a trial is ``bias``-bound when its avoidable
bias is the larger of the two, ``variance``-bound otherwise (the gap the course's basic recipe would work on first),
``fine`` when both are under the diagnosis' tolerance. The trend compares each stage's medians with the stage before:
a fine stage that lowered the median bias but raised the median variance traded one for the other. The winner (the
best dev error, retrained with its test error in ``best-trial-<n>/``) gets the full diagnosis of a run.
"""

from __future__ import annotations

import csv
import statistics
from pathlib import Path

from dltool.diagnose import TOLERANCE, gaps
from dltool.errors import UserError


def _number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def trial_rows(study_dir: Path, human: float | None) -> list[dict]:
    """The finished trials with their errors, the two gaps and what bounds them, by dev error (best first)."""
    path = study_dir / "trials.csv"
    if not path.is_file():
        raise UserError(f"study {study_dir.name} has no trials.csv yet: run its dltool tune command to finish a trial")
    rows = []
    with path.open(newline="") as f:
        for t in csv.DictReader(f):
            errors = {"human": human, "train": _number(t.get("train_error")),
                      "train_dev": _number(t.get("train_dev_error")), "dev": _number(t.get("dev_error"))}
            if t.get("state") != "COMPLETE" or errors["train"] is None or errors["dev"] is None:
                continue
            g = gaps(errors)
            bias, variance = g["avoidable_bias"], g["variance"]
            rows.append({"trial": int(t["number"]), "stage": t.get("stage") or "", **{f"{k}_error": v for k, v in
                         errors.items() if k != "human"}, "avoidable_bias": bias, "variance": variance,
                         "bound": bound(bias, variance), "run": t.get("run")})
    if not rows:
        raise UserError(f"study {study_dir.name} has no finished trial to diagnose yet")
    return sorted(rows, key=lambda r: (r["dev_error"], r["trial"]))


def bound(bias: float | None, variance: float) -> str:
    """``bias`` or ``variance``: the larger gap (bias first on a tie, as the course's recipe); ``fine`` when both are
    under the tolerance. Without a human level, the train error itself stands in for the avoidable bias."""
    if max(bias if bias is not None else 0.0, variance) < TOLERANCE:
        return "fine"
    return "bias" if (bias if bias is not None else 0.0) >= variance else "variance"


def trend(rows: list[dict]) -> list[dict]:
    """Per stage in the order the study ran them: its trials, median avoidable bias and variance, and what changed
    from the stage before (``traded bias for variance``, ``traded variance for bias``, ``lowered both``, ...)."""
    stages: dict[str, list[dict]] = {}
    for r in sorted(rows, key=lambda r: r["trial"]):
        stages.setdefault(r["stage"], []).append(r)
    out = []
    for name, members in stages.items():
        biases = [r["avoidable_bias"] for r in members if r["avoidable_bias"] is not None]
        entry = {"stage": name, "trials": len(members),
                 "median_bias": statistics.median(biases) if biases else None,
                 "median_variance": statistics.median(r["variance"] for r in members),
                 "median_dev_error": statistics.median(r["dev_error"] for r in members), "change": ""}
        if out:
            entry["change"] = _change(out[-1], entry)
        out.append(entry)
    return out


def _change(before: dict, after: dict) -> str:
    dv = after["median_variance"] - before["median_variance"]
    db = None if None in (after["median_bias"], before["median_bias"]) else after["median_bias"] - before["median_bias"]
    if db is None:
        return "variance " + ("up" if dv > 0 else "down")
    if db < 0 < dv:
        return "traded bias for variance"
    if dv < 0 < db:
        return "traded variance for bias"
    if db <= 0 and dv <= 0:
        return "lowered both"
    return "raised both"


def winner_dir(study_dir: Path) -> Path | None:
    """The winner's retrained run (``best-trial-<n>``, named in best.yaml), or None before the study finished."""
    import yaml

    best = study_dir / "best.yaml"
    if not best.is_file():
        return None
    try:
        number = int((yaml.safe_load(best.read_text()) or {})["trial"])
    except (KeyError, TypeError, ValueError, yaml.YAMLError):
        return None
    path = study_dir / f"best-trial-{number:04d}"
    return path if (path / "metrics.json").is_file() else None


def study_folder(name: str, runs_dir: Path) -> Path | None:
    """The study folder that ``name`` (a study in ``runs_dir`` or a path) names, or None when it names no study."""
    from dltool.runs import is_run, is_study

    path = Path(name)
    for folder in ((path,) if len(path.parts) != 1 else (Path(runs_dir) / name, path)):
        if is_study(folder) and not is_run(folder):
            return folder
    return None


def study_names(runs_dir: Path) -> list[str]:
    """The study folders in ``runs_dir``, sorted (none when it is not a folder)."""
    from dltool.runs import is_run, is_study

    folder = Path(runs_dir)
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if is_study(p) and not is_run(p))
