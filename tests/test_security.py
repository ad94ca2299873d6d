"""Nothing that comes inside a config, a name or a checkpoint gets to run code or escape the runs folder."""

from __future__ import annotations

import os

import pytest

from dltool.config import compose, to_yaml
from dltool.errors import UserError
from dltool.runs import check_name, find_run, new_run_dir


@pytest.mark.parametrize("name", ["../x", "/abs", "a/b", "..", ".", "", "tab\there", "bell\x07", "x" * 300, "é"])
def test_bad_run_names_are_refused(name):
    with pytest.raises(UserError, match="bad run name"):
        check_name(name)


def test_good_run_names_pass():
    for name in ("run-1", "mlp_digits.v2", "A" * 128):
        assert check_name(name) == name


def test_a_run_name_that_links_out_of_the_runs_folder_is_refused(tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "config.yaml").write_text("a: 1\n")
    runs = tmp_path / "runs"
    runs.mkdir()
    os.symlink(outside, runs / "sneaky")
    with pytest.raises(UserError, match="is a link to .* outside the runs folder"):
        find_run("sneaky", runs)
    with pytest.raises(UserError, match="already exists"):
        new_run_dir(runs, "sneaky", "x")  # a new run never writes through the link either


def test_yaml_python_tags_are_refused(tmp_path):
    marker = tmp_path / "ran"
    bad = tmp_path / "config.yaml"
    bad.write_text(to_yaml(compose()) + f"evil: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(UserError, match="cannot read config"):
        compose([], config_file=bad)
    assert not marker.exists()


def test_a_target_key_is_never_instantiated(tmp_path):
    from dltool.train import build

    marker = tmp_path / "ran"
    text = to_yaml(compose()).replace("model:\n", f"model:\n  _target_: os.system\n  command: touch {marker}\n", 1)
    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(UserError, match="unknown key .model._target_. in .*: nothing reads it"):
        build(compose([], config_file=path))
    assert not marker.exists()


def test_a_killed_child_not_yet_reaped_is_not_alive():
    """A zombie still answers signal 0: a killed tuning worker whose parent waits on another one must count as dead."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from dltool.runs import pid_alive

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    assert pid_alive(child.pid) and pid_alive(os.getpid())
    os.kill(child.pid, signal.SIGKILL)
    time.sleep(0.3)  # dead, and not waited for: a zombie
    try:
        assert not pid_alive(child.pid)
    finally:
        child.wait()
    assert not pid_alive(child.pid) and not pid_alive(None)
