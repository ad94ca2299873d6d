from __future__ import annotations

import csv
import json

import pytest

from dltool.errors import Interrupted, UserError
from dltool.tune import TuneOptions, run_study

FAST = ["data=digits", "trainer.max_epochs=3"]


def space(tmp_path, text: str) -> str:
    path = tmp_path / "space.yaml"
    path.write_text(text)
    return f"search={path}"


def options(tmp_path, *overrides, **kw) -> TuneOptions:
    return TuneOptions(overrides=[*FAST, *overrides], runs_dir=tmp_path / "runs", progress=False, **kw)


def trial_states(summary_dir) -> list[dict]:
    return list(csv.DictReader((summary_dir / "trials.csv").open()))


def test_a_real_study_with_coarse_to_fine_stages(tmp_path):
    summary = run_study(options(tmp_path, "search=lr", name="s", stages="coarse:4,fine:2"))
    assert summary["study"] == "s" and summary["n_trials"] == 6
    coarse, fine = summary["stages"]
    assert coarse["ranges"] == {"optimizer.lr": [1e-4, 1.0]}
    lo, hi = fine["ranges"]["optimizer.lr"]
    assert (lo, hi) != (1e-4, 1.0) and lo < summary["best"]["params"]["optimizer.lr"] < hi  # narrowed around the best
    rows = trial_states(tmp_path / "runs" / "s")
    assert [r["stage"] for r in rows] == ["coarse"] * 4 + ["fine"] * 2
    fine_lrs = [float(r["optimizer.lr"]) for r in rows if r["stage"] == "fine"]
    assert all(lo <= v <= hi for v in fine_lrs)
    completed = [r for r in rows if r["state"] == "COMPLETE"]
    assert float(summary["best"]["value"]) == min(float(r["dev_error"]) for r in completed)
    best_run = tmp_path / "runs" / "s" / f"best-trial-{summary['best']['trial']:04d}"
    metrics = json.loads((best_run / "metrics.json").read_text())
    assert summary["best"]["test_error"] == metrics["splits"]["test"]["error"]
    trial_metrics = json.loads((tmp_path / "runs" / "s" / "trials" / "trial-0000" / "metrics.json").read_text())
    assert trial_metrics["splits"]["test"] is None  # trials never look at test
    assert (tmp_path / "runs" / "s" / "best.yaml").is_file()
    assert {p.name for p in (tmp_path / "runs" / "s" / "plots").iterdir()} >= {"history.png", "slice.png"}


def test_resuming_keeps_completed_trials_and_runs_only_the_rest(tmp_path):
    first = run_study(options(tmp_path, "search=lr", name="r", trials=3))
    rows = trial_states(tmp_path / "runs" / "r")
    again = run_study(options(tmp_path, "search=lr", name="r", trials=5))
    rows_after = trial_states(tmp_path / "runs" / "r")
    assert first["n_trials"] == 3 and again["n_trials"] == 5 and len(rows_after) == 5
    assert rows_after[:3] == [{**r, "seconds": r["seconds"]} for r in rows]  # the first three untouched
    assert run_study(options(tmp_path, "search=lr", name="r", trials=5))["n_trials"] == 5  # nothing left to do


def test_a_study_of_the_same_name_with_other_settings_is_refused(tmp_path):
    run_study(options(tmp_path, "search=lr", name="x", trials=1))
    with pytest.raises(UserError, match="already exists with other overrides"):
        run_study(options(tmp_path, "search=lr", "optimizer=sgd", name="x", trials=2))


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
    assert summary["best"]["params"] == {"model.hidden": [8]}
    assert summary["infeasible"] == [int(rows["[256,256]"]["number"])]
    assert float(rows["[256,256]"]["dev_error"]) <= float(rows["[8]"]["dev_error"])  # better, yet not chosen


def test_pruning_stops_poor_trials(tmp_path):
    summary = run_study(options(tmp_path, "search=lr", "trainer.max_epochs=8", name="p", trials=12, pruner="median",
                                min_epochs=1))
    states = [r["state"] for r in trial_states(tmp_path / "runs" / "p")]
    assert summary["n_trials"] == 12 and "PRUNED" in states


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


def test_two_workers_share_one_storage(tmp_path):
    summary = run_study(options(tmp_path, "search=lr", name="w", trials=4, workers=2))
    rows = trial_states(tmp_path / "runs" / "w")
    assert summary["n_trials"] == 4 and len(rows) == 4
    assert sorted(int(r["number"]) for r in rows) == [0, 1, 2, 3] and all(r["state"] == "COMPLETE" for r in rows)
    assert len({r["optimizer.lr"] for r in rows}) == 4  # the workers sample with different seeds


@pytest.mark.parametrize(
    "kw,extra,message",
    [
        ({}, ["search=nope"], "unknown search space 'nope'"),
        ({"sampler": "cmaes"}, [], "unknown --sampler 'cmaes'; choose from: random, tpe, grid"),
        ({"pruner": "asha"}, [], "unknown --pruner 'asha'"),
        ({"storage": "nonsense"}, [], "bad --storage 'nonsense'"),
        ({"storage": "foo://x"}, [], "cannot open --storage foo://x"),
        ({"constraints": ["f1>=0.5"]}, [], "constraints are satisficing metrics: latency_ms, parameters"),
        ({"trials": 0}, [], "--trials must be at least 1"),
        ({"heartbeat": 0}, [], "--heartbeat must be a positive number of seconds"),
        ({"sampler": "grid", "stages": "a:1,b:1"}, [], "--sampler grid runs one stage"),
        ({}, ["model.hidden=[8]", "optimizer=sgd"], "the config has no key optimizer.beta1"),
    ],
)
def test_mistakes(tmp_path, kw, extra, message):
    with pytest.raises(UserError, match=message.replace("[", r"\[").replace("(", r"\(")):
        run_study(options(tmp_path, *extra, **kw))
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_empty_search_space(tmp_path):
    with pytest.raises(UserError, match="is empty"):
        run_study(options(tmp_path, space(tmp_path, "params:\n")))


def test_the_cli_prints_the_contract_json(tmp_path):
    from typer.testing import CliRunner

    from dltool.cli import app

    result = CliRunner().invoke(app, ["tune", *FAST, "search=lr", "--trials", "2", "--runs-dir", str(tmp_path), "--json",
                                      "--storage", "postgresql://me:secret@localhost:1/none"])
    assert result.exit_code == 2 and "secret" not in result.output  # a storage password is never printed
    result = CliRunner().invoke(app, ["tune", *FAST, "search=lr", "--trials", "2", "--runs-dir", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert set(summary) >= {"study", "storage", "n_trials", "stages", "best"}
    assert set(summary["best"]) >= {"value", "params", "run"} and summary["study"] == "lr-digits"


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
    assert any(r["state"] == "COMPLETE" and float(r["optimizer.lr"]) == pytest.approx(killed_lr, rel=1e-4) for r in rows[1:])
    assert len({r["optimizer.lr"] for r in rows[1:]}) == 2  # a resumed sampler does not replay its first draw


def test_a_heartbeat_thread_beats_while_its_block_runs():
    import time

    from dltool.tune import _heartbeat

    class Trial:
        number, beats = 0, []

        def set_user_attr(self, key, value):
            self.beats.append((key, value))

    trial = Trial()
    with _heartbeat(trial, 0.05):
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

    from dltool.tune import _storage

    run_study(options(tmp_path, "search=lr", name=name, trials=1, storage=storage))
    url = _storage(storage or f"sqlite:///{tmp_path / 'runs' / name / 'study.db'}")
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


def test_the_file_system_of_a_path_comes_from_the_longest_mount_point(tmp_path):
    from dltool.tune import file_system

    mounts = ("overlay / overlay rw 0 0\n"
              f"server:/export {tmp_path}/shared nfs4 rw 0 0\n"
              f"tmpfs {tmp_path}/shared/tmp tmpfs rw 0 0\n")
    assert file_system(tmp_path / "shared" / "study.db", mounts) == "nfs4"
    assert file_system(tmp_path / "shared" / "tmp" / "study.db", mounts) == "tmpfs"
    assert file_system(tmp_path / "sharedother" / "study.db", mounts) == "overlay"


def test_sqlite_on_a_network_file_system_is_warned_about(tmp_path, monkeypatch, capsys):
    import dltool.tune as tune

    monkeypatch.setattr(tune, "file_system", lambda path, mounts=None: "nfs4")
    run_study(options(tmp_path, "search=lr", name="n", trials=1))
    err = capsys.readouterr().err
    assert "network file system (nfs4)" in err and "--storage postgresql://" in err and "journal:FILE" in err


def test_ctrl_c_between_trials_interrupts_the_study_in_one_line(tmp_path, monkeypatch):
    import dltool.tune as tune

    def interrupted(p, study, worker=0):
        raise KeyboardInterrupt  # Ctrl-C while asking or waiting, outside any training

    monkeypatch.setattr(tune, "work", interrupted)
    with pytest.raises(Interrupted, match="study c interrupted; run the same command to resume it"):
        run_study(options(tmp_path, "search=lr", name="c", trials=2))
    assert (tmp_path / "runs" / "c" / "trials.csv").is_file()


def test_a_stopped_worker_process_exits_quietly_and_the_parent_speaks(monkeypatch, capsys):
    import dltool.tune as tune

    monkeypatch.setattr(tune, "plan", lambda opts: (_ for _ in ()).throw(Interrupted("run trial-0001 interrupted")))
    with pytest.raises(SystemExit) as stop:
        tune._worker_main(TuneOptions(), 0)
    assert stop.value.code == 130 and capsys.readouterr().err == ""
    monkeypatch.setattr(tune, "plan", lambda opts: (_ for _ in ()).throw(UserError("bad")))
    with pytest.raises(SystemExit) as stop:
        tune._worker_main(TuneOptions(), 1)
    assert stop.value.code == 2 and capsys.readouterr().err == "dltool: error: worker 1: bad\n"


def test_a_storage_that_fails_mid_study_is_one_line(tmp_path, monkeypatch):
    import sqlite3

    import optuna

    import dltool.tune as tune

    def full(*args, **kwargs):
        try:
            raise sqlite3.OperationalError("database or disk is full")
        except sqlite3.OperationalError as e:
            raise optuna.exceptions.StorageInternalError("An exception is raised during the commit.") from e

    monkeypatch.setattr(tune, "run_trial", full)
    with pytest.raises(UserError, match=r"the storage of study f \(sqlite:///.*\) failed: database or disk is full; "
                                        "finished trials are kept"):
        run_study(options(tmp_path, "search=lr", name="f", trials=2))


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
        started = [t for t in running if "worker" in t.user_attrs and t.user_attrs.get("stage")]
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
