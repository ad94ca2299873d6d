from __future__ import annotations

import csv
import json

import pytest
import torch

from dltool.config import compose
from dltool.errors import Interrupted, UserError
from dltool.train import train


def run(tmp_path, *overrides, name=None):
    return train(compose(list(overrides)), runs_dir=tmp_path, name=name, progress=False)


def test_default_mlp_on_mnist1d_reaches_the_papers_band(tmp_path):
    result = run(tmp_path, name="default")
    accuracy = 1 - result["splits"]["test"]["error"]
    assert 0.58 <= accuracy <= 0.75, accuracy  # paper: MLP 68 +- 2 % (our split trains on 3,000, not 4,000)
    assert result["splits"]["train"]["error"] < 0.05  # and it overfits, as the paper's MLP does


def test_a_short_run_writes_the_whole_run_folder(tmp_path):
    result = run(tmp_path, "data=digits", "trainer.max_epochs=8", name="digits")
    folder = tmp_path / "digits"
    assert result["status"] == "completed" and result["epochs"] == 8 and 1 <= result["best_epoch"] <= 8
    assert result["splits"]["test"]["error"] < 0.15  # chance is 0.9
    assert set(result["splits"]) == {"train", "train_dev", "dev", "test"}
    assert result["human_error"] == 0.01 and result["seconds"] > 0
    assert json.loads((folder / "metrics.json").read_text()) == result
    rows = list(csv.DictReader((folder / "history.csv").open()))
    assert [int(r["epoch"]) for r in rows] == list(range(1, 9))
    best = min(rows, key=lambda r: float(r["dev_error"]))
    assert int(best["epoch"]) == result["best_epoch"]
    assert float(best["dev_error"]) == pytest.approx(result["splits"]["dev"]["error"])  # final numbers: best checkpoint
    assert compose([], config_file=folder / "config.yaml") == compose(["data=digits", "trainer.max_epochs=8"])
    for ckpt in ("best", "last"):
        saved = torch.load(folder / "checkpoints" / f"{ckpt}.ckpt", weights_only=True)
        assert saved["classes"] == [str(i) for i in range(10)] and saved["config"]["data"]["name"] == "digits"
    assert saved["epoch"] == 8 and "optimizer" in saved and "rng" in saved


def test_same_seed_same_numbers_other_seed_other_numbers(tmp_path):
    a = run(tmp_path, "trainer.max_epochs=3")
    b = run(tmp_path, "trainer.max_epochs=3")
    c = run(tmp_path, "trainer.max_epochs=3", "seed=1")
    assert a["splits"] == b["splits"]
    assert a["splits"] != c["splits"]


def test_normalization_statistics_come_from_the_train_split_only(tmp_path):
    from dltool.data import load_data

    run(tmp_path, "data=digits", "trainer.max_epochs=1", name="n")
    saved = torch.load(tmp_path / "n" / "checkpoints" / "best.ckpt", weights_only=True)["state_dict"]
    x_train = torch.from_numpy(load_data(compose(["data=digits"]).data, seed=0).splits["train"][0])
    assert torch.allclose(saved["mean"], x_train.mean(0))
    run(tmp_path, "data=digits", "trainer.max_epochs=1", "data.normalize=false", name="raw")
    raw = torch.load(tmp_path / "raw" / "checkpoints" / "best.ckpt", weights_only=True)["state_dict"]
    assert torch.all(raw["mean"] == 0) and torch.all(raw["std"] == 1)


def test_early_stopping_on_dev_error(tmp_path):
    result = run(tmp_path, "data=digits", "trainer.max_epochs=200", "trainer.patience=3")
    assert result["epochs"] < 200
    assert result["epochs"] - result["best_epoch"] == 3


def test_divergence_stops_training_and_keeps_the_best_checkpoint(tmp_path):
    # the learning rate grows 1000x per epoch: fine at first, NaN soon after
    result = run(tmp_path, "data=digits", "optimizer=sgd", "scheduler=exponential", "scheduler.gamma=1000",
                 "trainer.max_epochs=30", name="boom")
    assert result["status"] == "diverged"
    assert 1 <= result["best_epoch"] <= result["epochs"] < 30
    assert result["splits"]["test"]["loss"] is not None and result["splits"]["test"]["error"] < 0.5
    assert json.loads((tmp_path / "boom" / "metrics.json").read_text())["status"] == "diverged"


def test_every_optimizer_and_schedule_trains(tmp_path):
    for overrides in (["optimizer=momentum", "scheduler=inverse_time"], ["optimizer=rmsprop", "scheduler=cosine"],
                      ["optimizer=sgd", "scheduler=step", "trainer.gradient_clip=1.0"],
                      ["model.batch_norm=true", "model.keep_prob=0.9", "model.activation=tanh"]):
        result = run(tmp_path, "data=digits", "trainer.max_epochs=5", *overrides)
        assert result["splits"]["dev"]["error"] < 0.5, overrides


def test_batch_gradient_descent_and_a_last_batch_of_one(tmp_path):
    whole = run(tmp_path, "data=digits", "trainer.max_epochs=2", "trainer.batch_size=100000")
    assert whole["status"] == "completed"
    # 1,077 training examples in batches of 2 leave one over: it joins the batch before, so batch norm still works
    odd = run(tmp_path, "data=digits", "trainer.max_epochs=1", "trainer.batch_size=2", "model.batch_norm=true")
    assert odd["status"] == "completed"


def test_mistakes_leave_no_run_folder(tmp_path):
    for overrides in (["model.keep_prob=0"], ["optimizer.lr=-1"], ["trainer.batch_size=0"], ["seed=-1"],
                      ["model.batch_norm=true", "trainer.batch_size=1"]):
        with pytest.raises(UserError):
            run(tmp_path, *overrides)
    assert list(tmp_path.iterdir()) == []


def test_an_interrupted_run_says_so_and_keeps_its_checkpoints(tmp_path, monkeypatch):
    import dltool.train as module

    calls = {"n": 0}
    evaluate = module.evaluate

    def interrupt_on_third_epoch(*args):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return evaluate(*args)

    monkeypatch.setattr(module, "evaluate", interrupt_on_third_epoch)
    with pytest.raises(Interrupted):
        run(tmp_path, "data=digits", "trainer.max_epochs=10", name="stopped")
    metrics = json.loads((tmp_path / "stopped" / "metrics.json").read_text())
    assert metrics["status"] == "interrupted" and metrics["epochs"] == 2 and metrics["best_epoch"] in (1, 2)
    assert (tmp_path / "stopped" / "checkpoints" / "last.ckpt").is_file()
