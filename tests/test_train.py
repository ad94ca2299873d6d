from __future__ import annotations

import csv
import json

import pytest
import torch

from dltool.config import compose
from dltool.errors import Interrupted, UserError
from dltool.train import train
from tests.conftest import as_if_killed


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
    best = min(rows, key=lambda r: (float(r["dev_error"]), float(r["dev_loss"])))  # a tie: the lower dev loss
    assert int(best["epoch"]) == result["best_epoch"]
    assert float(best["dev_error"]) == pytest.approx(result["splits"]["dev"]["error"])  # final numbers: best checkpoint
    assert compose([], config_file=folder / "config.yaml") == compose(["data=digits", "trainer.max_epochs=8"])
    for ckpt in ("best", "last"):
        saved = torch.load(folder / "checkpoints" / f"{ckpt}.ckpt", weights_only=True)
        assert saved["info"] == {"classes": [str(i) for i in range(10)]} and saved["config"]["data"]["name"] == "digits"
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
    x_train = torch.from_numpy(load_data(compose(["data=digits"]).data, seed=0).splits["train"]["x"])
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


def test_an_interrupted_run_says_so_and_keeps_its_checkpoints(tmp_path, ctrl_c_at):
    ctrl_c_at(3)  # during the third epoch's dev pass
    with pytest.raises(Interrupted):
        run(tmp_path, "data=digits", "trainer.max_epochs=10", "trainer.checkpoint_interval=0", name="stopped")
    metrics = json.loads((tmp_path / "stopped" / "metrics.json").read_text())
    assert metrics["status"] == "interrupted" and metrics["epochs"] == 2 and metrics["best_epoch"] in (1, 2)
    last = torch.load(tmp_path / "stopped" / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["epoch"] == 2  # the last complete epoch, not the cut one


def test_last_checkpoint_every_interval_and_at_the_end(tmp_path, monkeypatch):
    import dltool.loop as module

    saves = []
    save = module.save_checkpoint
    monkeypatch.setattr(module, "save_checkpoint", lambda path, ckpt: (saves.append((path.name, ckpt["epoch"])), save(path, ckpt)))
    result = run(tmp_path, "data=digits", "trainer.max_epochs=5", "trainer.checkpoint_interval=1000")
    # only the end, within the interval; the best weights too, though dev error improved on the way
    assert saves == [("best.ckpt", result["best_epoch"]), ("last.ckpt", 5)]
    saves.clear()
    run(tmp_path, "data=digits", "trainer.max_epochs=3", "trainer.checkpoint_interval=0", name="every")
    assert [e for name, e in saves if name == "last.ckpt"] == [1, 2, 3]
    # each epoch that beat the ones before writes best.ckpt just before that epoch's last.ckpt
    history = list(csv.DictReader((tmp_path / "every" / "history.csv").open()))
    improved, best = [], (float("inf"), float("inf"))
    for row in history:
        if (float(row["dev_error"]), float(row["dev_loss"])) < best:
            best = (float(row["dev_error"]), float(row["dev_loss"]))
            improved.append(int(row["epoch"]))
    assert saves == [s for e in (1, 2, 3) for s in ([("best.ckpt", e)] if e in improved else []) + [("last.ckpt", e)]]


def test_a_run_stopped_by_an_error_leaves_checkpoints_that_agree(tmp_path):
    """An error after an epoch's checkpoints: best.ckpt holds the best epoch that last.ckpt counts, not an older."""
    def fail_at_three(row):
        if row["epoch"] == 3:
            raise RuntimeError("stop")

    cfg = compose(["data=digits", "trainer.max_epochs=6", "trainer.checkpoint_interval=0"])
    with pytest.raises(RuntimeError, match="stop"):
        train(cfg, runs_dir=tmp_path, name="e", progress=False, on_epoch=fail_at_three)
    last = torch.load(tmp_path / "e" / "checkpoints" / "last.ckpt", weights_only=True)
    best = torch.load(tmp_path / "e" / "checkpoints" / "best.ckpt", weights_only=True)
    assert last["epoch"] == 3 and best["epoch"] == last["progress"]["best_epoch"] >= 1


def history_without_time(folder) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in csv.DictReader((folder / "history.csv").open())]


def test_resume_after_an_interrupt_gives_the_uninterrupted_numbers(tmp_path, ctrl_c_at):
    overrides = ["data=digits", "trainer.max_epochs=6", "model.keep_prob=0.8", "scheduler=step", "scheduler.step_size=2",
                 "trainer.checkpoint_interval=0"]
    whole = run(tmp_path, *overrides, name="whole")  # dropout, shuffling and the schedule all carry state

    restore = ctrl_c_at(4)  # during epoch 4
    with pytest.raises(Interrupted, match="dltool train --resume"):
        run(tmp_path, *overrides, name="cut")
    restore()
    assert torch.load(tmp_path / "cut" / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] == 3
    resumed = train(compose([], config_file=tmp_path / "cut" / "config.yaml"), progress=False, resume=tmp_path / "cut")
    assert resumed["status"] == "completed" and resumed["epochs"] == 6
    assert resumed["splits"] == whole["splits"] and resumed["best_epoch"] == whole["best_epoch"]
    assert history_without_time(tmp_path / "cut") == history_without_time(tmp_path / "whole")


def test_resume_refuses_what_it_cannot_continue(tmp_path):
    run(tmp_path, "data=digits", "trainer.max_epochs=1", name="done")
    cfg = compose([], config_file=tmp_path / "done" / "config.yaml")
    with pytest.raises(UserError, match="run done is completed: nothing to resume"):
        train(cfg, progress=False, resume=tmp_path / "done")
    as_if_killed(tmp_path / "done")
    (tmp_path / "done" / "checkpoints" / "last.ckpt").unlink()
    with pytest.raises(UserError, match="has no checkpoints/last.ckpt"):
        train(cfg, progress=False, resume=tmp_path / "done")
    run(tmp_path, "data=digits", "trainer.max_epochs=1", "seed=5", name="other")
    (tmp_path / "other" / "checkpoints" / "last.ckpt").rename(tmp_path / "done" / "checkpoints" / "last.ckpt")
    with pytest.raises(UserError, match="does not belong to run done"):
        train(cfg, progress=False, resume=tmp_path / "done")


class Payload:  # a pickled object that weights_only loading must refuse
    def __reduce__(self):
        return (print, ("unsafe code ran",))


def test_a_crafted_pickle_checkpoint_is_refused_on_resume(tmp_path):
    run(tmp_path, "data=digits", "trainer.max_epochs=1", name="r")
    as_if_killed(tmp_path / "r")
    torch.save({"progress": Payload()}, tmp_path / "r" / "checkpoints" / "last.ckpt")
    with pytest.raises(UserError, match="not a safe weights-only checkpoint"):
        train(compose([], config_file=tmp_path / "r" / "config.yaml"), progress=False, resume=tmp_path / "r")


def test_a_killed_run_shows_as_crashed_and_resumes_to_the_same_numbers(tmp_path):
    """SIGKILL mid-training (no chance to save anything), then --resume: the result equals an uninterrupted run."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from typer.testing import CliRunner

    from dltool.cli import app
    from dltool.run_list import list_runs

    overrides = ["data=digits", "trainer.max_epochs=40", "model.keep_prob=0.9", "trainer.checkpoint_interval=0"]
    whole = run(tmp_path / "a", *overrides, name="whole")
    proc = subprocess.Popen([sys.executable, "-m", "dltool", "train", *overrides, "--name", "k", "--runs-dir",
                             str(tmp_path / "b")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    history = tmp_path / "b" / "k" / "history.csv"
    deadline = time.time() + 60
    while time.time() < deadline and not (history.is_file() and len(history.read_text().splitlines()) > 5):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "b" / "k" / "metrics.json").exists()
    assert [r["status"] for r in list_runs(tmp_path / "b")] == ["crashed"]
    result = CliRunner().invoke(app, ["train", "--resume", "k", "--runs-dir", str(tmp_path / "b"), "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["splits"] == whole["splits"]
    assert [r["status"] for r in list_runs(tmp_path / "b")] == ["completed"]


def test_trainer_threads_hold_for_one_run_only(tmp_path):
    before = torch.get_num_threads()
    seen = []
    train(compose(["data=digits", "trainer.max_epochs=1", "trainer.threads=1"]), runs_dir=tmp_path, progress=False,
          on_epoch=lambda row: seen.append(torch.get_num_threads()))
    assert seen == [1] and torch.get_num_threads() == before  # the next run in this process starts from torch's own


def test_a_full_disk_reports_the_write_that_failed_first(tmp_path, monkeypatch):
    """A checkpoint write fails (disk full): that is the error, not the metrics.json that then cannot be written."""
    import dltool.train as training
    from dltool.errors import UserError as Mistake

    saves = []

    def save(path, checkpoint):
        saves.append(path.name)
        if len(saves) == 3:
            raise Mistake(f"cannot write {path}: No space left on device")

    def full(path, obj):
        if path.name == "metrics.json":
            raise Mistake(f"cannot write {path}: No space left on device")

    monkeypatch.setattr("dltool.loop.save_checkpoint", save)
    monkeypatch.setattr(training, "write_json", full)
    with pytest.raises(Mistake, match=r"cannot write .*\.ckpt: No space left on device"):
        run(tmp_path, "data=digits", "trainer.max_epochs=5", "trainer.checkpoint_interval=0", name="full")


def test_a_failed_torch_save_is_one_line_naming_the_file(tmp_path, monkeypatch):
    import shutil
    from collections import namedtuple

    from dltool.errors import UserError as Mistake
    from dltool.runs import write_atomic

    def torn(tmp):  # what torch.save's zip writer raises when the disk fills under it
        tmp.write_bytes(b"half")
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 43520 vs 43412")

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10, 10, 0))
    with pytest.raises(Mistake, match=r"cannot write .*last\.ckpt: No space left on device"):
        write_atomic(tmp_path / "last.ckpt", torn)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10 << 30, 0, 10 << 30))
    with pytest.raises(Mistake, match=r"last\.ckpt: \[enforce fail at inline_container.cc:672\]"):
        write_atomic(tmp_path / "last.ckpt", torn)
    assert list(tmp_path.iterdir()) == []  # no half file, no temporary file


def test_gradient_clipping_bounds_every_step(tmp_path):
    """Plain SGD moves the weights by lr * |clipped gradient| <= lr * max_norm a step: after one epoch of 11 steps
    with max_norm 1e-6 and lr 0.1, they are within 11 * 1e-7 of where they started (unclipped: far away)."""
    from dltool.train import build

    overrides = ["data=digits", "trainer.max_epochs=1", "optimizer=sgd", "optimizer.lr=0.1"]
    start = build(compose(overrides)).module.state_dict()
    for clip, name in ((1e-6, "clipped"), (None, "free")):
        run(tmp_path, *overrides, f"trainer.gradient_clip={clip or 'null'}", name=name)
    steps = -(-1077 // 100)  # 1,077 training examples in batches of 100

    def moved(name):
        end = torch.load(tmp_path / name / "checkpoints" / "best.ckpt", weights_only=True)["state_dict"]
        return torch.sqrt(sum(((end[k] - start[k]) ** 2).sum() for k in start if k.startswith("net."))).item()

    assert moved("clipped") <= steps * 0.1 * 1e-6 * 1.01
    assert moved("free") > 1e-2


def test_resuming_a_run_that_is_still_running_is_refused(tmp_path):
    """Two processes must never write one run folder: process.json names a live process, so --resume says so."""
    import os

    run(tmp_path, "data=digits", "trainer.max_epochs=1", name="busy")
    (tmp_path / "busy" / "metrics.json").unlink()
    process = json.loads((tmp_path / "busy" / "process.json").read_text())
    assert process["pid"] == os.getpid()  # this very process: alive
    before = (tmp_path / "busy" / "checkpoints" / "last.ckpt").read_bytes()
    with pytest.raises(UserError, match=f"run busy is still running \\(process {os.getpid()} on "):
        train(compose([], config_file=tmp_path / "busy" / "config.yaml"), progress=False, resume=tmp_path / "busy")
    assert (tmp_path / "busy" / "checkpoints" / "last.ckpt").read_bytes() == before
    as_if_killed(tmp_path / "busy")  # once its process is gone, the same command resumes it
    resumed = train(compose([], config_file=tmp_path / "busy" / "config.yaml"), progress=False,
                    resume=tmp_path / "busy")
    assert resumed["status"] == "completed"


def test_ctrl_c_before_the_first_epoch_ends_does_not_offer_a_resume(tmp_path, ctrl_c_at):
    ctrl_c_at(1)  # the first dev pass: no epoch complete, no last.ckpt
    with pytest.raises(Interrupted, match="interrupted before its first checkpoint \\(after 0 epochs; "
                                          "trainer.checkpoint_interval=10 s\\): nothing to resume; .* start it "
                                          "again with the same command"):
        run(tmp_path, "data=digits", "trainer.max_epochs=5", name="early")
    assert not (tmp_path / "early" / "checkpoints" / "last.ckpt").exists()


def test_a_diverged_run_prints_valid_json_and_exits_1(tmp_path):
    """A diverged run is a result, but not a good one: exit code 1, one line saying so, and --json that every JSON
    reader accepts (null where a loss is NaN, as metrics.json has it)."""
    from tests.conftest import invoke

    result = invoke("train", "data=digits", "optimizer=sgd", "scheduler=exponential", "scheduler.gamma=1000",
                    "trainer.max_epochs=30", "--runs-dir", tmp_path, "--name", "boom", "--json")
    assert result.exit_code == 1
    metrics = json.loads(result.stdout, parse_constant=lambda c: pytest.fail(f"bare {c} in --json"))
    assert metrics == json.loads((tmp_path / "boom" / "metrics.json").read_text())
    assert metrics["status"] == "diverged"
    last = result.stderr.strip().splitlines()[-1]  # after the progress bar
    assert last.startswith("dltool: run boom diverged after") and "optimizer.lr" in last


def test_training_longer_gives_the_numbers_of_a_run_that_was_that_long_from_the_start(tmp_path):
    """Course 2's first remedy for bias: a completed 3-epoch run resumed to 6 epochs, in place or as a new run,
    ends exactly as a 6-epoch run does (scheduler step: its schedule does not depend on the horizon)."""
    from tests.conftest import invoke

    common = ["data=digits", "scheduler=step", "scheduler.step_size=2", "model.keep_prob=0.8"]
    whole = run(tmp_path, *common, "trainer.max_epochs=6", name="six")
    run(tmp_path, *common, "trainer.max_epochs=3", name="three")
    before = (tmp_path / "three" / "checkpoints" / "best.ckpt").read_bytes()
    copied = invoke("train", "--resume", "three", "trainer.max_epochs=6", "--name", "longer", "--runs-dir", tmp_path,
                    "--json")
    assert copied.exit_code == 0, copied.stderr
    assert json.loads(copied.stdout)["splits"] == whole["splits"]
    assert history_without_time(tmp_path / "longer") == history_without_time(tmp_path / "six")
    assert (tmp_path / "three" / "checkpoints" / "best.ckpt").read_bytes() == before  # the old run stays as it was
    in_place = invoke("train", "--resume", "three", "trainer.max_epochs=6", "--runs-dir", tmp_path, "--json")
    assert in_place.exit_code == 0 and json.loads(in_place.stdout)["splits"] == whole["splits"]
    assert compose([], config_file=tmp_path / "three" / "config.yaml").trainer.max_epochs == 6


def test_training_longer_refuses_what_would_not_be_the_same_run(tmp_path):
    run(tmp_path, "data=digits", "trainer.max_epochs=2", "scheduler=cosine", name="cos")
    cfg = compose(["trainer.max_epochs=4"], config_file=tmp_path / "cos" / "config.yaml")
    with pytest.raises(UserError, match="run cos anneals its learning rate over trainer.max_epochs"):
        train(cfg, progress=False, resume=tmp_path / "cos")
    stopped = run(tmp_path, "data=digits", "trainer.max_epochs=200", "trainer.patience=2", name="early")
    assert stopped["epochs"] < 200
    same = compose(["trainer.max_epochs=300"], config_file=tmp_path / "early" / "config.yaml")
    with pytest.raises(UserError, match=r"run early stopped early at epoch \d+ \(trainer.patience=2\): with that "
                                        r"patience it would stop there again"):
        train(same, progress=False, resume=tmp_path / "early")
    patient = compose(["trainer.patience=4"], config_file=tmp_path / "early" / "config.yaml")
    longer = train(patient, progress=False, resume=tmp_path / "early")
    assert longer["status"] == "completed" and longer["epochs"] > stopped["epochs"]
