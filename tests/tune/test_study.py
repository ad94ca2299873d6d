"""dltool.tune.study: run_study end to end: stages, resuming, the command line, and each way a study stops."""

from __future__ import annotations

import json

import pytest

from dltool.errors import Interrupted, UserError
from dltool.tune import run_study
from tests.tune.common import FAST, options, trial_states


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
    assert metrics["splits"]["dev"]["error"] == summary["best"]["value"]  # the retrain is the winner, exactly
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
    assert rows_after[:3] == rows  # the first three untouched
    assert run_study(options(tmp_path, "search=lr", name="r", trials=5))["n_trials"] == 5  # nothing left to do


def test_the_cli_prints_the_contract_json(tmp_path):
    from typer.testing import CliRunner

    from dltool.cli import app

    result = CliRunner().invoke(app, ["tune", *FAST, "search=lr", "--trials", "2", "--runs-dir", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert set(summary) >= {"study", "storage", "n_trials", "stages", "best"}
    assert set(summary["best"]) >= {"value", "params", "run", "command"} and summary["study"] == "lr-digits"


def test_ctrl_c_between_trials_interrupts_the_study_in_one_line(tmp_path, monkeypatch):
    import dltool.tune.study as study

    def interrupted(p, study, worker=0):
        raise KeyboardInterrupt  # Ctrl-C while asking or waiting, outside any training

    monkeypatch.setattr(study, "work", interrupted)
    with pytest.raises(Interrupted, match="study c interrupted; run the same command to resume it"):
        run_study(options(tmp_path, "search=lr", name="c", trials=2))
    assert (tmp_path / "runs" / "c" / "trials.csv").is_file()


def test_a_storage_that_fails_mid_study_is_one_line(tmp_path, monkeypatch):
    import sqlite3

    import optuna

    import dltool.tune.trials as trials

    def full(*args, **kwargs):
        try:
            raise sqlite3.OperationalError("database or disk is full")
        except sqlite3.OperationalError as e:
            raise optuna.exceptions.StorageInternalError("An exception is raised during the commit.") from e

    monkeypatch.setattr(trials, "run_trial", full)
    with pytest.raises(UserError, match=r"the storage of study f \(sqlite:///.*\) failed: database or disk is full; "
                                        "finished trials are kept"):
        run_study(options(tmp_path, "search=lr", name="f", trials=2))
