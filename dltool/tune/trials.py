"""The ask, train, tell loop of one worker: each trial a real ``dltool train`` run in ``runs/<study>/trials/``, its
stage's ranges, its epochs reported (dev error, the intermediate values pruners and optuna-dashboard read), its
split errors as user attributes, its satisficing metrics, its outcome told to Optuna."""

from __future__ import annotations

import errno
import math
import os
import time
from pathlib import Path

from dltool import cache, metrics
from dltool.errors import Interrupted, UserError, WriteError, first_line
from dltool.runs import split_errors
from dltool.search import Param, narrow
from dltool.tune.liveness import INTERRUPTED, WRITE_REFUSED, ask_lock, budget_used, heartbeat, sweep, worker_record
from dltool.tune.plan import Plan, sampler, trial_config, trial_seed

FULL = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)  # a write the machine refuses, however it is raised
# without a pruner, the share of a trial's training time that reporting its epochs' dev error may take: every epoch
# of epochs of 0.25 s and more, fewer of faster ones (the first and the last always); bench/tune_reports.py
REPORT_SHARE = 0.02


def work(p: Plan, study, worker: int = 0) -> None:
    """One worker: ask, train, tell, until the study holds the requested number of trials and none is running.

    Each round first sweeps the study (``liveness.sweep``): trials of dead workers are failed and, like interrupted
    ones, re-queued once. A worker with nothing left to ask waits for the trials other workers are running, so that
    the study it finishes is complete, and takes over any of them whose worker dies meanwhile.

    The worker's trials reuse what does not depend on their parameters (dltool.cache: the data set, its device copy,
    the standardization statistics, the baseline), under the key of the data config and seed."""
    with cache.reuse():
        _work(p, study, worker)


def _work(p: Plan, study, worker: int) -> None:
    import optuna

    console = _console(p.opts.progress)
    total = sum(n for _, n in p.stages)
    if console and worker == 0:
        console.print(f"[bold]{'done':>5}/{'all':<5} {'trial':<6} {'stage':<8} {'state':<8} {'dev error':<9} "
                      f"{'best so far':<14} parameters[/bold]", highlight=False, soft_wrap=True)
    waiting = 0
    while True:
        with ask_lock(p.study_dir):  # count and ask as one step, so that local workers never overshoot --trials
            trials = sweep(study)
            used = budget_used(trials)
            if used < total:
                stage, space = _stage(study, p, used)
                trial = study.ask()
                try:
                    trial.set_user_attr("worker", worker_record(p.opts.heartbeat))  # at once: see liveness._dead
                except optuna.exceptions.UpdateFinishedTrialError:
                    continue  # another machine's sweep took it for a dead worker's (clocks apart): ask again
                study.sampler = sampler(p, trial_seed(p.cfg.seed, trial.number))
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


def run_trial(p: Plan, study, trial, values: dict) -> str:
    """Train one configuration and tell Optuna the outcome; returns the trial's final state.

    A write the machine refused (a full disk: ``WriteError``) is not the configuration's fault: the trial fails as
    stopped (re-queued, not counted) and the study stops with one line, since every later trial would fail too."""
    import optuna

    from dltool.train import StopTraining, train

    cfg = trial_config(p.cfg, values)
    trial.set_user_attr("overrides", values)
    if p.opts.workers > 1:
        cfg.trainer.threads = max(1, (os.cpu_count() or 1) // p.opts.workers)

    pruning = p.opts.pruner != "none"
    curve = {"spent": 0.0, "reported": 0, "last": None}  # seconds spent reporting, the last epoch reported and seen

    def report(row: dict) -> None:
        """Dev error as the trial's intermediate value of the epoch, in every study: optuna-dashboard draws these
        curves. Each is a storage write (1-3 ms on SQLite, more on a server): a pruner reads every one, else an epoch is
        reported while reporting has taken at most REPORT_SHARE of the training time so far (README)."""
        curve["last"] = row
        if pruning or curve["spent"] <= REPORT_SHARE * row["seconds"]:
            start = time.perf_counter()
            trial.report(row[metrics.MONITOR], row["epoch"])
            curve["spent"] += time.perf_counter() - start
            curve["reported"] = row["epoch"]
        if pruning and row["epoch"] >= p.opts.min_epochs and trial.should_prune():  # whatever the pruner, never before
            raise StopTraining("pruned")

    run_name = f"trial-{trial.number:04d}"
    trials_dir = p.study_dir / "trials"
    try:
        with heartbeat(trial, p.opts.heartbeat):
            result = train(cfg, runs_dir=trials_dir, name=run_name, progress=False,
                           on_epoch=report, report_test=False)
    except Interrupted:
        _fail(study, trial, INTERRUPTED)
        raise
    except optuna.exceptions.UpdateFinishedTrialError:
        raise  # not the trial's own failure: see work()
    except (WriteError, OSError) as e:
        refused = _refused_write(e)
        if refused is None:
            return _fail(study, trial, f"{type(e).__name__}: {e}")
        _fail(study, trial, f"{WRITE_REFUSED}: {refused}")
        raise WriteError(f"study {p.study_name} stopped: {refused}; free space (or fix permissions) and run the same "
                         "command to resume") from e
    except UserError as e:  # the space produced a value the model refuses
        return _fail(study, trial, str(e))
    except Exception as e:  # a bug or a fault in one trial must not end the study
        return _fail(study, trial, f"{type(e).__name__}: {e}")
    last = curve["last"]
    if last is not None and last["epoch"] > curve["reported"]:  # the curve ends where training did
        trial.report(last[metrics.MONITOR], last["epoch"])
    splits = result["splits"]
    # each user attribute is a storage transaction: the run's folder and epochs are one record, but each split's
    # error is a scalar of its own, which optuna-dashboard can sort and plot (train_error, train_dev_error, dev_error)
    trial.set_user_attr("result", {"run": str(trials_dir / run_name), "epochs": result["epochs"]})
    for k, e in split_errors(result).items():
        if k != "test":
            trial.set_user_attr(f"{k}_error", e)
    if result["status"] == "pruned":
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        return "PRUNED"
    dev_loss = (splits.get("dev") or {}).get("loss")
    if result["status"] == "diverged" or dev_loss is None or not math.isfinite(dev_loss):
        return _fail(study, trial, "diverged: the loss became NaN or infinite")
    if p.constraints:
        measured = {**satisficing(trials_dir / run_name), **{  # and the task's dev figures a constraint names
            name: splits["dev"][name] for name, _, _ in p.constraints if name in splits["dev"]}}
        trial.set_user_attr("satisficing", measured)
        trial.set_user_attr("constraints", [_violation(measured[name], op, value) for name, op, value in p.constraints])
    study.tell(trial, splits["dev"]["error"])
    return "COMPLETE"


def _refused_write(e: Exception) -> str | None:
    """The one line of a write the machine refused (dltool's WriteError, or a full disk raised as a bare OSError by
    a library), or None for any other error."""
    if isinstance(e, WriteError):
        return first_line(e)
    if isinstance(e, OSError) and e.errno in FULL:
        return f"cannot write {e.filename}: {e.strerror}" if e.filename else first_line(e)
    return None


def _fail(study, trial, reason: str) -> str:
    import optuna

    trial.set_user_attr("fail_reason", reason)
    study.tell(trial, state=optuna.trial.TrialState.FAIL)
    return "FAIL"


def satisficing(run_dir: Path) -> dict:
    """Latency per example at batch size 1 (ms, on dev) and parameter count of a run's best checkpoint."""
    from dltool.restore import latency, restore
    from dltool.models import count_parameters

    setup, module = restore(run_dir)
    x = setup.splits["dev"]["x"]
    speed = latency(module, x, autocast=setup.fabric.autocast)  # timed in the run's precision, as evaluate does
    return {"latency_ms": speed["latency_ms_per_example"], "parameters": count_parameters(module)}


def _violation(value: float, op: str, threshold: float) -> float:
    """Optuna's convention: a constraint value <= 0 is satisfied."""
    return value - threshold if op in ("<=", "<") else threshold - value


def feasible(trial) -> bool:
    return all(c <= 0 for c in trial.user_attrs.get("constraints", []))


def best_trial(study):
    """The completed, feasible trial with the lowest dev error (None when there is none)."""
    done = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE" and feasible(t)]
    return min(done, key=lambda t: (t.value, t.number)) if done else None


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


def _console(enabled: bool):
    if not enabled:
        return None
    from rich.console import Console

    return Console(stderr=True)


def _print_trial(console, study, number: int, stage: str, state: str, values: dict, done: int, total: int) -> None:
    """One line a finished trial: how far the study is (re-run trials count once), its number, stage, state,
    dev error, best so far, its parameters (4 significant digits: the exact values are in trials.csv)."""
    trial = study.get_trials(deepcopy=False)[number]
    best = best_trial(study)
    error = "-" if trial.value is None else f"{trial.value:.4f}"
    reason = trial.user_attrs.get("fail_reason", "")
    from rich.markup import escape

    params = escape(" ".join(f"{k}={_short(v)}" for k, v in values.items()))
    reason = escape(reason)
    best_text = "-" if best is None else f"{best.value:.4f} (#{best.number})"
    colour = {"COMPLETE": "green", "PRUNED": "yellow", "FAIL": "red"}.get(state, "white")
    console.print(f"{done:>5}/{total:<5} {'#' + str(number):<6} {stage:<8} [{colour}]{state.lower():<8}[/{colour}] "
                  f"{error:<9} {best_text:<14} {params} {reason}", highlight=False, soft_wrap=True)


def _short(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return "[" + ",".join(_short(v) for v in value) + "]"
    return str(value).lower() if isinstance(value, bool) else str(value)
