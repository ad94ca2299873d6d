"""The study's plan: its options, checked, and what they make: the base config, the space, the stages, the study's
folder and storage, the sampler and pruner; and the one way a trial's values become a config and a command line."""

from __future__ import annotations

import copy
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from dltool.config import CONFIG_DIR_ENV
from dltool.errors import UserError, choices
from dltool.search import Param, encode, load_space, parse_param, parse_stages, space_names
from dltool.tune.liveness import HEARTBEAT

SAMPLERS = ("random", "tpe", "grid")
PRUNERS = ("none", "median", "hyperband")


@dataclass
class TuneOptions:
    overrides: list[str] = field(default_factory=list)  # config overrides of every trial (search=NAME picks the space)
    config: Path | None = None  # start from a saved run config instead of the defaults
    trials: int = 20
    stages: str | None = None  # "coarse:30,fine:20"
    sampler: str = "random"
    pruner: str = "none"
    min_epochs: int = 3  # pruners never stop a trial before this many epochs
    grid_points: int = 3  # per numeric parameter, with --sampler grid
    constraints: list[str] = field(default_factory=list)  # "latency_ms<=2", "parameters<=20000"
    storage: str | None = None
    workers: int = 1
    name: str | None = None
    runs_dir: Path = Path("runs")
    seed: int | None = None  # sampler and training seed; default: the config's seed
    heartbeat: float = HEARTBEAT  # seconds between a running trial's signs of life in the storage
    progress: bool = True
    space: dict | None = None  # {config key: spec} in place of search=NAME (dltool curve's training-set sizes)
    retrain_best: bool = True  # train the winner once more for its test error (a learning curve has no winner)


@dataclass
class Plan:
    """Everything a worker needs, rebuilt identically in each worker process from the options."""

    opts: TuneOptions
    overrides: list[str]  # the config overrides of every trial (without search=)
    cfg: object  # the composed base config
    space: list[Param]
    search: str
    stages: list[tuple[str, int]]
    study_name: str
    study_dir: Path
    storage_url: str
    constraints: list[tuple[str, str, float]]


def plan(opts: TuneOptions) -> Plan:
    """Check every option and compose the base config; UserError for any mistake, before anything is written."""
    from dltool.config import compose
    from dltool.evaluate import RESOURCES, parse_requirement
    from dltool.runs import check_name

    if opts.sampler not in SAMPLERS:
        raise UserError(f"unknown --sampler '{opts.sampler}'; choose from: {choices(SAMPLERS)}")
    if opts.pruner not in PRUNERS:
        raise UserError(f"unknown --pruner '{opts.pruner}'; choose from: {choices(PRUNERS)}")
    for value, what in ((opts.trials, "--trials"), (opts.workers, "--workers"), (opts.min_epochs, "--min-epochs"),
                        (opts.grid_points, "--grid-points")):
        if value < 1:
            raise UserError(f"{what} must be at least 1, got {value}")
    if not opts.heartbeat > 0:
        raise UserError(f"--heartbeat must be a positive number of seconds, got {opts.heartbeat}")
    search = [o.split("=", 1)[1] for o in opts.overrides if o.startswith("search=")]
    overrides = [o for o in opts.overrides if not o.startswith("search=")]
    cfg = compose(overrides + ([f"seed={opts.seed}"] if opts.seed is not None else []), config_file=opts.config)
    if opts.space is not None:
        if search:
            raise UserError("this command chooses what it searches: drop search=")
        search_name = "space"
        space = [parse_param(key, spec, cfg) for key, spec in opts.space.items()]
    else:
        search_name = search[-1] if search else cfg.model.name
        space = load_space(search_name, cfg)
    fixed = {o.split("=", 1)[0].lstrip("+~") for o in overrides if "=" in o}
    for q in space:
        if q.key in fixed:
            raise UserError(f"{q.key} is both set by an override and searched by search space '{search_name}': drop "
                            f"the override, or search a space without it (search=FILE.yaml, or one of: "
                            f"{choices(space_names())})")
    stages = parse_stages(opts.stages, opts.trials)
    if opts.sampler == "grid":
        if len(stages) > 1:
            raise UserError("--sampler grid runs one stage: drop --stages or use --sampler random or tpe")
        stages = [("grid", len(grid_points(space, opts.grid_points)))]  # every point once: --trials does not apply
    constraints = []
    from dltool.tasks import task_class

    allowed = (*RESOURCES, *task_class(cfg.task.name).satisficing)  # the task's own dev figures too (trigger's)
    for text in opts.constraints:
        name, op, value = parse_requirement(text)
        if name not in allowed:
            raise UserError(f"--constraint {text!r}: constraints are satisficing metrics: {choices(allowed)}")
        constraints.append((name, op, value))
    study_name = check_name(opts.name or f"{Path(search_name).stem}-{cfg.data.name}")
    study_dir = Path(opts.runs_dir) / study_name
    _check_inside(study_dir, Path(opts.runs_dir))
    storage_url = opts.storage or f"sqlite:///{(study_dir / 'study.db').resolve()}"
    return Plan(opts, overrides, cfg, space, search_name, stages, study_name, study_dir, storage_url, constraints)


def _check_inside(study_dir: Path, runs_dir: Path) -> None:
    """A study folder that is a link out of the runs folder is refused (as dltool.runs.find_run refuses run links):
    its database, trials and results would land wherever the link points."""
    if study_dir.is_symlink() and not study_dir.resolve().is_relative_to(runs_dir.resolve()):
        raise UserError(f"study '{study_dir.name}' in {runs_dir} is a link to {study_dir.resolve()}, outside the runs "
                        "folder: remove the link or choose another --name")


def trial_config(cfg, values: dict):
    """A copy of the base config ``cfg`` with a trial's values (config key -> value) set: the one place where a
    trial, the check before the study and the winner's retrain turn values into the config they train."""
    from omegaconf import OmegaConf

    cfg = copy.deepcopy(cfg)
    for key, value in values.items():
        OmegaConf.update(cfg, key, value, merge=False)
    return cfg


def first_values(space: list[Param]) -> dict:
    """One point of the space: each parameter's first choice or low end (what the check before the study builds)."""
    return {q.key: q.choices[0] if q.choices is not None else round(q.low) if q.integer else q.low for q in space}


def check_trial_config(p: Plan) -> None:
    """Build one trial's config (the space at its first choices and low ends) as training would, so that a mistake
    in a value every trial shares, or in the data, is one UserError before the study exists, not N failed trials."""
    from dltool.train import build, keep_threads

    with keep_threads():
        s = build(trial_config(p.cfg, first_values(p.space)))
    if s.trainer["devices"] * s.trainer["num_nodes"] > 1:
        from dltool.ddp import ONE_PROCESS_A_TRIAL

        raise UserError(ONE_PROCESS_A_TRIAL)


PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_./-]*")


def override_value(value) -> str:
    """A config value as a command-line override value that Hydra parses back to exactly that value: floats in their
    shortest exact form (repr), lists as [a,b], booleans as true/false, strings quoted unless plain words."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(override_value(v) for v in value) + "]"
    if value is None:
        return "null"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ("nan" if math.isnan(value) else "inf" if value > 0 else "-inf")
    if isinstance(value, str) and not (PLAIN.fullmatch(value) and value.lower() not in ("true", "false", "null",
                                                                                           "nan", "inf")):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return str(value)


def train_command(p: Plan, values: dict) -> str:
    """The ``dltool train`` command that trains the configuration of a trial with ``values``."""
    start = ["dltool train"] + ([f"--config {p.opts.config}"] if p.opts.config else [])
    if os.environ.get(CONFIG_DIR_ENV):  # the user's own options (--config-dir): the command needs them too
        start.append(f"--config-dir {os.environ[CONFIG_DIR_ENV]}")
    return " ".join([*start, *p.overrides, *(f"{k}={override_value(v)}" for k, v in values.items())])


def trial_seed(seed: int, number: int) -> int:
    """The sampler seed of trial ``number``. Each trial draws from a seed of its own: the same command gives the same
    trials, a resumed study never replays a draw, and workers started together never draw alike."""
    return (seed * 1_000_003 + number) % 2**32


def sampler(p: Plan, seed: int):
    """Random (the default, course 2's advice) or TPE; grid points are enqueued trials, so they need no sampler."""
    import optuna

    if p.opts.sampler == "tpe":
        constraints = (lambda t: t.user_attrs.get("constraints", [0.0] * len(p.constraints))) if p.constraints else None
        return optuna.samplers.TPESampler(seed=seed, constraints_func=constraints)
    return optuna.samplers.RandomSampler(seed=seed)


def pruner(p: Plan):
    """Optuna's pruner for --pruner; dltool itself also never prunes before --min-epochs (trials.run_trial)."""
    import optuna

    if p.opts.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=p.opts.min_epochs)
    if p.opts.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=p.opts.min_epochs,
                                              max_resource=p.cfg.trainer.max_epochs, reduction_factor=3)
    return optuna.pruners.NopPruner()


def grid_points(space: list[Param], points: int) -> list[dict]:
    """Every combination of the parameters' grid values, as Optuna parameters (``1-key`` for log1m, choices encoded)."""
    import itertools

    axes = [[(q.name, v) for v in _grid(q, points)] for q in space]
    return [dict(combo) for combo in itertools.product(*axes)]


def _grid(q: Param, points: int) -> list:
    """Grid values of one parameter: its choices, or ``points`` values evenly spaced in its own scale."""
    if q.choices is not None:
        return [encode(c) for c in q.choices]
    lo, hi = (1 - q.high, 1 - q.low) if q.scale == "log1m" else (q.low, q.high)
    log = q.scale in ("log", "log1m")
    a, b = (math.log10(lo), math.log10(hi)) if log else (lo, hi)
    values = [a + (b - a) * i / max(1, points - 1) for i in range(points)]
    values = [10 ** v for v in values] if log else values
    return sorted({round(v) for v in values}) if q.integer else values
