"""Learning curves (course 3): train the same configuration on growing subsets of the training split and read the
train and dev errors against the training-set size.

Each size is one trial of a study run by dltool.tune's machinery (a grid over ``data.split.train_size``), so a curve
is resumable (the same command continues it) and parallel (``--workers``), and each point is a real run under
``runs/<curve>/trials/``. The subsets are nested (a smaller one lies inside every larger one, see
``dltool.data.splits.subset``); train-dev, dev and test stay the same examples for every point.

What the curve says, in the course's terms, from its two largest sizes and the human-level proxy:

- ``more data``: dev error still falls from the second-largest size to the largest by more than noise (Newcombe's
  95 % interval of the drop excludes 0, for an error that is a share of wrong examples; for another, such as
  segmentation's 1 - mean IoU, a drop of more than one percentage point): more data is likely to help;
- ``bias``: dev error has flattened and train and dev sit together above the human level (the gap between them is
  smaller than the avoidable bias): more data will not help; a bigger model, training longer or a better architecture
  will;
- ``variance``: dev error has flattened far above train error: more of the same data has stopped paying here;
  regularization (dropout, L2, augmentation) narrows the gap;
- ``done``: dev error has flattened near the human level.
"""

from __future__ import annotations

from pathlib import Path

from dltool.errors import UserError

KEY = "data.split.train_size"
FRACTIONS = (8, 4, 2, 1)  # without --sizes: an eighth, a quarter, a half and all of the training split
PROPORTIONS = ("classify", "multilabel", "seq2seq")  # tasks whose error is a share of wrong examples (or labels)


def parse_sizes(text: str) -> list[int]:
    """``"250,500,1000"`` -> ``[250, 500, 1000]``: at least two distinct whole numbers of examples, ascending."""
    expected = "expected at least two whole numbers of training examples separated by commas, e.g. 250,500,1000"
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        raise UserError(f"bad --sizes {text!r}: {expected}") from None
    if len(sizes) < 2 or len(set(sizes)) != len(sizes) or min(sizes) < 1:
        raise UserError(f"bad --sizes {text!r}: {expected}, each at least 1 and none twice")
    return sorted(sizes)


def run_curve(overrides: list[str], sizes: str | None = None, workers: int = 1, name: str | None = None,
              runs_dir: Path = Path("runs"), config: Path | None = None, seed: int | None = None,
              progress: bool = True) -> dict:
    """Train (or resume) the curve's points and return the curve: its points, the human level and what it means.
    ``sizes`` defaults to an eighth, a quarter, a half and all of the training split (the last point is the run that
    ``dltool train`` would train)."""
    from dltool.config import compose
    from dltool.data import load_data
    from dltool.runs import check_name
    from dltool.tune import TuneOptions, run_study

    points = parse_sizes(sizes) if sizes is not None else None
    for o in overrides:
        key = o.lstrip("+~").split("=", 1)[0]
        if key == KEY or key == "search":
            raise UserError(f"dltool curve chooses {KEY} itself (--sizes) and searches nothing else: drop {o}")
    cfg = compose(list(overrides) + ([f"seed={seed}"] if seed is not None else []), config_file=config)
    if cfg.data.split.train_size is not None:
        raise UserError(f"the config sets {KEY}={cfg.data.split.train_size}: dltool curve chooses it (--sizes)")
    n_train = len(load_data(cfg.data, cfg.seed).splits["train"]["y"])
    if points is None:
        points = sorted({max(1, n_train // k) for k in FRACTIONS})
        if len(points) < 2:
            raise UserError(f"the training split has {n_train} example(s): too few for a curve")
    elif points[-1] > n_train:
        raise UserError(f"--sizes {sizes}: the training split has {n_train} examples; every size must be at most that")
    name = check_name(name or f"curve-{cfg.model.name}-{cfg.data.name}")
    _check_same_sizes(Path(runs_dir) / name, points)
    opts = TuneOptions(overrides=list(overrides), config=config, seed=seed, sampler="grid", trials=len(points),
                       workers=workers, name=name, runs_dir=Path(runs_dir), progress=progress,
                       space={KEY: {"choices": points}}, retrain_best=False)
    summary = run_study(opts)
    study_dir = Path(runs_dir) / name
    rows = read_points(study_dir)
    curve = {"curve": name, "path": str(study_dir), "storage": summary["storage"], "model": cfg.model.name,
             "data": cfg.data.name, "human_error": cfg.data.human_error, "sizes": points, "n_train": n_train,
             "points": rows, "verdict": verdict(rows, cfg.data.human_error)}
    from dltool.curve_report import curve_chart
    from dltool.runs import write_json

    curve_chart(curve, study_dir / "curve.png")
    write_json(study_dir / "curve.json", curve)
    return curve


def _check_same_sizes(study_dir: Path, points: list[int]) -> None:
    """A curve resumed with other sizes would leave its grid half run: one line instead."""
    import csv

    path = study_dir / "trials.csv"
    if not path.is_file():
        return
    with path.open(newline="") as f:
        asked = sorted({int(row[KEY]) for row in csv.DictReader(f) if (row.get(KEY) or "").isdigit()})
    if asked and asked != points:
        raise UserError(f"curve {study_dir.name} was started with --sizes {','.join(map(str, asked))}: give those "
                        "to resume it, or another --name for these sizes")


def read_points(study_dir: Path) -> list[dict]:
    """Each finished point's size and its run's errors (train, train-dev, dev) and split sizes, by size."""
    import csv

    from dltool.runs import read_metrics

    rows = []
    with (study_dir / "trials.csv").open(newline="") as f:
        for trial in csv.DictReader(f):
            if trial["state"] != "COMPLETE" or not trial.get("run"):
                continue
            metrics = read_metrics(trial["run"]) or {}
            splits = metrics.get("splits") or {}
            point = {"size": int(trial[KEY]), "run": trial["run"], "task": metrics.get("task", "classify")}
            for split in ("train", "train_dev", "dev"):
                point[f"{split}_error"] = (splits.get(split) or {}).get("error")
                point[f"{split}_n"] = (splits.get(split) or {}).get("n")
            rows.append(point)
    return sorted(rows, key=lambda r: r["size"])


def verdict(points: list[dict], human: float | None) -> dict:
    """What the curve's two largest sizes say (see the module doc): ``kind`` and a sentence."""
    from dltool.diagnose import TOLERANCE
    from dltool.intervals import difference_interval

    done = [p for p in points if p["dev_error"] is not None and p["train_error"] is not None]
    if len(done) < 2:
        return {"kind": "unfinished", "text": "fewer than two points finished: run the same command to finish the curve"}
    a, b = done[-2], done[-1]
    if b.get("task", "classify") in PROPORTIONS:
        drop = difference_interval(a["dev_error"], a["dev_n"], b["dev_error"], b["dev_n"])
    else:  # not a share of examples: no binomial interval, a drop beyond the diagnosis' tolerance
        d = a["dev_error"] - b["dev_error"]
        drop = (d - TOLERANCE, d + TOLERANCE)
    gap = b["dev_error"] - b["train_error"]
    bias = b["train_error"] - (human or 0.0)
    where = f"from {a['size']} to {b['size']} examples"
    if drop[0] > 0:
        kind = "more data"
        text = (f"dev error still falls {where} ({a['dev_error']:.4f} -> {b['dev_error']:.4f}, more than noise): "
                "more data is likely to help")
    elif human is not None and b["dev_error"] - human <= 0.01:
        kind, text = "done", f"dev error has flattened at {b['dev_error']:.4f}, near the human level {human:.4f}"
    elif gap < bias:
        kind = "bias"
        text = (f"dev error has flattened {where}, and train ({b['train_error']:.4f}) and dev ({b['dev_error']:.4f}) "
                f"sit together above the human level{'' if human is None else f' {human:.4f}'}: bias; more data "
                "will not help: a bigger model, training longer or another architecture will")
    else:
        kind = "variance"
        text = (f"dev error has flattened {where} at {b['dev_error']:.4f}, far above train ({b['train_error']:.4f}): "
                "variance that more of this data no longer cures; regularize (model.keep_prob, "
                "optimizer.weight_decay, data.augment)")
    return {"kind": kind, "text": text, "dev_drop": [drop[0], drop[1]]}
