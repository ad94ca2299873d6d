"""One run in two processes (trainer.devices=2: DDP over gloo on the CPU, dltool.ddp) against the same run in one.

With the same global batch, DDP's averaged gradients are the one process's, up to the order in which float32 sums
are added: the curves agree to 1e-3 relative over these epochs (measured: 1e-5 after 6 epochs), the errors exactly.
The batch of 33 splits into shards of 17 and 16, so each shard's loss must be weighted by its share of the batch.
"""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import invoke
from dltool.checkpoints import load as load_checkpoint
from dltool.config import compose
from dltool.train import train

RUN = ["data=digits", "model=mlp", "trainer.batch_size=33", "trainer.baseline=false", "trainer.checkpoint_interval=0"]
EPOCHS = 6


def history(run_dir) -> list[dict]:
    with open(run_dir / "history.csv", newline="") as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def dltool(tmp_path, *args, **kw):
    return subprocess.run([sys.executable, "-m", "dltool", *args, "--runs-dir", str(tmp_path)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300, **kw)


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    """The reference: the same run in one process."""
    runs = tmp_path_factory.mktemp("one")
    result = train(compose([*RUN, f"trainer.max_epochs={EPOCHS}"]), runs_dir=runs, name="one", progress=False)
    return result, history(runs / "one")


def same_curve(rows, reference):
    assert [r["epoch"] for r in rows] == [r["epoch"] for r in reference]
    for row, ref in zip(rows, reference):
        for key in ("train_loss", "dev_loss"):
            assert row[key] == pytest.approx(ref[key], rel=1e-3), (row["epoch"], key)
        assert row["dev_error"] == ref["dev_error"]


def test_two_processes_train_what_one_does_with_the_same_global_batch(tmp_path, one_process):
    done = dltool(tmp_path, "train", *RUN, f"trainer.max_epochs={EPOCHS}", "trainer.devices=2", "--name", "two",
                  "--json")
    assert done.returncode == 0, done.stderr
    two = json.loads(done.stdout)  # printed once, by rank 0
    same_curve(history(tmp_path / "two"), one_process[1])
    process = json.loads((tmp_path / "two" / "process.json").read_text())
    assert process["processes"] == 2 and len(process["pids"]) == 2
    assert "All distributed processes registered" not in done.stderr  # Lightning's banner is not the user's
    # every split measured in two shards, added up: the whole split, the same figures as one process would give
    assert two["best_epoch"] == one_process[0]["best_epoch"]
    for split, figures in one_process[0]["splits"].items():
        assert two["splits"][split]["n"] == figures["n"]
        assert two["splits"][split]["error"] == figures["error"], split
        assert two["splits"][split]["loss"] == pytest.approx(figures["loss"], rel=1e-3), split
    assert [p.name for p in tmp_path.iterdir()] == ["two"]  # one run folder, written by rank 0


def test_a_rank_that_dies_fails_the_run_in_one_line_with_a_checkpoint_to_resume(tmp_path, one_process):
    run = subprocess.Popen([sys.executable, "-m", "dltool", "train", *RUN, "trainer.max_epochs=10000",
                            "trainer.devices=2", "--name", "dies", "--runs-dir", str(tmp_path)], cwd=tmp_path,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    path = tmp_path / "dies" / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 120
    while not path.is_file() and time.monotonic() < deadline:
        time.sleep(0.01)  # the first epoch's checkpoint written (checkpoint_interval=0)
    os.kill(json.loads((tmp_path / "dies" / "process.json").read_text())["pids"][1], signal.SIGKILL)
    out, err = run.communicate(timeout=120)
    assert run.returncode == 1
    lines = err.strip().splitlines()
    assert lines[-1] == (f"dltool: error: rank 1 of 2 stopped (killed by signal 9): run dies failed; saved in "
                         f"{tmp_path / 'dies'}; continue it with: dltool train --resume {tmp_path / 'dies'}")
    assert "Traceback" not in err and out == ""
    assert json.loads((tmp_path / "dies" / "metrics.json").read_text())["status"] == "failed"
    last = load_checkpoint(tmp_path / "dies" / "checkpoints" / "last.ckpt", need="progress")
    assert len(last["ranks_rng"]) == 2  # every rank's random state: the resumed run draws what this one would have
    # the curve so far is the one process's (resuming it exactly: the slow test below)
    same_curve(history(tmp_path / "dies")[:last["epoch"]], one_process[1][:last["epoch"]])


def test_a_rank_that_stops_before_the_ranks_meet_ends_the_run_in_one_line(tmp_path):
    """Rank 0 would wait half an hour (torch's timeout) for a rank that never comes."""
    script = (
        "import subprocess, sys\n"
        "real = subprocess.Popen\n"
        "subprocess.Popen = lambda command, env: real([sys.executable, '-c', 'import sys; sys.exit(3)'], env=env)\n"
        "from dltool.cli import app\n"
        f"sys.argv = ['dltool', 'train', *{RUN!r}, 'trainer.devices=2', '--runs-dir', {str(tmp_path)!r}]\n"
        "app()\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == ["dltool: rank 1 of 2 stopped before training started (exit code 3)"]
    assert list(tmp_path.iterdir()) == []  # no run folder: the ranks never met


@pytest.mark.parametrize("overrides,message", [
    (["trainer.devices=0"], "trainer.devices must be an integer in [1, inf), got 0"),
    (["trainer.strategy=fsdp"], "unknown trainer.strategy 'fsdp'; choose from: auto, ddp"),
    (["trainer.strategy=ddp"], "trainer.strategy=ddp runs several processes: give trainer.devices=N (N > 1)"),
    (["trainer.devices=2", "trainer.batch_size=1"], "trainer.batch_size=1 cannot be shared by 2 processes"),
    (["trainer.num_nodes=2"], "trainer.num_nodes=2: start the run on each machine with torchrun, e.g. torchrun "
                              "--nnodes 2 --nproc-per-node 1"),
    (["trainer.devices=2", "trainer.accelerator=gpu"], "trainer.accelerator=gpu but no GPU is available"),
])
def test_a_process_count_that_cannot_run_is_one_line(tmp_path, overrides, message):
    done = invoke("train", *RUN, *overrides, "--runs-dir", tmp_path)
    assert done.exit_code == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"dltool: error: {message}"), done.stderr
    assert list(tmp_path.iterdir()) == []  # no run folder


def test_torchrun_with_other_numbers_than_the_config_is_one_line(tmp_path, monkeypatch):
    from dltool.errors import UserError

    for key, value in {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "3", "MASTER_ADDR": "127.0.0.1",
                       "MASTER_PORT": "29999"}.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(UserError, match=r"torchrun started 3 processes, but trainer.devices x trainer.num_nodes = "
                                        r"2 x 1 = 2: give the same numbers to both"):
        train(compose([*RUN, "trainer.devices=2"]), runs_dir=tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_a_study_refuses_several_processes_a_trial(tmp_path):
    done = invoke("tune", "data=digits", "trainer.devices=2", "--trials", "1", "--runs-dir", tmp_path)
    assert done.exit_code == 2
    assert done.stderr.startswith("dltool: error: a study runs each trial in one process: drop trainer.devices")


@pytest.mark.slow
def test_sigterm_to_rank_0_interrupts_the_run_and_it_resumes_exactly_with_dropout(tmp_path):
    """With dropout each rank draws its own masks; last.ckpt keeps every rank's random state, so that a run stopped
    and resumed draws the same masks as one that never stopped."""
    dropout = [*RUN, "model.keep_prob=0.8", "trainer.devices=2"]
    whole = dltool(tmp_path, "train", *dropout, f"trainer.max_epochs={EPOCHS}", "--name", "whole")
    assert whole.returncode == 0, whole.stderr
    run = subprocess.Popen([sys.executable, "-m", "dltool", "train", *dropout, "trainer.max_epochs=10000",
                            "--name", "stop", "--runs-dir", str(tmp_path)], cwd=tmp_path,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    path = tmp_path / "stop" / "history.csv"
    deadline = time.monotonic() + 120
    while not (path.is_file() and len(path.read_text().splitlines()) >= 3) and time.monotonic() < deadline:
        time.sleep(0.01)
    pids = json.loads((tmp_path / "stop" / "process.json").read_text())["pids"]
    os.kill(pids[0], signal.SIGTERM)
    out, err = run.communicate(timeout=120)
    assert run.returncode == 130, err
    assert err.strip().splitlines()[-1].startswith("dltool: run stop interrupted after ")
    metrics = json.loads((tmp_path / "stop" / "metrics.json").read_text())
    assert metrics["status"] == "interrupted"
    assert metrics["splits"]["dev"]["n"] == 270  # the best checkpoint measured on the whole split, by rank 0 alone
    with pytest.raises(ProcessLookupError):  # the other rank is gone
        os.kill(pids[1], 0)
    assert len(history(tmp_path / "stop")) < EPOCHS
    resumed = dltool(tmp_path, "train", "--resume", "stop", f"trainer.max_epochs={EPOCHS}")
    assert resumed.returncode == 0, resumed.stderr
    strip = [{k: v for k, v in row.items() if k != "seconds"} for row in history(tmp_path / "stop")]
    assert strip == [{k: v for k, v in row.items() if k != "seconds"} for row in history(tmp_path / "whole")]


@pytest.mark.slow
def test_torchrun_starts_the_ranks_and_rank_0_alone_reports(tmp_path, one_process):
    """Several machines start their ranks with torchrun; here one machine's two: the same run, printed once."""
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                           "-m", "dltool", "train", *RUN, f"trainer.max_epochs={EPOCHS}", "trainer.devices=2",
                           "--name", "tr", "--runs-dir", str(tmp_path), "--json"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["run"] == "tr"  # one JSON object: rank 1 printed nothing
    same_curve(history(tmp_path / "tr"), one_process[1])
    assert json.loads((tmp_path / "tr" / "process.json").read_text())["processes"] == 2


@pytest.mark.slow
def test_with_batch_norm_every_rank_measures_dev_with_rank_0s_statistics(tmp_path):
    """Each rank updates batch norm's running statistics from its own shard; before each dev pass they become rank
    0's (the ones best.ckpt keeps), so the history's dev loss at the best epoch is the final measurement of that
    checkpoint, as in one process."""
    done = dltool(tmp_path, "train", *RUN, "model.batch_norm=true", "trainer.max_epochs=4", "trainer.devices=2",
                  "--name", "bn", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    best = history(tmp_path / "bn")[result["best_epoch"] - 1]
    assert best["dev_loss"] == pytest.approx(result["splits"]["dev"]["loss"], rel=1e-9, abs=0)
    assert best["dev_error"] == result["splits"]["dev"]["error"]


@pytest.mark.slow
def test_inputs_on_disk_shard_as_inputs_in_memory_do(tmp_path):
    """data=npy (memory-mapped rows, each mini-batch read when indexed): each rank reads its shard's rows only, and
    the run is the one process's, as with inputs in memory."""
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 12)).astype(np.float32)
    y = (np.arange(300) % 3) * 10
    x[:, 0] += y / 10  # something to learn
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    common = ["data=npy", "data.path=x.npy", "data.labels=y.npy", "model=mlp", "model.hidden=[16]",
              "trainer.max_epochs=3", "trainer.batch_size=33"]
    for name, devices in (("one", 1), ("two", 2)):
        done = dltool(tmp_path, "train", *common, f"trainer.devices={devices}", "--name", name)
        assert done.returncode == 0, done.stderr
    same_curve(history(tmp_path / "two"), history(tmp_path / "one"))
    one, two = (json.loads((tmp_path / name / "metrics.json").read_text()) for name in ("one", "two"))
    for split, figures in one["splits"].items():
        assert two["splits"][split]["error"] == figures["error"], split
        assert two["splits"][split]["loss"] == pytest.approx(figures["loss"], rel=1e-3), split


@pytest.mark.slow
def test_under_torchrun_a_rank_whose_peer_dies_says_one_line(tmp_path):
    """Two machines' torchrun (here two on one machine, one rank each); rank 0 is killed: the other machine's rank
    ends with one line and exit code 1, no traceback (torchrun then prints its own summary)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = ["-m", "dltool", "train", *RUN, "trainer.max_epochs=100000", "trainer.num_nodes=2", "--name", "t",
           "--runs-dir", str(tmp_path)]
    nodes = [subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node", "1",
                               "--node-rank", str(node), "--master-addr", "127.0.0.1", "--master-port", str(port),
                               "--log-dir", str(tmp_path / f"logs{node}"), "--redirects", "3", *run],
                              cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for node in (0, 1)]
    try:
        path, deadline = tmp_path / "t" / "checkpoints" / "last.ckpt", time.monotonic() + 120
        while not path.is_file() and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(json.loads((tmp_path / "t" / "process.json").read_text())["pid"], signal.SIGKILL)
        assert [node.wait(timeout=120) for node in nodes] == [1, 1]
    finally:
        for node in nodes:
            node.kill()
    (log,) = (tmp_path / "logs1").glob("*/attempt_0/0/stderr.log")
    lines = log.read_text().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dltool: error: another process of this 2-process run stopped ("), lines
