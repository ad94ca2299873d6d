"""The command line's conventions (issue 17): --version, shell completion, dltool config, the user's own config
folder, one override grammar with and without --config, the config groups in -h, debug runs (trainer.fast_dev_run,
trainer.overfit_batches) and strict JSON on stdout. ``dltool runs``' columns: tests/test_runs.py."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pytest
import yaml
from omegaconf import OmegaConf

from dltool.config import compose, to_yaml
from dltool.errors import UserError
from tests.conftest import invoke


def strict(text: str):
    """json.loads that refuses NaN and Infinity, as strict JSON readers do."""
    return json.loads(text, parse_constant=lambda c: pytest.fail(f"bare {c} in JSON"))


def one_line_error(result, fragment: str) -> None:
    assert result.exit_code == 2, (result.exit_code, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dltool: error: ") and fragment in lines[0], result.stderr
    assert result.stdout == "" and "Traceback" not in result.output


# --- version, completion, help ----------------------------------------------------------------------------------

def test_version_prints_the_installed_version():
    result = invoke("--version")
    assert result.exit_code == 0 and result.stdout == f"dltool {version('dltool')}\n"


def test_shell_completion_completes_commands_options_and_group_options():
    from typer.testing import CliRunner

    from dltool.cli import app

    def complete(words: str) -> list[str]:
        env = {"_DLTOOL_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(len(words.split()) - 1)}
        done = CliRunner().invoke(app, [], env=env, prog_name="dltool")
        return done.stdout.split()

    assert complete("dltool trai") == ["train"]
    assert complete("dltool e") == ["errors", "evaluate", "export", "embeddings"]
    assert complete("dltool con") == ["config"]
    assert "--config-dir" in complete("dltool train --config-")
    assert complete("dltool train optimizer=m") == ["optimizer=momentum"]
    assert complete("dltool config sched") == ["scheduler="]
    # the script, from the installed command started by bash, as a user's shell asks for it: Typer names the shell
    # from the command's parent process (shellingham), which a test runner started without a shell would not be
    command = Path(sys.executable).with_name("dltool")  # the console script pip installed beside this python
    script = subprocess.run(["bash", "-c", '"$0" --show-completion; exit $?', str(command)], capture_output=True,
                            text=True, check=False)
    assert script.returncode == 0 and "complete -o default -F _dltool_completion dltool" in script.stdout, script.stderr


def test_help_imports_no_config_or_training_library():
    """What keeps `dltool --help` fast (0.2 s measured): neither Hydra, OmegaConf nor torch is imported for it,
    though -h lists every config group's options."""
    code = ("import sys, runpy; sys.argv = ['dltool', 'train', '--help']\ntry: runpy.run_module('dltool', "
            "run_name='__main__')\nexcept SystemExit: pass\n"
            "assert not {'torch', 'hydra', 'omegaconf'} & set(sys.modules), 'dltool train -h imported a heavy library'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "Config groups" in done.stdout


def test_train_help_names_every_group_and_its_options():
    from dltool.cli_config import GROUP_HELP
    from dltool.config import group_options

    for command in ("train", "tune", "config"):
        text = " ".join(invoke(command, "-h").stdout.split())  # as one line: rich wraps it to the terminal
        for group, what in GROUP_HELP:
            assert f"{group}= ({what}): {', '.join(group_options(group))}" in text, (command, group)
    text = " ".join(invoke("train", "-h").stdout.split())
    assert "optimizer= (the update rule): adam, momentum, rmsprop, sgd" in text  # by hand: conf/optimizer/


# --- dltool config ---------------------------------------------------------------------------------------------

def test_config_prints_the_composed_config_as_yaml_and_json():
    result = invoke("config", "optimizer=momentum", "optimizer.lr=0.5")
    assert result.exit_code == 0, result.stderr
    printed = yaml.safe_load(result.stdout)
    assert printed["optimizer"] == {"name": "momentum", "lr": 0.5, "beta": 0.9, "weight_decay": 0.0}
    assert printed == OmegaConf.to_container(compose(["optimizer=momentum", "optimizer.lr=0.5"]))
    as_json = invoke("config", "optimizer=momentum", "optimizer.lr=0.5", "--json")
    assert as_json.exit_code == 0 and strict(as_json.stdout) == printed


def test_config_starts_from_a_saved_config(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(to_yaml(compose(["data=digits", "trainer.max_epochs=3"])))
    printed = yaml.safe_load(invoke("config", "--config", path, "trainer.max_epochs=9").stdout)
    assert printed["data"]["name"] == "digits" and printed["trainer"]["max_epochs"] == 9


@pytest.mark.parametrize("args,message", [
    (["model=nope"], "unknown model 'nope'; choose from: "),
    (["optimizer.lrr=1"], "unknown key 'optimizer.lrr'; valid keys of optimizer: name, lr"),
    (["~model.batch_norm"], "model.batch_norm cannot be removed: every run reads it"),
    (["trainer.overfit_batches=0"], "trainer.overfit_batches must be an integer in [1, inf), got 0"),
    (["trainer.overfit_batches=-1"], "trainer.overfit_batches must be an integer in [1, inf), got -1"),
    (["trainer.fast_dev_run=maybe"], "trainer.fast_dev_run must be true or false, got 'maybe'"),
    (["trainer.max_epochs=0"], "trainer.max_epochs must be an integer in [1, inf), got 0"),
    (["--config-dir", "/no/such/folder"], "config folder not found: /no/such/folder"),
])
def test_config_refuses_what_train_refuses_in_one_line(tmp_path, args, message):
    one_line_error(invoke("config", *args), message)
    trained = invoke("train", *args, "--runs-dir", tmp_path)
    assert trained.exit_code == 2 and message in trained.stderr and not any(tmp_path.iterdir())


def test_config_check_builds_the_data_and_model():
    one_line_error(invoke("config", "data=digits", "model.keep_prob=0", "--check"),
                   "model.keep_prob must be a number in (0, 1], got 0")
    assert invoke("config", "data=digits", "model.keep_prob=0").exit_code == 0  # a value only the model reads


# --- the user's config folder ----------------------------------------------------------------------------------

@pytest.fixture
def my_conf(tmp_path):
    """A user's folder: model/wide.yaml (an MLP of two 7-unit layers) and experiment/mine.yaml (it, at lr 0.3)."""
    (tmp_path / "my_conf" / "model").mkdir(parents=True)
    (tmp_path / "my_conf" / "experiment").mkdir()
    (tmp_path / "my_conf" / "model" / "wide.yaml").write_text("defaults:\n  - mlp\n  - _self_\nhidden: [7, 7]\n")
    (tmp_path / "my_conf" / "experiment" / "mine.yaml").write_text(
        "# @package _global_\ndefaults:\n  - override /model: wide\noptimizer:\n  lr: 0.3\n")
    return tmp_path / "my_conf"


def test_config_dir_adds_the_users_options(my_conf, monkeypatch):
    monkeypatch.delenv("DLTOOL_CONFIG_DIR", raising=False)
    printed = yaml.safe_load(invoke("config", "experiment=mine", "--config-dir", my_conf).stdout)
    assert printed["model"]["name"] == "mlp" and printed["model"]["hidden"] == [7, 7]
    assert printed["optimizer"]["lr"] == 0.3
    assert "DLTOOL_CONFIG_DIR" not in os.environ  # the option holds for its command only
    one_line_error(invoke("config", "experiment=mine"), "unknown experiment 'mine'; choose from: ")
    missing = invoke("config", "model=nope", "--config-dir", my_conf)
    assert missing.exit_code == 2 and "mobilenet_v1, resnet" in missing.stderr and ", wide" in missing.stderr
    monkeypatch.setenv("DLTOOL_CONFIG_DIR", str(my_conf))  # the same, from the environment
    assert yaml.safe_load(invoke("config", "model=wide").stdout)["model"]["hidden"] == [7, 7]
    env = {**os.environ, "COLUMNS": "200"}  # -h is built when the command line is: in a new process
    shown = subprocess.run([sys.executable, "-m", "dltool", "train", "-h"], env=env, capture_output=True, text=True, check=False)
    models = " ".join(shown.stdout.split()).split("model= (the network): ")[1].split(" data=")[0]
    assert "mlp," in models and "wide" in models.split(", ")


def test_train_reads_the_users_config_folder(my_conf, tmp_path):
    result = invoke("train", "data=digits", "model=wide", "trainer.fast_dev_run=true", "--config-dir", my_conf,
                    "--runs-dir", tmp_path / "runs", "--name", "w", "--json")
    assert result.exit_code == 0, result.stderr
    assert OmegaConf.load(tmp_path / "runs" / "w" / "config.yaml").model.hidden == [7, 7]


# --- one grammar for overrides, with and without --config -----------------------------------------------------

@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(to_yaml(compose(["data=digits"])))
    return path


def error_of(overrides, config_file=None) -> str:
    with pytest.raises(UserError) as e:
        compose(overrides, config_file=config_file)
    return str(e.value)


@pytest.mark.parametrize("override,message", [
    ("~model.batch_norm", "model.batch_norm cannot be removed{where}: every run reads it; set a value instead"),
    ("~trainer", "trainer cannot be removed{where}: every run reads it"),
    ("+trainer.gpus=2", "unknown key 'trainer.gpus'{where}: nothing reads it; valid keys of trainer: max_epochs"),
    ("++trainer.gpus=2", "unknown key 'trainer.gpus'{where}: nothing reads it"),
    ("+model.batch_norm=true", "Could not append to config. An item is already at 'model.batch_norm'."),
])
def test_a_saved_config_takes_the_command_lines_grammar(saved, override, message):
    assert error_of([override]).startswith(message.format(where=""))
    assert error_of([override], saved).startswith(message.format(where=f" in {saved}"))


def test_a_tilde_in_a_saved_configs_overrides_deletes_the_key(saved):
    """~key deletes (compose then refuses the deletion, as without --config); it never sets null or a default."""
    from dltool.config import _compose_file

    cfg = _compose_file(saved, ["~model.batch_norm", "~data.augment.noise"])
    assert "batch_norm" not in cfg.model and "noise" not in cfg.data.augment and "shift" in cfg.data.augment
    old = yaml.safe_load(saved.read_text())
    del old["model"]["freeze"]  # a run of a dltool before model.freeze: compose fills it in at its default...
    saved.write_text(yaml.safe_dump(old))
    assert compose([], config_file=saved).model.freeze == "none"
    assert "freeze" not in _compose_file(saved, ["~model.freeze"]).model  # ...and ~ still deletes it
    assert error_of(["~model.freeze"], saved).startswith(f"model.freeze cannot be removed in {saved}")


def test_group_and_forced_overrides_mean_the_same_with_a_saved_config(saved):
    for overrides in (["model.channels=[4]", "model=cnn"], ["++model.batch_norm=true"], ["seed=4"]):
        plain, from_file = compose(["data=digits", *overrides]), compose(overrides, config_file=saved)
        assert from_file == plain, overrides
    assert compose(["model.channels=[4]", "model=cnn"], config_file=saved).model.channels == [4]  # groups first


def test_an_experiment_on_a_saved_config_is_one_line(saved):
    assert error_of(["experiment=paper_mlp"], saved).startswith(
        f"experiment=paper_mlp: an experiment sets a new config, and {saved} is a saved one")


# --- debug runs ------------------------------------------------------------------------------------------------

def test_fast_dev_run_puts_one_batch_through_every_step(tmp_path):
    runs = tmp_path / "runs"
    result = invoke("train", "data=digits", "trainer.fast_dev_run=true", "trainer.batch_size=50", "--runs-dir", runs)
    assert result.exit_code == 0, result.stderr
    assert "debug run (trainer.fast_dev_run)" in result.stdout
    [run] = list(runs.iterdir())
    assert run.name.startswith("debug-mlp-digits-")
    metrics = strict((run / "metrics.json").read_text())
    assert metrics["debug"] == {"mode": "fast_dev_run", "batches": 1} and metrics["status"] == "completed"
    assert metrics["epochs"] == 1 and metrics["baseline"] is None
    assert {k: s["n"] for k, s in metrics["splits"].items()} == {"train": 50, "train_dev": 50, "dev": 50, "test": 50}
    assert len((run / "history.csv").read_text().splitlines()) == 2  # header and one epoch
    assert (run / "checkpoints" / "best.ckpt").is_file() and (run / "checkpoints" / "last.ckpt").is_file()
    assert strict(invoke("runs", "--runs-dir", runs, "--json").stdout)["runs"] == []  # not a result
    [row] = strict(invoke("runs", "--runs-dir", runs, "--all", "--json").stdout)["runs"]
    assert row["status"] == "completed (fast_dev_run)" and row["focus"] is None
    one_line_error(invoke("train", "--resume", run.name, "--runs-dir", runs), "is a debug run")


def test_overfit_batches_trains_on_few_examples_and_checks_they_are_learned(tmp_path):
    result = invoke("train", "data=digits", "trainer.overfit_batches=1", "trainer.batch_size=32",
                    "trainer.max_epochs=10", "--runs-dir", tmp_path, "--name", "o", "--json")
    assert result.exit_code == 0, result.stderr
    metrics = strict(result.stdout)
    assert metrics["splits"]["train"]["n"] == 32 and metrics["splits"]["dev"]["n"] == 270  # dev whole
    assert metrics["debug"] == {"mode": "overfit_batches", "batches": 1, "examples": 32, "train_error": 0.0,
                                "learned": True}
    stuck = invoke("train", "data=digits", "trainer.overfit_batches=2", "trainer.max_epochs=2", "optimizer=sgd",
                   "optimizer.lr=1e-5", "--runs-dir", tmp_path, "--name", "s", "--json")
    assert stuck.exit_code == 1  # a script can tell: the model did not learn them
    debug = strict(stuck.stdout)["debug"]
    assert debug["examples"] == 200 and debug["train_error"] > 0.5 and debug["learned"] is False
    assert stuck.stderr.strip().splitlines()[-1].startswith("dltool: run s did not overfit 200 examples")


def test_a_run_from_before_the_debug_keys_still_resumes(digits_run, tmp_path):
    """A run saved without trainer.fast_dev_run, trainer.overfit_batches and trainer.logger (an older dltool) trains
    longer: the keys are filled in at their defaults, which train as it did."""
    import shutil

    from dltool.checkpoints import load, save

    runs = tmp_path / "runs"
    shutil.copytree(digits_run, runs / "old")
    last = runs / "old" / "checkpoints" / "last.ckpt"
    checkpoint = load(last, need="progress")
    for key in ("fast_dev_run", "overfit_batches", "logger"):
        del checkpoint["config"]["trainer"][key]
    save(last, checkpoint)
    config = yaml.safe_load((runs / "old" / "config.yaml").read_text())
    del config["trainer"]["fast_dev_run"], config["trainer"]["overfit_batches"], config["trainer"]["logger"]
    (runs / "old" / "config.yaml").write_text(yaml.safe_dump(config))
    result = invoke("train", "--resume", "old", "trainer.max_epochs=4", "--runs-dir", runs, "--json")
    assert result.exit_code == 0, result.stderr
    assert strict(result.stdout)["epochs"] == 4


# --- strict JSON -----------------------------------------------------------------------------------------------

def test_print_json_writes_null_for_what_json_cannot_hold(capsys):
    from dltool.cli_base import print_json

    print_json({"loss": math.nan, "up": math.inf, "down": -math.inf, "f32": np.float32("nan"), "ok": np.float32(0.5),
                "n": np.int64(3), "nested": [{"x": float("nan")}]})
    assert strict(capsys.readouterr().out) == {"loss": None, "up": None, "down": None, "f32": None, "ok": 0.5,
                                               "n": 3, "nested": [{"x": None}]}


def test_a_search_space_in_the_users_config_folder_is_found(my_conf):
    from dltool.config import config_dir
    from dltool.search import load_space, space_names

    (my_conf / "search").mkdir()
    (my_conf / "search" / "mine.yaml").write_text("params:\n  optimizer.lr: {low: 0.001, high: 0.1, scale: log}\n")
    with pytest.raises(UserError, match="unknown search space 'mine'"):
        load_space("mine", compose())
    with config_dir(my_conf):
        [param] = load_space("mine", compose())
        assert "mine" in space_names() and "lr" in space_names()
    assert (param.key, param.low, param.high, param.scale) == ("optimizer.lr", 0.001, 0.1, "log")


def test_a_studys_train_command_names_the_users_config_folder(my_conf):
    """The command tune prints for its winner must find model=wide again."""
    from types import SimpleNamespace

    from dltool.config import config_dir
    from dltool.tune.plan import train_command

    p = SimpleNamespace(opts=SimpleNamespace(config=None), overrides=["model=wide"])
    assert train_command(p, {"optimizer.lr": 0.1}) == "dltool train model=wide optimizer.lr=0.1"
    with config_dir(my_conf):
        assert train_command(p, {"optimizer.lr": 0.1}) == f"dltool train --config-dir {my_conf} model=wide optimizer.lr=0.1"


# --- multirun ---------------------------------------------------------------------------------------------------

def test_a_multirun_sweeps_keys_and_keeps_the_rest_for_every_run():
    from dltool.multirun import sweep

    fixed, space = sweep(["data=digits", "optimizer.lr=0.1,0.01", "model.hidden=[20],[40,40]",
                          "trainer.max_epochs=range(1,4)", "seed=3"])
    assert fixed == ["data=digits", "seed=3"]
    assert space == {"optimizer.lr": {"choices": [0.1, 0.01]}, "model.hidden": {"choices": [[20], [40, 40]]},
                     "trainer.max_epochs": {"choices": [1, 2, 3]}}
    for overrides, message in ((["optimizer=adam,sgd"], "a multirun sweeps config keys, not groups"),
                               (["optimizer.lr=0.1"], "-m/--multirun needs a swept override"),
                               (["optimizer.lr=interval(0,1)"], "a multirun sweeps a key over values")):
        with pytest.raises(UserError, match=message):
            sweep(overrides)


@pytest.mark.slow
def test_train_multirun_trains_every_combination_as_a_grid_study(tmp_path):
    result = invoke("train", "-m", "data=digits", "trainer.max_epochs=1", "optimizer.lr=0.1,0.01", "--runs-dir",
                    tmp_path, "--name", "m", "--json")
    assert result.exit_code == 0, result.stderr
    summary = strict(result.stdout)
    assert summary["n_trials"] == 2 and summary["best"]["params"]["optimizer.lr"] in (0.1, 0.01)
    lrs = sorted(OmegaConf.load(p).optimizer.lr for p in (tmp_path / "m" / "trials").glob("*/config.yaml"))
    assert lrs == [0.01, 0.1]
