"""The logistic-regression baseline beside a run on vector data (dltool.baseline): what metrics.json records, where
it is absent, how dltool runs and dltool diagnose show it, and that a resumed run keeps it."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
import torch

from dltool.config import compose
from dltool.diagnose import diagnose
from dltool.errors import Interrupted
from dltool.train import train
from tests.conftest import invoke, separable_csv


def noisy_csv(path, n: int = 300, seed: int = 0):
    """A table a linear model gets mostly right, with label noise: every split has some errors to compare."""
    from sklearn.datasets import make_classification

    x, y = make_classification(n_samples=n, n_features=8, n_informative=4, n_redundant=2, n_classes=3,
                               flip_y=0.1, random_state=seed)
    rows = ["f0,f1,f2,f3,f4,f5,f6,f7,label"] + [",".join(f"{v:.5f}" for v in xs) + f",c{c}" for xs, c in zip(x, y)]
    path.write_text("\n".join(rows) + "\n")
    return path


def csv_overrides(path, *more):
    return ["data=csv", f"data.path={path}", "data.target=label", "trainer.max_epochs=3", *more]


def test_the_recorded_baseline_is_a_logistic_regression_on_the_runs_own_split(tmp_path):
    from sklearn.linear_model import LogisticRegression

    from dltool.data import load_data

    cfg = compose(csv_overrides(noisy_csv(tmp_path / "t.csv"), "seed=3"))
    result = train(cfg, runs_dir=tmp_path / "runs", name="r", progress=False)
    assert json.loads((tmp_path / "runs" / "r" / "metrics.json").read_text())["baseline"] == result["baseline"]
    base = result["baseline"]
    assert base["model"] == "logistic regression (scikit-learn, C=1.0)" and base["converged"]

    splits = load_data(cfg.data, 3).splits  # the split again, as build makes it with the run's seed
    x = splits["train"]["x"].astype(np.float64)
    mean, std = x.mean(axis=0), x.std(axis=0, ddof=1)
    fitted = LogisticRegression(C=1.0, max_iter=1000).fit((x - mean) / std, splits["train"]["y"])
    for name, s in splits.items():
        error = float(np.mean(fitted.predict((s["x"] - mean) / std) != s["y"]))
        assert base["splits"][name] == {"error": error, "n": result["splits"][name]["n"]}, name
    assert 0 < base["splits"]["test"]["error"] < 0.5  # a real yardstick: neither perfect nor chance


def test_the_baseline_leaves_the_runs_numbers_as_they_were(tmp_path):
    """No torch call, after the loop: switching it off changes nothing else (tests/test_pinned.py pins the default
    run with it on)."""
    table = noisy_csv(tmp_path / "t.csv")
    on = train(compose(csv_overrides(table, "model.keep_prob=0.8")), runs_dir=tmp_path, name="on", progress=False)
    off = train(compose(csv_overrides(table, "model.keep_prob=0.8", "trainer.baseline=false")), runs_dir=tmp_path,
                name="off", progress=False)
    assert on["baseline"] is not None and off["baseline"] is None
    assert on["splits"] == off["splits"] and on["best_epoch"] == off["best_epoch"]


def test_no_baseline_for_images_or_when_switched_off(tmp_path):
    images = train(compose(["data=digits", "trainer.max_epochs=1"]), runs_dir=tmp_path, name="img", progress=False)
    assert images["baseline"] is None  # (1, 8, 8) examples: not vector data
    assert json.loads((tmp_path / "img" / "metrics.json").read_text())["baseline"] is None
    sequences = train(compose(["data=synthetic", "data.shape=[2,10]", "data.n=200", "trainer.max_epochs=1"]),
                      runs_dir=tmp_path, name="seq", progress=False)
    assert sequences["baseline"] is None
    vectors = ["data=synthetic", "data.shape=[10]", "data.n=200", "trainer.max_epochs=1"]
    assert train(compose(vectors), runs_dir=tmp_path, progress=False)["baseline"] is not None
    assert train(compose([*vectors, "trainer.baseline=false"]), runs_dir=tmp_path, progress=False)["baseline"] is None


def test_a_tuners_trial_measures_no_baseline_test_error(tmp_path):
    cfg = compose(csv_overrides(noisy_csv(tmp_path / "t.csv")))
    trial = train(cfg, runs_dir=tmp_path, progress=False, report_test=False)
    assert trial["baseline"]["splits"]["test"] is None and trial["baseline"]["splits"]["dev"] is not None


def test_a_bad_switch_is_one_line(tmp_path):
    result = invoke("train", "data=digits", "trainer.baseline=maybe", "--runs-dir", tmp_path)
    assert result.exit_code == 2
    assert result.stderr.strip() == "dltool: error: trainer.baseline must be true or false, got 'maybe'"
    assert not any(tmp_path.iterdir())  # refused before a run folder appears


def test_the_train_table_shows_the_baseline_column(tmp_path):
    table = noisy_csv(tmp_path / "t.csv")
    shown = invoke("train", *csv_overrides(table), "--runs-dir", tmp_path / "runs", "--name", "r")
    assert shown.exit_code == 0, shown.stderr
    result = json.loads((tmp_path / "runs" / "r" / "metrics.json").read_text())
    header = next(line for line in shown.stdout.splitlines() if "split" in line)
    assert header.index("error") < header.index("baseline") < header.index("accuracy")
    dev = next(line for line in shown.stdout.splitlines() if " dev " in line)
    assert f"{result['baseline']['splits']['dev']['error']:.4f}" in dev
    assert "baseline: the error of a logistic regression (scikit-learn, C=1.0)" in shown.stdout
    off = invoke("train", *csv_overrides(table, "trainer.baseline=false"), "--runs-dir", tmp_path / "runs")
    assert "baseline" not in off.stdout


def test_resume_keeps_the_baseline(tmp_path, ctrl_c_at):
    table = noisy_csv(tmp_path / "t.csv")
    overrides = csv_overrides(table, "trainer.max_epochs=5", "trainer.checkpoint_interval=0")
    whole = train(compose(overrides), runs_dir=tmp_path, name="whole", progress=False)
    restore = ctrl_c_at(3)  # during epoch 3
    with pytest.raises(Interrupted):
        train(compose(overrides), runs_dir=tmp_path, name="cut", progress=False)
    restore()
    resumed = train(compose([], config_file=tmp_path / "cut" / "config.yaml"), progress=False, resume=tmp_path / "cut")
    same = ("status", "splits", "human_error", "baseline", "epochs", "best_epoch")
    assert {k: resumed[k] for k in same} == {k: whole[k] for k in same}
    assert whole["baseline"] is not None
    assert json.loads((tmp_path / "cut" / "metrics.json").read_text())["baseline"] == whole["baseline"]


def test_a_run_from_before_baselines_resumes_with_one(tmp_path, ctrl_c_at):
    """Its checkpoint's config has no trainer.baseline; the config it resumes with has the default: not a config that
    differs, since the baseline is fitted after training."""
    from dltool.checkpoints import load, save

    overrides = csv_overrides(noisy_csv(tmp_path / "t.csv"), "trainer.max_epochs=4", "trainer.checkpoint_interval=0")
    restore = ctrl_c_at(2)
    with pytest.raises(Interrupted):
        train(compose(overrides), runs_dir=tmp_path, name="old", progress=False)
    restore()
    path = tmp_path / "old" / "checkpoints" / "last.ckpt"
    last = load(path, need="progress")
    del last["config"]["trainer"]["baseline"]
    save(path, last)
    resumed = train(compose(overrides), progress=False, resume=tmp_path / "old")
    assert resumed["status"] == "completed" and resumed["baseline"] is not None


def fake_run(runs, name: str, dev: float, baseline_dev: float | None, n: int = 1000):
    """A run folder by hand: config.yaml and a metrics.json with (or without) a baseline."""
    folder = runs / name
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text("model:\n  name: mlp\n  hidden: [100, 100]\n  keep_prob: 1.0\n"
                                        "data:\n  name: csv\noptimizer:\n  name: adam\n  weight_decay: 0.0\n"
                                        "trainer:\n  max_epochs: 60\n  patience: null\n")
    splits = {"train": {"error": 0.01, "loss": 0.1, "n": 3000}, "train_dev": {"error": dev, "loss": 0.5, "n": n},
              "dev": {"error": dev, "loss": 0.5, "n": n}, "test": {"error": dev, "loss": 0.5, "n": n}}
    base = None if baseline_dev is None else {
        "model": "logistic regression (scikit-learn, C=1.0)", "iterations": 20, "converged": True,
        "splits": {k: {"error": baseline_dev, "n": v["n"]} for k, v in splits.items()}}
    (folder / "metrics.json").write_text(json.dumps({"run": name, "task": "classify", "status": "completed",
                                                     "splits": splits, "human_error": None, "baseline": base,
                                                     "epochs": 60, "best_epoch": 5, "seconds": 1.0}))
    return folder


def test_runs_lists_the_baseline_dev_error(tmp_path, capsys, monkeypatch):
    from dltool.report import print_runs
    from dltool.run_list import list_runs

    fake_run(tmp_path, "deep", dev=0.2, baseline_dev=0.125)
    fake_run(tmp_path, "images", dev=0.2, baseline_dev=None)
    rows = {r["name"]: r for r in list_runs(tmp_path, sort="name")}
    assert rows["deep"]["baseline_dev_error"] == 0.125 and rows["images"]["baseline_dev_error"] is None
    listed = json.loads(invoke("runs", "--runs-dir", tmp_path, "--json").stdout)["runs"]
    assert [r["baseline_dev_error"] for r in listed] == [0.125, None]
    table = list(csv.DictReader(io.StringIO(invoke("runs", "--runs-dir", tmp_path, "--csv").stdout)))
    assert [r["baseline_dev_error"] for r in table] == ["0.125", ""]
    monkeypatch.setenv("COLUMNS", "160")
    print_runs(list(rows.values()))
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if "status" in line)
    assert "baseline" in header and "0.125" in out
    print_runs([rows["images"]])  # no run with a baseline: no column for it
    assert "baseline" not in capsys.readouterr().out
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # 80 columns and long names: each run on two lines
    print_runs([{**r, "name": f"transformer-mnist1d_shift-20261126-13461{i}"} for i, r in enumerate(rows.values())])
    lines = capsys.readouterr().out.splitlines()
    assert any("baseline 0.125" in line for line in lines) and max(len(line) for line in lines) <= 80


CONFIG = {"model": {"name": "mlp", "hidden": [100, 100], "keep_prob": 1.0}, "optimizer": {"name": "adam",
          "weight_decay": 0.0}, "trainer": {"max_epochs": 60, "patience": None}}
SIZES = {"train": 300, "train_dev": 50, "dev": 1000, "test": 1000}


def test_diagnose_says_first_when_a_logistic_regression_does_better_beyond_noise():
    errors = {"human": None, "train": 0.01, "train_dev": 0.16, "dev": 0.2, "test": 0.21}
    d = diagnose(errors, config=CONFIG, run="runs/r", sizes=SIZES, baseline={"train": 0.1, "dev": 0.15})
    assert d["notes"][0].startswith("A logistic regression does better on dev (0.1500 vs 0.2000")
    assert d["baseline"]["better"] and d["baseline"]["interval"][0] > 0
    first, both, linear = d["recommendations"][:3]  # L2 sized to 300 training examples: 10 / 300
    assert first == ("Stronger L2 regularization, sized to the data (10 / 300 training examples): "
                     "`dltool train --config runs/r/config.yaml optimizer.weight_decay=0.03`")
    assert both.endswith("config.yaml optimizer.weight_decay=0.03 model.keep_prob=0.8`")
    assert linear.endswith("config.yaml model.hidden=[] optimizer.weight_decay=0.0033`")  # C = 1: 1 / 300
    assert any("Early stopping" in r for r in d["recommendations"][3:])  # the variance remedies follow
    assert len(d["recommendations"]) == len(set(d["recommendations"]))  # none said twice


@pytest.mark.parametrize("overrides", [[], ["experiment=paper_cnn"], ["optimizer.weight_decay=0.01"]])
def test_every_baseline_remedy_composes(tmp_path, overrides):
    from omegaconf import OmegaConf

    from dltool.config import to_yaml
    from dltool.remedies import baseline_remedies

    cfg = compose(overrides)
    (tmp_path / "config.yaml").write_text(to_yaml(cfg))
    recs = baseline_remedies(OmegaConf.to_container(cfg), str(tmp_path), n_train=3000)
    assert recs and all("`dltool train --config" in r for r in recs)
    for rec in recs:
        compose(rec.rstrip("`").split("config.yaml ")[1].split(), config_file=tmp_path / "config.yaml")
    if overrides == ["optimizer.weight_decay=0.01"]:  # already above 10 / 3000: ten times the run's
        assert recs[0].endswith("optimizer.weight_decay=0.1`")


@pytest.mark.parametrize("dev,baseline_dev,dev_n", [(0.15, 0.2, 1000),  # the deep model wins
                                                    (0.2, 0.17, 100),  # it loses by noise: 3 of 100 examples
                                                    (0.2, 0.2, 1000)])
def test_no_baseline_note_when_the_model_wins_or_the_difference_is_noise(dev, baseline_dev, dev_n):
    errors = {"human": None, "train": 0.01, "dev": dev}
    d = diagnose(errors, config=CONFIG, run="runs/r", sizes={**SIZES, "dev": dev_n}, baseline={"dev": baseline_dev})
    assert not d["baseline"]["better"]
    assert not any("logistic regression" in n for n in d["notes"])
    assert not any("model.hidden=[]" in r for r in d["recommendations"])
    assert diagnose(errors)["baseline"] is None


def test_diagnose_run_reads_the_baseline_from_metrics(tmp_path):
    from dltool.report import diagnose_run

    folder = fake_run(tmp_path, "deep", dev=0.2, baseline_dev=0.125)
    d = diagnose_run(folder)
    assert d["baseline"]["model"] == "logistic regression (scikit-learn, C=1.0)"
    assert d["baseline"]["errors"]["dev"] == 0.125 and d["baseline"]["better"]
    assert d["notes"][0].startswith("A logistic regression does better on dev (0.1250 vs 0.2000")
    assert json.loads((folder / "diagnosis.json").read_text())["baseline"] == d["baseline"]
    assert "A logistic regression does better on dev" in (folder / "diagnosis.md").read_text()
    shown = invoke("diagnose", "deep", "--runs-dir", tmp_path)
    assert shown.exit_code == 0 and "note: A logistic regression does better on dev" in shown.stdout
    assert diagnose_run(fake_run(tmp_path, "images", dev=0.2, baseline_dev=None))["baseline"] is None


def test_the_baseline_is_the_same_on_the_same_seed(tmp_path):
    from dltool import baseline

    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 5)).astype(np.float32)
    y = (x[:, 0] + 0.5 * rng.standard_normal(200) > 0).astype(np.int64)
    splits = {"train": {"x": x[:150], "y": y[:150]}, "train_dev": {"x": x[:0], "y": y[:0]},
              "dev": {"x": x[150:], "y": y[150:]}, "test": {"x": x[150:], "y": y[150:]}}
    state, threads = torch.get_rng_state(), torch.get_num_threads()
    first = baseline.fit(splits, 0)
    assert torch.equal(torch.get_rng_state(), state)  # the run's random numbers untouched
    assert torch.get_num_threads() == threads  # and its threads: one BLAS thread only while it fits
    assert first == baseline.fit(splits, 0) and first["splits"]["train_dev"] is None
    one_class = {**splits, "train": {"x": x[:10], "y": np.zeros(10, dtype=np.int64)}}
    assert baseline.fit(one_class, 0) is None


def test_of_epochs_with_the_same_dev_error_the_best_checkpoint_has_the_lower_dev_loss(tmp_path):
    """On a small dev split ties are the rule; the first epoch to reach the lowest error is often barely trained
    (dltool.loop._better): the loss of the same examples tells the tied epochs apart."""
    table = tmp_path / "blobs.csv"
    table.write_text(separable_csv(40))  # dev error 0 from an early epoch on, while the dev loss keeps falling
    result = train(compose(csv_overrides(table, "trainer.max_epochs=10")), runs_dir=tmp_path, name="r", progress=False)
    rows = [{k: float(v) for k, v in r.items()} for r in csv.DictReader((tmp_path / "r" / "history.csv").open())]
    lowest = min(r["dev_error"] for r in rows)
    tied = [r for r in rows if r["dev_error"] == lowest]
    best = min(tied, key=lambda r: r["dev_loss"])
    assert best is not tied[0]  # the tie is one that first-come would have settled otherwise
    assert result["best_epoch"] == best["epoch"]
    assert result["splits"]["dev"]["loss"] == pytest.approx(best["dev_loss"])
