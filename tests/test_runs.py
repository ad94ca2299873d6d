"""``dltool runs``: the config keys the runs differ in, epochs, best epoch, path, ISO start time, --all (study trials,
winners, debug runs), diverged runs without figures of a broken model, strict JSON. Run folders made by hand."""

from __future__ import annotations

import csv
import datetime
import functools
import io
import json
import os

import pytest

from dltool.config import compose, to_yaml
from tests.conftest import invoke

STARTED = 1_780_000_000  # 2026-05-28 20:26:40 UTC: each run's config.yaml gets this mtime plus its index


def strict(text: str):
    return json.loads(text, parse_constant=lambda c: pytest.fail(f"bare {c} in JSON"))


@functools.lru_cache
def config_text(overrides: tuple) -> str:
    return to_yaml(compose(["data=digits", *overrides]))


def make_run(folder, overrides, index, status="completed", dev=0.2, epochs=10, best=7, debug=None):
    """A run folder by hand: the config of ``overrides`` and a metrics.json."""
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(config_text(tuple(overrides)))
    os.utime(folder / "config.yaml", (STARTED + index, STARTED + index))
    splits = {k: {"error": dev, "loss": 0.5, "n": 100} for k in ("train", "train_dev", "dev", "test")}
    metrics = {"run": folder.name, "task": "classify", "status": status, "splits": splits, "human_error": 0.01,
               "baseline": None, "epochs": epochs, "best_epoch": best, "seconds": 1.0}
    if debug:
        metrics["debug"] = debug
    (folder / "metrics.json").write_text(json.dumps(metrics))
    return folder


@pytest.fixture
def runs(tmp_path):
    runs = tmp_path / "runs"
    make_run(runs / "fast", ["optimizer.lr=0.1"], 0, dev=0.3, epochs=12, best=4)
    make_run(runs / "slow", ["optimizer.lr=0.001"], 1, dev=0.2)
    make_run(runs / "dbg", ["trainer.max_epochs=1"], 2, epochs=1, best=1, debug={"mode": "fast_dev_run", "batches": 1})
    study = runs / "lr-digits"
    study.mkdir()
    (study / "best.yaml").write_text("overrides: {}\n")
    make_run(study / "trials" / "trial-0000", ["optimizer.lr=0.01"], 3)
    make_run(study / "best-trial-0000", ["optimizer.lr=0.01"], 4)
    return runs


def test_runs_show_what_differs_epochs_path_and_an_iso_start(runs):
    rows = strict(invoke("runs", "--runs-dir", runs, "--json").stdout)["runs"]
    assert [r["name"] for r in rows] == ["fast", "slow"]  # by start; no debug run, no study's runs
    assert [r["params"] for r in rows] == [{"optimizer.lr": 0.1}, {"optimizer.lr": 0.001}]  # nothing else differs
    assert [(r["epochs"], r["best_epoch"]) for r in rows] == [(12, 4), (10, 7)]
    assert rows[0]["path"] == str(runs / "fast")
    started = datetime.datetime.fromisoformat(rows[0]["started"])
    assert started.tzinfo is not None and started.timestamp() == STARTED
    by_lr = strict(invoke("runs", "--runs-dir", runs, "--json", "--sort", "optimizer.lr").stdout)["runs"]
    assert [r["name"] for r in by_lr] == ["slow", "fast"]
    table = list(csv.DictReader(io.StringIO(invoke("runs", "--runs-dir", runs, "--csv").stdout)))
    assert [(r["name"], r["optimizer.lr"], r["best_epoch"]) for r in table] == [("fast", "0.1", "4"), ("slow", "0.001", "7")]
    shown = invoke("runs", "--runs-dir", runs).stdout
    header = next(line for line in shown.splitlines() if "status" in line)
    assert header.split()[:4] == ["run", "model", "data", "lr"]  # the key's last part heads its column
    assert header.split()[-3:] == ["best/epochs", "s", "started"]
    assert "4/12" in shown and "0.001" in shown


def test_runs_all_adds_the_studies_trials_winners_and_debug_runs(runs):
    rows = strict(invoke("runs", "--runs-dir", runs, "--json", "--all", "--sort", "name").stdout)["runs"]
    assert [r["name"] for r in rows] == ["dbg", "fast", "lr-digits/best-trial-0000", "lr-digits/trials/trial-0000",
                                         "slow"]
    named = {r["name"]: r for r in rows}
    assert named["dbg"]["status"] == "completed (fast_dev_run)" and named["dbg"]["focus"] is None
    assert named["lr-digits/trials/trial-0000"]["path"] == str(runs / "lr-digits" / "trials" / "trial-0000")
    assert named["fast"]["params"] == {"optimizer.lr": 0.1, "trainer.max_epochs": 60}  # dbg trained 1 epoch


def test_a_run_diverged_before_any_kept_epoch_shows_its_status_not_figures(runs):
    make_run(runs / "boom", ["optimizer.lr=10"], 5, status="diverged", dev=0.9, epochs=1, best=0)
    make_run(runs / "late", ["optimizer.lr=1"], 6, status="diverged", dev=0.25, epochs=9, best=6)
    rows = {r["name"]: r for r in strict(invoke("runs", "--runs-dir", runs, "--json").stdout)["runs"]}
    boom, late = rows["boom"], rows["late"]
    assert boom["status"] == "diverged" and boom["focus"] is None
    assert [boom[f"{k}_error"] for k in ("train", "train_dev", "dev", "test")] == [None] * 4
    assert late["dev_error"] == 0.25 and late["focus"] is None  # its best checkpoint, of epoch 6, before it broke
    line = next(x for x in invoke("runs", "--runs-dir", runs).stdout.splitlines() if x.lstrip().startswith("boom"))
    assert "diverged" in line and "0.900" not in line


def test_an_unknown_sort_names_the_columns_and_the_differing_keys(runs):
    result = invoke("runs", "--runs-dir", runs, "--sort", "colour")
    assert result.exit_code == 2 and "choose from: name, model" in result.stderr
    assert result.stderr.strip().endswith("or a key the runs differ in: optimizer.lr")


def test_keys_of_different_options_are_not_differences(tmp_path):
    """An MLP beside a CNN differs in the model (its own column) and in the keys both have (hidden, batch_norm:
    conf/model/), not in channels or residual, which only one has; adam beside momentum differs in the optimizer
    and its rate (0.01 and 0.1, conf/optimizer/), not in the betas."""
    runs = tmp_path / "runs"
    make_run(runs / "mlp", [], 0)
    make_run(runs / "cnn", ["model=cnn"], 1)
    make_run(runs / "sgdm", ["optimizer=momentum"], 2)
    rows = {r["name"]: r for r in strict(invoke("runs", "--runs-dir", runs, "--json").stdout)["runs"]}
    mlp = {"model.hidden": [100, 100], "model.batch_norm": False, "optimizer.name": "adam", "optimizer.lr": 0.01}
    assert rows["mlp"]["params"] == mlp
    assert rows["cnn"]["params"] == {**mlp, "model.hidden": [], "model.batch_norm": True}
    assert rows["sgdm"]["params"] == {**mlp, "optimizer.name": "momentum", "optimizer.lr": 0.1}
    header = next(line for line in invoke("runs", "--runs-dir", runs).stdout.splitlines() if "status" in line)
    assert {"hidden", "batch_norm", "optimizer", "lr"} <= set(header.split()) and "channels" not in header


def test_a_key_an_older_run_lacks_counts_at_its_default(tmp_path):
    """A run saved before trainer.fast_dev_run existed ran as its default (false) does: no difference from a newer
    run that has it at false; a run that set the key otherwise still differs."""
    runs = tmp_path / "runs"
    old = make_run(runs / "old", [], 0)
    (old / "config.yaml").write_text(config_text(()).replace("  fast_dev_run: false\n", ""))
    assert "fast_dev_run" not in (old / "config.yaml").read_text()
    make_run(runs / "new", [], 1)
    rows = strict(invoke("runs", "--runs-dir", runs, "--json").stdout)["runs"]
    assert [r["params"] for r in rows] == [{}, {}]
    make_run(runs / "lr", ["optimizer.lr=0.5"], 2)
    rows = {r["name"]: r for r in strict(invoke("runs", "--runs-dir", runs, "--json").stdout)["runs"]}
    assert rows["old"]["params"] == {"optimizer.lr": 0.01} and rows["lr"]["params"] == {"optimizer.lr": 0.5}
