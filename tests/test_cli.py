from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import invoke, separable_csv

def test_help_lists_the_commands():
    result = invoke("--help")
    assert result.exit_code == 0 and "train" in result.stdout
    assert invoke("train", "-h").exit_code == 0


def test_python_dash_m_works_without_importing_torch():
    code = "import sys, runpy; sys.argv = ['dltool', '--help']\ntry: runpy.run_module('dltool', run_name='__main__')\n" \
           "except SystemExit: pass\nassert 'torch' not in sys.modules, 'dltool --help imported torch'"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "train" in done.stdout


def test_train_json_prints_only_the_metrics(tmp_path):
    result = invoke("train", "data=digits", "trainer.max_epochs=2", "--json", "--runs-dir", tmp_path, "--name", "j",
                    "--seed", 3)
    assert result.exit_code == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert metrics == json.loads((tmp_path / "j" / "metrics.json").read_text())
    assert (tmp_path / "j" / "config.yaml").read_text().rstrip().endswith("seed: 3")


def test_train_prints_a_table_and_repeats_from_a_saved_config(tmp_path):
    first = invoke("train", "data=digits", "trainer.max_epochs=2", "--runs-dir", tmp_path, "--name", "a")
    assert first.exit_code == 0
    for split in ("train", "train_dev", "dev", "test"):
        assert split in first.stdout
    again = invoke("train", "--config", tmp_path / "a" / "config.yaml", "--runs-dir", tmp_path, "--name", "b", "--json")
    a = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert json.loads(again.stdout)["splits"] == a["splits"]


def test_a_csv_table_trains(tmp_path, csv_file):
    path = csv_file(separable_csv(60))
    result = invoke("train", "data=csv", f"data.path={path}", "data.target=label", "trainer.max_epochs=20", "--json",
                    "--runs-dir", tmp_path)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["splits"]["test"]["error"] <= 0.1


@pytest.mark.parametrize(
    "args,message",
    [
        (["model=transformer9"], "unknown model 'transformer9'; choose from: alexnet, attention_rnn, brnn_tagger, cnn, cnn_paper, ctc_rnn, glove, gru"),
        (["optimizer.lr=-0.01"], "optimizer.lr must be a number in (0, inf), got -0.01"),
        (["model.keep_prob=0"], "model.keep_prob must be a number in (0, 1], got 0"),
        (["trainer.max_epochs=abc"], "trainer.max_epochs must be an integer"),
        (["data=csv", "data.path=/no/such.csv", "data.target=y"], "data file not found: /no/such.csv"),
        (["--name", "../escape"], "bad run name '../escape'"),
        (["--name", "a/b"], "bad run name 'a/b'"),
        (["--config", "/no/config.yaml"], "config file not found"),
        (["model.hidden=5"], "model.hidden must be a list of layer sizes"),
        (["data.normalize=maybe"], "data.normalize must be true or false, got 'maybe'"),
        (["trainer.batch_size=0"], "trainer.batch_size must be an integer in [1, inf), got 0"),
        (["trainer.accelerator=tpu"], "unknown trainer.accelerator 'tpu'; choose from: auto, cpu, gpu"),
        (["data.generator.num_samples=-5"], "data.generator.num_samples must be an integer"),
    ],
)
def test_user_mistakes_give_one_line_and_exit_2(tmp_path, args, message):
    result = invoke("train", *args, "--runs-dir", tmp_path)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.output
    assert not any(tmp_path.iterdir())  # nothing half-written


def test_missing_target_column_names_the_columns(tmp_path, csv_file):
    path = csv_file(separable_csv())
    result = invoke("train", "data=csv", f"data.path={path}", "data.target=species", "--runs-dir", tmp_path)
    assert result.exit_code == 2
    assert "target column 'species' is not in" in result.stderr and "columns: a, b, label" in result.stderr


def test_an_existing_run_name_is_refused(tmp_path):
    assert invoke("train", "data=digits", "trainer.max_epochs=1", "--runs-dir", tmp_path, "--name", "x").exit_code == 0
    again = invoke("train", "data=digits", "trainer.max_epochs=1", "--runs-dir", tmp_path, "--name", "x")
    assert again.exit_code == 2 and "run 'x' already exists" in again.stderr


def test_debug_shows_the_traceback(tmp_path, monkeypatch):
    monkeypatch.setenv("DLTOOL_DEBUG", "1")
    result = invoke("train", "model.keep_prob=0", "--runs-dir", tmp_path)
    assert result.exit_code != 0 and result.exception is not None


def test_diagnose_a_run(digits_runs):
    result = invoke("diagnose", "r", "--runs-dir", digits_runs, "--json")
    assert result.exit_code == 0, result.stderr
    d = json.loads(result.stdout)
    assert set(d) >= {"errors", "gaps", "focus", "recommendations"}
    metrics = json.loads((digits_runs / "r" / "metrics.json").read_text())
    assert d["gaps"]["variance"] == pytest.approx(metrics["splits"]["train_dev"]["error"] - metrics["splits"]["train"]["error"])
    for name in ("diagnosis.json", "diagnosis.md", "diagnosis.png"):
        assert (digits_runs / "r" / name).is_file()
    table = invoke("diagnose", str(digits_runs / "r"))  # a path works as well as a name
    assert table.exit_code == 0 and "focus" in table.stdout


def test_diagnose_errors_without_a_run():
    result = invoke("diagnose", "--errors", "human=0.01,train=0.08,dev=0.10", "--json")
    assert result.exit_code == 0
    d = json.loads(result.stdout)
    assert d["focus"] == "avoidable_bias" and d["gaps"]["avoidable_bias"] == pytest.approx(0.07)
    override = json.loads(invoke("diagnose", "--errors", "human=0.01,train=0.08,dev=0.10", "--human-error", "0.075",
                                 "--json").stdout)
    assert override["focus"] == "variance"


def test_evaluate_f1_matches_scikit_learn_on_the_saved_predictions(digits_runs):
    import csv

    from sklearn.metrics import f1_score

    result = invoke("evaluate", "r", "--metric", "f1", "--runs-dir", digits_runs, "--json")
    assert result.exit_code == 0, result.stderr
    e = json.loads(result.stdout)
    rows = list(csv.DictReader((digits_runs / "r" / "predictions-test.csv").open()))
    assert e["value"] == pytest.approx(f1_score([r["true"] for r in rows], [r["predicted"] for r in rows], average="macro"))
    assert e["parameters"] == 100 * 64 + 100 + 100 * 100 + 100 + 10 * 100 + 10
    assert json.loads((digits_runs / "r" / "eval-test.json").read_text()) == e


def test_evaluate_requirements_turn_into_the_exit_code(digits_runs):
    ok = invoke("evaluate", "r", "--runs-dir", digits_runs, "--require", "parameters<=1000000", "--require", "latency_ms<=1000")
    assert ok.exit_code == 0
    too_big = invoke("evaluate", "r", "--runs-dir", digits_runs, "--require", "parameters<=1000", "--json")
    assert too_big.exit_code == 1
    assert json.loads(too_big.stdout)["requirements"][0]["met"] is False


def test_runs_lists_and_compares(digits_runs):
    result = invoke("runs", "--runs-dir", digits_runs, "--json")
    rows = json.loads(result.stdout)["runs"]
    assert [r["name"] for r in rows] == ["r"] and rows[0]["status"] == "completed" and rows[0]["focus"] is not None
    csv_out = invoke("runs", "--runs-dir", digits_runs, "--csv", "--sort", "dev_error").stdout.splitlines()
    assert csv_out[0].startswith("name,model,data,status,train_error") and csv_out[1].startswith("r,mlp,digits,completed")
    assert "r" in invoke("runs", "--runs-dir", digits_runs).stdout


@pytest.mark.parametrize(
    "args,message",
    [
        (["diagnose", "missing"], "run 'missing' not found in"),
        (["diagnose"], "give a run or a study (dltool diagnose RUN) or --errors"),
        (["diagnose", "--errors", "train=0.1"], "needs at least train and dev"),
        (["diagnose", "--errors", "train=8,dev=10"], "must be a number in [0, 1]"),
        (["evaluate", "missing"], "run 'missing' not found in"),
        (["evaluate", "r", "--metric", "auc"], "unknown --metric 'auc'; choose from: accuracy, error"),
        (["evaluate", "r", "--metric", "f1", "--average", "binary"], "--average binary needs a positive class"),
        (["evaluate", "r", "--split", "val"], "unknown --split 'val'"),
        (["evaluate", "r", "--require", "speed<3"], "bad requirement 'speed<3'"),
        (["runs", "--sort", "colour"], "unknown --sort 'colour'"),
    ],
)
def test_diagnose_evaluate_runs_mistakes(digits_runs, args, message):
    result = invoke(*args, "--runs-dir", digits_runs)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_evaluate_a_run_without_checkpoint(digits_runs, tmp_path):
    import shutil

    shutil.copytree(digits_runs / "r", tmp_path / "r")
    shutil.rmtree(tmp_path / "r" / "checkpoints")
    result = invoke("evaluate", "r", "--runs-dir", tmp_path)
    assert result.exit_code == 2 and "has no checkpoints/best.ckpt" in result.stderr


def test_models_lists_every_registered_model_with_its_size():
    from dltool.config import group_options

    result = invoke("models", "data=digits", "--json")
    assert result.exit_code == 0, result.stderr
    listing = json.loads(result.stdout)
    assert listing["input_shape"] == [1, 8, 8]
    counts = {m["name"]: m["parameters"] for m in listing["models"]}
    assert sorted(counts) == group_options("model")
    assert counts["mlp"] == 64 * 100 + 100 + 100 * 100 + 100 + 100 * 10 + 10
    rows = {m["name"]: m for m in json.loads(invoke("models", "--json").stdout)["models"]}
    assert rows["cnn_paper"] == {"name": "cnn_paper", "parameters": 5210, "note": ""}
    refused = invoke("models", "model.hidden=[8]")
    assert refused.exit_code == 2 and "data overrides only" in refused.stderr


@pytest.mark.parametrize("columns", [80, 100, 160])
def test_runs_never_folds_a_run_name_at_any_width(columns, capsys, monkeypatch):
    """At 80 columns each run takes two lines; wider, a table drops the model and data columns before it would fold
    a name; no line is wider than the terminal."""
    from dltool.report import print_runs
    from dltool.run_list import RUN_COLUMNS

    monkeypatch.setenv("COLUMNS", str(columns))
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # rich: treat the captured output as a terminal of that width
    names = ["mlp-mnist1d-20261126-134612", "transformer-mnist1d_shift-20261126-134613"]
    rows = [{**dict.fromkeys(RUN_COLUMNS), "name": n, "model": "mlp", "data": "mnist1d", "status": "completed",
             "train_error": 0.0, "train_dev_error": 0.36, "dev_error": 0.392, "test_error": 0.3587,
             "focus": "variance", "seconds": 2.9} for n in names]
    print_runs(rows)
    import re

    out = re.sub(r"\x1b\[[0-9;]*m", "", capsys.readouterr().out)  # the terminal's colours are not width
    assert all(any(n in line for line in out.splitlines()) for n in names)
    assert max(len(line) for line in out.splitlines()) <= columns
    assert "0.392" in out and "variance" in out


def test_a_csv_run_records_where_its_table_is_and_refuses_a_changed_one(tmp_path, monkeypatch):
    """data.path=flowers.csv is stored as an absolute path, so evaluate works from any folder; a table edited since
    training is one line naming the file, not a silent re-split."""
    from omegaconf import OmegaConf

    (tmp_path / "here").mkdir()
    (tmp_path / "there").mkdir()
    table = tmp_path / "here" / "flowers.csv"
    table.write_text(separable_csv(30))
    monkeypatch.chdir(tmp_path / "here")
    trained = invoke("train", "data=csv", "data.path=flowers.csv", "data.target=label", "trainer.max_epochs=2",
                     "--runs-dir", tmp_path / "runs", "--name", "f")
    assert trained.exit_code == 0, trained.stderr
    assert OmegaConf.load(tmp_path / "runs" / "f" / "config.yaml").data.path == str(table)
    monkeypatch.chdir(tmp_path / "there")
    assert invoke("evaluate", "f", "--runs-dir", tmp_path / "runs").exit_code == 0
    table.write_text("\n".join(table.read_text().splitlines()[:-10]) + "\n")  # ten rows fewer
    changed = invoke("evaluate", "f", "--runs-dir", tmp_path / "runs")
    assert changed.exit_code == 2
    assert f"dltool: error: data file {table} changed since training (sha256 " in changed.stderr
    assert len(changed.stderr.splitlines()) == 1


def test_a_recommended_command_is_printed_on_one_line_at_80_columns(capsys, monkeypatch):
    """A ready command is copied and pasted: the terminal may wrap it, but no line break is printed inside it."""
    from dltool.diagnose import diagnose
    from dltool.report import print_diagnosis

    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    result = diagnose({"human": 0.01, "train": 0.2, "dev": 0.22}, config={"model": {"name": "mlp", "hidden": [8]},
                      "optimizer": {"name": "adam"}, "trainer": {"max_epochs": 3}}, run="runs/a-long-run-name-x" * 2)
    print_diagnosis(result)
    lines = capsys.readouterr().out.splitlines()
    commands = [line for line in lines if "dltool train --config" in line]
    assert commands and all(line.rstrip().endswith("`") for line in commands)
