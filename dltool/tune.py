"""``run_study(opts)``: course 2's hyperparameter search, driven through Optuna's ask-and-tell interface.

Each trial is a real ``dltool train`` run (in ``runs/<study>/trials/``) whose dev error Optuna minimizes; its epochs
report dev error so that a pruner can stop it early. Stages run one after another in one study, each later stage on a
box narrowed around the best trials so far (dltool.search.narrow). Test error is measured once, for the winner, in
``runs/<study>/best-trial-<n>/``. The study lives in its storage (SQLite ``runs/<study>/study.db`` by default), so
running the same command again resumes it, and workers started on the same storage share it.
"""

from __future__ import annotations

import copy
import csv
import io
import math
import os
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from dltool import metrics
from dltool.errors import Interrupted, UserError, choices
from dltool.search import Param, encode, load_space, narrow, parse_stages, space_names

SAMPLERS = ("random", "tpe", "grid")
PRUNERS = ("none", "median", "hyperband")
CONSTRAINT_NAMES = ("latency_ms", "parameters")
BUDGET_STATES = ("COMPLETE", "PRUNED", "RUNNING", "FAIL")  # WAITING (enqueued) trials are run, not counted
OPEN_ATTEMPTS = 6  # tries to open a storage that other workers are creating at the same moment
STALE_BEATS = 4
NETWORK_FILE_SYSTEMS = ("nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "afs", "ceph", "glusterfs", "lustre", "gpfs",
                        "beegfs", "fuse.sshfs", "fuse.s3fs", "fuse.gcsfuse")  # a running trial whose worker missed this many heartbeats in a row is failed and re-queued


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
    heartbeat: float = 30.0  # seconds between a running trial's signs of life in the storage
    progress: bool = True


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
    from dltool.evaluate import parse_requirement
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
    for text in opts.constraints:
        name, op, value = parse_requirement(text)
        if name not in CONSTRAINT_NAMES:
            raise UserError(f"--constraint {text!r}: constraints are satisficing metrics: {choices(CONSTRAINT_NAMES)}")
        constraints.append((name, op, value))
    study_name = check_name(opts.name or f"{Path(search_name).stem}-{cfg.data.name}")
    study_dir = Path(opts.runs_dir) / study_name
    storage_url = opts.storage or f"sqlite:///{(study_dir / 'study.db').resolve()}"
    return Plan(opts, overrides, cfg, space, search_name, stages, study_name, study_dir, storage_url, constraints)


def run_study(opts: TuneOptions) -> dict:
    """Run (or resume) the study that ``opts`` describes; return the ``tune --json`` summary."""
    from dltool.runs import check_runs_dir

    p = plan(opts)
    check_runs_dir(p.opts.runs_dir)
    _check_trial_config(p)
    created = not p.study_dir.exists()
    try:
        p.study_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create study folder {p.study_dir}: {e.strerror}") from e
    if p.storage_url.startswith("sqlite:///"):
        kind = file_system(Path(p.storage_url.removeprefix("sqlite:///")))
        if kind in NETWORK_FILE_SYSTEMS:
            import sys

            sys.stderr.write(f"dltool: warning: {p.storage_url.removeprefix('sqlite:///')} is on a network file system "
                             f"({kind}), where SQLite's locks cannot be trusted; for workers on several machines use "
                             "--storage postgresql://USER@HOST/DB or --storage journal:FILE\n")
    try:
        study = open_study(p)
    except UserError:
        if created:  # a storage that cannot be opened leaves no study folder behind
            import shutil

            shutil.rmtree(p.study_dir)
        raise
    if p.opts.sampler == "grid" and not study.get_trials(deepcopy=False):
        for point in grid_points(p.space, p.opts.grid_points):  # the grid lives in the storage: resumable, shared
            study.enqueue_trial(point)
    try:
        if opts.workers == 1:
            work(p, study)
        else:
            _run_workers(p)
    except (Interrupted, KeyboardInterrupt) as e:  # Ctrl-C between trials too, not only inside one
        _sweep(study)  # a worker stopped before it could tell its trial's end leaves no trial RUNNING
        _write_trials_csv(p, study)  # what finished is on record; the same command resumes
        raise Interrupted(f"study {p.study_name} interrupted; run the same command to resume it") from e
    except Exception as e:
        if not _storage_failure(e):
            raise
        raise UserError(f"the storage of study {p.study_name} ({safe_url(p.storage_url)}) failed: {_root(e)}; "
                        "finished trials are kept: run the same command to resume once it works") from e
    with _ask_lock(p.study_dir):  # workers finishing together retrain the winner once and write whole files
        return finish(p, study)


def _check_trial_config(p: Plan) -> None:
    """Build one trial's config (the space at its first choices and low ends) as training would, so that a mistake
    in a value every trial shares, or in the data, is one UserError before the study exists, not N failed trials."""
    from omegaconf import OmegaConf

    from dltool.train import build, keep_threads

    cfg = copy.deepcopy(p.cfg)
    for q in p.space:
        value = q.choices[0] if q.choices is not None else round(q.low) if q.integer else q.low
        OmegaConf.update(cfg, q.key, value, merge=False)
    with keep_threads():
        build(cfg)


def open_study(p: Plan):
    """Create or load the study; a study of the same name with other settings is refused, not silently mixed."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.create_study(study_name=p.study_name, storage=_storage(p.storage_url), direction="minimize",
                                    load_if_exists=True, sampler=_sampler(p, p.cfg.seed), pruner=_pruner(p))
    except UserError:
        raise
    except Exception as e:  # a database that cannot be reached or read
        raise UserError(f"cannot open the study in {safe_url(p.storage_url)}: {str(e).splitlines()[0]}") from e
    signature = {"overrides": p.overrides, "config": str(p.opts.config or ""), "search": p.search, "seed": p.cfg.seed,
                 "space": {q.key: [q.scale, q.describe()] for q in p.space}}
    stored = study.user_attrs.get("signature")
    if stored is None:
        study.set_user_attr("signature", signature)
    elif stored != signature:
        raise UserError(f"study '{p.study_name}' already exists with other overrides, search space or seed; "
                        f"resume it with the same command or choose another --name")
    return study


def work(p: Plan, study, worker: int = 0) -> None:
    """One worker: ask, train, tell, until the study holds the requested number of trials and none is running.

    Each round first sweeps the study (``_sweep``): trials of dead workers are failed and, like interrupted ones,
    re-queued once. A worker with nothing left to ask waits for the trials other workers are running, so that the
    study it finishes is complete, and takes over any of them whose worker dies meanwhile."""
    import optuna

    console = _console(p.opts.progress)
    total = sum(n for _, n in p.stages)
    if console and worker == 0:
        console.print(f"[bold]{'done':>5}/{'all':<5} {'trial':<6} {'stage':<8} {'state':<8} {'dev error':<9} "
                      f"{'best so far':<14} parameters[/bold]", highlight=False, soft_wrap=True)
    waiting = 0
    while True:
        with _ask_lock(p.study_dir):  # count and ask as one step, so that local workers never overshoot --trials
            trials = _sweep(study)
            used = _budget_used(trials)
            if used < total:
                stage, space = _stage(study, p, used)
                trial = study.ask()
                study.sampler = _sampler(p, trial_seed(p.cfg.seed, trial.number))
                trial.set_user_attr("worker", {"host": socket.gethostname(), "pid": os.getpid(),
                                               "heartbeat": p.opts.heartbeat, "beat": time.time()})
                trial.set_user_attr("stage", stage)
                values = {q.key: q.suggest(trial) for q in space}
        if used >= total:
            running = sum(t.state.name == "RUNNING" for t in trials)
            if not running:
                return
            if console and running != waiting:
                console.print(f"waiting for {running} trial(s) that other workers are running", highlight=False)
            waiting = running
            time.sleep(min(0.25, p.opts.heartbeat))
            continue
        try:
            state = run_trial(p, study, trial, values)
        except optuna.exceptions.UpdateFinishedTrialError:  # at a report or the tell: another worker found this one
            state = "FAIL"  # silent too long (a suspended machine) and failed the trial; it re-runs it
        if console:
            _print_trial(console, study, trial.number, stage, state, values, used + 1, total)


def trial_seed(seed: int, number: int) -> int:
    """The sampler seed of trial ``number``. Each trial draws from a seed of its own: the same command gives the same
    trials, a resumed study never replays a draw, and workers started together never draw alike."""
    return (seed * 1_000_003 + number) % 2**32


@contextmanager
def _ask_lock(study_dir: Path):
    """An exclusive lock on ``study_dir/.ask.lock`` (workers on other machines share only the storage, not this)."""
    import fcntl

    with open(study_dir / ".ask.lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def run_trial(p: Plan, study, trial, values: dict) -> str:
    """Train one configuration and tell Optuna the outcome; returns the trial's final state."""
    import optuna
    from omegaconf import OmegaConf

    from dltool.train import StopTraining, train

    cfg = copy.deepcopy(p.cfg)
    for key, value in values.items():
        OmegaConf.update(cfg, key, value, merge=False)
    trial.set_user_attr("overrides", values)
    if p.opts.workers > 1:
        cfg.trainer.threads = max(1, (os.cpu_count() or 1) // p.opts.workers)

    def report(row: dict) -> None:
        trial.report(row[metrics.MONITOR], row["epoch"])
        if trial.should_prune():
            raise StopTraining("pruned")

    pruning = p.opts.pruner != "none"  # each report is a storage write: only pay for it when a pruner reads it

    run_name = f"trial-{trial.number:04d}"
    trials_dir = p.study_dir / "trials"
    try:
        with _heartbeat(trial, p.opts.heartbeat):
            result = train(cfg, runs_dir=trials_dir, name=run_name, progress=False,
                           on_epoch=report if pruning else None, report_test=False)
    except Interrupted:
        trial.set_user_attr("fail_reason", "interrupted")
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        raise
    except optuna.exceptions.UpdateFinishedTrialError:
        raise  # not the trial's own failure: see work()
    except UserError as e:  # the space produced a value the model refuses
        trial.set_user_attr("fail_reason", str(e))
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        return "FAIL"
    except Exception as e:  # a bug or a fault in one trial must not end the study
        trial.set_user_attr("fail_reason", f"{type(e).__name__}: {e}")
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        return "FAIL"
    splits = result["splits"]
    # one write for the whole record (each user attribute is a storage transaction)
    trial.set_user_attr("result", {"run": str(trials_dir / run_name), "epochs": result["epochs"],
                                   **{f"{k}_error": (splits.get(k) or {}).get("error") for k in ("train", "train_dev", "dev")}})
    if result["status"] == "pruned":
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        return "PRUNED"
    dev_loss = (splits.get("dev") or {}).get("loss")
    if result["status"] == "diverged" or dev_loss is None or not math.isfinite(dev_loss):
        trial.set_user_attr("fail_reason", "diverged: the loss became NaN or infinite")
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        return "FAIL"
    if p.constraints:
        measured = satisficing(trials_dir / run_name)
        trial.set_user_attr("satisficing", measured)
        trial.set_user_attr("constraints", [_violation(measured[name], op, value) for name, op, value in p.constraints])
    study.tell(trial, splits["dev"]["error"])
    return "COMPLETE"


@contextmanager
def _heartbeat(trial, interval: float):
    """While the block runs, a thread writes the time into the trial every ``interval`` seconds: the sign of life by
    which workers on other machines tell a slow trial from one whose worker died (``_sweep``). Optuna's own heartbeat
    serves only ``Study.optimize`` on RDB storages; this one works with ask-and-tell on every storage."""
    import optuna

    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(interval):
            try:
                trial.set_user_attr("beat", time.time())
            except optuna.exceptions.UpdateFinishedTrialError:
                return  # another worker failed this trial as stale; its own tell will say so
            except Exception:
                continue  # a busy or briefly unreachable database: the next beat tries again

    thread = threading.Thread(target=beat, name=f"heartbeat-{trial.number}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def satisficing(run_dir: Path) -> dict:
    """Latency per example at batch size 1 (ms, on dev) and parameter count of a run's best checkpoint."""
    from dltool.evaluate import latency, restore

    setup, module = restore(run_dir)
    x, _ = setup.splits["dev"]
    return {"latency_ms": latency(module, x)["latency_ms_per_example"],
            "parameters": sum(q.numel() for q in module.parameters())}


def _violation(value: float, op: str, threshold: float) -> float:
    """Optuna's convention: a constraint value <= 0 is satisfied."""
    return value - threshold if op in ("<=", "<") else threshold - value


def feasible(trial) -> bool:
    return all(c <= 0 for c in trial.user_attrs.get("constraints", []))


def best_trial(study):
    """The completed, feasible trial with the lowest dev error (None when there is none)."""
    done = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE" and feasible(t)]
    return min(done, key=lambda t: (t.value, t.number)) if done else None


def finish(p: Plan, study) -> dict:
    """Train the best configuration once more with its test error, write trials.csv, best.yaml and plots."""
    import yaml

    from dltool.runs import write_text

    changed = _write_trials_csv(p, study)
    best = best_trial(study)
    summary = {
        "study": p.study_name, "storage": safe_url(p.storage_url),
        "n_trials": len([t for t in study.get_trials(deepcopy=False) if t.state.is_finished()]),
        "stages": [{"name": name, "n_trials": n, "ranges": study.user_attrs.get(f"stage:{name}", {})}
                   for name, n in p.stages],
        "infeasible": [t.number for t in study.get_trials(deepcopy=False)
                       if t.state.name == "COMPLETE" and not feasible(t)],
        "best": None,
    }
    if best is not None:
        overrides = best.user_attrs["overrides"]
        run = _best_run(p, best)
        start = ["dltool train"] + ([f"--config {p.opts.config}"] if p.opts.config else [])
        command = " ".join([*start, *p.overrides, *(f"{k}={_hydra(v)}" for k, v in overrides.items())])
        write_text(p.study_dir / "best.yaml", yaml.safe_dump(
            {"trial": best.number, "dev_error": best.value, "overrides": overrides, "command": command}, sort_keys=False))
        summary["best"] = {"value": best.value, "params": overrides, "run": str(run["path"]), "trial": best.number,
                           "test_error": run["test_error"], "command": command}
    if changed or not (p.study_dir / "plots").is_dir():
        _plots(p, study)
    return summary


def _best_run(p: Plan, best) -> dict:
    """Retrain the winner as ``runs/<study>/best-trial-<n>`` (once) to measure its test error, untouched by the search."""
    import json

    from omegaconf import OmegaConf

    from dltool.train import train

    path = p.study_dir / f"best-trial-{best.number:04d}"
    if not (path / "metrics.json").is_file():
        if path.exists():
            import shutil

            shutil.rmtree(path)  # an earlier attempt that did not finish
        cfg = copy.deepcopy(p.cfg)
        for key, value in best.user_attrs["overrides"].items():
            OmegaConf.update(cfg, key, value, merge=False)
        train(cfg, runs_dir=p.study_dir, name=path.name, progress=False)
    result = json.loads((path / "metrics.json").read_text())
    return {"path": path, "test_error": (result["splits"].get("test") or {}).get("error")}


def _stage(study, p: Plan, used: int) -> tuple[str, list[Param]]:
    """The stage that trial number ``used`` belongs to, and its (recorded, else newly narrowed) ranges."""
    bound = 0
    for index, (name, n) in enumerate(p.stages):
        bound += n
        if used < bound:
            break
    key = f"stage:{name}"
    recorded = study.user_attrs.get(key)
    if recorded is None:
        recorded = {q.key: q.describe() for q in (p.space if index == 0 else _narrowed(study, p))}
        study.set_user_attr(key, recorded)
    return name, [_with_range(q, recorded[q.key], name) for q in p.space]


def _narrowed(study, p: Plan) -> list[Param]:
    done = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE" and feasible(t)]
    return [narrow(q, [(t.value, t.user_attrs["overrides"][q.key]) for t in done]) for q in p.space]


def _with_range(q: Param, recorded: list, stage: str) -> Param:
    from dataclasses import replace

    if q.choices is not None:
        narrowed = tuple(recorded) != q.choices
        return replace(q, choices=tuple(recorded), stage=stage if narrowed else "")
    return replace(q, low=recorded[0], high=recorded[1])


def _budget_used(trials) -> int:
    """Trials that count towards --trials: all but those failed by an interruption (they are re-queued)."""
    stopped = _stopped(trials)
    return sum(1 for t in trials if t.state.name in BUDGET_STATES and t.number not in stopped)


def _sweep(study) -> list:
    """Fail the running trials whose worker is gone and re-queue stopped trials; return the study's trials.

    A worker is gone when its process no longer exists on this machine (SIGKILL, a crash), or, on any machine, when
    its trial has not beaten for ``STALE_BEATS`` of its heartbeat intervals (a power cut, a lost network). Clocks of
    the machines must agree to well within that time, as NTP keeps them."""
    import optuna

    from dltool.runs import pid_alive

    host, now = socket.gethostname(), time.time()
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        worker = t.user_attrs.get("worker") or {}
        started = t.datetime_start.timestamp() if t.datetime_start else now  # asked, not yet marked by its worker
        silent = now - max(worker.get("beat", started), t.user_attrs.get("beat", started))
        if worker.get("host") == host and not pid_alive(worker.get("pid")):
            reason = f"killed: its worker (pid {worker.get('pid')}) died"
        elif silent > STALE_BEATS * worker.get("heartbeat", TuneOptions.heartbeat):
            reason = f"killed: no heartbeat from {worker.get('host')} for {silent:.0f} s"
        else:
            continue
        try:  # the reason goes on the trial before it fails: a finished trial takes no more attributes
            study._storage.set_trial_user_attr(t._trial_id, "fail_reason", reason)
            study.tell(t.number, state=optuna.trial.TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            pass  # it finished meanwhile, or another worker failed it first
    trials = study.get_trials(deepcopy=False)
    waiting = _stopped(trials) - {t.user_attrs.get("requeued_from") for t in trials}
    again = [t for t in trials if t.number in waiting]
    for t in again:  # once, with the same parameters
        study.enqueue_trial(t.params, user_attrs={"requeued_from": t.number})
    return study.get_trials(deepcopy=False) if again else trials


def _stopped(trials) -> set[int]:
    """Trials that failed because they were stopped (Ctrl-C, SIGTERM, a dead worker), not because of themselves."""
    return {t.number for t in trials if t.state.name == "FAIL"
            and (t.user_attrs.get("fail_reason") or "").startswith(("interrupted", "killed"))}


def _storage(url: str):
    import optuna

    if url.startswith("journal:"):
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        return JournalStorage(JournalFileBackend(url.removeprefix("journal:")))
    if "://" not in url:
        raise UserError(f"bad --storage {url!r}: expected sqlite:///FILE, postgresql://USER@HOST/DB, "
                        "mysql://USER@HOST/DB or journal:FILE")
    kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    for attempt in range(OPEN_ATTEMPTS):
        try:
            storage = optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
            if url.startswith("sqlite"):
                # write-ahead logging: one fsync a commit instead of two, and readers never block the writer
                with storage.engine.connect() as connection:
                    connection.exec_driver_sql("PRAGMA journal_mode=WAL")
            return storage
        except Exception as e:
            if attempt + 1 < OPEN_ATTEMPTS and _racing(e):
                time.sleep(0.05 * 2 ** attempt)  # another worker is creating the same tables right now
                continue
            raise UserError(f"cannot open --storage {safe_url(url)}: {str(e).splitlines()[0]}") from e


def _storage_failure(e: Exception) -> bool:
    """A database that stopped working mid-study (a full disk, a lost server), as Optuna or SQLAlchemy report it."""
    import optuna
    from sqlalchemy.exc import SQLAlchemyError

    return isinstance(e, (optuna.exceptions.StorageInternalError, SQLAlchemyError))


def _root(e: BaseException) -> str:
    """The first line of the innermost cause: 'database or disk is full', not a wrapper's advice."""
    while e.__cause__ is not None:
        e = e.__cause__
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def file_system(path: Path, mounts: str | None = None) -> str:
    """The type of the file system that holds ``path``, from /proc/mounts (the longest mount point above it)."""
    try:
        mounts = Path("/proc/mounts").read_text() if mounts is None else mounts
    except OSError:
        return ""
    target, best, kind = str(Path(path).resolve()), "", ""
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ")
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, kind = point, fields[2]
    return kind


def _racing(e: Exception) -> bool:
    """Errors of several workers creating one database at the same moment: they pass when tried again."""
    text = str(e)
    return any(s in text for s in ("UNIQUE constraint failed", "already exists", "database is locked",
                                   "duplicate key value"))


def safe_url(url: str) -> str:
    """The storage URL with any password hidden: it never reaches a file, a log or the screen."""
    if "://" not in url:
        return url
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("://")[0] + "://***"


def _sampler(p: Plan, seed: int):
    """Random (the default, course 2's advice) or TPE; grid points are enqueued trials, so they need no sampler."""
    import optuna

    if p.opts.sampler == "tpe":
        constraints = (lambda t: t.user_attrs.get("constraints", [0.0] * len(p.constraints))) if p.constraints else None
        return optuna.samplers.TPESampler(seed=seed, constraints_func=constraints)
    return optuna.samplers.RandomSampler(seed=seed)


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


def _pruner(p: Plan):
    import optuna

    if p.opts.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=p.opts.min_epochs)
    if p.opts.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=p.opts.min_epochs,
                                              max_resource=p.cfg.trainer.max_epochs, reduction_factor=3)
    return optuna.pruners.NopPruner()


def _run_workers(p: Plan) -> None:
    """``--workers K``: K processes on the same storage, each with a share of the cores."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    procs = [context.Process(target=_worker_main, args=(p.opts, i), daemon=False) for i in range(p.opts.workers)]
    for proc in procs:
        proc.start()
    try:
        for proc in procs:
            proc.join()
    except KeyboardInterrupt:
        for proc in procs:
            proc.terminate()  # SIGTERM: each worker marks its running trial failed, to be re-queued on resume
        for proc in procs:
            proc.join()
        raise  # run_study says that the study was interrupted
    failed = {i: proc.exitcode for i, proc in enumerate(procs) if proc.exitcode not in (0, None)}
    stopped = ", ".join(f"{i} (exit code {code})" for i, code in failed.items())
    if len(failed) == len(procs):
        raise UserError(f"every worker of study {p.study_name} stopped with an error: {stopped}")
    if failed:  # the others took over its trial and waited for the study to end: it is complete
        import sys

        sys.stderr.write(f"dltool: warning: worker {stopped} of study {p.study_name} stopped early; the others "
                         "re-ran its trial and finished the study\n")


def _worker_main(opts: TuneOptions, index: int) -> None:
    """A worker process: rebuild the plan, open the shared study, work."""
    import sys

    try:
        p = plan(opts)
        work(p, open_study(p), worker=index)
    except (Interrupted, KeyboardInterrupt):
        sys.exit(130)  # the parent says once that the study was interrupted
    except UserError as e:
        sys.stderr.write(f"dltool: error: worker {index}: {e}\n")
        sys.exit(2)


def _write_trials_csv(p: Plan, study) -> bool:
    """Write trials.csv; False when it already held exactly this (another worker finished the same study first)."""
    from dltool.runs import write_text

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
                         "train_error": r.get("train_error"), "train_dev_error": r.get("train_dev_error"),
                         "epochs": r.get("epochs"), **{k: _hydra(a.get("overrides", {}).get(k)) for k in keys},
                         "feasible": feasible(t), "satisficing": a.get("satisficing"), "run": r.get("run"),
                         "fail_reason": a.get("fail_reason"), "seconds": seconds})
    path = p.study_dir / "trials.csv"
    if path.is_file() and path.read_text() == buffer.getvalue():
        return False
    write_text(path, buffer.getvalue())
    return True


def _plots(p: Plan, study) -> None:
    """Optuna's own matplotlib plots: history, parallel coordinates, importances, and a slice per parameter."""
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as vis

    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    if len(complete) < 2:
        return
    folder = p.study_dir / "plots"
    folder.mkdir(exist_ok=True)
    plots = {"history": lambda: vis.plot_optimization_history(study, target_name=metrics.MONITOR),
             "parallel_coordinate": lambda: vis.plot_parallel_coordinate(study, target_name=metrics.MONITOR),
             "importances": lambda: vis.plot_param_importances(study, target_name=metrics.MONITOR),
             "slice": lambda: vis.plot_slice(study, target_name=metrics.MONITOR)}
    for name, plot in plots.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Optuna marks its matplotlib plots experimental
            try:
                plot()
            except (ValueError, RuntimeError):  # e.g. importances need two parameters that vary
                plt.close("all")
                continue
        plt.gcf().savefig(folder / f"{name}.png", dpi=100, bbox_inches="tight")
        plt.close("all")


def _hydra(value) -> str:
    """A config value as a command-line override value (lists as [a,b], booleans as true/false)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ",".join(_hydra(v) for v in value) + "]"
    if value is None:
        return "null"
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _console(enabled: bool):
    if not enabled:
        return None
    from rich.console import Console

    return Console(stderr=True)


def _print_trial(console, study, number: int, stage: str, state: str, values: dict, done: int, total: int) -> None:
    """One line a finished trial: how far the study is (re-run trials count once), its number, stage, state,
    dev error, best so far, its parameters."""
    trial = study.get_trials(deepcopy=False)[number]
    best = best_trial(study)
    error = "-" if trial.value is None else f"{trial.value:.4f}"
    reason = trial.user_attrs.get("fail_reason", "")
    params = " ".join(f"{k}={_hydra(v)}" for k, v in values.items())
    best_text = "-" if best is None else f"{best.value:.4f} (#{best.number})"
    colour = {"COMPLETE": "green", "PRUNED": "yellow", "FAIL": "red"}.get(state, "white")
    console.print(f"{done:>5}/{total:<5} {'#' + str(number):<6} {stage:<8} [{colour}]{state.lower():<8}[/{colour}] "
                  f"{error:<9} {best_text:<14} {params} {reason}", highlight=False, soft_wrap=True)
