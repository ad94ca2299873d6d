from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True, scope="session")
def _mnist1d_cache(tmp_path_factory):
    """Generate MNIST-1D once per test session, in a private cache (never the user's)."""
    os.environ["DLTOOL_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield


@pytest.fixture(autouse=True)
def _torch_threads():
    """Every test starts with the process's torch thread count: a command run in this process on a run whose config
    sets trainer.threads (evaluate, translate) keeps it, as a command's own process may. A later in-process run
    with another count than its subprocess twin rounds its sums differently and drifts from it (the killed-run resume
    test failed so after such a test)."""
    import torch

    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def invoke(*args):
    """Run the dltool command line in this process (arguments may be paths); stdout and stderr stay apart."""
    from typer.testing import CliRunner

    from dltool.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory):
    """One short real run (digits, MLP, 3 epochs) as ``<runs>/r``, trained once for the whole suite. Tests may add
    files to it (diagnose, evaluate and export do); a test that changes or damages it works on a copy."""
    runs = tmp_path_factory.mktemp("runs")
    result = invoke("train", "data=digits", "trainer.max_epochs=3", "--runs-dir", runs, "--name", "r", "--json")
    assert result.exit_code == 0, result.stderr
    return runs / "r"


def as_if_killed(run_dir) -> None:
    """Make a run folder look as a SIGKILL leaves it: no metrics.json, and a process.json whose process is gone."""
    import json
    import subprocess

    done = subprocess.Popen(["true"])
    done.wait()  # reaped: its pid names no process now
    (run_dir / "metrics.json").unlink(missing_ok=True)
    process = json.loads((run_dir / "process.json").read_text())
    (run_dir / "process.json").write_text(json.dumps({**process, "pid": done.pid}))


@pytest.fixture
def digits_runs(digits_run):
    """The runs folder that holds the suite's one short digits run, as runs/r."""
    return digits_run.parent


@pytest.fixture
def csv_file(tmp_path):
    """Write a CSV table from text and return its path."""

    def write(text: str, name: str = "table.csv"):
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


def separable_csv(n_per_class: int = 40, seed: int = 0) -> str:
    """Three well-separated Gaussian blobs with string labels: any classifier worth the name gets them right."""
    import numpy as np

    rng = np.random.default_rng(seed)
    lines = ["a,b,label"]
    for label, (cx, cy) in {"cat": (0, 0), "dog": (6, 0), "eel": (0, 6)}.items():
        for x, y in rng.normal(0, 0.5, size=(n_per_class, 2)) + (cx, cy):
            lines.append(f"{x:.4f},{y:.4f},{label}")
    return "\n".join(lines) + "\n"


@pytest.fixture
def ctrl_c_at(monkeypatch):
    """``ctrl_c_at(n)``: the n-th evaluation pass (each epoch's dev pass, and a run's final one) raises
    KeyboardInterrupt, as Ctrl-C would there.
    Returns a function that puts the real evaluation back."""
    import dltool.loop as module

    evaluate = module.evaluate

    def arm(n: int):
        calls = {"n": 0}

        def interrupting(*args):
            calls["n"] += 1
            if calls["n"] == n:
                raise KeyboardInterrupt
            return evaluate(*args)

        monkeypatch.setattr(module, "evaluate", interrupting)
        return lambda: monkeypatch.setattr(module, "evaluate", evaluate)

    return arm


def _permissions_enforced() -> bool:
    """Whether this process is refused a write into a 0o500 folder: not so for root (os.geteuid() == 0) unless it runs
    without CAP_DAC_OVERRIDE, which is how these rows can be checked on a machine where tests run as root."""
    import shutil
    import tempfile
    from pathlib import Path

    folder = Path(tempfile.mkdtemp())
    try:
        folder.chmod(0o500)
        try:
            (folder / "probe").write_text("")
        except PermissionError:
            return True
        return False
    finally:
        folder.chmod(0o700)
        shutil.rmtree(folder)


PERMISSIONS = _permissions_enforced()  # False as root: .ci/run runs the permission cases again without that power


def tiny_embed_run(words, folder, runs, name: str = "vec") -> None:
    """A task=embed run (skip-gram, 8 numbers a word, one epoch) named ``name`` in ``runs``, on 60 seeded lines of
    30 of ``words`` each written to ``folder``/corpus.txt: vectors for a transfer test to start from."""
    import numpy as np

    text = folder / "corpus.txt"
    rng = np.random.default_rng(0)
    text.write_text("\n".join(" ".join(rng.choice(words, size=30)) for _ in range(60)) + "\n", encoding="utf-8")
    embed = invoke("train", "task=embed", "model=skipgram", "data=wiki", f"data.path={text}", "data.min_count=1",
                   "data.chunk=30", "model.dim=8", "trainer.max_epochs=1", "--runs-dir", runs, "--name", name)
    assert embed.exit_code == 0, embed.stderr
