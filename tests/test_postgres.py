"""Studies on a real PostgreSQL server: several worker processes, a killed worker, and the password kept secret.

.ci/run starts a local server and sets DLTOOL_TEST_POSTGRES; without it these tests skip.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

from dltool.tune import TuneOptions, run_study

URL = os.environ.get("DLTOOL_TEST_POSTGRES")
pytestmark = pytest.mark.skipif(not URL, reason="set DLTOOL_TEST_POSTGRES to a PostgreSQL URL (.ci/run does)")
FAST = ["data=digits", "trainer.max_epochs=3", "search=lr"]


def rows(folder) -> list[dict]:
    return list(csv.DictReader((folder / "trials.csv").open()))


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"  # the database outlives a test run


def test_several_workers_share_a_postgres_study(tmp_path):
    name = unique("pg-workers")
    summary = run_study(TuneOptions(overrides=FAST, trials=6, workers=3, storage=URL, name=name,
                                    runs_dir=tmp_path, progress=False))
    done = rows(tmp_path / name)
    assert summary["n_trials"] == 6 and sorted(int(r["number"]) for r in done) == list(range(6))
    assert all(r["state"] == "COMPLETE" for r in done)
    assert summary["storage"].startswith("postgresql://dltool:***@")


def test_a_killed_worker_is_requeued_on_postgres(tmp_path):
    name = unique("pg-kill")
    args = ["tune", "data=digits", "trainer.max_epochs=400", "trainer.patience=20", "search=lr", "--trials", "2", "--name", name,
            "--runs-dir", str(tmp_path), "--storage", URL, "--seed", "0"]
    proc = subprocess.Popen([sys.executable, "-m", "dltool", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    history = tmp_path / name / "trials" / "trial-0000" / "history.csv"
    deadline = time.time() + 90
    while time.time() < deadline and not (history.is_file() and len(history.read_text().splitlines()) > 3):
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    summary = run_study(TuneOptions(overrides=["data=digits", "trainer.max_epochs=400", "trainer.patience=20", "search=lr"], trials=2,
                                    name=name, runs_dir=tmp_path, storage=URL, seed=0, progress=False))
    done = rows(tmp_path / name)
    assert done[0]["state"] == "FAIL" and done[0]["fail_reason"].startswith("killed: its worker (pid")
    assert sum(r["state"] == "COMPLETE" for r in done) == 2 and summary["n_trials"] == 3


def test_the_password_never_reaches_files_or_output(tmp_path):
    from typer.testing import CliRunner

    from dltool.cli import app

    password = URL.split(":")[2].split("@")[0]
    name = unique("pg-secret")
    result = CliRunner().invoke(app, ["tune", *FAST, "--trials", "2", "--storage", URL, "--name", name,
                                      "--runs-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert password not in result.output
    for path in (tmp_path / name).rglob("*"):
        if path.is_file() and path.suffix in (".csv", ".yaml", ".json", ".md"):
            assert password not in path.read_text(), path


def test_a_worker_on_another_machine_that_goes_silent_is_taken_over(tmp_path):
    from tests.tune.test_liveness import stale_worker_is_taken_over

    stale_worker_is_taken_over(tmp_path, storage=URL, name=unique("pg-stale"))
