"""dltool.tune.liveness: heartbeats, and trials of dead or stopped workers failed and re-queued once."""

from __future__ import annotations

import pytest

from dltool.errors import Interrupted
from dltool.tune import TuneOptions, run_study
from tests.tune.common import FAST, options, trial_states


def test_an_interrupted_trial_is_requeued_with_the_same_parameters(tmp_path, ctrl_c_at):
    ctrl_c_at(8)  # during trial 2 (3 dev passes plus a final evaluation a trial)
    with pytest.raises(Interrupted):
        run_study(options(tmp_path, "search=lr", name="i", trials=3))
    rows = trial_states(tmp_path / "runs" / "i")
    stopped = rows[1]
    assert stopped["state"] == "FAIL" and stopped["fail_reason"] == "interrupted"
    assert [r["state"] for r in rows[2:]] == ["WAITING"]  # already queued to run again
    summary = run_study(options(tmp_path, "search=lr", name="i", trials=3))
    rows = trial_states(tmp_path / "runs" / "i")
    assert summary["n_trials"] == 4 and sum(r["state"] == "COMPLETE" for r in rows) == 3
    again = [r for r in rows[2:] if r["optimizer.lr"] == stopped["optimizer.lr"]]
    assert [r["state"] for r in again] == ["COMPLETE"]  # the same parameters, run again, once


def test_a_killed_worker_never_leaves_a_trial_running(tmp_path):
    """SIGKILL a tuning process mid-trial: on resume its trial is failed, re-queued once, and the study completes."""
    import os
    import signal
    import subprocess
    import sys
    import time

    runs = tmp_path / "runs"
    args = ["tune", *FAST[:1], "trainer.max_epochs=400", "trainer.patience=20", "search=lr", "--trials", "2", "--name", "k",
            "--runs-dir", str(runs), "--seed", "0"]
    proc = subprocess.Popen([sys.executable, "-m", "dltool", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    history = runs / "k" / "trials" / "trial-0000" / "history.csv"
    deadline = time.time() + 60
    while time.time() < deadline and not (history.is_file() and len(history.read_text().splitlines()) > 3):
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    import optuna

    study = optuna.load_study(study_name="k", storage=f"sqlite:///{runs / 'k' / 'study.db'}")
    assert [t.state.name for t in study.trials] == ["RUNNING"]  # what a kill leaves behind
    killed_lr = study.trials[0].params["optimizer.lr"]

    summary = run_study(TuneOptions(overrides=[*FAST[:1], "trainer.max_epochs=400", "trainer.patience=20", "search=lr"], trials=2, name="k",
                                    runs_dir=runs, seed=0, progress=False))
    rows = trial_states(runs / "k")
    assert rows[0]["state"] == "FAIL" and rows[0]["fail_reason"].startswith("killed: its worker (pid")
    assert sum(r["state"] == "COMPLETE" for r in rows) == 2 and summary["n_trials"] == 3
    assert any(r["state"] == "COMPLETE" and float(r["optimizer.lr"]) == killed_lr for r in rows[1:])  # exact in trials.csv
    assert len({r["optimizer.lr"] for r in rows[1:]}) == 2  # a resumed sampler does not replay its first draw


def test_a_trial_asked_but_never_tagged_is_taken_over_at_once(tmp_path, capsys):
    """A worker killed between study.ask() and writing its record leaves a RUNNING trial with no worker: the next
    run fails and re-queues it after a grace of seconds (UNTAGGED_GRACE), not after 4 heartbeats (120 s)."""
    import time

    import optuna

    from dltool.tune.liveness import STALE_BEATS, UNTAGGED_GRACE

    run_study(options(tmp_path, "search=lr", name="u", trials=1))
    study = optuna.load_study(study_name="u", storage=f"sqlite:///{tmp_path / 'runs' / 'u' / 'study.db'}")
    orphan = study.ask()  # asked, and its worker dies before tagging it
    start = time.time()
    summary = run_study(options(tmp_path, "search=lr", name="u", trials=2, progress=True))
    took = time.time() - start
    assert UNTAGGED_GRACE <= 5 < STALE_BEATS * TuneOptions.heartbeat
    assert took < UNTAGGED_GRACE + 15, took
    trials = optuna.load_study(study_name="u", storage=f"sqlite:///{tmp_path / 'runs' / 'u' / 'study.db'}").trials
    mine = trials[orphan.number]
    assert mine.state.name == "FAIL" and mine.user_attrs["fail_reason"].startswith("killed: its worker died between")
    again = [t for t in trials if t.user_attrs.get("requeued_from") == orphan.number]
    assert [t.state.name for t in again] == ["COMPLETE"]
    assert sum(t.state.name == "COMPLETE" for t in trials) == 2 and summary["n_trials"] == 3
    assert "waiting for 1 trial(s)" in capsys.readouterr().err  # it did wait, for the grace only


def test_a_heartbeat_thread_beats_while_its_block_runs():
    import time

    from dltool.tune.liveness import heartbeat

    class Trial:
        number, beats = 0, []

        def set_user_attr(self, key, value):
            self.beats.append((key, value))

    trial = Trial()
    with heartbeat(trial, 0.05):
        time.sleep(0.3)
    after = len(trial.beats)
    time.sleep(0.15)
    assert 3 <= after <= 7 and len(trial.beats) == after  # it stops with its block
    assert all(key == "beat" and value > 0 for key, value in trial.beats)


def stale_worker_is_taken_over(tmp_path, storage=None, name="h"):
    """A trial held by a worker on another machine: waited for while it beats, failed and re-queued once it stops."""
    import threading
    import time

    import optuna

    from dltool.tune.storage import open_storage

    run_study(options(tmp_path, "search=lr", name=name, trials=1, storage=storage))
    url = open_storage(storage or f"sqlite:///{tmp_path / 'runs' / name / 'study.db'}")
    study = optuna.load_study(study_name=name, storage=url)
    foreign = study.ask(fixed_distributions=study.trials[0].distributions)
    foreign.set_user_attr("worker", {"host": "elsewhere", "pid": 1, "heartbeat": 0.5, "beat": time.time()})
    foreign.set_user_attr("stage", "all")
    foreign.set_user_attr("overrides", foreign.params)
    end = time.time() + 3

    def beat():  # the other machine's worker is alive for 3 s, then silent
        while time.time() < end:
            foreign.set_user_attr("beat", time.time())
            time.sleep(0.1)

    threading.Thread(target=beat, daemon=True).start()
    summary = run_study(options(tmp_path, "search=lr", name=name, trials=3, storage=storage))
    trials = optuna.load_study(study_name=name, storage=url).trials
    mine = trials[foreign.number]
    assert mine.datetime_complete.timestamp() >= end + 4 * 0.5 - 0.2  # failed only after 4 missed beats
    assert mine.state.name == "FAIL" and mine.user_attrs["fail_reason"].startswith("killed: no heartbeat from elsewhere")
    again = [t for t in trials if t.user_attrs.get("requeued_from") == foreign.number]
    assert [t.state.name for t in again] == ["COMPLETE"] and again[0].params == mine.params
    assert sum(t.state.name == "COMPLETE" for t in trials) == 3 and summary["n_trials"] == 4


def test_a_trial_whose_worker_stops_beating_is_taken_over(tmp_path):
    stale_worker_is_taken_over(tmp_path)


def test_a_journal_study_takes_over_stale_trials_too(tmp_path):
    stale_worker_is_taken_over(tmp_path, storage=f"journal:{tmp_path / 'study.log'}", name="j")
