"""The rows of ``dltool runs``: one per run folder, with its errors, epochs, start time, path, and the config keys in
which the listed runs differ (their hyperparameters, side by side). ``--all`` adds the runs inside studies (each
trial, and the retrained winner) and debug runs (trainer.fast_dev_run, trainer.overfit_batches)."""

from __future__ import annotations

import datetime
import functools
from pathlib import Path

from dltool.errors import UserError, choices
from dltool.runs import (
    _run_names,
    baseline_errors,
    is_run,
    is_study,
    read_config,
    read_metrics,
    run_status,
    split_errors,
)

RUN_COLUMNS = ("name", "model", "data", "status", "train_error", "train_dev_error", "dev_error", "test_error",
               "baseline_dev_error", "focus", "epochs", "best_epoch", "seconds", "started", "path")
# baseline: dltool.baseline's dev error; started: ISO 8601; the config keys the runs differ in follow

SAME_EVERYWHERE = ("model.name", "data.name")  # columns of their own already


def list_runs(runs_dir: str | Path = "runs", sort: str = "started", everything: bool = False) -> list[dict]:
    """One row per run folder in ``runs_dir`` (RUN_COLUMNS, and ``params``: the config keys whose values differ
    between the rows), sorted by ``sort`` (a column or one of those keys); missing values sort last. ``everything``:
    also each study's trials and winner (named ``<study>/trials/<trial>``, ``<study>/<winner>``) and debug runs."""
    runs_dir = Path(runs_dir)
    folders = [(name, runs_dir / name) for name in _run_names(runs_dir)]
    if everything:
        for study in sorted(p for p in runs_dir.iterdir() if is_study(p)) if runs_dir.is_dir() else ():
            inner = [p for p in sorted(study.iterdir()) if is_run(p)]
            if (study / "trials").is_dir():
                inner = [p for p in sorted((study / "trials").iterdir()) if is_run(p)] + inner
            folders += [(p.relative_to(runs_dir).as_posix(), p) for p in inner]
    rows, configs = [], []
    for name, folder in folders:
        metrics = read_metrics(folder)
        if not everything and metrics is not None and metrics.get("debug"):
            continue  # a debug run's figures are no result
        rows.append(_row(name, folder, metrics))
        configs.append(with_defaults(flatten(read_config(folder) or {})))
    params = differing(configs)
    for row, config in zip(rows, configs):
        row["params"] = {key: config.get(key) for key in params}
    if sort not in RUN_COLUMNS and sort not in params:
        raise UserError(f"unknown --sort '{sort}'; choose from: {choices(RUN_COLUMNS)}"
                        + (f", or a key the runs differ in: {choices(params)}" if params else ""))

    def value(row):
        return row[sort] if sort in RUN_COLUMNS else row["params"][sort]

    present = [r for r in rows if value(r) is not None]
    try:
        ordered = sorted(present, key=value)
    except TypeError:  # a key whose values are of several types (a number here, a list there)
        ordered = sorted(present, key=lambda r: str(value(r)))
    return ordered + [r for r in rows if value(r) is None]


def _row(name: str, folder: Path, metrics: dict | None) -> dict:
    from dltool.diagnose import focus, gaps

    row = dict.fromkeys(RUN_COLUMNS)
    config = read_config(folder) or {}
    status = run_status(folder)
    if metrics is not None and metrics.get("debug"):
        status = f"{status} ({metrics['debug'].get('mode', 'debug')})"
    row.update(name=name, path=str(folder), status=status, started=started(folder),
               model=(config.get("model") or {}).get("name") if isinstance(config.get("model"), dict) else None,
               data=(config.get("data") or {}).get("name") if isinstance(config.get("data"), dict) else None)
    if metrics is None:
        return row
    row.update(epochs=metrics.get("epochs"), best_epoch=metrics.get("best_epoch"), seconds=metrics.get("seconds"))
    if metrics.get("status") == "diverged" and not metrics.get("best_epoch"):
        return row  # diverged before any epoch was kept: its figures are of the broken model, not a result
    errors = split_errors(metrics)
    row.update({f"{k}_error": v for k, v in errors.items()},
               baseline_dev_error=(baseline_errors(metrics) or {}).get("dev"))
    # a focus only for a run that completed: a diverged one's gaps are of a model whose training broke off
    if metrics.get("status") == "completed" and not metrics.get("debug") and errors["train"] is not None \
            and errors["dev"] is not None:
        row["focus"] = focus(gaps({"human": metrics.get("human_error"), **errors}))
    return row


def started(folder: Path) -> str | None:
    """When the run started, ISO 8601 with the UTC offset (its config.yaml is written first)."""
    try:
        mtime = (folder / "config.yaml").stat().st_mtime
    except OSError:
        return None
    return datetime.datetime.fromtimestamp(mtime).astimezone().isoformat(timespec="seconds")


def flatten(config: dict, prefix: str = "") -> dict:
    """``{"optimizer": {"lr": 0.1}}`` as ``{"optimizer.lr": 0.1}``; lists stay values (``model.hidden``)."""
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def with_defaults(config: dict) -> dict:
    """A run's flat config with the keys it lacks at their defaults (of the options it chose, ``conf/<group>/``):
    a run saved before a key existed (``trainer.fast_dev_run``) ran as that key's default does, and differs in
    nothing from a newer run that kept it."""

    import yaml

    from dltool.config import GROUPS, conf_dir

    @functools.cache
    def defaults(group: str, option: str) -> tuple:
        try:
            loaded = yaml.safe_load((conf_dir() / group / f"{option}.yaml").read_text())
        except (OSError, yaml.YAMLError):
            return ()
        return tuple(flatten(loaded, f"{group}.").items()) if isinstance(loaded, dict) else ()

    filled = dict(config)
    for group in GROUPS:
        option = config.get(f"{group}.name", "default" if group == "trainer" else None)
        for key, value in defaults(group, option) if isinstance(option, str) else ():
            filled.setdefault(key, value)
    return filled


def differing(configs: list[dict]) -> list[str]:
    """The keys whose values are not the same in every config, in config order. A key that only some runs have
    (``model.hidden``, ``optimizer.beta1``) is compared only between runs of the same option (two MLPs), not across
    options: an MLP and a CNN differ in ``model.name``, a column already, not in each key one has and the other
    lacks. A key every run has (``optimizer.lr``) is compared across all of them."""
    keys = list(dict.fromkeys(k for c in configs for k in c))

    def cohort(config: dict, key: str):
        group = key.split(".", 1)[0]
        if "." not in key or key == f"{group}.name" or all(key in c for c in configs):
            return None  # compared across all runs
        return config.get(f"{group}.name", _MISSING)

    found = []
    for key in keys:
        if key in SAME_EVERYWHERE:
            continue
        values: dict = {}
        for config in configs:
            values.setdefault(cohort(config, key), []).append(config.get(key, _MISSING))
        if any(v != same[0] for same in values.values() for v in same[1:]):
            found.append(key)
    return found


_MISSING = object()
