"""dltool.tune.trials: a trial's outcome (complete, diverged, pruned, infeasible, stopped by a refused write)."""

from __future__ import annotations

import pytest

from dltool.errors import UserError
from dltool.tune import run_study
from tests.tune.common import FAST, options, space, trial_states


def test_a_diverging_trial_fails_and_the_study_goes_on(tmp_path):
    search = space(tmp_path, "params:\n  optimizer.lr: {choices: [0.05, 1.0e+12]}\n")
    summary = run_study(options(tmp_path, search, "optimizer=sgd", "trainer.max_epochs=4", name="nan", sampler="grid"))
    rows = {float(r["optimizer.lr"]): r for r in trial_states(tmp_path / "runs" / "nan")}
    assert rows[1e12]["state"] == "FAIL" and rows[1e12]["fail_reason"].startswith("diverged")
    assert rows[0.05]["state"] == "COMPLETE"
    assert summary["best"]["params"] == {"optimizer.lr": 0.05}


def test_constraints_choose_the_best_feasible_trial(tmp_path):
    # [8]: 64*8 + 8 + 8*10 + 10 = 610 parameters, feasible; [256,256]: 85,002, not
    search = space(tmp_path, "params:\n  model.hidden: {choices: [[8], [256, 256]]}\n")
    summary = run_study(options(tmp_path, search, name="c", sampler="grid", constraints=["parameters<=1000"]))
    rows = {r["model.hidden"]: r for r in trial_states(tmp_path / "runs" / "c")}
    assert rows["[8]"]["feasible"] == "True" and rows["[256,256]"]["feasible"] == "False"
    assert rows["[8]"]["satisficing"].endswith("'parameters': 610}")
    assert summary["best"]["params"] == {"model.hidden": [8]}
    assert summary["infeasible"] == [int(rows["[256,256]"]["number"])]
    assert float(rows["[256,256]"]["dev_error"]) <= float(rows["[8]"]["dev_error"])  # better, yet not chosen


def test_pruning_stops_poor_trials(tmp_path):
    summary = run_study(options(tmp_path, "search=lr", "trainer.max_epochs=8", name="p", trials=12, pruner="median",
                                min_epochs=1))
    states = [r["state"] for r in trial_states(tmp_path / "runs" / "p")]
    assert summary["n_trials"] == 12 and "PRUNED" in states


def test_no_trial_is_pruned_before_its_min_epochs(tmp_path, monkeypatch):
    """A pruner that would stop every trial at its first epoch: each trial still runs --min-epochs epochs, then stops."""
    import csv

    import optuna

    import dltool.tune.storage

    monkeypatch.setattr(dltool.tune.storage, "pruner", lambda p: optuna.pruners.ThresholdPruner(upper=-1.0))
    run_study(options(tmp_path, "search=lr", "trainer.max_epochs=6", name="m", trials=3, pruner="median", min_epochs=3))
    rows = trial_states(tmp_path / "runs" / "m")
    assert [r["state"] for r in rows] == ["PRUNED"] * 3 and [r["epochs"] for r in rows] == ["3"] * 3
    for r in rows:
        history = list(csv.DictReader(open(f"{r['run']}/history.csv")))
        assert [row["epoch"] for row in history] == ["1", "2", "3"]


def test_a_write_the_machine_refuses_stops_the_study_and_the_same_command_completes_it(tmp_path, monkeypatch):
    """A full disk from trial 2 on: trial 2 fails as stopped (not counted, re-queued with its parameters), the study
    stops in one line (exit code 2), and once there is space the same command runs the whole budget."""
    import errno
    import tempfile

    from typer.testing import CliRunner

    from dltool.cli import app

    real = tempfile.mkstemp

    def full_from_trial_2(*args, dir=None, **kwargs):  # what dltool.runs.write_atomic meets on a full disk
        if dir is not None and "trial-" in str(dir) and int(str(dir).split("trial-")[1][:4]) >= 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", full_from_trial_2)
    runs = tmp_path / "runs"
    args = ["tune", *FAST, "search=lr", "--trials", "4", "--name", "w", "--runs-dir", str(runs)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and result.stdout == ""
    *progress, last = result.stderr.splitlines()  # the progress rows, then one line
    assert len(progress) == 3 and "dltool" not in "".join(progress)
    assert last == (f"dltool: error: study w stopped: cannot write {runs}/w/trials/trial-0002/config.yaml: No space "
                    "left on device; free space (or fix permissions) and run the same command to resume")
    rows = trial_states(runs / "w")
    assert [r["state"] for r in rows] == ["COMPLETE", "COMPLETE", "FAIL", "WAITING"]  # re-queued at once
    assert rows[2]["fail_reason"].startswith("write refused: cannot write")

    monkeypatch.setattr(tempfile, "mkstemp", real)  # space freed
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.stderr
    rows = trial_states(runs / "w")
    assert sum(r["state"] == "COMPLETE" for r in rows) == 4 and len(rows) == 5
    again = [r for r in rows if r["optimizer.lr"] == rows[2]["optimizer.lr"]]
    assert [r["state"] for r in again] == ["FAIL", "COMPLETE"]  # the refused trial, run again with its parameters


def test_a_bare_full_disk_error_counts_as_a_refused_write_and_other_errors_do_not():
    import errno

    from dltool.errors import WriteError
    from dltool.tune.trials import _refused_write

    assert _refused_write(WriteError("cannot write x: Disk quota exceeded")) == "cannot write x: Disk quota exceeded"
    assert _refused_write(OSError(errno.ENOSPC, "No space left on device", "h.csv")) == \
        "cannot write h.csv: No space left on device"
    assert _refused_write(OSError(errno.ENOENT, "No such file or directory", "x")) is None
    assert _refused_write(UserError("model.keep_prob must be a number in (0, 1]")) is None


def test_a_worker_whose_trial_was_failed_by_another_goes_on(tmp_path, monkeypatch):
    """A machine suspended past 4 heartbeats: another worker failed its trial meanwhile. Its own tell then finds the
    trial finished; the worker counts it as failed and goes on, and the study still completes with the re-run."""
    import optuna

    import dltool.train

    real_train, calls = dltool.train.train, []

    def train_while_failed_elsewhere(cfg, **kwargs):
        result = real_train(cfg, **kwargs)
        if not calls:  # the first trial: failed by "another worker" while it trained
            study = optuna.load_study(study_name="e", storage=f"sqlite:///{tmp_path / 'runs' / 'e' / 'study.db'}")
            running = study.get_trials(states=(optuna.trial.TrialState.RUNNING,))[0]
            study._storage.set_trial_user_attr(running._trial_id, "fail_reason", "killed: no heartbeat from elsewhere")
            study.tell(running.number, state=optuna.trial.TrialState.FAIL)
        calls.append(1)
        return result

    monkeypatch.setattr(dltool.train, "train", train_while_failed_elsewhere)
    summary = run_study(options(tmp_path, "search=lr", name="e", trials=2))
    rows = trial_states(tmp_path / "runs" / "e")
    assert rows[0]["state"] == "FAIL" and rows[0]["fail_reason"].startswith("killed: no heartbeat")
    assert [r["state"] for r in rows[1:]] == ["COMPLETE", "COMPLETE"] and summary["n_trials"] == 3
    assert rows[0]["optimizer.lr"] in {r["optimizer.lr"] for r in rows[1:]}  # re-run with its parameters


@pytest.mark.parametrize("value,shown", [(0.000123456789, "0.0001235"), ([256, 256], "[256,256]"), (True, "true")])
def test_a_progress_row_shows_four_significant_digits(value, shown):
    from dltool.tune.trials import _short

    assert _short(value) == shown
