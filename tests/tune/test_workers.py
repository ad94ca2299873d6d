"""dltool.tune.workers: worker processes on one storage, started together, stopped, killed."""

from __future__ import annotations

import json

import pytest

from dltool.errors import Interrupted, UserError, WriteError
from dltool.tune import TuneOptions, run_study
from tests.tune.common import options, trial_states


def test_two_workers_share_one_storage(tmp_path, monkeypatch):
    """`--workers 2`: this process is worker 0 and spawns one more; they share the study's trials."""
    import multiprocessing
    import os

    import optuna

    import dltool.tune.study as study_module

    spawned = []
    start = study_module.start_workers
    monkeypatch.setattr(study_module, "start_workers", lambda opts: spawned.append(start(opts)) or spawned[-1])
    summary = run_study(options(tmp_path, "search=lr", name="w", trials=4, workers=2))
    rows = trial_states(tmp_path / "runs" / "w")
    assert summary["n_trials"] == 4 and len(rows) == 4
    assert sorted(int(r["number"]) for r in rows) == [0, 1, 2, 3] and all(r["state"] == "COMPLETE" for r in rows)
    assert len({r["optimizer.lr"] for r in rows}) == 4  # the workers sample with different seeds
    assert [len(w.procs) for w in spawned] == [1] and multiprocessing.active_children() == []
    study = optuna.load_study(study_name="w", storage=f"sqlite:///{tmp_path / 'runs' / 'w' / 'study.db'}")
    pids = {t.user_attrs["worker"]["pid"] for t in study.get_trials()}
    assert os.getpid() in pids and pids <= {os.getpid(), spawned[0].procs[0].pid}


@pytest.mark.slow  # five processes starting torch at once: 20 s on 2 cores (two workers share a study in the default suite)
def test_many_workers_starting_at_once_on_one_sqlite_file(tmp_path):
    """Five separate `dltool tune` processes on a new SQLite study: every trial completes once, with its own number and
    its own draw, no "database is locked" escapes, and every process finishes with the whole study."""
    import subprocess
    import sys

    args = [sys.executable, "-m", "dltool", "tune", "data=digits", "trainer.max_epochs=1", "trainer.threads=1", "search=lr",
            "--trials", "10", "--name", "s", "--runs-dir", str(tmp_path / "runs"), "--json"]
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(5)]
    outputs = [proc.communicate(timeout=300) for proc in procs]
    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode == 0 and "locked" not in err, err
        assert json.loads(out)["n_trials"] == 10
    rows = trial_states(tmp_path / "runs" / "s")
    assert sorted(int(r["number"]) for r in rows) == list(range(10)) and all(r["state"] == "COMPLETE" for r in rows)
    assert len({r["optimizer.lr"] for r in rows}) == 10
    assert len(list((tmp_path / "runs" / "s").glob("best-trial-*"))) == 1


def test_a_stopped_worker_process_exits_quietly_and_the_parent_speaks(monkeypatch, capsys):
    import dltool.tune.workers as workers

    for error, code in ((Interrupted("run trial-0001 interrupted"), 130), (WriteError("cannot write x"), 75)):
        monkeypatch.setattr(workers, "plan", lambda opts, error=error: (_ for _ in ()).throw(error))
        with pytest.raises(SystemExit) as stop:
            workers.worker_main(TuneOptions(), 0)
        assert stop.value.code == code and capsys.readouterr().err == ""
    monkeypatch.setattr(workers, "plan", lambda opts: (_ for _ in ()).throw(UserError("bad")))
    with pytest.raises(SystemExit) as stop:
        workers.worker_main(TuneOptions(), 1)
    assert stop.value.code == 2 and capsys.readouterr().err == "dltool: error: worker 1: bad\n"


@pytest.mark.slow  # 20 s on 2 cores; tests/tune/test_liveness.py takes over a killed worker's trial in the default suite
def test_a_worker_killed_among_several_is_taken_over_by_the_others(tmp_path):
    """`--workers 2`, one worker SIGKILLed mid-trial: the other fails its trial, re-runs it, and the command ends 0."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import optuna

    runs = tmp_path / "runs"
    args = [sys.executable, "-m", "dltool", "tune", "data=digits", "trainer.max_epochs=300", "trainer.patience=40",
            "search=lr", "--trials", "4", "--workers", "2", "--name", "m", "--runs-dir", str(runs), "--seed", "0"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"sqlite:///{runs / 'm' / 'study.db'}"
    victim, deadline = None, time.time() + 120
    while victim is None and time.time() < deadline:
        time.sleep(0.3)
        try:
            running = optuna.load_study(study_name="m", storage=url).get_trials(states=(optuna.trial.TrialState.RUNNING,))
        except Exception:  # the study is not created yet
            continue
        started = [t for t in running if "worker" in t.user_attrs and t.user_attrs.get("stage")
                   and t.user_attrs["worker"]["pid"] != proc.pid]  # a spawned worker, not the command's process
        if started and (runs / "m" / "trials" / f"trial-{started[0].number:04d}" / "history.csv").is_file():
            victim = started[0]
    assert victim is not None
    os.kill(victim.user_attrs["worker"]["pid"], signal.SIGKILL)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert "stopped early; the others re-ran its trial" in err
    rows = trial_states(runs / "m")
    killed = [r for r in rows if r["number"] == str(victim.number)][0]
    assert killed["state"] == "FAIL" and killed["fail_reason"].startswith("killed: its worker (pid")
    assert sum(r["state"] == "COMPLETE" for r in rows) == 4
    assert any(r["state"] == "COMPLETE" and r["optimizer.lr"] == killed["optimizer.lr"] for r in rows)


def test_workers_started_before_the_plan_are_stopped_when_the_study_cannot_start(tmp_path, capfd):
    """run_study starts its workers first (their imports overlap its own); a mistake it finds stops them: one line,
    the parent's, and no process left behind."""
    import multiprocessing

    with pytest.raises(UserError, match="unknown --sampler"):
        run_study(options(tmp_path, "search=lr", name="x", trials=2, workers=2, sampler="nope"))
    assert multiprocessing.active_children() == []
    assert "worker" not in capfd.readouterr().err
    assert not (tmp_path / "runs" / "x").exists()


def test_a_worker_waits_for_the_go_before_it_opens_the_study(tmp_path, monkeypatch):
    """In-process: worker_main plans, then waits on the event, and only then opens the study."""
    import threading

    import dltool.tune.workers as workers

    events = []
    monkeypatch.setattr(workers, "plan", lambda opts: events.append("plan") or "plan")
    monkeypatch.setattr(workers, "open_study", lambda p: events.append("open") or "study")
    monkeypatch.setattr(workers, "work", lambda p, study, worker: events.append(("work", p, study, worker)))
    go = threading.Event()
    thread = threading.Thread(target=workers.worker_main, args=(TuneOptions(), 3, go))
    thread.start()
    thread.join(0.3)
    assert events == ["plan"] and thread.is_alive()
    go.set()
    thread.join(5)
    assert events == ["plan", "open", ("work", "plan", "study", 3)]
